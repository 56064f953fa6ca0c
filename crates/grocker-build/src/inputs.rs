//! What to package and how, validated: the input of the plan stage (DESIGN §1.1). The command
//! line and configuration files are turned into these by the binary's settings layer.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Result, anyhow, bail};
use grocker_runtime::Runtime;
use grocker_wheel::{Arch, ExtraName, PackageName, Requirement};
use url::Url;

use crate::release::ReleaseSpec;

/// What to package.
#[derive(Clone, Debug)]
pub enum AppInput {
    /// `NAME[EXTRAS]` with version specifiers or none, from the index.
    Release(Box<ReleaseSpec>),
    /// A project directory (`pyproject.toml` or `setup.py`), built in the builder.
    Project(PathBuf),
    /// A wheel file, with extras (`app-1.0-py3-none-any.whl[pg]`).
    Wheel {
        /// The file.
        path: PathBuf,
        /// Extras to install it with.
        extras: Vec<ExtraName>,
    },
}

impl AppInput {
    /// A wheel file (`FILE.whl`, `FILE.whl[EXTRAS]`), a project directory, or a release.
    pub fn parse(arg: &str) -> Result<Self> {
        // `NAME @ URL` is a requirement, whatever its URL ends with: refused as a release.
        if arg.contains(" @ ") {
            return Ok(AppInput::Release(Box::new(arg.parse()?)));
        }
        let (file, extras) = match arg.strip_suffix(']').and_then(|a| a.rsplit_once('[')) {
            Some((file, extras)) if file.ends_with(".whl") => (file, extras),
            _ => (arg, ""),
        };
        if file.ends_with(".whl") {
            let path = PathBuf::from(file);
            if !path.is_file() {
                bail!("{file}: no such wheel file");
            }
            let extras = extras
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| {
                    ExtraName::from_str(e)
                        .map_err(|err| anyhow!("`{e}` is not an extra name: {err}"))
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(AppInput::Wheel { path, extras });
        }
        let path = Path::new(arg);
        if path.is_dir() {
            return Ok(AppInput::Project(path.to_path_buf()));
        }
        if arg.starts_with(['.', '/']) || (arg.contains('/') && !arg.contains(['=', '<', '>', '~']))
        {
            bail!("{arg}: no such project directory");
        }
        Ok(AppInput::Release(Box::new(arg.parse()?)))
    }
}

/// Where the Debian archive is and whom to trust.
#[derive(Clone, Debug)]
pub struct DebianSources {
    /// The main archive (`https://deb.debian.org/debian` by default).
    pub mirror: Url,
    /// The security archive.
    pub security_mirror: Url,
    /// Keyrings trusted for both, besides Debian's own keys.
    pub extra_keyrings: Vec<PathBuf>,
    /// Grocker's `repositories`: extra apt sources, each trusted only with its own key.
    pub repositories: Vec<ExtraRepository>,
}

/// An extra apt repository (Grocker's `repositories`).
#[derive(Clone, Debug)]
pub struct ExtraRepository {
    /// Its name in the configuration and in the lock.
    pub name: String,
    /// Its root URL.
    pub url: Url,
    /// The suite (`bookworm`).
    pub suite: String,
    /// The components (`main`).
    pub components: Vec<String>,
    /// The armored OpenPGP public key its InRelease must be signed with.
    pub key: String,
}

impl ExtraRepository {
    /// How the lock records it, so that changing it re-resolves.
    pub fn describe(&self) -> String {
        format!(
            "{}: deb {} {} {}",
            self.name,
            self.url,
            self.suite,
            self.components.join(" ")
        )
    }
}

/// What `grocker.lock` handling the user asked for.
#[derive(Clone, Debug)]
pub struct LockSettings {
    /// The lock file.
    pub path: PathBuf,
    /// `--upgrade`: resolve again even when the lock matches.
    pub upgrade: bool,
    /// `--upgrade-os`: resolve the image's Debian packages again, keep every other pin (the
    /// Python packages, the builder's packages), so only the `os` layer changes.
    pub upgrade_os: bool,
    /// `--locked`: fail rather than resolve.
    pub locked: bool,
}

impl LockSettings {
    /// Whether the package indexes are asked again rather than reused from minutes ago.
    pub fn refresh(&self) -> bool {
        self.upgrade || self.upgrade_os
    }
}

/// How the image is configured, beyond its files.
#[derive(Clone, Debug, Default)]
pub struct ImageSettings {
    /// `-e`: a console script of the venv, or `python`.
    pub entrypoint: Option<String>,
    /// Environment, in order; later keys win.
    pub env: Vec<(String, String)>,
    /// Exposed ports (`8000`, `53/udp`).
    pub ports: Vec<String>,
    /// Volume mount points.
    pub volumes: Vec<String>,
    /// `--cmd`: the image's default arguments (Docker's `CMD`), after the entrypoint.
    pub cmd: Vec<String>,
}

impl ImageSettings {
    /// Refuses what an OCI runtime would refuse when the container starts (Docker: "invalid
    /// environment variable"), so the build fails instead of the `docker run`: environment
    /// names must be non-empty without `=` or NUL, values without NUL; ports numbers (1-65535)
    /// with `/tcp`, `/udp` or `/sctp`; volumes absolute, with no `.`/`..` component, no NUL or
    /// line break; arguments without NUL.
    pub fn check(&self) -> Result<()> {
        for (key, value) in &self.env {
            if key.is_empty() || key.contains(['=', '\0']) {
                bail!(
                    "environment variable name `{}` is not valid: it must be non-empty, without \
                     `=` or NUL",
                    key.escape_debug()
                );
            }
            if value.contains('\0') {
                bail!(
                    "the value of environment variable {key} holds a NUL byte, which no process \
                     environment can carry; remove it"
                );
            }
        }
        for port in &self.ports {
            let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
            if number.parse::<u16>().map_or(true, |n| n == 0)
                || !matches!(proto, "tcp" | "udp" | "sctp")
            {
                bail!(
                    "port `{}` must be a port number, optionally /tcp or /udp (e.g. 8000, 53/udp)",
                    port.escape_debug()
                );
            }
        }
        for volume in &self.volumes {
            let shown = volume.escape_debug();
            if !volume.starts_with('/') {
                bail!("volume `{shown}` must be an absolute path inside the image, e.g. /data");
            }
            if volume.contains(['\0', '\n', '\r']) {
                bail!("volume `{shown}` holds a NUL byte or a line break; remove it");
            }
            if volume.split('/').any(|part| part == "." || part == "..") {
                bail!("volume `{shown}` has a `.` or `..` component: write the path it means");
            }
        }
        if let Some(arg) = self
            .cmd
            .iter()
            .chain(&self.entrypoint)
            .find(|a| a.contains('\0'))
        {
            bail!(
                "`{}` holds a NUL byte, which no command line can carry",
                arg.escape_debug()
            );
        }
        Ok(())
    }
}

/// Which of a project's own locks to read, and what to select from it (`--lock-from`,
/// `--requirements`, `--member`, `--group`, `--extra`). Only for a project directory.
#[derive(Clone, Debug, Default)]
pub struct ProjectLockSettings {
    /// `--lock-from FILE`: this lock rather than the first of `uv.lock`, `poetry.lock`,
    /// `pylock.toml`, `requirements.txt`.
    pub lock_from: Option<PathBuf>,
    /// `--requirements FILE`, repeatable: pip requirements files, read together.
    pub requirements: Vec<PathBuf>,
    /// `--member NAME`: the uv workspace member to package.
    pub member: Option<PackageName>,
    /// `--group NAME`: dependency groups to install besides the main dependencies.
    pub groups: Vec<String>,
    /// `--extra NAME`: the project's extras to install.
    pub extras: Vec<ExtraName>,
}

/// The Python side of a build: the application and where its packages come from.
#[derive(Clone, Debug)]
pub struct PythonInputs {
    /// What to package.
    pub app: AppInput,
    /// pip constraints applied to the resolution.
    pub constraints: Vec<Requirement>,
    /// The package indexes.
    pub indexes: grocker_pypi::IndexUrls,
    /// Debian packages for the builder only (config `dependencies.build`).
    pub build_packages: Vec<String>,
    /// Whether the compiler stage may run (`--no-build-dependencies` forbids it).
    pub compile: bool,
    /// `--compile-bytecode`: `.pyc` files in the image.
    pub bytecode: bool,
    /// Entrypoint, environment, ports, volumes.
    pub image: ImageSettings,
    /// A project directory's own lock: which, and what of it.
    pub project: ProjectLockSettings,
}

/// Everything the plan stage starts from.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// `SUITE/PYTHON`.
    pub runtime: Runtime,
    /// The image's platforms, sorted, without duplicates, at least one: one image each, under
    /// an index when there are several.
    pub platforms: Vec<Arch>,
    /// Debian packages for the os layer beyond the runtime's own, sorted.
    pub packages: Vec<String>,
    /// The Debian archives.
    pub debian: DebianSources,
    /// `grocker.lock` handling.
    pub lock: LockSettings,
    /// The application; `None` for the runtime image alone (`grocker root`).
    pub python: Option<PythonInputs>,
    /// Whether a library the image lacks may be brought by adding the one Debian package that
    /// ships it (`--no-auto-packages` forbids it; see [`crate::build_adding_packages`]).
    pub auto_packages: bool,
    /// Debian packages added that way, on top of [`Inputs::packages`]; recorded in the lock
    /// apart from the request.
    pub added_packages: Vec<String>,
    /// How an interpreter built from source is built (for runtimes whose Python is not
    /// Debian's; see [`Runtime::from_source`]).
    pub python_source: PythonSourceInputs,
}

