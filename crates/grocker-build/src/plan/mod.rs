//! The plan stage (DESIGN §1.2): inputs become one fully pinned [`Plan`]. `grocker.lock` is its
//! serialized form: a lock made for the same request is the plan, and nothing is resolved;
//! otherwise the Debian side and the Python side are resolved (each once), unless `--locked`
//! forbids it. No later stage resolves anything or reads the lock again.

use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow, bail};
use grocker_lock::{Lock, PythonPackage, Request};
use grocker_wheel::{Arch, Target};

use crate::compile::{self, Compiler, CompilerInputs, HostTools};
use crate::context::Context;
use crate::debian::{DebianArchive, PinnedDebian};
use crate::inputs::{AppInput, Inputs, LockSettings};
use crate::python::{self, LocalApp, PythonRequest};
use crate::release::Release;
use crate::source_tree::SourceTree;

mod app;
mod os;

use app::{app_requirement, locked_app, pinned_release, python_request, resolved_app, team_lock};
use os::{
    added_packages, interpreter_pin, os_request, pins_added, root_python_builder, runtime_packages,
};

/// Everything a build needs, fully pinned: the inputs it came from, the lock, and for each
/// platform its own pins and application.
pub struct Plan {
    /// What was asked for.
    pub inputs: Inputs,
    /// The pins of every platform, as `grocker.lock` records them.
    pub lock: Lock,
    /// Whether `lock` differs from the lock file, and so must be written — once the image is
    /// published, never before, so a failed build leaves the old lock in place.
    pub lock_changed: bool,
    /// One per platform, in `inputs.platforms` order.
    pub platforms: Vec<PlatformPlan>,
}

/// The part of a plan for one platform: what its image is made of.
pub struct PlatformPlan {
    /// The platform.
    pub arch: Arch,
    /// Its pins (Debian packages, Python packages, the builder's), as the single-platform lock
    /// of a build for it alone.
    pub pins: Lock,
    /// The application; `None` for the runtime image alone.
    pub app: Option<PlannedApp>,
    pub(crate) archive: Arc<DebianArchive>,
    /// The builder of the CPython grocker builds for this runtime (the app's compiler, when
    /// there is an app); `None` when the interpreter is Debian's.
    pub(crate) python_builder: Option<Arc<Compiler>>,
    /// Pinned packages the built image does not carry: set apart with the libraries nothing in
    /// the runtime links, and linked by nothing in the image either (`crate::unlinked`). Known
    /// once the image is built; the SBOM leaves them out.
    pub(crate) left_out: std::sync::OnceLock<Vec<String>>,
}

/// The application of a plan, for one platform.
pub struct PlannedApp {
    /// What it is, by name and version (a local wheel's or project's own).
    pub release: Release,
    /// Whether the version is the app's own; an app that is not a package may have none, and
    /// its image is then tagged `latest`.
    pub versioned: bool,
    /// Its wheels when they are local files rather than on the index: a wheel given, or built
    /// from the project and its path dependencies (the project's own first).
    pub local: Vec<LocalApp>,
    /// The source tree of an app that is not a package, shipped in `/app`.
    pub source: Option<SourceTree>,
    /// The image's Python and platform.
    pub target: Target,
    /// The builder: it built the sdists and the project, and gives their wheels again.
    pub(crate) compiler: Arc<Compiler>,
}

impl PlannedApp {
    /// The builder image, when this build used one (Grocker's `compiler_image`).
    pub fn builder_image(&self) -> Option<String> {
        self.compiler.image()
    }
}

impl PlatformPlan {
    /// The pinned Debian packages of the `os` layer, with where they come from.
    pub(crate) fn debian(&self) -> PinnedDebian<'_> {
        PinnedDebian {
            runtime: self.archive.runtime(),
            sources: self.archive.sources(),
            packages: &self.pins.debian,
            requested: &self.pins.request.packages,
        }
    }
}

impl Plan {
    /// The application (its release is the same on every platform); `None` for the runtime
    /// image alone.
    pub fn app(&self) -> Option<&PlannedApp> {
        self.platforms.first().and_then(|p| p.app.as_ref())
    }

    /// Writes the lock file if the plan changed it, saying so.
    pub fn write_lock(&self, ctx: &Context) -> Result<()> {
        if self.lock_changed {
            self.lock.write(&self.inputs.lock.path)?;
            ctx.report
                .note(format!("Wrote {}", self.inputs.lock.path.display()));
        }
        Ok(())
    }
}

