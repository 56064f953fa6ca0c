//! The build stage (DESIGN §1.5–6): a [`Plan`] becomes an [`Image`] — its layers written (or
//! taken from the layer cache), the native libraries checked, the config assembled. Nothing is
//! resolved here: every file comes from the plan's pins.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use grocker_oci::{Artifact, Image, ImageConfig, ImageIndex, Layer};
use grocker_wheel::Arch;

use crate::context::Context;
use crate::debian::PinnedDebian;
use crate::inputs::PythonInputs;
use crate::native::{self, MissingPackages, Whole};
use crate::plan::{Plan, PlannedApp, PlatformPlan};
use crate::python::{self, VENV, VenvLayers};
use crate::release::Release;
use crate::source_tree::APP_DIR;

/// Debian's default PATH, with sbin for tools images may add.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// [`build`], and when the image lacks libraries that Debian packages of the suite ship (one
/// each), those packages join the `os` layer — planned again with them, recorded in the lock as
/// added — and the image is built again, once; each addition is said in one line. Unless
/// `inputs.auto_packages` is off, when the missing libraries stay an error naming the packages.
pub async fn build_adding_packages(plan: Plan, ctx: &Context) -> Result<(Plan, Artifact)> {
    let missing = match build(&plan, ctx).await {
        Ok(image) => return Ok((plan, image)),
        Err(e) => match e.downcast::<MissingPackages>() {
            Ok(missing) if plan.inputs.auto_packages => missing,
            Ok(missing) => {
                return Err(anyhow::anyhow!(
                    "{missing}\n(--no-auto-packages: grocker does not add them itself)"
                ));
            }
            Err(e) => return Err(e),
        },
    };
    let mut inputs = plan.inputs;
    for (package, why) in &missing.packages {
        ctx.report.note(format!(
            "Adding Debian package {package}: {}",
            why.join("; ")
        ));
        inputs.added_packages.push(package.clone());
    }
    let plan = crate::plan(inputs, ctx).await?;
    let image = build(&plan, ctx).await?;
    Ok((plan, image))
}

/// The image of `plan`: one platform's, or one per platform under an index. Every platform's
/// image is built and checked before anything is published. The platforms are built at the
/// same time: their downloads, layer writes and cache checks overlap, on as many cores.
pub async fn build(plan: &Plan, ctx: &Context) -> Result<Artifact> {
    let shared = shared_wheels(plan);
    let several = plan.platforms.len() > 1;
    let mut images = futures_util::future::try_join_all(plan.platforms.iter().map(|platform| {
        let shared = shared.as_ref();
        async move {
            let _platform = several.then(|| {
                ctx.report
                    .stage(format!("Building for {}", platform.arch.platform()))
            });
            match (&plan.inputs.python, &platform.app) {
                (Some(python), Some(app)) => {
                    build_app(plan, platform, python, app, shared, ctx).await
                }
                _ => build_root(plan, platform, ctx).await,
            }
        }
    }))
    .await?;
    if let [_] = images.as_slice() {
        return Ok(Artifact::Image(images.remove(0)));
    }
    let annotations = match plan.app() {
        Some(app) => app_annotations(&app.release),
        None => BTreeMap::new(),
    };
    Ok(Artifact::Index(ImageIndex::new(images, annotations)?))
}

/// The wheels every platform pins, the same file (`filename sha256`): with several platforms
/// they make a `deps` layer of their own, the same blob in every image, uploaded once. Sdists
/// are not among them (their wheels may be built per platform). `None` for one platform,
/// whose layers stay as they always were.
fn shared_wheels(plan: &Plan) -> Option<BTreeSet<String>> {
    let [first, rest @ ..] = plan.platforms.as_slice() else {
        return None;
    };
    if rest.is_empty() {
        return None;
    }
    let files = |p: &crate::plan::PlatformPlan| -> BTreeSet<String> {
        p.pins
            .python
            .iter()
            .filter(|p| !crate::compile::is_sdist(&p.filename))
            .map(|p| format!("{} {}", p.filename, p.sha256))
            .collect()
    };
    let mut shared = files(first);
    for other in rest {
        let theirs = files(other);
        shared.retain(|f| theirs.contains(f));
    }
    Some(shared)
}

