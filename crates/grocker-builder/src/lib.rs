//! The compiler stage: PEP 517 builds of sdists and local projects in an offline container.
//!
//! Where it sits (DESIGN §1): resolve → fetch → **compile sdists in the builder** → layers. Most
//! packages come as wheels; an sdist or the application's own project directory must be built
//! first, and a C extension must be compiled against the very libraries the image will run with.
//! Like the original Grocker's *compiler image*, grocker does this in a *builder* image — the
//! runtime plus `build-essential`, `python3.X-dev`, `python3-pip` and the project's
//! `dependencies.build` packages, assembled by grocker itself — run through a container engine
//! (the Docker Engine API; Podman's compatible socket works the same) **with no network**:
//! every build requirement comes from a wheelhouse the fetcher filled beforehand.
//!
//! - [`Engine`] runs one-shot containers: no network, every capability dropped,
//!   `no-new-privileges`, logs streamed line by line, always removed afterwards.
//! - [`Builder`] runs a PEP 517 driver (a standard-library-only Python script embedded in this
//!   crate) with the builder's own Python: [`Builder::build_requirements`] asks for the static
//!   (PEP 518) and dynamic (`get_requires_for_build_wheel`) build requirements,
//!   [`Builder::build_wheel`] installs them from the wheelhouse into a throw-away venv and calls
//!   `build_wheel`.
//! - [`Builder::prepare_source`] unpacks an sdist with every entry treated as hostile.
//!
//! ```no_run
//! use std::path::Path;
//! use grocker_builder::{Builder, Engine};
//!
//! # fn main() -> Result<(), grocker_builder::BuilderError> {
//! let builder = Builder::new(Engine::from_env()?, "grocker-builder:bookworm-3.11");
//! let work = tempfile::tempdir().map_err(|e| grocker_builder::BuilderError::Io {
//!     path: std::env::temp_dir(),
//!     source: e,
//! })?;
//! let source = builder.prepare_source(Path::new("black-24.10.0.tar.gz"), work.path())?;
//! let wheelhouse = Path::new("wheelhouse");
//! // hatchling, hatch-vcs: the lead's resolver fetches their wheels into the wheelhouse.
//! let requires = builder.build_requirements(&source, wheelhouse, &mut |line| eprintln!("{line}"))?;
//! println!("{:?} then {:?}", requires.static_, requires.dynamic);
//! let wheel = builder.build_wheel(&source, wheelhouse, Path::new("dist"), &mut |_| {})?;
//! assert!(wheel.ends_with("black-24.10.0-py3-none-any.whl"));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub use builder::{BUILD_USER, BuildRequirements, Builder, DEFAULT_TIMEOUT};
pub use engine::{Engine, Mount, RunOutcome, RunSpec};
pub use error::BuilderError;

mod builder;
mod engine;
mod error;
mod logs;
mod unpack;
