//! Debian's archive, read the way apt reads it, without apt, dpkg or a maintainer script.
//!
//! This crate is the OS half of grocker's *plan* and *fetch* stages (DESIGN §1): it turns a
//! suite (`bookworm`) and a few package names (`python3.11`, `ca-certificates`) into the
//! verified list of `.deb`s of their runtime closure, and each `.deb` into filesystem entries
//! for the image's `os` layer.
//!
//! 1. [`load_index`]: for each [`Source`], fetch `InRelease`, check its OpenPGP signature
//!    against a [`Keyring`] (Debian's keys ship inside grocker) with [`verify_inrelease`],
//!    read the [`Release`] (refusing expired ones), fetch each `Packages` index by hash and
//!    check it, parse it into a [`PackageIndex`].
//! 2. [`resolve`]: the `Pre-Depends` + `Depends` closure, minus what only maintainer scripts
//!    need ([`SCRIPT_ONLY`]), as [`BinaryPackage`]s whose `.deb` URL and SHA-256 are known.
//! 3. [`read_deb`]: a downloaded `.deb` → [`DebContents`]: control data and safe, merged-/usr,
//!    root-owned entries; hostile archives are errors.
//! 4. [`load_sources`]: a suite's `Sources` index (verified the same way), for the upstream
//!    tarballs grocker builds an interpreter from ([`fetch_source_file`]).
//! 5. [`status_d_files`]: distroless-style `/var/lib/dpkg/status.d/<package>` metadata so
//!    scanners see what is installed.
//!
//! ```no_run
//! # async fn demo(fetcher: &grocker_fetch::Fetcher) -> Result<(), grocker_debian::DebianError> {
//! use grocker_debian::{Keyring, Source, load_index, resolve};
//! let sources = Source::debian_defaults("bookworm")?;
//! let index = load_index(fetcher, &sources, &Keyring::debian()?, "amd64",
//!                        std::time::SystemTime::now()).await?;
//! let packages = resolve(&index, &["python3.11".to_string()], "amd64")?;
//! for p in &packages {
//!     println!("{} {} {}", p.name, p.version, p.deb_url()?);
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub use archive::{DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR, Source, index_identity, load_index};
pub use contents::{ContentsIndex, load_contents};
pub use copyright::{control_source, copyright_licenses};
pub use deb::{DebContents, DebOptions, MERGED_USR_DIRS, SPOOL_FROM, read_deb, read_deb_file};
pub use dpkg::{STATUS_D, control_package_name, status_d_entry, status_d_files};
pub use error::DebianError;
pub use inrelease::verify_inrelease;
pub use keys::Keyring;
pub use packages::{BinaryPackage, MultiArch, PackageIndex};
pub use relations::{Dependency, Relation, VersionOp, parse_relations};
pub use release::Release;
pub use resolve::{SCRIPT_ONLY, resolve};
pub use sources::{SourceFile, SourcePackage, fetch_source_file, load_sources, parse_sources};
pub use version::DebianVersion;

mod archive;
mod contents;
mod copyright;
mod deb;
mod deb822;
mod dpkg;
mod error;
mod inrelease;
mod keys;
mod packages;
mod relations;
mod release;
mod resolve;
mod sources;
mod version;
