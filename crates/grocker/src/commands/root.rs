//! `grocker root`: the runtime image alone (Grocker's "root image") — the same pipeline with
//! no Python part.

use anyhow::Result;
use grocker_build::{Context, Reporter};

use crate::output;
use crate::settings::RootSettings;

pub async fn root(settings: RootSettings, report: &Reporter) -> Result<()> {
    crate::settings::check_output(settings.output.as_ref(), &settings.inputs.platforms)?;
    let ctx = Context::new(
        report.clone(),
        settings.inputs.lock.refresh(),
        settings.epoch,
    )?;
    // Open the destination first: a bad destination is reported before minutes of work.
    let sink = output::open(
        settings.output.as_ref(),
        &settings.image_name,
        &grocker_oci::RegistryOptions::default(),
        report,
    )?;
    let plan = grocker_build::plan(settings.inputs, &ctx).await?;
    let image = grocker_build::build(&plan, &ctx).await?;
    crate::publish(sink, &image, &settings.image_name, &plan, &ctx, &[], |_| {
        Ok(())
    })
}