/// The runtime image alone: a base for anything, so glibc's charset modules, and the libraries
/// nothing in the runtime links, are in.
async fn build_root(plan: &Plan, platform: &PlatformPlan, ctx: &Context) -> Result<Image> {
    let debian = platform.debian();
    let os = debian.layers(false, None, ctx).await?;
    let mut layers = vec![os.os, os.iconv];
    if !os.unlinked.units.is_empty() {
        layers.push(os.unlinked.layer);
    }
    let python = python_layer(platform).await?;
    let python_builder = python_builder_packages(platform);
    if let Some(python) = &python {
        let checked = layers.iter().chain([python]).map(|l| (l, true)).collect();
        let whole = Whole {
            arch: platform.arch,
            os: debian,
            archive: &platform.archive,
            venv: None,
            python: Some(python),
            python_builder: python_builder
                .as_deref()
                .map(|packages| PinnedDebian { packages, ..debian }),
            layers: checked,
            os_tree: os.tree,
            venv_tree: None,
            unlinked: None,
        };
        native::check(whole, ctx).await?;
    }
    layers.extend(python);
    let config = ImageConfig {
        entrypoint: vec!["python3".to_string()],
        env: vec![
            ("PATH".to_string(), runtime_path(debian.runtime)),
            ("LANG".to_string(), "C.UTF-8".to_string()),
        ],
        ..base_config(platform.arch, ctx, labels(plan))
    };
    Ok(Image::new(&config, layers, BTreeMap::new())?)
}

/// The layer of the CPython grocker built for the platform's runtime, if it did.
async fn python_layer(platform: &PlatformPlan) -> Result<Option<Layer>> {
    match &platform.python_builder {
        Some(compiler) => compiler.python_layer().await,
        None => Ok(None),
    }
}

/// The packages of the builder that compiled the platform's CPython, if grocker built it.
fn python_builder_packages(platform: &PlatformPlan) -> Option<Vec<grocker_lock::DebianPackage>> {
    let interpreter = platform.python_builder.as_ref()?.interpreter()?;
    Some(interpreter.builder)
}

/// `PATH` of the runtime's images: a CPython built from source comes first, as `/usr/local/bin`
/// does in `python:3.X` images.
fn runtime_path(runtime: grocker_runtime::Runtime) -> String {
    match runtime.from_source() {
        true => format!("/{}/bin:{PATH}", runtime.prefix()),
        false => PATH.to_string(),
    }
}

