//! The one error type of this crate, and URL redaction.

use std::io;
use std::path::PathBuf;

use grocker_hash::Sha256;
use url::Url;

/// Everything that can go wrong while fetching or caching.
///
/// Every `url` field is already redacted with [`redact_url`]: credentials never reach a message.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server could not be reached (connection refused, DNS, timeout, body cut short) even
    /// after retrying.
    #[error(
        "could not reach {url} after {attempts} attempt{s}: {reason} — check your network or proxy \
         settings (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), or the mirror URL",
        s = plural(*attempts)
    )]
    Unreachable {
        /// The redacted URL.
        url: String,
        /// How many requests were made.
        attempts: u32,
        /// The most specific cause, e.g. `Connection refused (os error 111)`.
        reason: String,
    },

    /// The server's TLS certificate is not trusted. Not retried: it will not fix itself.
    #[error(
        "the TLS certificate of {url} is not trusted: {reason} — if a proxy inspects TLS on this \
         network, add its CA to the system trust store or point SSL_CERT_FILE at a PEM bundle \
         that contains it"
    )]
    Tls {
        /// The redacted URL.
        url: String,
        /// What rustls reported.
        reason: String,
    },

    /// The server answered with an error status (4xx at once, 5xx/429 after retrying).
    #[error(
        "{url} answered HTTP {status}{after} — {hint}",
        after = if *attempts > 1 { format!(" (after {attempts} attempts)") } else { String::new() },
        hint = status_hint(*status)
    )]
    Status {
        /// The redacted URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// How many requests were made.
        attempts: u32,
    },

    /// The downloaded bytes do not have the SHA-256 the index or archive promised. Nothing was
    /// stored in the cache.
    #[error(
        "{url} does not match its expected hash (expected sha256 {expected}, got {actual}) — the \
         server sent other bytes than the lock or index names (the file changed, the lock was \
         edited, or a proxy altered it); nothing was cached"
    )]
    HashMismatch {
        /// The redacted URL.
        url: String,
        /// What the caller asked for.
        expected: Sha256,
        /// What was received.
        actual: Sha256,
    },

    /// The download has the wrong length. Nothing was stored in the cache.
    #[error(
        "{url} has the wrong size (expected {expected} bytes, got {actual}) — the server sent \
         other bytes than the lock or index names (the file changed, the lock was edited, or a \
         proxy altered it); nothing was cached"
    )]
    SizeMismatch {
        /// The redacted URL.
        url: String,
        /// What the caller asked for.
        expected: u64,
        /// What was received.
        actual: u64,
    },

    /// A request could not even be built (unsupported URL scheme, bad header...).
    #[error("cannot request {url}: {reason}")]
    Request {
        /// The redacted URL.
        url: String,
        /// What went wrong.
        reason: String,
    },

    /// The HTTP client could not be set up (TLS roots, crypto provider).
    #[error("could not set up the HTTP client: {reason}")]
    Client {
        /// What went wrong.
        reason: String,
    },

    /// No cache directory could be determined.
    #[error(
        "could not find a cache directory for this user — set GROCKER_CACHE_DIR to a writable \
         directory"
    )]
    NoCacheDir,

    /// A keyed cache entry name that is not a plain relative path.
    #[error(
        "invalid cache key `{namespace}/{key}`: namespace segments and keys must be non-empty and \
         must not be `.`, `..` or contain `\\` or NUL"
    )]
    InvalidKey {
        /// The namespace given.
        namespace: String,
        /// The key given.
        key: String,
    },

    /// A file operation in the cache failed.
    #[error("{error}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The error; its message names `path` too (fs-err or our own wording).
        error: io::Error,
    },
}

impl FetchError {
    /// The HTTP status, if the server answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server said the file does not exist (404 or 410), which callers may treat as
    /// "absent" (e.g. a missing PEP 658 `.metadata` file).
    pub fn is_not_found(&self) -> bool {
        matches!(self.status(), Some(404 | 410))
    }

    /// An I/O error from an fs-err call (whose message already names the path).
    pub(crate) fn io(path: impl Into<PathBuf>, error: io::Error) -> Self {
        FetchError::Io {
            path: path.into(),
            error,
        }
    }

    /// An I/O error from a std or tempfile call, reworded so that the message names the path.
    pub(crate) fn io_at(what: &str, path: impl Into<PathBuf>, error: io::Error) -> Self {
        let path = path.into();
        let error = io::Error::new(
            error.kind(),
            format!("failed to {what} `{}`: {error}", path.display()),
        );
        FetchError::Io { path, error }
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn status_hint(status: u16) -> &'static str {
    match status {
        401 | 407 => {
            "the server wants credentials: put them in the index URL (https://user:password@host/...)"
        }
        403 => {
            "access denied: check the credentials in the index URL and that they may read this file"
        }
        404 | 410 => {
            "not found: check the URL, the package name and version, or that the mirror carries this suite"
        }
        429 => "the server is rate-limiting us: try again later or use a mirror",
        500..=599 => "the server is failing: try again later or use another mirror",
        _ => "check the URL and the server",
    }
}

/// The URL as it may be shown to a user: a password becomes `****`; a user name alone (often a
/// token, as in `https://TOKEN@host/`) becomes `****` too.
pub fn redact_url(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    // Both calls only fail for URLs that cannot have credentials, which is not the case here.
    if url.password().is_some() {
        let _ = shown.set_password(Some("****"));
    } else {
        let _ = shown.set_username("****");
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_and_lone_tokens() {
        let u = |s: &str| redact_url(&Url::parse(s).unwrap());
        assert_eq!(
            u("https://user:s3cret@example.org/simple/"),
            "https://user:****@example.org/simple/"
        );
        assert_eq!(
            u("https://ghp_token@example.org/x"),
            "https://****@example.org/x"
        );
        assert_eq!(
            u("http://deb.debian.org/debian/"),
            "http://deb.debian.org/debian/"
        );
    }

    #[test]
    fn messages_are_actionable() {
        let e = FetchError::Unreachable {
            url: "https://deb.debian.org/debian/".into(),
            attempts: 5,
            reason: "Connection refused (os error 111)".into(),
        };
        assert_eq!(
            e.to_string(),
            "could not reach https://deb.debian.org/debian/ after 5 attempts: Connection refused \
             (os error 111) — check your network or proxy settings (HTTPS_PROXY, HTTP_PROXY, \
             NO_PROXY), or the mirror URL"
        );
        let e = FetchError::Status {
            url: "https://pypi.org/simple/nope/".into(),
            status: 404,
            attempts: 1,
        };
        assert_eq!(
            e.to_string(),
            "https://pypi.org/simple/nope/ answered HTTP 404 — not found: check the URL, the \
             package name and version, or that the mirror carries this suite"
        );
        assert!(e.is_not_found());
    }
}
