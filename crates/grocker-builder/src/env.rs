//! Build environments: the build requirements installed by grocker into a venv on the host, with
//! their bytecode and the standard library's compiled once, which every build container mounts
//! read-only. Made once per set of requirement wheels, they spare each build a pip install
//! (seconds for hatchling and its plugins) and the compiling of every module it imports (half a
//! second more). The standard library's bytecode is compiled once per builder, not per
//! environment (1.5 s on two cores), and linked into each.

use std::path::{Path, PathBuf};

use fs_err as fs;
use grocker_fs::Tree;
use grocker_wheel::{InstallOptions, Target, Venv, install_wheel_file};

use crate::builder::Bytecode;
use crate::{Builder, BuilderError};

/// Where the build environment's venv appears in the builder container. The venv is made for
/// this path (`pyvenv.cfg`, script shebangs).
pub const ENV_MOUNT: &str = "/opt/grocker-build-env";
/// Where its bytecode appears (`PYTHONPYCACHEPREFIX`): the venv's modules and the standard
/// library's, compiled when the environment was made.
pub const PYCACHE_MOUNT: &str = "/opt/grocker-build-pycache";

/// A build environment on the host, and what it was made for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildEnv {
    /// Its directory on the host: the venv in `venv/`, the bytecode in `pycache/`.
    pub dir: PathBuf,
    /// The dynamic build requirements (`get_requires_for_build_wheel`) installed besides the
    /// static ones: a build that asks for others is not run in this environment.
    pub dynamic: Vec<String>,
}

impl BuildEnv {
    /// Installs `wheels` (file name, path: every build requirement and its dependencies) into a
    /// venv for the builder's interpreter `target`, to be put at `dir` once its bytecode is
    /// compiled with `builder` ([`Prepared::whole`], or beside its first build: [`FreshEnv`]).
    /// An existing `dir` is taken as made earlier from the same wheels and builder (callers name
    /// it after them). Everything is written beside `dir` and renamed into place, so an
    /// interrupted install leaves no half environment. The standard library's bytecode is kept
    /// in `stdlib`, made on first need for the builder (callers name it after the builder
    /// alone) and shared by its environments.
    pub fn prepare(
        builder: &Builder,
        dir: &Path,
        stdlib: &Path,
        target: &Target,
        wheels: &[(String, PathBuf)],
        dynamic: Vec<String>,
    ) -> Result<Prepared, BuilderError> {
        if dir.is_dir() {
            return Ok(Prepared::Ready(BuildEnv {
                dir: dir.to_path_buf(),
                dynamic,
            }));
        }
        let bad = |reason: String| BuilderError::BadEnv {
            dir: dir.to_path_buf(),
            reason,
        };
        let venv = Venv::for_target(ENV_MOUNT, target);
        let mut tree = Tree::new();
        for (path, entry) in venv.skeleton() {
            tree.insert(path, entry).map_err(|e| bad(e.to_string()))?;
        }
        for (name, path) in wheels {
            install_wheel_file(path, name, &venv, &mut tree, &InstallOptions::default())
                .map_err(|e| bad(format!("installing {name}: {e}")))?;
        }
        // The tree holds the venv at its absolute path; `venv/` gets what is under it.
        let root = grocker_fs::RelPath::new(ENV_MOUNT.trim_start_matches('/'))
            .map_err(|e| bad(e.to_string()))?;
        let parent = dir.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(BuilderError::io(parent))?;
        let staging = tempfile::Builder::new()
            .prefix(".env-")
            .tempdir_in(parent)
            .map_err(BuilderError::io(parent))?;
        let written = staging.path().join("root");
        tree.write_dir(&written)
            .map_err(BuilderError::io(&written))?;
        let made = staging.path().join("env");
        fs::create_dir(&made).map_err(BuilderError::io(&made))?;
        crate::unpack::set_mode(&made, 0o755)?;
        let venv_dir = made.join("venv");
        fs::rename(written.join(root.as_str()), &venv_dir).map_err(BuilderError::io(&venv_dir))?;
        let pycache = made.join("pycache");
        fs::create_dir(&pycache).map_err(BuilderError::io(&pycache))?;
        standard_library_bytecode(builder, &venv_dir, stdlib)?;
        link_tree(stdlib, &pycache)?;
        Ok(Prepared::Fresh(FreshEnv {
            env: BuildEnv { dir: made, dynamic },
            dir: dir.to_path_buf(),
            _staging: staging,
        }))
    }

