//! Python requirements resolved to exact versions with PubGrub.
//!
//! In grocker's pipeline (DESIGN §1.2, Plan) this crate sits between the package index and the
//! downloads: index → **resolve** → fetch → install. It knows nothing of HTTP or wheels: a
//! [`Provider`] answers "which versions of this package can be installed on the target?" and
//! "what does this release require?", and [`resolve`] turns a [`Request`] (roots such as
//! `httpie[socks]==3.2.4`, pip-style constraints, the target's markers and Python version) into a
//! [`Resolution`] — one version per package — or a [`ResolveError::NoSolution`] whose report
//! explains the conflict in PEP 440 terms.
//!
//! ```
//! use std::str::FromStr;
//! use grocker_resolver::{
//!     PackageName, Provider, ProviderError, ReleaseMetadata, Request, Requirement, Version,
//!     VersionSpecifiers, MarkerEnvironment, MarkerEnvironmentBuilder, resolve,
//! };
//!
//! /// `app` 1.0 needs `lib>=2`; `lib` has 1.0 and 2.1.
//! struct InMemory;
//! impl Provider for InMemory {
//!     fn versions(&self, name: &PackageName, _: Option<&VersionSpecifiers>)
//!         -> Result<Vec<Version>, ProviderError> {
//!         let versions: &[&str] = match name.as_ref() { "app" => &["1.0"], _ => &["1.0", "2.1"] };
//!         Ok(versions.iter().map(|v| Version::from_str(v).unwrap()).collect())
//!     }
//!     fn metadata(&self, name: &PackageName, _: &Version) -> Result<ReleaseMetadata, ProviderError> {
//!         let requires_dist = match name.as_ref() {
//!             "app" => vec![Requirement::from_str("lib>=2").unwrap()],
//!             _ => vec![],
//!         };
//!         Ok(ReleaseMetadata { requires_dist, ..ReleaseMetadata::default() })
//!     }
//! }
//!
//! let markers = MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
//!     implementation_name: "cpython", implementation_version: "3.11.2", os_name: "posix",
//!     platform_machine: "x86_64", platform_python_implementation: "CPython",
//!     platform_release: "", platform_system: "Linux", platform_version: "",
//!     python_full_version: "3.11.2", python_version: "3.11", sys_platform: "linux",
//! }).unwrap();
//! let request = Request {
//!     requirements: vec![Requirement::from_str("app").unwrap()],
//!     constraints: vec![],
//!     markers,
//!     python_version: Version::from_str("3.11.2").unwrap(),
//! };
//! let resolution = resolve(&request, &InMemory).unwrap();
//! let lib = &resolution.packages[&PackageName::from_str("lib").unwrap()];
//! assert_eq!(lib.version.to_string(), "2.1");
//! assert!(lib.required_by.contains("app"));
//! ```

pub use constraints::parse_constraints_file;
pub use error::{ProviderError, ResolveError};
pub use pep440_rs::{Operator, Version, VersionSpecifier, VersionSpecifiers};
pub use pep508_rs::{
    ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, MarkerTree, PackageName, Requirement,
};
pub use provider::{Provider, REQUESTED, ReleaseMetadata, Request, Resolution, ResolvedPackage};
pub use solver::resolve;

mod constraints;
mod error;
mod provider;
mod ranges;
mod report;
mod solver;
