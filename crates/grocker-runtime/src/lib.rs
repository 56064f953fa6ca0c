//! The runtime ("root") filesystem of a grocker image.
//!
//! Grocker's root image holds the system packages an application needs at run time. grocker
//! assembles it from Debian's own packages without running any maintainer script, so this crate
//! knows two things:
//!
//! 1. which runtimes exist and which Debian packages make one ([`Runtime`]): a suite and a
//!    CPython, Debian's own where the suite ships it, else upstream CPython built by grocker
//!    (under `/opt/python/3.X`) from sources verified through Debian's archive;
//! 2. what `dpkg` and the maintainer scripts would have left on disk, which grocker writes
//!    itself ([`assemble`]): merged-/usr links, `/etc/passwd` and `/etc/group` with a numeric
//!    non-root user, the CA bundle, `/tmp`.
//!
//! It sits between `grocker-debian` (which verifies, resolves and reads `.deb` files) and
//! `grocker-oci` (which turns the resulting [`grocker_fs::Tree`] into the `os` layer).
//!
//! ```
//! use grocker_runtime::Runtime;
//! let rt: Runtime = "trixie/3.13".parse()?;
//! assert_eq!(rt.suite(), "trixie");
//! assert!(rt.root_packages().contains(&"python3.13".to_string()));
//! # Ok::<(), grocker_runtime::RuntimeError>(())
//! ```
#![deny(missing_docs)]

mod assemble;
mod runtime;

pub use assemble::{InstalledPackage, User, assemble};
pub use runtime::{PythonFrom, Runtime};

/// What can go wrong choosing or assembling a runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A runtime name that is not `SUITE/PYTHON` or not one grocker knows.
    #[error("unknown runtime `{given}`: choose {known}")]
    Unknown {
        /// What the user asked for.
        given: String,
        /// The valid names, comma-separated.
        known: String,
    },
    /// Two packages, or a package and grocker, want the same path.
    #[error("while assembling the runtime filesystem from package {package}: {source}")]
    Conflict {
        /// The package whose file could not be placed.
        package: String,
        /// The underlying conflict.
        source: grocker_fs::FsError,
    },
    /// The runtime has no CA certificates to build a bundle from.
    #[error(
        "no CA certificates found under /usr/share/ca-certificates: the ca-certificates package is missing from the package set"
    )]
    NoCertificates,
    /// A file of a package could not be read back from where the build keeps it.
    #[error("reading /{path} of the runtime: {source}")]
    Read {
        /// The file, relative to the image root.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}
