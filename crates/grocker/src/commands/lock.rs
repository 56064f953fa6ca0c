//! `grocker lock [RELEASE | WHEEL | PROJECT_DIR]`: the plan stage alone, its lock written.

use anyhow::Result;
use grocker_build::{Context, Reporter};

use crate::settings::BuildSettings;

pub async fn lock(settings: BuildSettings, report: &Reporter) -> Result<()> {
    // Locking compiles sdists (their wheels name what they need): the shared cache serves here too.
    let ctx = Context::new(report.clone(), settings.inputs.lock.upgrade, settings.epoch)?
        .with_remote(crate::commands::build::shared_cache(&settings)?);
    let plan = grocker_build::plan(settings.inputs, &ctx).await?;
    let path = &plan.inputs.lock.path;
    if plan.lock_changed {
        plan.write_lock(&ctx)?;
    } else {
        report.note(format!("{} is up to date", path.display()));
    }
    for platform in &plan.platforms {
        let on = match plan.platforms.len() {
            1 => String::new(),
            _ => format!(" for {}", platform.arch.platform()),
        };
        println!(
            "{}: {} Debian packages, {} Python packages{on}",
            path.display(),
            platform.pins.debian.len(),
            platform.pins.python.len()
        );
    }
    Ok(())
}
