//! Fetching files over HTTP(S) into a content-addressed, verified cache.
//!
//! This is the "fetch" stage of the pipeline (DESIGN §1.3): the Debian and Python crates decide
//! *what* to download and *which hash* each file must have (from a signed `Release`, from
//! `Packages`, from an index page); this crate downloads it, checks it, and stores it under
//! `<cache>/blobs/sha256/<hex>`. Nothing unverified ever lands under that name, and a blob is
//! re-hashed whenever it is handed out, so the cache survives `kill -9` at any moment (DESIGN §5).
//!
//! - [`Cache`]: the directory — verified blobs, small keyed documents with an mtime (for TTLs),
//!   advisory locks for concurrent builds, and `purge`.
//! - [`Fetcher`]: a `reqwest` client that trusts the platform's certificate store plus
//!   `SSL_CERT_FILE`/`SSL_CERT_DIR`, honours `HTTPS_PROXY`/`NO_PROXY`, sends credentials given in
//!   the URL (and never prints them: see [`redact_url`]), and retries transient failures with
//!   exponential backoff.
//! - [`Flights`]: one task per key at a time, so concurrent work finds the first's result.
//! - [`retry`]: that retry policy, shared with the registry client of `grocker-oci`: which
//!   failures are transient, the backoff schedule, `Retry-After`, and the TLS cause.
//!
//! ```no_run
//! # async fn demo() -> Result<(), grocker_fetch::FetchError> {
//! use grocker_fetch::{Cache, Download, FetchOptions, Fetcher};
//!
//! let fetcher = Fetcher::new(Cache::from_env()?, FetchOptions::default())?;
//! let url = "http://deb.debian.org/debian/pool/main/h/hello/hello_2.10-3_amd64.deb".parse().unwrap();
//! let sha256 = "aa".repeat(32).parse().unwrap(); // from the signed `Packages` index
//! let path = fetcher.get_verified(&url, &sha256, Some(53_000)).await?;
//! println!("verified and cached at {}", path.display());
//!
//! // Many at once, in parallel, results in input order.
//! let paths = fetcher
//!     .get_all_verified(vec![Download { url, sha256, size: None, label: "hello".into() }])
//!     .await?;
//! # let _ = paths;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub use cache::{Cache, CacheLock};
pub use client::{ByteRange, Document, FetchOptions, Fetcher, INDEX_TTL, Partial, Progress};
pub use download::Download;
pub use error::{FetchError, redact_url};
pub use flight::Flights;
pub use tls::system_roots_besides_env;

mod attempt;
mod cache;
mod client;
mod download;
mod error;
mod flight;
pub mod retry;
mod tls;
