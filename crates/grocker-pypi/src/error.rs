//! The one error type of this crate.

use std::path::PathBuf;

use grocker_fetch::FetchError;
use grocker_hash::Sha256;

/// Everything that can go wrong while configuring or reading a package index.
///
/// URLs in variants are already redacted with [`grocker_fetch::redact_url`] (or
/// [`redact_str`](crate::config) for text that is not a valid URL): credentials never reach a
/// message, neither through `Display` nor `Debug`.
#[derive(Debug, thiserror::Error)]
pub enum PypiError {
    /// No index knows the project (every index answered 404).
    #[error(
        "no project named `{name}` on {indexes} — check the spelling, or add the index that \
         hosts it with --extra-index-url",
        indexes = indexes.join(", ")
    )]
    NotFound {
        /// The project, normalized.
        name: String,
        /// The (redacted) indexes asked.
        indexes: Vec<String>,
    },

    /// An index page that cannot be understood.
    #[error("the index page of `{name}` at {url} {reason}")]
    BadPage {
        /// The project.
        name: String,
        /// The (redacted) page URL, after redirects.
        url: String,
        /// What is wrong, e.g. "is neither PEP 691 JSON nor HTML (Content-Type: text/plain)".
        reason: String,
    },

    /// An index URL (from the command line, the environment or a pip config file) that is not
    /// a usable URL.
    #[error("invalid index URL `{url}` (from {origin}): {reason}")]
    InvalidIndexUrl {
        /// The value, with any credentials masked.
        url: String,
        /// Where it came from: `--index-url`, `PIP_EXTRA_INDEX_URL`, `/etc/pip.conf [global]`.
        origin: String,
        /// Why it was refused.
        reason: String,
    },

    /// A pip configuration or netrc file that exists but cannot be read or parsed.
    #[error("cannot read {}: {reason}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What went wrong (the I/O error or the offending line).
        reason: String,
    },

    /// A wheel whose METADATA cannot be read: not a zip, corrupt, hostile, or not a wheel.
    #[error("cannot read the metadata of `{filename}` ({url}): {reason}")]
    Wheel {
        /// The wheel's file name.
        filename: String,
        /// The (redacted) URL or the local path it was read from.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A PEP 658 `.metadata` file that does not have the hash the index promised.
    #[error(
        "{url} does not match the hash the index promised (expected sha256 {expected}, got \
         {actual}) — the mirror or a proxy served different bytes"
    )]
    MetadataHashMismatch {
        /// The (redacted) URL of the `.metadata` file.
        url: String,
        /// The hash from the index page.
        expected: Sha256,
        /// The hash of what was received.
        actual: Sha256,
    },

    /// Fetching or caching failed (the message names the redacted URL or the path).
    #[error(transparent)]
    Fetch(#[from] FetchError),
}
