//! `grocker purge`: delete the cache.

use anyhow::Result;
use grocker_fetch::Cache;

pub fn purge() -> Result<()> {
    let cache = Cache::from_env()?;
    let freed = cache.purge()?;
    println!(
        "Removed {:.1} MB from {}",
        freed as f64 / 1e6,
        cache.root().display()
    );
    Ok(())
}