    /// The venv's directory on the host.
    pub fn venv(&self) -> PathBuf {
        self.dir.join("venv")
    }

    /// The bytecode's directory on the host.
    pub fn pycache(&self) -> PathBuf {
        self.dir.join("pycache")
    }
}

/// What [`BuildEnv::prepare`] found or made.
pub enum Prepared {
    /// An environment made earlier, whole.
    Ready(BuildEnv),
    /// A new one, whose own bytecode is still to compile.
    Fresh(FreshEnv),
}

impl Prepared {
    /// The environment, whole: a new one's bytecode compiled first, with no build beside it.
    pub fn whole(self, builder: &Builder) -> Result<BuildEnv, BuilderError> {
        match self {
            Prepared::Ready(env) => Ok(env),
            Prepared::Fresh(fresh) => {
                fresh.compile(builder)?;
                fresh.finish()
            }
        }
    }
}

/// A new build environment before its own modules' bytecode: the venv and the standard
/// library's bytecode are in place (beside its final directory), so a build can run in it while
/// [`FreshEnv::compile`] compiles the rest — hatchling and its dependencies take half a second,
/// most of a small project's first build, which imports the modules it needs from source
/// meanwhile (and, the directory being read-only to it, never writes bytecode there).
pub struct FreshEnv {
    /// The environment where it is being made.
    env: BuildEnv,
    /// Where it goes once whole.
    dir: PathBuf,
    /// Where it is made; removed, with what is left in it, once the environment is in place.
    _staging: tempfile::TempDir,
}

impl FreshEnv {
    /// The environment as it is now, for a build beside [`Self::compile`].
    pub fn env(&self) -> &BuildEnv {
        &self.env
    }

    /// Compiles the environment's own bytecode with `builder` into the directory builds read
    /// it from (read-only), each file written beside and renamed: a build sees it whole or not
    /// at all, and imports the module from source meanwhile.
    pub fn compile(&self, builder: &Builder) -> Result<(), BuilderError> {
        builder.compile_bytecode(&self.env.venv(), &self.env.pycache(), Bytecode::Environment)
    }

    /// Puts the environment in place, once compiled and no build runs in it any more.
    pub fn finish(self) -> Result<BuildEnv, BuilderError> {
        match fs::rename(&self.env.dir, &self.dir) {
            Ok(()) => {}
            // Another grocker made the same environment meanwhile.
            Err(_) if self.dir.is_dir() => {}
            Err(e) => return Err(BuilderError::io(&self.dir)(e)),
        }
        Ok(BuildEnv {
            dir: self.dir,
            dynamic: self.env.dynamic,
        })
    }
}

/// The builder's standard library compiled into `stdlib` (by way of `venv`, whose interpreter
/// is the builder's), unless an earlier environment did it.
fn standard_library_bytecode(
    builder: &Builder,
    venv: &Path,
    stdlib: &Path,
) -> Result<(), BuilderError> {
    if stdlib.is_dir() {
        return Ok(());
    }
    let parent = stdlib.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(BuilderError::io(parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".stdlib-")
        .tempdir_in(parent)
        .map_err(BuilderError::io(parent))?;
    let made = staging.path().join("pycache");
    fs::create_dir(&made).map_err(BuilderError::io(&made))?;
    crate::unpack::set_mode(&made, 0o755)?;
    builder.compile_bytecode(venv, &made, Bytecode::StandardLibrary)?;
    match fs::rename(&made, stdlib) {
        Ok(()) => Ok(()),
        // Another grocker compiled it meanwhile: the same bytes.
        Err(_) if stdlib.is_dir() => Ok(()),
        Err(e) => Err(BuilderError::io(stdlib)(e)),
    }
}

/// Hard links of the files below `from` at the same places below `to` (copies where the two
/// are on different filesystems).
fn link_tree(from: &Path, to: &Path) -> Result<(), BuilderError> {
    for entry in fs::read_dir(from).map_err(BuilderError::io(from))? {
        let entry = entry.map_err(BuilderError::io(from))?;
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(BuilderError::io(&source))?;
        if kind.is_dir() {
            fs::create_dir_all(&dest).map_err(BuilderError::io(&dest))?;
            crate::unpack::set_mode(&dest, 0o755)?;
            link_tree(&source, &dest)?;
        } else if kind.is_file() && fs::hard_link(&source, &dest).is_err() {
            fs::copy(&source, &dest).map_err(BuilderError::io(&source))?;
        }
    }
    Ok(())
}
