//! The native-library check on a finished image: would every ELF object of the venv load?
//!
//! This crate sits between *layers* and *image* in grocker's pipeline (DESIGN §1): once the
//! Debian packages and the wheels are one [`Tree`](grocker_fs::Tree), it finds every ELF shared
//! object and executable under the venv and resolves each `DT_NEEDED` entry the way glibc's
//! dynamic loader (`ld.so(8)`) would inside the container:
//!
//! 1. the `DT_RPATH` of the requesting object, then of the object that loaded it, up to the
//!    extension module Python `dlopen`s (only when the requester has no `DT_RUNPATH`; an object
//!    with both ignores `DT_RPATH`) — this is how auditwheel's vendored `<pkg>.libs/` libraries,
//!    which carry no search path of their own, find each other;
//! 2. the requester's `DT_RUNPATH`; `$ORIGIN` expands to the object's directory in both;
//! 3. the directories `/etc/ld.so.conf` and `/etc/ld.so.conf.d/*.conf` list (which `ld.so.cache`
//!    would hold), then the defaults of a Debian system (`/lib/<triplet>`, `/usr/lib/<triplet>`,
//!    `/lib`, `/usr/lib`, and `/lib64` on x86-64).
//!
//! Paths resolve inside the tree: symlinks are followed (absolute targets from the image root, so
//! merged-/usr's `lib -> usr/lib` works), as are hard links. Libraries already loaded satisfy a
//! later `DT_NEEDED` of the same name or soname, as in the loader. Only objects of the target
//! [`Machine`] count; other files are skipped by their first bytes.
//!
//! [`missing_libraries`] reports what fails for the objects under the prefix (a system library's
//! own dependencies are Debian's business), and [`missing_message`] turns that into the lines a
//! user reads, naming the Debian package to add when the caller can say which one ships it.
//!
//! ```no_run
//! # fn demo(tree: &grocker_fs::Tree) -> Result<(), grocker_elf::ElfError> {
//! let missing = grocker_elf::missing_libraries(tree, "opt/venv")?;
//! if !missing.is_empty() {
//!     let site = "opt/venv/lib/python3.11/site-packages";
//!     // e.g. `|soname| contents_index.packages_providing(soname)` (grocker-debian)
//!     let message = grocker_elf::missing_message(&missing, site, |_soname| Vec::new());
//!     eprintln!("{message}");
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub use iconv::calls_iconv;
pub use loader::{
    Machine, Missing, foreign_objects, missing_libraries, missing_libraries_for, unlinked_libraries,
};
pub use message::missing_message;

mod iconv;
mod loader;
mod message;
mod object;
mod paths;

/// What can stop the check.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// A file has the ELF magic and the target machine but its dynamic section cannot be read:
    /// the loader would refuse it too.
    #[error("/{path} is a malformed ELF file: {message}")]
    Malformed {
        /// The file, relative to the image root.
        path: String,
        /// What the ELF parser said.
        message: String,
    },
    /// A file's content could not be read back (from the wheel or spool it is kept in).
    #[error("reading /{path}: {source}")]
    Read {
        /// The file, relative to the image root.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}
