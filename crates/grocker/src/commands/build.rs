//! `grocker build RELEASE | WHEEL | PROJECT_DIR`: an application, on its runtime.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use grocker_lock::{Lock, Request};
use grocker_oci::{Image, ImageConfig, Layer};

use crate::commands::root::PATH;
use crate::compile::Compiler;
use crate::os::{self, OsRequest};
use crate::python::{self, LocalApp, Release, VENV};
use crate::report::Reporter;
use crate::settings::{AppInput, BuildSettings};
use crate::{fetcher, output, plan, publish, venv_layers};

pub async fn build(settings: BuildSettings, report: &Reporter) -> Result<()> {
    let fetcher = fetcher(report, settings.lock.upgrade)?;
    let os_request = OsRequest {
        runtime: settings.runtime,
        architecture: "amd64",
        packages: &settings.packages,
        debian: &settings.debian,
    };
    let mut repositories: Vec<String> = settings
        .debian
        .repositories
        .iter()
        .map(|r| r.describe())
        .collect();
    repositories.sort();

    // A local app is known (name, version, requirements) only from its wheel, and a project's
    // wheel comes out of the builder, which needs the runtime's packages.
    let (local, builder_seed) = match &settings.input {
        AppInput::Release(_) => (None, Vec::new()),
        AppInput::Wheel { path, extras } => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (Some(LocalApp::from_wheel(&name, path, extras)?), Vec::new())
        }
        AppInput::Project(dir) => {
            let existing = grocker_lock::Lock::read(&settings.lock.path)?.filter(|l| {
                l.request.runtime == settings.runtime.to_string()
                    && l.request.packages == settings.packages
                    && l.request.repositories == repositories
            });
            let (debian, builder) = match existing {
                Some(l) => (l.debian, l.builder),
                None => (
                    os::resolve_packages(&os_request, &fetcher, report).await?,
                    vec![],
                ),
            };
            let mut base = Lock::new(Request {
                runtime: settings.runtime.to_string(),
                architecture: "amd64".into(),
                packages: vec![],
                application: None,
                constraints: vec![],
                indexes: vec![],
                repositories: vec![],
                requires: vec![],
            });
            base.debian = debian;
            let target = python::target(settings.runtime, &base)?;
            let compiler = compiler(&settings, &fetcher, target, builder, report);
            let handle = tokio::runtime::Handle::current();
            let (name, wheel) =
                tokio::task::block_in_place(|| compiler.wheel_for_project(&handle, dir))?;
            let app = LocalApp::from_wheel(&name, &wheel, &[])?;
            (Some(app), compiler.locked_packages())
        }
    };
    let release = match (&settings.input, &local) {
        (AppInput::Release(release), _) => (**release).clone(),
        (_, Some(app)) => app.release.clone(),
        (_, None) => bail!("internal error: a local application without its wheel"),
    };
    let image_name = settings.image_name_for(&release)?;

    let registry = grocker_oci::RegistryOptions {
        insecure_registries: settings.insecure_registries.clone(),
        ..grocker_oci::RegistryOptions::default()
    };
    // A dependency-only build (`--no-build-image`) has no destination.
    let sink = if settings.build_image {
        let mut sink = output::open(settings.output.as_ref(), &image_name, &registry, report)?;
        if settings.push && settings.output != Some(crate::settings::Output::Registry) {
            if image_name.registry().is_some() {
                sink = Box::new(output::Tee::new(sink).push(&registry)?);
            } else {
                report.note(format!(
                    "warning: not pushing {image_name}: the name has no registry part (use \
                     --image-prefix REGISTRY/NAMESPACE or -n; --no-push silences this)"
                ));
            }
        }
        Some(sink)
    } else {
        None
    };

    let mut constraints: Vec<String> = settings
        .constraints
        .iter()
        .map(ToString::to_string)
        .collect();
    constraints.sort();
    let mut indexes = vec![grocker_fetch::redact_url(&settings.indexes.index)];
    indexes.extend(settings.indexes.extra.iter().map(grocker_fetch::redact_url));
    let application = match &settings.input {
        AppInput::Release(r) => r.to_string(),
        AppInput::Wheel { path, .. } | AppInput::Project(path) => {
            format!("{release} from {}", path.display())
        }
    };
    let wanted = Request {
        runtime: settings.runtime.to_string(),
        architecture: os_request.architecture.to_string(),
        packages: settings.packages.clone(),
        application: Some(application),
        constraints,
        indexes,
        repositories,
        requires: match &local {
            Some(app) => app.requires()?,
            None => vec![],
        },
    };
    let (lock, lock_changed) = plan::plan(&wanted, &settings.lock, || async {
        let mut lock = Lock::new(wanted.clone());
        lock.debian = os::resolve_packages(&os_request, &fetcher, report).await?;
        let target = python::target(settings.runtime, &lock)?;
        let compiler = compiler(
            &settings,
            &fetcher,
            target.clone(),
            builder_seed.clone(),
            report,
        );
        lock.python = python::resolve(
            &release,
            &settings.constraints,
            &settings.indexes,
            &target,
            &fetcher,
            Some(&compiler),
            local.as_ref(),
            report,
        )
        .await?;
        lock.builder = compiler.locked_packages();
        Ok(lock)
    })
    .await?;

    if !settings.build_image {
        // Grocker's dependency-only build: everything resolved, fetched and compiled (so in
        // the cache), the lock written; no image.
        if lock_changed {
            lock.write(&settings.lock.path)?;
            report.note(format!("Wrote {}", settings.lock.path.display()));
        }
        println!(
            "{release}: {} Debian packages, {} Python packages ready (--no-build-image: no image made)",
            lock.debian.len(),
            lock.python.len()
        );
        return Ok(());
    }
    let target = python::target(settings.runtime, &lock)?;
    let venv = python::venv(&target);
    let os = os::layers(
        &os_request,
        &lock,
        &fetcher,
        settings.epoch,
        settings.compile_bytecode,
        report,
    )
    .await?;
    let interpreter = match settings.compile_bytecode {
        true => {
            Some(os::interpreter(&os_request, &lock, os.tree.as_ref(), &fetcher, report).await?)
        }
        false => None,
    };
    let compiler = compiler(
        &settings,
        &fetcher,
        target.clone(),
        lock.builder.clone(),
        report,
    );
    let py = venv_layers::layers(
        &release,
        &lock,
        &venv,
        &fetcher,
        Some(&compiler),
        local.as_ref(),
        settings.epoch,
        interpreter.as_ref(),
        report,
    )
    .await?;
    let entrypoint = entrypoint(&settings, &release, &py.app_scripts, &py.all_scripts)?;
    let mut layers = vec![os.os];
    if os.os_calls_iconv || py.calls_iconv {
        layers.push(os.iconv);
    }
    let mut checked: Vec<(&Layer, bool)> = layers.iter().map(|l| (l, true)).collect();
    checked.extend(py.layers.iter().zip(py.elf.iter().copied()));
    let whole = crate::native::Image {
        os: &os_request,
        lock: &lock,
        release: &release,
        venv: &venv,
        compiler: Some(&compiler),
        local: local.as_ref(),
    };
    crate::native::check(&whole, &checked, os.tree, py.tree, &fetcher, report).await?;
    layers.extend(py.layers);

    let user = grocker_runtime::User::default();
    let mut env = vec![
        ("PATH".to_string(), format!("{VENV}/bin:{PATH}")),
        ("LANG".to_string(), "C.UTF-8".to_string()),
        ("VIRTUAL_ENV".to_string(), VENV.to_string()),
        // Logs reach `docker logs` as they are written, not when a buffer fills.
        ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
    ];
    for (k, v) in &settings.env {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    let extras: Vec<String> = release.extras.iter().map(ToString::to_string).collect();
    let mut labels = BTreeMap::from([
        ("grocker.runtime".to_string(), settings.runtime.to_string()),
        (
            "grocker.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        ("grocker.app.name".to_string(), release.name.to_string()),
        (
            "grocker.app.version".to_string(),
            release.version.to_string(),
        ),
        (
            "org.opencontainers.image.title".to_string(),
            release.name.to_string(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            release.version.to_string(),
        ),
    ]);
    if !extras.is_empty() {
        labels.insert("grocker.app.extras".to_string(), extras.join(","));
    }
    let config = ImageConfig {
        user: format!("{}:{}", user.uid, user.gid),
        entrypoint: vec![entrypoint],
        env,
        working_dir: user.home(),
        labels: labels.clone(),
        exposed_ports: settings.ports.iter().cloned().collect::<BTreeSet<_>>(),
        volumes: settings.volumes.iter().cloned().collect::<BTreeSet<_>>(),
        created: settings.epoch,
        architecture: os_request.architecture.to_string(),
        os: "linux".to_string(),
        ..ImageConfig::default()
    };
    let annotations = BTreeMap::from([
        (
            "org.opencontainers.image.title".to_string(),
            release.name.to_string(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            release.version.to_string(),
        ),
    ]);
    let image = Image::new(&config, layers, annotations)?;
    let sink = sink.ok_or_else(|| anyhow::anyhow!("internal error: no output"))?;
    let published = publish(
        sink,
        &image,
        &image_name,
        lock_changed.then_some((&lock, settings.lock.path.as_path())),
        report,
    )?;
    if let Some(path) = &settings.result_file {
        write_result(
            path,
            &settings,
            &release,
            &image_name,
            &published.digest.to_string(),
        )?;
    }
    Ok(())
}

/// Grocker's result file: what was built, under which name, with which digest.
#[derive(serde::Serialize)]
struct ResultFile<'a> {
    release: String,
    image: String,
    hash: &'a str,
    runtime: String,
}

fn write_result(
    path: &std::path::Path,
    settings: &BuildSettings,
    release: &Release,
    image_name: &grocker_oci::ImageName,
    digest: &str,
) -> Result<()> {
    let result = ResultFile {
        release: release.to_string(),
        image: image_name.to_string(),
        hash: digest,
        runtime: settings.runtime.to_string(),
    };
    let text = serde_norway::to_string(&result)?;
    fs_err::write(path, text)?;
    Ok(())
}

fn compiler<'a>(
    settings: &'a BuildSettings,
    fetcher: &'a grocker_fetch::Fetcher,
    target: grocker_wheel::Target,
    locked: Vec<grocker_lock::DebianPackage>,
    report: &'a Reporter,
) -> Compiler<'a> {
    let mut compiler = Compiler::new(
        settings.runtime,
        &settings.build_packages,
        &settings.debian,
        &settings.indexes,
        target,
        fetcher,
        settings.epoch,
        report,
        locked,
    );
    compiler.allowed = settings.build_dependencies;
    compiler
}

