//! `grocker outdated`: what grocker.lock is behind, as a table or JSON; with `--fail-on
//! security`, an error when a Debian security update is pending.

use anyhow::{Context as _, Result, bail};
use grocker_build::{Context, Reporter};
use grocker_lock::Lock;

use crate::cli::OutdatedArgs;

pub async fn outdated(args: OutdatedArgs, report: &Reporter) -> Result<()> {
    let path = &args.lock_file;
    let Some(lock) = Lock::read(path)? else {
        bail!(
            "{}: no such lock file; make one with `grocker lock` (or name it with --lock-file)",
            path.display()
        );
    };
    let sources = crate::settings::debian(args.debian)?;
    let env = |k: &str| std::env::var(k).ok();
    let indexes = grocker_pypi::IndexUrls::resolve(
        args.index_url.as_deref(),
        &[],
        &env,
        dirs::home_dir().as_deref(),
    )?;
    // Always asks the archives and the index again: the point is what changed since.
    let ctx = Context::new(report.clone(), true, grocker_build::SourceDateEpoch::new(0))?;
    let found = grocker_build::outdated(&lock, &sources, indexes, &ctx)
        .await
        .with_context(|| format!("checking {}", path.display()))?;
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&found)?),
        _ => print!("{}", found.table()),
    }
    if args.fail_on.as_deref() == Some("security") && found.has_security_update() {
        let count = found.debian.iter().filter(|u| u.security).count();
        bail!(
            "{count} Debian security update(s) pending for {}: rebuild with --upgrade-os",
            path.display()
        );
    }
    Ok(())
}
