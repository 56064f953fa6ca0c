//! `grocker build RELEASE | WHEEL | PROJECT_DIR`: plan, build (async, on `runtime`), publish
//! (blocking, after the runtime's work is done).

use anyhow::{Result, anyhow, bail};
use grocker_build::{Context, Output, Reporter};
use grocker_oci::{ImageName, RegistryOptions, RemoteCache, Sink, Tee};
use tokio::runtime::Runtime;

use crate::settings::BuildSettings;

pub fn build(settings: BuildSettings, report: &Reporter, runtime: &Runtime) -> Result<()> {
    if !settings.build_image && settings.sbom.is_some() {
        bail!("--sbom describes an image, and --no-build-image makes none: drop one of them");
    }
    if settings.build_image {
        grocker_build::check_output(settings.output.as_ref(), &settings.inputs.platforms)?;
    }
    let ctx = Context::new(
        report.clone(),
        settings.inputs.lock.refresh(),
        settings.epoch,
    )?
    .with_remote(shared_cache(&settings)?)
    .with_layer_compression(grocker_build::layer_compression(
        settings.output.as_ref(),
        settings.pushes(),
        settings.cache_repo.is_some(),
    ));
    let ctx = match settings.build_image {
        true => ctx,
        false => ctx.without_work_ahead(),
    };
    let plan = runtime.block_on(grocker_build::plan(settings.inputs.clone(), &ctx))?;
    let app = plan
        .app()
        .ok_or_else(|| anyhow!("internal error: an application build without an application"))?;
    let release = &app.release;

    if !settings.build_image {
        // Grocker's dependency-only build: everything resolved, fetched and compiled (so in
        // the cache), the lock written; no image.
        plan.write_lock(&ctx)?;
        for platform in &plan.platforms {
            println!(
                "{release}: {} Debian packages, {} Python packages ready for {} \
                 (--no-build-image: no image made)",
                platform.pins.debian.len(),
                platform.pins.python.len(),
                platform.arch.platform()
            );
        }
        return Ok(());
    }
    let name = settings.image_name_for(app)?;
    // The destination is opened before the image is built: a bad one is reported before the
    // layers are written.
    let sink = sinks(&settings, &name, ctx.fetcher.cache().root(), report)?;
    let (plan, image) = runtime.block_on(grocker_build::build_adding_packages(plan, &ctx))?;
    // The SBOM is written before the image is published, and attached to it there (an OCI
    // referrer in a layout or a registry).
    let mut referrers = Vec::new();
    if let Some((path, format)) = &settings.sbom {
        let sbom = runtime.block_on(grocker_build::sbom(&plan, &image, &name.to_string(), &ctx))?;
        let bytes = sbom.to_json(*format);
        grocker_oci::write_atomic(path, &bytes)?;
        referrers.push(grocker_oci::Referrer::new(
            image.descriptor(),
            format.media_type(),
            bytes,
        ));
    }
    let digest = image.digest();
    grocker_build::publish(
        sink,
        &image,
        &name,
        &plan,
        &ctx,
        &referrers,
        |name, published| {
            super::print_published(name, digest, published);
            match &settings.result_file {
                Some(path) => {
                    let pushed = settings.pushes();
                    grocker_build::ResultFile::new(&plan, name, published, &image, pushed)
                        .write(path)
                }
                None => Ok(()),
            }
        },
    )
}

/// The shared cache (`--cache-repo`), reached as pushes reach registries.
pub(crate) fn shared_cache(settings: &BuildSettings) -> Result<Option<RemoteCache>> {
    let Some(repo) = &settings.cache_repo else {
        if settings.cache_repo_read_only {
            anyhow::bail!(
                "--cache-repo-read-only without a shared cache: give --cache-repo \
                 REGISTRY/REPOSITORY (or GROCKER_CACHE_REPO, or cache_repo in .grocker.yml)"
            );
        }
        return Ok(None);
    };
    let registry = RegistryOptions {
        insecure_registries: settings.insecure_registries.clone(),
        ..RegistryOptions::default()
    };
    Ok(Some(RemoteCache::new(
        repo,
        &registry,
        settings.cache_repo_read_only,
    )?))
}

/// The chosen output, and the registry too when the image is pushed (Grocker's default).
fn sinks(
    settings: &BuildSettings,
    name: &ImageName,
    cache: &std::path::Path,
    report: &Reporter,
) -> Result<Box<dyn Sink>> {
    let registry = RegistryOptions {
        insecure_registries: settings.insecure_registries.clone(),
        ..RegistryOptions::default()
    };
    let sink = grocker_build::open_sink(settings.output.as_ref(), name, &registry, cache, report)?;
    if settings.output == Some(Output::Registry) || !settings.push {
        return Ok(sink);
    }
    if !settings.pushes() {
        report.note(format!(
            "warning: not pushing {name}: the name has no registry part (use \
             --image-prefix REGISTRY/NAMESPACE or -n; --no-push silences this)"
        ));
        return Ok(sink);
    }
    let push = Box::new(grocker_oci::RegistrySink::new(registry)?);
    Ok(Box::new(Tee::new(vec![sink, push])))
}