/// How to build CPython for a runtime whose interpreter grocker builds.
#[derive(Clone, Debug, Default)]
pub struct PythonSourceInputs {
    /// `--python-source FILE|URL`: an upstream tarball instead of Debian's sources.
    pub source: Option<String>,
    /// `--python-sha256`: the tarball's SHA-256.
    pub sha256: Option<grocker_hash::Sha256>,
    /// `--python-optimize`: PGO + LTO.
    pub optimize: bool,
    /// `--python-allow-expired`: accept a signed `Sources` index past its `Valid-Until`.
    pub allow_expired: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: &[(&str, &str)], volumes: &[&str]) -> ImageSettings {
        ImageSettings {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            volumes: volumes.iter().map(ToString::to_string).collect(),
            ..ImageSettings::default()
        }
    }

    #[test]
    fn what_a_runtime_refuses_is_refused_at_build_time() {
        assert!(
            settings(&[("A", "1"), ("EMPTY", "")], &["/data", "/var/cache/app"])
                .check()
                .is_ok()
        );
        for (bad, want) in [
            (settings(&[("A", "x\0y")], &[]), "NUL"),
            (settings(&[("", "x")], &[]), "non-empty"),
            (settings(&[("A=B", "x")], &[]), "`=`"),
            (settings(&[], &["data"]), "absolute"),
            (settings(&[], &["/data/../etc"]), "`..`"),
            (settings(&[], &["/data/./x"]), "`.`"),
            (settings(&[], &["/data\nx"]), "line break"),
            (
                ImageSettings {
                    ports: vec!["0".into()],
                    ..ImageSettings::default()
                },
                "port `0`",
            ),
            (
                ImageSettings {
                    ports: vec!["80/icmp".into()],
                    ..ImageSettings::default()
                },
                "port",
            ),
        ] {
            let err = bad.check().unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}
