//! grocker's pipeline (DESIGN §1), with no command line: what to package → one fully pinned
//! [`Plan`] → an [`Image`](grocker_oci::Image) → sinks.
//!
//! The [`Plan`] is the value everything downstream reads: the runtime and platform, every
//! Debian package and Python distribution pinned with its SHA-256, the application (a release
//! from an index, a wheel, a project built in the builder), the image settings. `grocker.lock`
//! is its serialized form: a lock made for the same [`Inputs`] *is* the plan, and nothing is
//! resolved. [`build`] turns a plan into an image — layers written from verified downloads (or
//! taken from the layer cache), the native libraries checked — and resolves nothing. Then
//! [`publish`] hands the image to a sink (`grocker_oci::Sink`, chosen by an [`Output`] and
//! opened by [`open_sink`]) and writes the lock only once the image is out: the image's bytes
//! are computed once and every sink writes the same ones. Sinks block on their I/O, so
//! publishing happens after the async stages have returned, outside the runtime.
//!
//! ```no_run
//! use grocker_build::{Context, Inputs, Reporter, SourceDateEpoch, Verbosity};
//! # fn example(inputs: Inputs) -> anyhow::Result<()> {
//! let ctx = Context::new(Reporter::new(Verbosity::Quiet), false, SourceDateEpoch::from_env()?)?;
//! let runtime = tokio::runtime::Runtime::new()?;
//! let plan = runtime.block_on(grocker_build::plan(inputs, &ctx))?;  // pinned: grocker.lock
//! let image = runtime.block_on(grocker_build::build(&plan, &ctx))?; // per platform: layers, checks
//! let sink = Box::new(grocker_oci::OciLayoutSink::new("./image".as_ref())?);
//! let name = "app:1.0".parse()?;
//! grocker_build::publish(sink, &image, &name, &plan, &ctx, &[], |name, published| {
//!     println!("{name} {}", published.location); // after the lock is written
//!     Ok(())
//! })?;
//! # Ok(()) }
//! ```
//!
//! Stages, in the order bytes flow: [`plan`] (Debian resolution in `debian`; for a runtime
//! whose Python Debian does not ship, CPython's verified source pinned and compiled once in the
//! builder into a layer of its own, in `cpython`; Python resolution and the compiler stage in
//! `python` and `compile`, or — for a project with its own lock —
//! that lock's pins taken as they are, in `project`), then [`build`] (`runtime_layers` — the
//! runtime divided into `os`, `iconv` and the libraries nothing in it links, `unlinked` — and
//! `python` write layers through the layer cache in `layers`, an app that is not a package adds
//! its `source_tree` in `/app`; `bytecode` compiles `.pyc` files; `native` checks the finished
//! image's ELF files and picks the `unlinked` units it needs). With `--cache-repo`, the layer cache and the compiler stage's wheel
//! cache consult a shared cache in a registry on a miss and fill it after a build (`shared`).
//! What a later stage needs and an earlier one already pins may start early (`ahead`): a team
//! lock's deps layer is written, and the runtime read back for the native check, while the
//! plan stage builds the project — by the same code and under the same keys as in their stage.
//!
//! Several platforms (`--platform linux/amd64,linux/arm64`) make one plan with a
//! [`PlatformPlan`] each — its Debian packages, wheels and markers, one lock for all — and one
//! image each under an OCI index; the wheels every platform pins make a layer that is the same
//! blob in every image. `foreign` says how a platform that is not this machine's gets its
//! compiled wheels and bytecode: pure Python from this machine's tools, native code only from
//! an engine that runs the platform, never the host's architecture in its place.

mod ahead;
mod bytecode;
mod compile;
mod context;
mod cpython;
mod debian;
mod foreign;
mod host_build;
mod image;
mod inputs;
mod layer_tree;
mod layers;
mod native;
mod outdated;
mod output;
mod plan;
mod project;
mod purge;
mod python;
mod release;
mod report;
mod result_file;
mod runtime_layers;
mod sbom;
mod shared;
mod source_tree;
mod unlinked;

pub use context::{Context, SourceDateEpoch};
pub use cpython::list_runtimes;
pub use image::{PATH, build, build_adding_packages};
pub use inputs::{
    AppInput, DebianSources, ExtraRepository, ImageSettings, Inputs, LockSettings,
    ProjectLockSettings, PythonInputs, PythonSourceInputs,
};
pub use outdated::{DebianUpdate, Outdated, PythonUpdate, outdated};
pub use output::{Output, check_output, layer_compression, open_sink, publish};
pub use plan::{Plan, PlannedApp, PlatformPlan, plan};
pub use purge::{PurgeSelection, ROLE_LABEL, VERSION_LABEL};
pub use python::VENV;
pub use release::{ParseReleaseError, Release, ReleaseSpec, default_image_name};
pub use report::{Reporter, Stage, Verbosity, init_logging};
pub use result_file::ResultFile;
pub use sbom::sbom;
pub use source_tree::{APP_DIR, SourceTree};
