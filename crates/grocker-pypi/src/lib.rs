//! The Python package index client: which indexes to ask, what files a project has there, and
//! the metadata of a wheel at the lowest cost the index allows.
//!
//! This is the Python half of the "plan" and "fetch" stages (DESIGN §1.2–1.3): the resolver
//! asks [`Index::project`] for the files of each project it meets and
//! [`Index::wheel_metadata`] for the dependencies of the candidates it tries; the fetch stage
//! then downloads the chosen files, verified against the sha256 the index listed.
//!
//! - [`IndexUrls`]: `--index-url` / `--extra-index-url`, else `PIP_INDEX_URL` /
//!   `PIP_EXTRA_INDEX_URL`, else pip's configuration files, else PyPI — as pip reads them.
//! - [`Index`]: the simple repository API in both formats (PEP 691 JSON, PEP 503 HTML), with
//!   yanking (PEP 592), `requires-python`, metadata files (PEP 658/714), pages cached for
//!   the fetcher's `index_ttl`; credentials from the index URL or `~/.netrc`, never shown.
//! - Wheel METADATA from a `.metadata` file, else from HTTP range requests on the wheel's zip
//!   central directory (numpy's 16 MB wheel costs ~100 KB), else from a full download that
//!   the install reuses.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use grocker_fetch::{Cache, FetchOptions, Fetcher};
//! use grocker_pypi::{Index, IndexUrls, PackageName};
//!
//! let env = |k: &str| std::env::var(k).ok();
//! let urls = IndexUrls::resolve(None, &[], &env, dirs::home_dir().as_deref())?;
//! let index = Index::new(Fetcher::new(Cache::from_env()?, FetchOptions::default())?, urls);
//! let name: PackageName = "HTTPie".parse()?;
//! let files = index.project(&name).await?;
//! let wheel = files.iter().find(|f| f.filename == "httpie-3.2.4-py3-none-any.whl").unwrap();
//! let metadata = index.wheel_metadata(wheel).await?;
//! assert!(String::from_utf8_lossy(&metadata).contains("Version: 3.2.4"));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub use config::{IndexUrls, PYPI_SIMPLE, pip_config_files};
pub use error::PypiError;
pub use index::{Index, RANGE_TAIL, TransferStats};
pub use netrc::Netrc;
pub use pep508_rs::PackageName;
pub use simple::{ACCEPT, DistFile, MetadataHint};

/// Entry points for grocker's fuzz targets (`fuzz/`): the parsers of hostile bytes that are not
/// public API otherwise. Not a stable interface; only built with the `fuzz` feature.
#[cfg(feature = "fuzz")]
pub mod fuzz {
    /// The METADATA of the wheel `bytes`, read from its last `tail` bytes on as the range
    /// requests of [`crate::Index::wheel_metadata`] read it.
    pub fn wheel_metadata(bytes: &[u8], tail: u64) -> Result<Vec<u8>, String> {
        crate::metadata::read_in_memory(bytes, tail)
    }
}

mod config;
mod error;
mod html;
mod index;
mod metadata;
mod netrc;
mod simple;
mod zip;
