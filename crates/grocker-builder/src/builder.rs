//! [`Builder`]: the PEP 517 driver run in the builder image, one container per build.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fs_err as fs;
use serde_json::Value;

use crate::engine::{Engine, Mount, RunOutcome, RunSpec};
use crate::env::{BuildEnv, ENV_MOUNT, PYCACHE_MOUNT};
use crate::sandbox::Sandbox;
use crate::{BuildSystem, BuilderError, unpack};

/// The PEP 517 driver (standard library only), passed to the builder's `python3 -c`.
const DRIVER: &str = include_str!("driver.py");
/// The driver's answer is the last log line with this prefix (see `driver.py`).
const RESULT_PREFIX: &str = "grocker-driver-result: ";

/// The uid:gid builds run as: grocker's runtime user (`app`, home `/home/app`), which the builder
/// image has since grocker assembles it like any runtime image. Never root.
pub const BUILD_USER: &str = "10001:10001";
/// Builds longer than this are stopped (see [`Builder::with_timeout`]).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

/// What [`Builder::build_wheel`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Built {
    /// The wheel, in the output directory.
    Wheel(PathBuf),
    /// Nothing: the backend's `get_requires_for_build_wheel` asked for these dynamic
    /// requirements (PEP 508 strings), which the build environment was not made with.
    NeedsRequirements(Vec<String>),
}

/// Builds wheels from sdists and project directories in the builder image, offline.
///
/// Every build is one container, with no network, all capabilities dropped and
/// `no-new-privileges`, running as [`BUILD_USER`] with `HOME=/tmp`. Its mounts:
///
/// - the source tree at `/src`, read-only (the driver copies it to `/tmp` first);
/// - the build environment at [`ENV_MOUNT`], read-only: a venv holding every build requirement
///   (see [`BuildEnv`]);
/// - a fresh directory inside `out_dir` at `/out`, made writable by
///   everyone (0777) so that the build uid can write there whatever uid owns `out_dir` and
///   whatever uid mapping the engine uses (rootless Docker, Podman). The wheel is then copied
///   next to it, owned by the calling user, and the directory removed.
///
/// The source tree and the build environment must be readable by the build uid: sdists unpacked by
/// [`Builder::prepare_source`] are; a project directory that is not world-readable
/// (`chmod -R o+rX`) is refused up front.
#[derive(Clone, Debug)]
pub struct Builder {
    runner: Runner,
    image: String,
    user: String,
    env: Vec<String>,
    timeout: Option<Duration>,
}

/// Where builds run.
#[derive(Clone, Debug)]
enum Runner {
    /// A container of the builder image.
    Engine(Engine),
    /// This machine, in namespaces over the runtime filesystem (pure-Python builds only).
    Sandbox(Sandbox),
}

impl Builder {
    /// A builder running `image` (already in `engine`: grocker assembles and loads it).
    pub fn new(engine: Engine, image: impl Into<String>) -> Self {
        Self::with_runner(Runner::Engine(engine), image.into())
    }

    /// A builder that runs on this machine in `sandbox` rather than in a container: for builds
    /// that need no compiler (see [`Sandbox`]); `label` names it in errors.
    pub fn sandboxed(sandbox: Sandbox, label: impl Into<String>) -> Self {
        Self::with_runner(Runner::Sandbox(sandbox), label.into())
    }

    fn with_runner(runner: Runner, image: String) -> Self {
        Builder {
            runner,
            image,
            user: BUILD_USER.to_string(),
            env: Vec::new(),
            timeout: Some(DEFAULT_TIMEOUT),
        }
    }

