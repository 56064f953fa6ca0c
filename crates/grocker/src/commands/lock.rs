//! `grocker lock [RELEASE | WHEEL | PROJECT_DIR]`: the plan stage alone, its lock written.

use anyhow::{Result, bail};
use grocker_build::{Context, Reporter};

use crate::settings::BuildSettings;

pub async fn lock(settings: BuildSettings, report: &Reporter) -> Result<()> {
    if settings.sbom.is_some() {
        bail!("--sbom: `grocker lock` makes no image to describe; use it with `grocker build`");
    }
    // Locking compiles sdists (their wheels name what they need): the shared cache serves here too.
    let ctx = Context::new(
        report.clone(),
        settings.inputs.lock.refresh(),
        settings.epoch,
    )?
    .with_remote(crate::commands::build::shared_cache(&settings)?)
    .without_work_ahead();
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
