//! The application of a plan: which release it is (from an index, a wheel, a project and its
//! team lock), what the Python side asks the resolver for, and the project's wheel.

use anyhow::{Context as _, Result, anyhow, bail};
use grocker_lock::{Lock, Request};
use grocker_project::{Project, ProjectKind};
use grocker_wheel::{Requirement, Target};

use crate::compile::Compiler;
use crate::context::Context;
use crate::inputs::{AppInput, PythonInputs};
use crate::project::TeamLock;
use crate::python::LocalApp;
use crate::release::{Release, ReleaseSpec};
use crate::source_tree::SourceTree;

/// A project's own lock, read for `target`; `None` for other inputs, and for a package without
/// a lock (resolved as a release is). An app that is not a package needs one.
pub(super) fn team_lock(
    app: &AppInput,
    settings: &crate::inputs::ProjectLockSettings,
    target: &Target,
    locked: bool,
    ctx: &Context,
) -> Result<Option<(Project, TeamLock)>> {
    let AppInput::Project(dir) = app else {
        return Ok(None);
    };
    let project = Project::read(dir)?;
    let team = crate::project::read(&project, settings, target, locked, ctx)?;
    if team.is_none() && project.kind() == ProjectKind::App {
        bail!(
            "{}: this project is not a package (it has no [build-system]) and has no lock, so \
             grocker cannot tell what to install: lock it (`uv lock`, `poetry lock`, \
             `pip-compile --generate-hashes -o requirements.txt`) or name requirements files \
             with --requirements",
            project.root.display()
        );
    }
    Ok(team.map(|team| (project, team)))
}

/// The whole request of an application build, as the lock records it.
pub(super) fn python_request(
    os: Request,
    python: &PythonInputs,
    app: &App,
    team: Option<&TeamLock>,
    lock_file: &std::path::Path,
) -> Result<Request> {
    let mut constraints: Vec<String> = python.constraints.iter().map(ToString::to_string).collect();
    constraints.sort();
    let mut indexes = vec![grocker_fetch::redact_url(&python.indexes.index)];
    indexes.extend(python.indexes.extra.iter().map(grocker_fetch::redact_url));
    let application = match (&python.app, &app.release) {
        (AppInput::Release(spec), _) => spec.to_string(),
        (AppInput::Wheel { path, .. } | AppInput::Project(path), Some(release)) => {
            format!("{release} from {}", shown_from(path, lock_file))
        }
        (_, None) => bail!("internal error: a local application without its release"),
    };
    // With a team lock, its hash stands for the requirements: the resolver never sees them.
    let requires = match (team, app.local.first()) {
        (None, Some(local)) => local.requires()?,
        _ => vec![],
    };
    Ok(Request {
        application: Some(application),
        constraints,
        indexes,
        requires,
        project_lock: team.map(|t| t.sources.join(", ")),
        selection: team.map(|t| t.selection.clone()).unwrap_or_default(),
        ..os
    })
}

/// A local input as the lock records it: `.` for the project the lock sits in, so the same
/// request is recognised from any working directory; else as given.
pub(super) fn shown_from(path: &std::path::Path, lock_file: &std::path::Path) -> String {
    let lock_dir = lock_file.parent().map(|d| {
        if d.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            d
        }
    });
    match (
        fs_err::canonicalize(path),
        lock_dir.map(fs_err::canonicalize),
    ) {
        (Ok(a), Some(Ok(b))) if a == b => ".".to_string(),
        _ => path.display().to_string(),
    }
}

/// The application as planning finds it, before the target and compiler join it.
pub(super) struct App {
    /// `None` for a release from the index until the lock pins its version.
    pub(super) release: Option<Release>,
    pub(super) versioned: bool,
    pub(super) local: Vec<LocalApp>,
    pub(super) source: Option<SourceTree>,
}

