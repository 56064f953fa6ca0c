//! `grocker root`: the runtime image alone (Grocker's "root image") — the same pipeline with
//! no Python part.

use anyhow::Result;
use grocker_build::{Context, Reporter};
use tokio::runtime::Runtime;

use crate::settings::RootSettings;

pub fn root(settings: RootSettings, report: &Reporter, runtime: &Runtime) -> Result<()> {
    if settings.list {
        let ctx = Context::new(report.clone(), false, settings.epoch)?;
        for line in runtime.block_on(grocker_build::list_runtimes(
            &settings.inputs.debian,
            settings.inputs.python_source.allow_expired,
            &ctx,
        ))? {
            println!("{line}");
        }
        return Ok(());
    }
    grocker_build::check_output(settings.output.as_ref(), &settings.inputs.platforms)?;
    let ctx = Context::new(
        report.clone(),
        settings.inputs.lock.refresh(),
        settings.epoch,
    )?
    // `grocker root` pushes only with `-o registry`, and shares no layer.
    .with_layer_compression(grocker_build::layer_compression(
        settings.output.as_ref(),
        false,
        false,
    ));
    // Open the destination first: a bad destination is reported before minutes of work.
    let sink = grocker_build::open_sink(
        settings.output.as_ref(),
        &settings.image_name,
        &grocker_oci::RegistryOptions::default(),
        ctx.fetcher.cache().root(),
        report,
    )?;
    let (plan, image) = runtime.block_on(async {
        let plan = grocker_build::plan(settings.inputs, &ctx).await?;
        grocker_build::build_adding_packages(plan, &ctx).await
    })?;
    let digest = image.digest();
    grocker_build::publish(
        sink,
        &image,
        &settings.image_name,
        &plan,
        &ctx,
        &[],
        |name, published| {
            super::print_published(name, digest, published);
            Ok(())
        },
    )
}