/// The plan for `inputs`: each platform's from the lock file when it was made for the same
/// request, else resolved. The host's platform is planned first, when it is one of them: the
/// others' pure-Python wheels and bytecode come from its tools.
pub async fn plan(inputs: Inputs, ctx: &Context) -> Result<Plan> {
    if inputs.platforms.is_empty() {
        bail!("internal error: a plan for no platform");
    }
    let existing = Lock::read(&inputs.lock.path)?;
    let archives = archives(&inputs, existing.as_ref(), ctx).await?;
    let host = Arch::host();
    let mut order: Vec<Arch> = inputs.platforms.clone();
    order.sort_by_key(|a| Some(*a) != host);
    let mut host_compiler: Option<Arc<Compiler>> = None;
    let mut planned: Vec<PlatformPlan> = Vec::new();
    for arch in order {
        let part = existing
            .as_ref()
            .and_then(|l| l.for_platform(arch.oci_name()));
        if inputs.lock.locked && existing.is_some() && part.is_none() {
            bail!(
                "--locked: {} pins no packages for linux/{}; run without --locked to update it",
                inputs.lock.path.display(),
                arch.oci_name()
            );
        }
        let tools = match (Some(arch) == host, &host_compiler) {
            (true, _) => HostTools::Native,
            (false, Some(compiler)) => HostTools::Given(Arc::clone(compiler)),
            (false, None) => HostTools::Lazy,
        };
        let archive = archives
            .iter()
            .find(|a| a.arch() == arch)
            .map(Arc::clone)
            .ok_or_else(|| anyhow!("internal error: no archive for {arch}"))?;
        let platform = plan_platform(&inputs, archive, part, tools, ctx).await?;
        if Some(arch) == host {
            host_compiler = platform.app.as_ref().map(|a| Arc::clone(&a.compiler));
        }
        planned.push(platform);
    }
    planned.sort_by_key(|p| p.arch);
    if let [first, rest @ ..] = planned.as_slice()
        && let Some(app) = &first.app
    {
        for other in rest {
            let release = other.app.as_ref().map(|a| &a.release);
            if release.map(|r| &r.version) != Some(&app.release.version) {
                bail!(
                    "{} resolves to version {} for linux/{} but {} for linux/{}: pin one version \
                     (NAME==VERSION) that both platforms have",
                    app.release.name,
                    app.release.version,
                    first.arch.oci_name(),
                    release.map_or("none".to_string(), |r| r.version.to_string()),
                    other.arch.oci_name()
                );
            }
        }
    }
    let lock = Lock::combine(planned.iter().map(|p| p.pins.clone()).collect())?;
    let lock_changed = existing.as_ref() != Some(&lock);
    Ok(Plan {
        inputs,
        lock,
        lock_changed,
        platforms: planned,
    })
}

/// Each platform's Debian archive. With several platforms, the package indexes of those the
/// lock does not pin (or all, on `--upgrade`) are loaded at once, before planning resolves them
/// one platform after the other.
async fn archives(
    inputs: &Inputs,
    existing: Option<&Lock>,
    ctx: &Context,
) -> Result<Vec<Arc<DebianArchive>>> {
    let archives: Vec<Arc<DebianArchive>> = inputs
        .platforms
        .iter()
        .map(|arch| {
            Arc::new(DebianArchive::new(
                inputs.runtime,
                *arch,
                inputs.debian.clone(),
            ))
        })
        .collect();
    if archives.len() > 1 {
        let mut loads = tokio::task::JoinSet::new();
        for archive in &archives {
            let pinned =
                existing.is_some_and(|l| l.for_platform(archive.arch().oci_name()).is_some());
            if !pinned || inputs.lock.refresh() {
                let (archive, ctx) = (Arc::clone(archive), ctx.clone());
                loads.spawn(async move { archive.preload(&ctx).await });
            }
        }
        while let Some(loaded) = loads.join_next().await {
            loaded.context("loading a package index stopped unexpectedly")??;
        }
    }
    Ok(archives)
}

