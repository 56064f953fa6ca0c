//! `grocker lock [RELEASE | WHEEL | PROJECT_DIR]`: the plan stage alone, its lock written.

use anyhow::Result;
use grocker_build::{Context, Reporter};

use crate::settings::BuildSettings;

pub async fn lock(settings: BuildSettings, report: &Reporter) -> Result<()> {
    let ctx = Context::new(report.clone(), settings.inputs.lock.upgrade, settings.epoch)?;
    let plan = grocker_build::plan(settings.inputs, &ctx).await?;
    let path = &plan.inputs.lock.path;
    if plan.lock_changed {
        plan.write_lock(&ctx)?;
    } else {
        report.note(format!("{} is up to date", path.display()));
    }
    println!(
        "{}: {} Debian packages, {} Python packages",
        path.display(),
        plan.lock.debian.len(),
        plan.lock.python.len()
    );
    Ok(())
}