async fn build_app(
    plan: &Plan,
    platform: &PlatformPlan,
    python: &PythonInputs,
    app: &PlannedApp,
    shared: Option<&BTreeSet<String>>,
    ctx: &Context,
) -> Result<Image> {
    let debian = platform.debian();
    let venv = python::venv(&app.target, debian.runtime);
    let python_layer = python_layer(platform).await?;
    let python_builder = python_builder_packages(platform);
    // A foreign platform's bytecode is compiled by this machine's interpreter.
    let host = match python.bytecode {
        true => app.compiler.host_compiler().await?,
        false => None,
    };
    let host_debian = host.as_ref().map(|h| h.runtime());
    if let Some(host_debian) = &host_debian {
        crate::foreign::same_python(&debian, host_debian)?;
    }
    let os = debian.layers(python.bytecode, host_debian, ctx).await?;
    let interpreter = match (python.bytecode, host_debian) {
        (false, _) => None,
        (true, Some(host)) => Some(host.interpreter(None, None, ctx).await?),
        (true, None) => Some(
            debian
                .interpreter(os.tree.as_ref(), python_layer.as_ref(), ctx)
                .await?,
        ),
    };
    let app_name = app.release.name.to_string();
    let venv_layers = VenvLayers {
        app: &app_name,
        packages: &platform.pins.python,
        builder: &platform.pins.builder,
        venv: &venv,
        compiler: &app.compiler,
        local: &app.local,
        source: app.source.as_ref(),
        bytecode: interpreter.as_ref(),
        shared,
    };
    let py = venv_layers.layers(ctx).await?;
    // An app that is not a package has no console script of its own: Python runs it, with
    // `--cmd` saying what (`manage.py runserver`, `app/main.py`).
    let wanted = python
        .image
        .entrypoint
        .as_deref()
        .or(app.source.as_ref().map(|_| "python"));
    let entrypoint = entrypoint(wanted, &app.release, &py.app_scripts, &py.all_scripts)?;
    let mut layers: Vec<Layer> = vec![os.os];
    if os.os_calls_iconv || py.calls_iconv {
        layers.push(os.iconv);
    }
    layers.extend(python_layer.clone());
    let mut checked: Vec<(&Layer, bool)> = layers.iter().map(|l| (l, true)).collect();
    checked.extend(py.layers.iter().zip(py.elf.iter().copied()));
    let whole = Whole {
        arch: platform.arch,
        os: debian,
        archive: &platform.archive,
        venv: Some(&venv_layers),
        python: python_layer.as_ref(),
        python_builder: python_builder
            .as_deref()
            .map(|packages| PinnedDebian { packages, ..debian }),
        layers: checked,
        os_tree: os.tree,
        venv_tree: py.tree,
        unlinked: Some(&os.unlinked),
    };
    let units = native::check(whole, ctx).await?;
    if !units.is_empty() {
        layers.push(os.unlinked.layer_of(&units, ctx).await?);
    }
    let _ = platform.left_out.set(os.unlinked.packages_left_out(&units));
    layers.extend(py.layers);

    let env = vec![
        (
            "PATH".to_string(),
            format!("{VENV}/bin:{}", runtime_path(debian.runtime)),
        ),
        ("LANG".to_string(), "C.UTF-8".to_string()),
        ("VIRTUAL_ENV".to_string(), VENV.to_string()),
        // Logs reach `docker logs` as they are written, not when a buffer fills.
        ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
    ];
    // A user's variable moves to the end, replacing a default of the same name; positions in a
    // map keep this linear for configurations with very many variables.
    let mut slots: Vec<Option<(String, String)>> = env.into_iter().map(Some).collect();
    let mut position: std::collections::HashMap<String, usize> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, kv)| Some((kv.as_ref()?.0.clone(), i)))
        .collect();
    for (k, v) in &python.image.env {
        if let Some(i) = position.insert(k.clone(), slots.len()) {
            slots[i] = None;
        }
        slots.push(Some((k.clone(), v.clone())));
    }
    let env: Vec<(String, String)> = slots.into_iter().flatten().collect();
    let base = base_config(platform.arch, ctx, labels(plan));
    let config = ImageConfig {
        entrypoint: vec![entrypoint],
        cmd: python.image.cmd.clone(),
        working_dir: match &app.source {
            Some(_) => APP_DIR.to_string(),
            None => base.working_dir.clone(),
        },
        env,
        exposed_ports: python.image.ports.iter().cloned().collect::<BTreeSet<_>>(),
        volumes: python
            .image
            .volumes
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>(),
        ..base
    };
    Ok(Image::new(&config, layers, app_annotations(&app.release))?)
}

/// The manifest's (and index's) annotations of an application image.
fn app_annotations(release: &Release) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "org.opencontainers.image.title".to_string(),
            release.name.to_string(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            release.version.to_string(),
        ),
    ])
}

/// What every image has: the non-root user, its home as working directory, the date, the
/// platform.
fn base_config(arch: Arch, ctx: &Context, labels: BTreeMap<String, String>) -> ImageConfig {
    let user = grocker_runtime::User::default();
    ImageConfig {
        user: format!("{}:{}", user.uid, user.gid),
        working_dir: user.home(),
        labels,
        created: ctx.epoch.seconds(),
        architecture: arch.oci_name().to_string(),
        variant: arch.oci_variant().map(str::to_string),
        os: "linux".to_string(),
        ..ImageConfig::default()
    }
}

fn labels(plan: &Plan) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (
            "grocker.runtime".to_string(),
            plan.inputs.runtime.to_string(),
        ),
        (
            crate::VERSION_LABEL.to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ]);
    if let Some(app) = plan.app() {
        let release = &app.release;
        for (key, value) in [
            ("grocker.app.name", release.name.to_string()),
            ("grocker.app.version", release.version.to_string()),
            ("org.opencontainers.image.title", release.name.to_string()),
            (
                "org.opencontainers.image.version",
                release.version.to_string(),
            ),
        ] {
            labels.insert(key.to_string(), value);
        }
        let extras: Vec<String> = release.extras.iter().map(ToString::to_string).collect();
        if !extras.is_empty() {
            labels.insert("grocker.app.extras".to_string(), extras.join(","));
        }
    }
    labels
}

/// Grocker's rule: `-e NAME` if given (a console script of the venv, or `python`); else
/// `grocker-runner` if the app defines it; else the app's only console script; else the one
/// named like the project; else an error listing the choices.
fn entrypoint(
    wanted: Option<&str>,
    release: &Release,
    app: &[String],
    all: &[String],
) -> Result<String> {
    let path = |script: &str| format!("{VENV}/bin/{script}");
    if let Some(wanted) = wanted {
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
