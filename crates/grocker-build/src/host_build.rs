//! Engine-less builds of the user's own project (DESIGN §1.4): a project whose build backend is
//! pure Python and whose tree holds no native source needs no compiler, so its wheel is built
//! on this machine by the runtime's own interpreter, in a [`Sandbox`] laid out as the builder
//! container is — the same wheel, byte for byte, and no engine. Third-party sdists always go
//! to the builder: their code is not the user's.

use std::sync::Arc;

use anyhow::Result;
use grocker_builder::{BuildSystem, Builder, Sandbox};

use crate::context::Context;
use crate::debian::PinnedDebian;

/// Build backends that are pure Python and compile nothing themselves.
const PURE_BACKENDS: &[&str] = &[
    "hatchling.build",
    "uv_build",
    "flit_core.buildapi",
    "poetry.core.masonry.api",
    "pdm.backend",
    "setuptools.build_meta",
    "setuptools.build_meta:__legacy__",
];

/// File names that say the project compiles something (C, C++, Cython, Rust, Fortran, CMake,
/// Meson): such a project goes to the builder, which has the compilers.
fn is_native_source(name: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        ".c", ".cc", ".cpp", ".cxx", ".h", ".hpp", ".pyx", ".pxd", ".rs", ".f", ".f90", ".cu",
    ];
    SUFFIXES.iter().any(|s| name.ends_with(s))
        || matches!(name, "Cargo.toml" | "CMakeLists.txt" | "meson.build")
}

/// Whether the project in `dir` can be built without a compiler: a pure-Python backend, no
/// native source in its tree, and for setuptools no `ext_modules` in `setup.py`.
pub fn is_pure(dir: &std::path::Path) -> Result<bool> {
    let system = BuildSystem::read(dir)?;
    if !PURE_BACKENDS.contains(&system.backend.as_str()) {
        return Ok(false);
    }
    let skip = |rel: &str, _: bool| {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        !matches!(
            name,
            ".git" | ".hg" | ".venv" | "__pycache__" | "build" | "dist"
        )
    };
    let files = crate::source_tree::walk(dir, &skip)?;
    if files
        .iter()
        .any(|f| is_native_source(f.rel.rsplit('/').next().unwrap_or(&f.rel)))
    {
        return Ok(false);
    }
    let setup_py = dir.join("setup.py");
    if setup_py.is_file() && fs_err::read_to_string(&setup_py)?.contains("ext_modules") {
        return Ok(false);
    }
    Ok(true)
}

/// What names the sandboxed builder over the runtime of `debian` (in the keys of what it
/// builds).
pub fn builder_id(debian: &PinnedDebian<'_>) -> String {
    format!("sandbox {}", debian.interpreter_id())
}

/// The sandboxed builder over the runtime of `debian`, or `None` (said with `-v`) where this
/// machine cannot make the namespaces.
pub async fn builder(
    debian: PinnedDebian<'_>,
    ctx: &Context,
) -> Result<Option<Arc<(Builder, String)>>> {
    if std::env::var_os("GROCKER_SANDBOX").is_some_and(|v| v == "0") {
        tracing::info!("GROCKER_SANDBOX=0: every project is built in the builder container");
        return Ok(None);
    }
    if let Err(why) = Sandbox::probe() {
        tracing::info!("pure-Python projects go to the builder: no sandbox here ({why})");
        return Ok(None);
    }
    let interpreter = debian.interpreter(None, None, ctx).await?;
    tracing::info!(
        "pure-Python projects are built on this machine ({})",
        Sandbox::isolation()
    );
    let id = builder_id(&debian);
    // The environment is the builder container's, no more: the same wheel, byte for byte.
    let builder = Builder::sandboxed(
        Sandbox::new(interpreter.root()),
        "a sandbox on this machine",
    );
    Ok(Some(Arc::new((builder, id))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, text).unwrap();
        }
        dir
    }

    const HATCH: &str =
        "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n";

    #[test]
    fn pure_projects_are_told_apart_from_native_ones() {
        let pure = project(&[("pyproject.toml", HATCH), ("src/app/__init__.py", "")]);
        assert!(is_pure(pure.path()).unwrap());
        let cython = project(&[("pyproject.toml", HATCH), ("src/app/fast.pyx", "")]);
        assert!(!is_pure(cython.path()).unwrap());
        let maturin = project(&[(
            "pyproject.toml",
            "[build-system]\nrequires = [\"maturin\"]\nbuild-backend = \"maturin\"\n",
        )]);
        assert!(!is_pure(maturin.path()).unwrap());
        let extension = project(&[(
            "setup.py",
            "from setuptools import setup, Extension\nsetup(ext_modules=[Extension('x', ['x.c'])])\n",
        )]);
        assert!(!is_pure(extension.path()).unwrap());
        let legacy = project(&[(
            "setup.py",
            "from setuptools import setup\nsetup(name='x')\n",
        )]);
        assert!(
            is_pure(legacy.path()).unwrap(),
            "setuptools' legacy backend, no extension"
        );
        // What builds leave behind does not count.
        let built = project(&[("pyproject.toml", HATCH), ("build/lib/x.c", "")]);
        assert!(is_pure(built.path()).unwrap());
    }
}
