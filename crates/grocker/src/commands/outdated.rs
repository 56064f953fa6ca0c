//! `grocker outdated`: what grocker.lock is behind, as a table or JSON; with `--fail-on
//! security`, an error when a Debian security update is pending.

use anyhow::{Context as _, Result, bail};
use grocker_build::{Context, Outdated, Reporter};
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
        _ => print!("{}", table(&found)),
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

/// The report for people: one line per package, aligned.
fn table(found: &Outdated) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    for u in &found.debian {
        let what = match u.cves.is_empty() {
            true => u.suite.clone(),
            false => format!("{}: {}", u.suite, u.cves.join(", ")),
        };
        rows.push([
            format!("{} ({})", u.name, u.architecture),
            u.locked.clone(),
            u.available.clone(),
            what,
        ]);
    }
    for u in &found.python {
        let what = match &u.allowed {
            Some(allowed) if *allowed == u.newest => "PyPI".to_string(),
            Some(allowed) => format!("constraints allow {allowed}"),
            None => "constraints allow none newer".to_string(),
        };
        rows.push([u.name.clone(), u.locked.clone(), u.newest.clone(), what]);
    }
    if rows.is_empty() {
        return "Everything in the lock is up to date.\n".to_string();
    }
    let header = [
        "package".to_string(),
        "locked".to_string(),
        "available".to_string(),
        "from".to_string(),
    ];
    let mut widths = [0usize; 3];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        out.push_str(&format!(
            "{:w0$}  {:w1$}  {:w2$}  {}\n",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        ));
    }
    out
}
