//! `grocker purge [-a] [-f]`: delete the cache and grocker's images in the engine, with Grocker's
//! flags (see [`grocker_build::PurgeSelection`]).

use std::time::Duration;

use anyhow::Result;
use grocker_build::PurgeSelection;
use grocker_fetch::Cache;

use crate::cli::PurgeArgs;

pub fn purge(args: &PurgeArgs) -> Result<()> {
    let cache = Cache::from_env()?;
    let freed = cache.purge()?;
    println!(
        "Removed {:.1} MB from {}",
        freed as f64 / 1e6,
        cache.root().display()
    );
    let selection = PurgeSelection {
        all_versions: args.all_versions || args.all,
        final_images: args.including_final_images || args.all,
    };
    let asked = selection.all_versions || selection.final_images;
    let engine = match grocker_engine::Client::from_env(
        Duration::from_secs(30),
        "the cache is cleaned; -a and -f remove images from an engine",
    ) {
        Ok(engine) => engine,
        // Plain `purge` needs no engine: the builder images are only there if one answers.
        Err(e) if !asked => {
            tracing::info!("no engine to purge builder images from: {e:#}");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let removed = selection.remove_images(&engine)?;
    println!(
        "Removed {removed} images from the engine at {}",
        engine.host()
    );
    Ok(())
}