    /// Runs builds as `uid[:gid]` instead of [`BUILD_USER`].
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// Sets an environment variable for builds (e.g. `SOURCE_DATE_EPOCH`, which setuptools and
    /// hatchling use for the timestamps in the wheel).
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push(format!("{name}={value}"));
        self
    }

    /// Stops a build after `timeout` (`None`: never). Default [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The builder image.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// Unpacks an sdist (`.tar.gz` or `.zip`) into `work` (created if missing, must be empty) and
    /// returns its top directory; takes a project directory as it is. Hostile archives (absolute
    /// paths, `..`, symlinks out of the tree, devices) are refused. Either way the tree must
    /// have a `pyproject.toml` or a `setup.py`.
    pub fn prepare_source(
        &self,
        sdist_or_dir: &Path,
        work: &Path,
    ) -> Result<PathBuf, BuilderError> {
        if sdist_or_dir.is_dir() {
            let dir = fs::canonicalize(sdist_or_dir).map_err(BuilderError::io(sdist_or_dir))?;
            if !dir.join("pyproject.toml").is_file() && !dir.join("setup.py").is_file() {
                return Err(BuilderError::BadMount {
                    path: dir,
                    reason: "not a Python project: it has neither pyproject.toml nor setup.py"
                        .into(),
                });
            }
            return Ok(dir);
        }
        unpack::unpack_sdist(sdist_or_dir, work)
    }

    /// Builds the wheel of `source` offline with the backend `system` names, in the build
    /// environment `env` (which must hold `system.requires` and `env.dynamic`, see
    /// [`BuildEnv::prepare`]). The backend is asked for its dynamic requirements first
    /// (`get_requires_for_build_wheel`), in the same container: if it wants other ones than
    /// `env` has, nothing is built and [`Built::NeedsRequirements`] says which. Otherwise the
    /// wheel is written to `out_dir` (created if missing; a wheel of the same name there is
    /// replaced).
    pub fn build_wheel(
        &self,
        source: &Path,
        system: &BuildSystem,
        env: &BuildEnv,
        out_dir: &Path,
        log: &mut dyn FnMut(&str),
    ) -> Result<Built, BuilderError> {
        let what = format!("build a wheel from {}", source.display());
        fs::create_dir_all(out_dir).map_err(BuilderError::io(out_dir))?;
        let out_dir = fs::canonicalize(out_dir).map_err(BuilderError::io(out_dir))?;
        let staging = tempfile::Builder::new()
            .prefix(".grocker-build-")
            .tempdir_in(&out_dir)
            .map_err(BuilderError::io(&out_dir))?;
        unpack::set_mode(staging.path(), 0o777)?;
        let mounts = vec![
            self.read_only(source, "/src")?,
            self.read_only(&env.venv(), ENV_MOUNT)?,
            self.read_only(&env.pycache(), PYCACHE_MOUNT)?,
            Mount {
                source: staging.path().to_path_buf(),
                target: "/out".into(),
                read_only: false,
            },
        ];
        let spec = serde_json::json!({
            "backend": system.backend,
            "backend_path": system.backend_path,
            "dynamic": env.dynamic,
        })
        .to_string();
        let args = ["build", "/src", ENV_MOUNT, "/out", &spec];
        let (answer, outcome) = self.run_driver(&what, &args, mounts, log)?;
        if let Some(need) = answer.get("need") {
            return match strings(need) {
                Some(need) => Ok(Built::NeedsRequirements(need)),
                None => Err(self.bad_result(&what, "the driver's `need` is not a list", "")),
            };
        }
        let name = answer["wheel"].as_str().unwrap_or_default();
        // The name comes from the container: a plain file name or nothing.
        let plain = !name.is_empty()
            && !name.contains(['/', '\\', '\0'])
            && !name.starts_with('.')
            && name.ends_with(".whl");
        let staged = staging.path().join(name);
        if !plain || !staged.is_file() {
            let reason = format!("the driver reports wheel `{name}`, which it did not write");
            return Err(self.bad_result(&what, &reason, &outcome.log));
        }
        // A copy owned by the calling user (the staged file belongs to the build uid), moved in
        // place atomically.
        let part = staging.path().join(".part");
        fs::copy(&staged, &part).map_err(BuilderError::io(&staged))?;
        let wheel = out_dir.join(name);
        fs::rename(&part, &wheel).map_err(BuilderError::io(&wheel))?;
        staging.close().map_err(BuilderError::io(&out_dir))?;
        Ok(Built::Wheel(wheel))
    }

    /// Compiles the bytecode of what the venv's `sys.path` holds — its site-packages
    /// ([`Bytecode::Environment`]) or the builder's standard library
    /// ([`Bytecode::StandardLibrary`]) — into `out`, for builds to read through
    /// `PYTHONPYCACHEPREFIX`. Only code grocker trusts runs here — `compileall`, no build
    /// backend — so no build can plant bytecode a later one would load: builds see it read-only.
    /// The standard library's thousand modules are shared out to one process per core; an
    /// environment's hundred or so compile in one, beside the build that first uses it (see
    /// [`crate::FreshEnv`]), where a pool's start would cost more than it saves.
    pub(crate) fn compile_bytecode(
        &self,
        venv: &Path,
        out: &Path,
        which: Bytecode,
    ) -> Result<(), BuilderError> {
        const COMPILE: &str = "import compileall, os, sys\n\
            os.umask(0)  # the files are copied out by the calling user, then removed\n\
            env = sys.argv[1] == 'env'\n\
            for path in sys.path:\n\
            \x20   if path and os.path.isdir(path) and path.startswith(sys.prefix + '/') == env:\n\
            \x20       compileall.compile_dir(path, quiet=1, workers=1 if env else 0)\n";
        let parent = out.parent().unwrap_or(Path::new("."));
        let staging = tempfile::Builder::new()
            .prefix(".pycache-")
            .tempdir_in(parent)
            .map_err(BuilderError::io(parent))?;
        unpack::set_mode(staging.path(), 0o777)?;
        let which = match which {
            Bytecode::Environment => "env",
            Bytecode::StandardLibrary => "stdlib",
        };
        let cmd = vec![
            format!("{ENV_MOUNT}/bin/python"),
            "-c".into(),
            COMPILE.into(),
            which.into(),
        ];
        let mounts = vec![
            self.read_only(venv, ENV_MOUNT)?,
            Mount {
                source: staging.path().to_path_buf(),
                target: PYCACHE_MOUNT.into(),
                read_only: false,
            },
        ];
        let env = vec![format!("PYTHONPYCACHEPREFIX={PYCACHE_MOUNT}")];
        let what = "compile the build environment's bytecode";
        self.run(what, cmd, env, mounts, &mut |_| {})?;
        copy_owned(staging.path(), out)
    }

    /// Runs `cmd` in the builder as the build user, in `/tmp`; a non-zero exit is an error
    /// carrying the whole log.
    fn run(
        &self,
        what: &str,
        cmd: Vec<String>,
        env: Vec<String>,
        mounts: Vec<Mount>,
        log: &mut dyn FnMut(&str),
    ) -> Result<RunOutcome, BuilderError> {
        let spec = RunSpec {
            image: self.image.clone(),
            cmd,
            env,
            working_dir: Some("/tmp".into()),
            user: Some(self.user.clone()),
            mounts,
            timeout: self.timeout,
            what: what.to_string(),
        };
        let outcome = match &self.runner {
            Runner::Engine(engine) => engine.run(&spec, log)?,
            Runner::Sandbox(sandbox) => sandbox.run(&spec, log)?,
        };
        if outcome.exit_code != 0 {
            return Err(BuilderError::BuildFailed {
                what: what.to_string(),
                image: self.image.clone(),
                exit_code: outcome.exit_code,
                log: outcome.log,
            });
        }
        Ok(outcome)
    }

    fn run_driver(
        &self,
        what: &str,
        args: &[&str],
        mounts: Vec<Mount>,
        log: &mut dyn FnMut(&str),
    ) -> Result<(Value, RunOutcome), BuilderError> {
        let mut cmd = vec!["python3".to_string(), "-c".into(), DRIVER.into()];
        cmd.extend(args.iter().map(|a| a.to_string()));
        let mut env = vec![
            "HOME=/tmp".to_string(),
            "TMPDIR=/tmp".to_string(),
            // Bytecode of the standard library and the build requirements, compiled when the
            // environment was made; a build's own modules are compiled in memory (the mount is
            // read-only), never next to the sources nor into the wheel.
            format!("PYTHONPYCACHEPREFIX={PYCACHE_MOUNT}"),
        ];
        env.extend(self.env.iter().cloned());
        let outcome = self.run(what, cmd, env, mounts, log)?;
        let answer = outcome
            .log
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix(RESULT_PREFIX))
            .and_then(|json| serde_json::from_str::<Value>(json).ok());
        match answer {
            Some(answer) => Ok((answer, outcome)),
            None => Err(self.bad_result(what, "the driver printed no answer", &outcome.log)),
        }
    }

    fn bad_result(&self, what: &str, reason: &str, log: &str) -> BuilderError {
        BuilderError::BadResult {
            what: what.to_string(),
            image: self.image.clone(),
            reason: reason.to_string(),
            log: log.to_string(),
        }
    }

    /// A read-only mount of `dir`, which the build uid must be able to read.
    fn read_only(&self, dir: &Path, target: &str) -> Result<Mount, BuilderError> {
        let source = fs::canonicalize(dir).map_err(BuilderError::io(dir))?;
        let meta = fs::metadata(&source).map_err(BuilderError::io(&source))?;
        if !meta.is_dir() {
            return Err(BuilderError::BadMount {
                path: source,
                reason: "not a directory".into(),
            });
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let build_uid = self
                .user
                .split(':')
                .next()
                .and_then(|u| u.parse::<u32>().ok());
            let bits = if build_uid == Some(meta.uid()) {
                0o500
            } else {
                0o005
            };
            if meta.mode() & bits != bits {
                return Err(BuilderError::BadMount {
                    path: source,
                    reason: format!(
                        "the build runs as uid {} and cannot read it; make it readable \
                         (chmod -R o+rX)",
                        self.user
                    ),
                });
            }
        }
        Ok(Mount {
            source,
            target: target.to_string(),
            read_only: true,
        })
    }
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// Copies the directory tree `from` (written by the build uid) to `to` as files of the calling
/// user: directories 0755, files 0644; anything else is skipped.
/// Which part of a build environment's `sys.path` to compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bytecode {
    /// The venv's own site-packages: the build requirements.
    Environment,
    /// Everything else on the path: the builder's standard library, the same for every
    /// environment of one builder.
    StandardLibrary,
}

fn copy_owned(from: &Path, to: &Path) -> Result<(), BuilderError> {
    for entry in fs::read_dir(from).map_err(BuilderError::io(from))? {
        let entry = entry.map_err(BuilderError::io(from))?;
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(BuilderError::io(&source))?;
        if kind.is_dir() {
            fs::create_dir_all(&dest).map_err(BuilderError::io(&dest))?;
            unpack::set_mode(&dest, 0o755)?;
            copy_owned(&source, &dest)?;
        } else if kind.is_file() {
            // Written beside and renamed: builds may be reading `to` (see `FreshEnv`), and
            // must never see a file half written.
            let mut part = dest.clone().into_os_string();
            part.push(".part");
            fs::copy(&source, &part).map_err(BuilderError::io(&source))?;
            unpack::set_mode(Path::new(&part), 0o644)?;
            fs::rename(&part, &dest).map_err(BuilderError::io(&dest))?;
        }
    }
    Ok(())
}