/// One platform's part of the plan: from `existing` (the lock's part for it) when made for the
/// same request, else resolved.
async fn plan_platform(
    inputs: &Inputs,
    archive: Arc<DebianArchive>,
    existing: Option<Lock>,
    tools: HostTools,
    ctx: &Context,
) -> Result<PlatformPlan> {
    let arch = archive.arch();
    let os_request = os_request(inputs, arch);
    check_source_platform(inputs, arch)?;
    let Some(python) = &inputs.python else {
        return plan_root(inputs, archive, existing, os_request, tools, ctx).await;
    };

    let (added, debian, builder) =
        runtime_packages(inputs, existing.as_ref(), &os_request, &archive, ctx).await?;
    let interpreter = interpreter_pin(inputs, existing.as_ref(), &os_request, ctx).await?;
    let has_added = |l: &&Lock| pins_added(l, &added);
    let target = python::target(inputs.runtime, arch, &debian, interpreter.as_ref())?;
    let compiler = Arc::new(Compiler::new(
        CompilerInputs {
            archive: Arc::clone(&archive),
            build_packages: &python.build_packages,
            indexes: &python.indexes,
            target: target.clone(),
            allowed: python.compile,
            locked: builder,
            runtime: debian.clone(),
            host: tools,
            interpreter: interpreter.clone(),
        },
        ctx,
    ));
    // Built now, in the plan stage, as sdists are: its builder's packages are pinned in the
    // lock, and the builder of the sdists to come has it.
    compiler.python_layer().await?;
    let team = team_lock(
        &python.app,
        &python.project,
        &target,
        inputs.lock.locked,
        ctx,
    )?;
    // A team lock's pins are known before the project is built: their wheels are fetched, and
    // with one platform their deps layer written, while the project's wheel is built (in the
    // sandbox or the builder).
    let (mut early_pins, prefetch) = match &team {
        Some((project, team)) => {
            let pins = crate::project::pins(&team.locked, &python.indexes, &target, ctx).await?;
            let os = PinnedDebian {
                runtime: archive.runtime(),
                sources: archive.sources(),
                packages: &debian,
                requested: &inputs.packages,
            };
            let prefetch = match deps_ahead(inputs, project, &pins, &target, &compiler, os, ctx) {
                true => None,
                false => Some(prefetch_wheels(&pins, ctx)?),
            };
            (Some(pins), prefetch)
        }
        None => (None, None),
    };
    let app = match &team {
        Some((project, team)) => locked_app(project, team, &compiler)?,
        None => resolved_app(&python.app, &compiler)?,
    };
    let team_lock = team.as_ref().map(|t| &t.1);
    let wanted = python_request(os_request, python, &app, team_lock, &inputs.lock.path)?;
    let reusable = existing.as_ref().filter(has_added);
    let pins = match reuse(reusable, &wanted, &inputs.lock)? {
        // `--upgrade-os`: the lock's Python and builder pins with today's Debian packages.
        Some(lock) if inputs.lock.upgrade_os => Lock {
            debian,
            added_packages: added.clone(),
            ..lock
        },
        Some(lock) => lock,
        None => {
            let mut lock = Lock::new(wanted);
            lock.debian = debian;
            lock.added_packages = added.clone();
            lock.interpreter = compiler.interpreter();
            // Pinned early exactly when there is a team lock.
            lock.python = match early_pins.take() {
                Some(pins) => {
                    compile_sdists(&pins, &compiler, ctx).await?;
                    pins
                }
                None => {
                    let request = PythonRequest {
                        requirement: app_requirement(&python.app, &app)?,
                        constraints: &python.constraints,
                        indexes: &python.indexes,
                        target: &target,
                        local: app.local.first(),
                    };
                    python::resolve(&request, Some(&compiler), ctx).await?
                }
            };
            lock.builder = compiler.locked_packages();
            lock
        }
    };
    if let Some(prefetch) = prefetch {
        // Done before the build stage fetches the same files; its errors are that fetch's.
        let _ = prefetch.await;
    }
    let release = match (app.release, &python.app) {
        (Some(release), _) => release,
        (None, AppInput::Release(spec)) => pinned_release(spec, &pins)?,
        (None, _) => bail!("internal error: a local application without its release"),
    };
    let python_builder = inputs.runtime.from_source().then(|| Arc::clone(&compiler));
    Ok(PlatformPlan {
        arch,
        pins,
        python_builder,
        left_out: std::sync::OnceLock::new(),
        app: Some(PlannedApp {
            release,
            versioned: app.versioned,
            local: app.local,
            source: app.source,
            target,
            compiler,
        }),
        archive,
    })
}

