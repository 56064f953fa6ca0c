//! The plan stage (DESIGN §1.2): inputs become one fully pinned [`Plan`]. `grocker.lock` is its
//! serialized form: a lock made for the same request is the plan, and nothing is resolved;
//! otherwise the Debian side and the Python side are resolved (each once), unless `--locked`
//! forbids it. No later stage resolves anything or reads the lock again.

use std::sync::Arc;

use anyhow::{Result, bail};
use grocker_lock::{DebianPackage, Lock, Request};
use grocker_wheel::Target;

use crate::compile::{Compiler, CompilerInputs};
use crate::context::Context;
use crate::debian::{DebianArchive, PinnedDebian};
use crate::inputs::{AppInput, Inputs, LockSettings, PythonInputs};
use crate::python::{self, LocalApp, PythonRequest};
use crate::release::Release;

/// Everything a build needs, fully pinned: the inputs it came from, every `.deb` and wheel with
/// its hash (the lock), and the application.
pub struct Plan {
    /// What was asked for.
    pub inputs: Inputs,
    /// The pins: Debian packages, Python packages, the builder's packages.
    pub lock: Lock,
    /// Whether `lock` differs from the lock file, and so must be written — once the image is
    /// published, never before, so a failed build leaves the old lock in place.
    pub lock_changed: bool,
    /// The application; `None` for the runtime image alone.
    pub app: Option<PlannedApp>,
    pub(crate) archive: Arc<DebianArchive>,
}

/// The application of a plan.
pub struct PlannedApp {
    /// What it is, by name and version (a local wheel's or project's own).
    pub release: Release,
    /// Its wheel, when it is a local file rather than on the index.
    pub local: Option<LocalApp>,
    /// The image's Python and platform.
    pub target: Target,
    /// The builder: it built the sdists and the project, and gives their wheels again.
    pub(crate) compiler: Compiler,
}

