//! Python packaging vocabulary and the wheel installer.
//!
//! grocker never runs pip: it reads wheels itself and writes what pip would have written straight
//! into the image's filesystem model. This crate holds the Python side of that:
//!
//! - the vocabulary the resolver and the index client share: [`PackageName`], [`Version`],
//!   [`Requirement`] and markers (re-exported from `pep508_rs`/`pep440_rs` so every crate uses one
//!   type), [`WheelFilename`] (PEP 427 file names), [`CoreMetadata`] (`METADATA`);
//! - the image's interpreter as a [`Target`]: which wheel tags it accepts ([`Tags`], like
//!   `packaging.tags.sys_tags` for Debian's CPython on manylinux) and its [`MarkerEnvironment`];
//! - the [`Venv`] grocker writes without `python -m venv`, and [`install_wheel`], which installs
//!   one wheel into it following PEP 427/491 and the "Recording installed projects" spec.
//!
//! In the pipeline (DESIGN §1) it sits between resolution and the image:
//! fetch → resolve → **install into layers** → image. Wheels are hostile until proven otherwise
//! (DESIGN §5): absolute or `..` names, links, device files, zip bombs, duplicates, tampered files,
//! files over grocker's own venv files and directory/file clashes with another distribution are
//! errors naming the wheel and the entry. Between distributions, byte-identical files are no
//! conflict and a differing file is replaced by the later install, as pip does, and reported
//! ([`Replaced`]); a [`VenvIndex`] applies the same rules across layers from cached facts.
//!
//! ```no_run
//! use grocker_fs::Tree;
//! use grocker_wheel::{Arch, InstallOptions, Target, Venv, install_wheel};
//!
//! let target = Target {
//!     python: (3, 11),
//!     python_full: "3.11.2".parse()?,
//!     glibc: (2, 36),
//!     arch: Arch::X86_64,
//! };
//! let name = "six-1.16.0-py2.py3-none-any.whl";
//! assert!(target.tags().priority(&name.parse()?).is_some());
//!
//! let venv = Venv::for_target("/opt/venv", &target);
//! let mut tree = Tree::new();
//! for (path, entry) in venv.skeleton() {
//!     tree.insert(path, entry)?;
//! }
//! let wheel = fs_err::File::open(name)?;
//! let installed = install_wheel(wheel, name, &venv, &mut tree, &InstallOptions::default())?;
//! println!("{} {}: {} files", installed.name, installed.version, installed.files);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub use conflict::{Replaced, replaced_warnings};
pub use error::{WheelError, WheelFilenameError};
pub use filename::{BuildTag, WheelFilename};
pub use install::{InstallOptions, InstalledWheel, install_wheel, install_wheel_file};
pub use metadata::{CoreMetadata, DeclaredLicenses, declared_licenses};
pub use pep508::{parse_markers, parse_requirement};
pub use pep508_rs::pep440_rs::{
    Operator, Version, VersionParseError, VersionSpecifier, VersionSpecifiers,
};
pub use pep508_rs::{
    ExtraName, InvalidNameError, MarkerEnvironment, MarkerTree, PackageName, Requirement,
    VersionOrUrl,
};
pub use tags::{Arch, TagPriority, Tags, Target};
pub use venv::Venv;
pub use venv_index::{VenvIndex, VenvIndexError};

mod archive;
mod conflict;
mod entry_points;
mod error;
mod filename;
mod headers;
mod install;
mod layout;
mod metadata;
mod pep508;
mod record;
mod tags;
mod venv;
mod venv_index;