/// A release, a wheel, or a project without a lock: its wheel (given, or built from the
/// project) is what the resolver starts from.
pub(super) fn resolved_app(input: &AppInput, compiler: &Compiler) -> Result<App> {
    let local = match input {
        AppInput::Release(_) => {
            return Ok(App {
                release: None,
                versioned: true,
                local: Vec::new(),
                source: None,
            });
        }
        AppInput::Wheel { path, extras } => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            compiler.target().tags().check(&name.parse()?)?;
            LocalApp::from_wheel(&name, path, extras)?
        }
        AppInput::Project(dir) => project_wheel(dir, compiler)?,
    };
    Ok(App {
        release: Some(local.release.clone()),
        versioned: true,
        local: vec![local],
        source: None,
    })
}

/// A project with a team lock: its own packages (the project first, then its path
/// dependencies) built into wheels, or — when it is not a package — its source tree.
pub(super) fn locked_app(project: &Project, team: &TeamLock, compiler: &Compiler) -> Result<App> {
    let (selected, is_package) = match team.locked.local.first() {
        Some(local) => (local.path.clone(), local.is_package),
        None => (project.root.clone(), project.kind() == ProjectKind::Package),
    };
    let mut packages = crate::project::local_packages(&team.locked);
    if is_package && !packages.contains(&selected) {
        packages.insert(0, selected.clone());
    }
    let local = packages
        .iter()
        .map(|dir| project_wheel(dir, compiler))
        .collect::<Result<Vec<_>>>()?;
    if is_package {
        let app = local
            .first()
            .ok_or_else(|| anyhow!("internal error: a package without its wheel"))?;
        return Ok(App {
            release: Some(app.release.clone()),
            versioned: true,
            local,
            source: None,
        });
    }
    let source = SourceTree::read(&selected)?;
    let (release, versioned) = app_release(&selected)?;
    Ok(App {
        release: Some(release),
        versioned,
        local,
        source: Some(source),
    })
}

/// What the resolver starts from: the release as asked for, or the local app's own wheel.
pub(super) fn app_requirement<'a>(input: &'a AppInput, app: &'a App) -> Result<&'a Requirement> {
    match (input, &app.release) {
        (AppInput::Release(spec), _) => Ok(&spec.requirement),
        (_, Some(release)) => Ok(&release.requirement),
        (_, None) => bail!("internal error: a local application without its release"),
    }
}

/// The release a spec was pinned to: its version in the lock (the newest the specifiers allowed
/// when the lock was made).
pub(super) fn pinned_release(spec: &ReleaseSpec, lock: &Lock) -> Result<Release> {
    let name = spec.name.to_string();
    let entry = lock.python.iter().find(|p| p.name == name).ok_or_else(|| {
        anyhow!("grocker.lock has no entry for {name}, the application: run with --upgrade")
    })?;
    let version = entry
        .version
        .parse()
        .with_context(|| format!("grocker.lock: {name}'s version `{}`", entry.version))?;
    Ok(spec.at(version))
}

/// The name and version of an app that is not a package: its `pyproject.toml`'s, else its
/// directory's name (unversioned).
pub(super) fn app_release(dir: &std::path::Path) -> Result<(Release, bool)> {
    let pyproject = Project::read(dir)?.pyproject;
    let name = pyproject
        .as_ref()
        .and_then(|p| p.name.as_ref())
        .map(ToString::to_string)
        .unwrap_or_else(|| {
            let base = dir
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            let name: String = base
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let name = name.trim_matches('-').to_string();
            if name.is_empty() {
                "app".to_string()
            } else {
                name
            }
        });
    let version = pyproject.as_ref().and_then(|p| p.version.clone());
    let versioned = version.is_some();
    let spec = format!("{name}=={}", version.as_deref().unwrap_or("0"));
    let release = spec
        .parse()
        .with_context(|| format!("{}: cannot name the app `{spec}`", dir.display()))?;
    Ok((release, versioned))
}

/// The wheel of the project in `dir`, built in the builder (cached by its source tree).
pub(super) fn project_wheel(dir: &std::path::Path, compiler: &Compiler) -> Result<LocalApp> {
    let handle = tokio::runtime::Handle::current();
    let (name, wheel) = tokio::task::block_in_place(|| compiler.wheel_for_project(&handle, dir))?;
    LocalApp::from_wheel(&name, &wheel, &[])
}