impl Plan {
    /// The pinned Debian packages of the `os` layer, with where they come from.
    pub(crate) fn debian(&self) -> PinnedDebian<'_> {
        PinnedDebian {
            runtime: self.inputs.runtime,
            sources: self.archive.sources(),
            packages: &self.lock.debian,
        }
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

/// The plan for `inputs`: from the lock file when it was made for the same request, else
/// resolved.
pub async fn plan(inputs: Inputs, ctx: &Context) -> Result<Plan> {
    let archive = Arc::new(DebianArchive::new(
        inputs.runtime,
        inputs.arch,
        inputs.debian.clone(),
    ));
    let existing = Lock::read(&inputs.lock.path)?;
    let os_request = os_request(&inputs);
    let Some(python) = &inputs.python else {
        let lock = match reuse(existing.as_ref(), &os_request, &inputs.lock)? {
            Some(lock) => lock,
            None => {
                let mut lock = Lock::new(os_request);
                lock.debian = archive
                    .resolve(&inputs.packages, "Debian packages", ctx)
                    .await?;
                lock
            }
        };
        let lock_changed = existing.as_ref() != Some(&lock);
        return Ok(Plan {
            inputs,
            lock,
            lock_changed,
            app: None,
            archive,
        });
    };

    // The Debian side comes first: a local app is known (name, version, requirements) only from
    // its wheel, and a project's wheel comes out of the builder, which needs the runtime. A lock
    // made for the same runtime and packages pins it, whatever the Python side asks.
    let same_os = existing
        .as_ref()
        .filter(|l| !inputs.lock.upgrade && same_os_request(&l.request, &os_request));
    let (debian, builder): (Vec<DebianPackage>, Vec<DebianPackage>) = match same_os {
        Some(l) => (l.debian.clone(), l.builder.clone()),
        None => (
            archive
                .resolve(&inputs.packages, "Debian packages", ctx)
                .await?,
            Vec::new(),
        ),
    };
    let target = python::target(inputs.runtime, inputs.arch, &debian)?;
    let compiler = Compiler::new(
        CompilerInputs {
            archive: Arc::clone(&archive),
            build_packages: &python.build_packages,
            indexes: &python.indexes,
            target: target.clone(),
            allowed: python.compile,
            locked: builder,
        },
        ctx,
    );
    let local = local_app(&python.app, &compiler)?;
    let release = match (&python.app, &local) {
        (AppInput::Release(release), _) => (**release).clone(),
        (_, Some(app)) => app.release.clone(),
        (_, None) => bail!("internal error: a local application without its wheel"),
    };
    let wanted = python_request(os_request, python, &release, local.as_ref())?;
    let lock = match reuse(existing.as_ref(), &wanted, &inputs.lock)? {
        Some(lock) => lock,
        None => {
            let mut lock = Lock::new(wanted);
            lock.debian = debian;
            let request = PythonRequest {
                release: &release,
                constraints: &python.constraints,
                indexes: &python.indexes,
                target: &target,
                local: local.as_ref(),
            };
            lock.python = python::resolve(&request, Some(&compiler), ctx).await?;
            lock.builder = compiler.locked_packages();
            lock
        }
    };
    let lock_changed = existing.as_ref() != Some(&lock);
    Ok(Plan {
        inputs,
        lock,
        lock_changed,
        app: Some(PlannedApp {
            release,
            local,
            target,
            compiler,
        }),
        archive,
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

/// The Debian side of the request, as the lock records it.
fn os_request(inputs: &Inputs) -> Request {
    let mut repositories: Vec<String> = inputs
        .debian
        .repositories
        .iter()
        .map(|r| r.describe())
        .collect();
    repositories.sort();
    Request {
        runtime: inputs.runtime.to_string(),
        architecture: inputs.arch.oci_name().to_string(),
        packages: inputs.packages.clone(),
        application: None,
        constraints: vec![],
        indexes: vec![],
        // `grocker root` records none: its repositories come from no configuration file.
        repositories: match inputs.python {
            Some(_) => repositories,
            None => vec![],
        },
        requires: vec![],
    }
}

fn same_os_request(locked: &Request, wanted: &Request) -> bool {
    locked.runtime == wanted.runtime
        && locked.architecture == wanted.architecture
        && locked.packages == wanted.packages
        && locked.repositories == wanted.repositories
}

/// The whole request of an application build, as the lock records it.
fn python_request(
    os: Request,
    python: &PythonInputs,
    release: &Release,
    local: Option<&LocalApp>,
) -> Result<Request> {
    let mut constraints: Vec<String> = python.constraints.iter().map(ToString::to_string).collect();
    constraints.sort();
    let mut indexes = vec![grocker_fetch::redact_url(&python.indexes.index)];
    indexes.extend(python.indexes.extra.iter().map(grocker_fetch::redact_url));
    let application = match &python.app {
        AppInput::Release(r) => r.to_string(),
        AppInput::Wheel { path, .. } | AppInput::Project(path) => {
            format!("{release} from {}", path.display())
        }
    };
    Ok(Request {
        application: Some(application),
        constraints,
        indexes,
        requires: match local {
            Some(app) => app.requires()?,
            None => vec![],
        },
        ..os
    })
}

/// The application's wheel when it is a local file: given, or built from the project.
fn local_app(app: &AppInput, compiler: &Compiler) -> Result<Option<LocalApp>> {
    Ok(match app {
        AppInput::Release(_) => None,
        AppInput::Wheel { path, extras } => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Some(LocalApp::from_wheel(&name, path, extras)?)
        }
        AppInput::Project(dir) => {
            let handle = tokio::runtime::Handle::current();
            let (name, wheel) =
                tokio::task::block_in_place(|| compiler.wheel_for_project(&handle, dir))?;
            Some(LocalApp::from_wheel(&name, &wheel, &[])?)
        }
    })
}
