//! The compiler stage: PEP 517 builds of sdists and local projects in an offline container.
//!
//! Where it sits (DESIGN §1): resolve → fetch → **compile sdists in the builder** → layers. Most
//! packages come as wheels; an sdist or the application's own project directory must be built
//! first, and a C extension must be compiled against the very libraries the image will run with.
//! Like the original Grocker's *compiler image*, grocker does this in a *builder* image — the
//! runtime plus `build-essential`, `python3.X-dev` and the project's `dependencies.build`
//! packages, assembled by grocker itself — run through a container engine (the Docker Engine
//! API; Podman's compatible socket works the same) **with no network**: every build requirement
//! is already installed, from wheels the fetcher verified, in a build environment mounted
//! read-only.
//!
//! - [`Engine`] runs one-shot containers: no network, every capability dropped,
//!   `no-new-privileges`, `/tmp` in memory, logs streamed line by line, always removed
//!   afterwards.
//! - [`BuildSystem`] reads `pyproject.toml`'s `[build-system]` (PEP 518), with PEP 517's legacy
//!   setuptools default.
//! - [`BuildEnv`] is a venv holding the build requirements, which grocker installs itself from
//!   their wheels (no pip), with bytecode compiled once; the container mounts it read-only.
//!   Made once per set of wheels, it spares every build an install and the compiling of what it
//!   imports.
//! - [`Builder`] runs a PEP 517 driver (a standard-library-only Python script embedded in this
//!   crate) with the builder's own Python, one container per build: [`Builder::build_wheel`]
//!   asks the backend for its dynamic requirements (`get_requires_for_build_wheel`) and, when the
//!   environment has them, calls `build_wheel` in the same run.
//! - [`Builder::prepare_source`] unpacks an sdist with every entry treated as hostile.
//! - [`build_cpython`] compiles CPython itself from a verified upstream tarball, for runtimes
//!   whose interpreter is not Debian's, into a tar of `/opt/python/3.X`.
//! - [`Sandbox`] runs the same builds with no engine, in Linux namespaces over the runtime's
//!   own filesystem, for the user's pure-Python project: the same wheel, byte for byte.
//!
//! ```no_run
//! use std::path::{Path, PathBuf};
//! use grocker_builder::{BuildEnv, BuildSystem, Builder, Built, Engine};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let builder = Builder::new(Engine::from_env()?, "grocker-builder:bookworm-3.11");
//! let work = tempfile::tempdir()?;
//! let source = builder.prepare_source(Path::new("black-24.10.0.tar.gz"), work.path())?;
//! let system = BuildSystem::read(&source)?; // hatchling, hatch-vcs, hatch-fancy-pypi-readme
//! // Their wheels and their dependencies', resolved and fetched by grocker:
//! let wheels: Vec<(String, PathBuf)> = vec![/* ("hatchling-1.27.0-py3-none-any.whl", path), … */];
//! let target = "3.11.2".parse::<grocker_wheel::Version>().map(|v| grocker_wheel::Target {
//!     python: (3, 11),
//!     python_full: v,
//!     glibc: (2, 36),
//!     arch: grocker_wheel::Arch::X86_64,
//! })?;
//! let (env, stdlib) = (work.path().join("env"), work.path().join("stdlib"));
//! let env = BuildEnv::prepare(&builder, &env, &stdlib, &target, &wheels, vec![])?;
//! let env = env.whole(&builder)?; // or build while it compiles: `Prepared::Fresh`
//! match builder.build_wheel(&source, &system, &env, Path::new("dist"), &mut |l| eprintln!("{l}"))? {
//!     Built::Wheel(wheel) => assert!(wheel.ends_with("black-24.10.0-py3-none-any.whl")),
//!     Built::NeedsRequirements(more) => println!("make an environment with {more:?} too"),
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub use build_system::{BuildSystem, LEGACY_BACKEND, LEGACY_REQUIRES};
pub use builder::{BUILD_USER, Builder, Built, DEFAULT_TIMEOUT};
pub use cpython::{CPythonBuild, build_cpython};
pub use engine::{Engine, Mount, RunOutcome, RunSpec};
pub use env::{BuildEnv, ENV_MOUNT, FreshEnv, PYCACHE_MOUNT, Prepared};
pub use error::BuilderError;
pub use sandbox::Sandbox;

mod build_system;
mod builder;
mod cpython;
mod engine;
mod env;
mod error;
mod logs;
mod sandbox;
mod unpack;