/// Grocker's rule: `-e NAME` if given (a console script of the venv, or `python`); else
/// `grocker-runner` if the app defines it; else the app's only console script; else the one
/// named like the project; else an error listing the choices.
fn entrypoint(
    settings: &BuildSettings,
    release: &Release,
    app: &[String],
    all: &[String],
) -> Result<String> {
    let path = |script: &str| format!("{VENV}/bin/{script}");
    if let Some(wanted) = &settings.entrypoint {
        if wanted == "python" || wanted == "python3" {
            return Ok(path("python"));
        }
        if all.iter().any(|s| s == wanted) {
            return Ok(path(wanted));
        }
        bail!(
            "-e {wanted}: no console script of that name in the image; choose `python` or one of: {}",
            list(all)
        );
    }
    if app.iter().any(|s| s == "grocker-runner") {
        return Ok(path("grocker-runner"));
    }
    if let [only] = app {
        return Ok(path(only));
    }
    let project = release.name.to_string();
    if let Some(s) = app.iter().find(|s| **s == project) {
        return Ok(path(s));
    }
    bail!(
        "{} has {} console scripts, so grocker cannot guess what to run: pass -e with one of: {}, or -e python",
        release,
        app.len(),
        list(app)
    )
}

fn list(scripts: &[String]) -> String {
    if scripts.is_empty() {
        "(none)".to_string()
    } else {
        scripts.join(", ")
    }
}