/// Refuses a runtime built from source for a platform that is not this machine's.
fn check_source_platform(inputs: &Inputs, arch: Arch) -> Result<()> {
    if inputs.runtime.from_source() && Some(arch) != Arch::host() {
        bail!(
            "runtime {} builds CPython from source, which grocker does for this machine's \
             platform only (linux/{}); build linux/{} on such a machine, or use a runtime whose \
             Python is Debian's ({})",
            inputs.runtime,
            Arch::host().map_or("?", |a| a.oci_name()),
            arch.oci_name(),
            grocker_runtime::Runtime::debian_runtimes()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// The plan of the runtime image alone (`grocker root`): its Debian packages, and for a
/// runtime whose CPython grocker builds, that CPython's source and builder.
async fn plan_root(
    inputs: &Inputs,
    archive: Arc<DebianArchive>,
    existing: Option<Lock>,
    os_request: Request,
    tools: HostTools,
    ctx: &Context,
) -> Result<PlatformPlan> {
    let arch = archive.arch();
    let added = added_packages(inputs, existing.as_ref(), &os_request);
    let has_added = |l: &&Lock| pins_added(l, &added);
    let reusable = existing.as_ref().filter(has_added);
    let reused = reuse(reusable, &os_request, &inputs.lock)?;
    let pins = match reused.filter(|_| !inputs.lock.upgrade_os) {
        Some(lock) => lock,
        None => {
            let mut lock = Lock::new(os_request);
            let mut packages = inputs.packages.clone();
            packages.extend(added.iter().cloned());
            packages.sort();
            packages.dedup();
            lock.debian = archive.resolve(&packages, "Debian packages", ctx).await?;
            lock.added_packages = added;
            lock.interpreter = interpreter_pin(inputs, None, &lock.request, ctx).await?;
            lock
        }
    };
    let python_builder = root_python_builder(inputs, &archive, &pins, tools, ctx).await?;
    let mut pins = pins;
    if let Some(compiler) = &python_builder {
        pins.interpreter = compiler.interpreter();
    }
    Ok(PlatformPlan {
        arch,
        pins,
        app: None,
        archive,
        python_builder,
        left_out: std::sync::OnceLock::new(),
    })
}

/// The lock to use as the plan, if `existing` was made for `wanted`; `None` to resolve; an
/// error when `--locked` forbids resolving.
fn reuse(
    existing: Option<&Lock>,
    wanted: &Request,
    settings: &LockSettings,
) -> Result<Option<Lock>> {
    if let Some(existing) = existing
        && &existing.request == wanted
        && !settings.upgrade
    {
        tracing::debug!("using {}", settings.path.display());
        return Ok(Some(existing.clone()));
    }
    if settings.locked {
        match existing {
            None => bail!(
                "--locked: {} does not exist; run once without --locked to create it",
                settings.path.display()
            ),
            Some(_) => bail!(
                "--locked: {} was made for a different request (runtime, packages, release, \
                 constraints or indexes); run without --locked to update it",
                settings.path.display()
            ),
        }
    }
    Ok(None)
}

/// Starts writing the deps layer of a team lock's pins (and reading the runtime back for the
/// native check) while the project builds, and says whether it did: with one platform and no
/// bytecode to compile. Otherwise the caller only fetches the wheels meanwhile.
fn deps_ahead(
    inputs: &Inputs,
    project: &grocker_project::Project,
    pins: &[PythonPackage],
    target: &Target,
    compiler: &Arc<Compiler>,
    os: PinnedDebian<'_>,
    ctx: &Context,
) -> bool {
    let bytecode = inputs.python.as_ref().is_some_and(|p| p.bytecode);
    let name = project.pyproject.as_ref().and_then(|p| p.name.as_ref());
    let Some(name) = name.filter(|_| inputs.platforms.len() == 1 && !bytecode) else {
        return false;
    };
    python::DepsAhead {
        app: name.to_string(),
        packages: pins.to_vec(),
        venv: python::venv(target, inputs.runtime),
        compiler: Arc::clone(compiler),
        runtime: Some(os.owned()),
    }
    .start(ctx)
}

/// Starts fetching the wheels of `pins` (verified, into the cache) in the background.
fn prefetch_wheels(pins: &[PythonPackage], ctx: &Context) -> Result<tokio::task::JoinHandle<()>> {
    // Only what is missing: a no-op rebuild needs none of the wheels (its layers are cached),
    // and hashing two dozen cached wheels here would be most of its time.
    let cache = ctx.fetcher.cache();
    let downloads = pins
        .iter()
        .filter(|p| !compile::is_sdist(&p.filename) && !cache.holds(&p.sha256))
        .map(python::download)
        .collect::<Result<Vec<_>>>()?;
    let fetcher = ctx.fetcher.clone();
    Ok(tokio::spawn(async move {
        if let Err(e) = fetcher.get_all_verified(downloads).await {
            tracing::debug!("prefetching the locked wheels: {e:#} (the build fetches them again)");
        }
    }))
}

/// Compiles the sdists a team lock pins now, in the plan stage, so that the builder's packages
/// are pinned in the lock and a compile error comes before any layer is written.
async fn compile_sdists(pins: &[PythonPackage], compiler: &Compiler, ctx: &Context) -> Result<()> {
    let sdists: Vec<&PythonPackage> = pins
        .iter()
        .filter(|p| compile::is_sdist(&p.filename))
        .collect();
    if sdists.is_empty() {
        return Ok(());
    }
    let downloads = sdists
        .iter()
        .map(|p| python::download(p))
        .collect::<Result<Vec<_>>>()?;
    let paths = ctx.fetcher.get_all_verified(downloads).await?;
    let handle = tokio::runtime::Handle::current();
    for (p, path) in sdists.iter().zip(paths) {
        tokio::task::block_in_place(|| compiler.wheel_for(&handle, &p.filename, &p.sha256, &path))?;
    }
    Ok(())
}
