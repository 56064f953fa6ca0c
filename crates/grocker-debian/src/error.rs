//! The one error type of this crate.

use std::path::PathBuf;

use url::Url;

/// Everything that can go wrong between Debian's archive and a filesystem tree.
///
/// Each variant names what it is about (URL, package, `.deb`, entry) so the message alone tells a
/// user where to look.
#[derive(Debug, thiserror::Error)]
pub enum DebianError {
    /// A download failed or did not match its expected hash.
    #[error(transparent)]
    Fetch(#[from] grocker_fetch::FetchError),

    /// A keyring file could not be read as OpenPGP public keys.
    #[error("cannot read OpenPGP keyring {name}: {message}")]
    Keyring {
        /// File name or label of the keyring.
        name: String,
        /// What rPGP said.
        message: String,
    },

    /// An `InRelease` file is not a cleartext-signed message at all.
    #[error("InRelease of {url} is not a clear-signed OpenPGP message: {message}")]
    MalformedInRelease {
        /// Where it came from.
        url: String,
        /// What is wrong.
        message: String,
    },

    /// No signature on an `InRelease` verified with a trusted key.
    #[error(
        "InRelease of {url} is not signed by a trusted Debian key — is the mirror URL right? \
         a private mirror needs --debian-keyring"
    )]
    BadSignature {
        /// Where it came from.
        url: String,
    },

    /// The Release file's `Valid-Until` is in the past: a mirror frozen in time could be
    /// withholding security updates (a "freeze attack").
    #[error(
        "Release of {url} expired on {valid_until}: the mirror is stale or the system clock is \
         wrong"
    )]
    Expired {
        /// Where it came from.
        url: String,
        /// The `Valid-Until` field as written.
        valid_until: String,
    },

    /// A Release file that does not parse.
    #[error("malformed Release file from {url}: {message}")]
    MalformedRelease {
        /// Where it came from.
        url: String,
        /// What is wrong.
        message: String,
    },

    /// The Release file does not list the index we need.
    #[error("{url} has no {path} (does the suite have that component and architecture?)")]
    MissingIndex {
        /// The suite's base URL.
        url: String,
        /// The index path we looked for, e.g. `main/binary-amd64/Packages.xz`.
        path: String,
    },

    /// A `Packages` file that does not parse.
    #[error("malformed Packages file {url}, paragraph of `{package}`: {message}")]
    MalformedPackages {
        /// Where it came from.
        url: String,
        /// The package paragraph in question (empty if unknown).
        package: String,
        /// What is wrong.
        message: String,
    },

    /// A Debian version string that does not parse.
    #[error("invalid Debian version `{value}`: {reason}")]
    InvalidVersion {
        /// The rejected text.
        value: String,
        /// Why.
        reason: &'static str,
    },

    /// A dependency field (`Depends:` syntax) that does not parse.
    #[error("invalid dependency `{value}`: {reason}")]
    InvalidRelation {
        /// The rejected text.
        value: String,
        /// Why.
        reason: String,
    },

    /// A package asked for by name does not exist in the loaded suites.
    #[error("no Debian package named `{name}`{}", did_you_mean(suggestions))]
    UnknownPackage {
        /// The requested name.
        name: String,
        /// Names of existing packages that look close.
        suggestions: Vec<String>,
    },

    /// A dependency that no package in the loaded suites satisfies.
    #[error("cannot satisfy `{relation}`, needed by {}", chain.join(" → "))]
    Unsatisfiable {
        /// The package whose dependency fails.
        package: String,
        /// The dependency as written.
        relation: String,
        /// How we got there, from a requested package down to `package`.
        chain: Vec<String>,
    },

    /// A `.deb` that is not a well-formed Debian binary package.
    #[error("{deb} is not a valid .deb: {message}")]
    MalformedDeb {
        /// The package file or name.
        deb: String,
        /// What is wrong.
        message: String,
    },

    /// A `.deb` whose control data is not the package the lock (or index) entry names: a hash
    /// in an edited lock can name another package's file, which the verified cache then gives.
    #[error(
        "{deb}: its control data says {actual}, not {expected} as grocker.lock names it — the \
         lock was edited or its hash names another package's file; restore the lock or run with \
         --upgrade"
    )]
    NotTheNamedPackage {
        /// The package file as the lock names it.
        deb: String,
        /// `package version (arch)` as the lock names it.
        expected: String,
        /// `package version (arch)` as the control data says.
        actual: String,
    },

    /// A `.deb` with an entry that could escape or corrupt the image.
    #[error("{deb}: refusing entry `{entry}`: {reason}")]
    HostileDeb {
        /// The package file or name.
        deb: String,
        /// The entry name as found in the archive.
        entry: String,
        /// Why it is refused.
        reason: String,
    },

    /// Reading or decompressing a local file failed.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A URL could not be built from a mirror base.
    #[error("invalid URL {base}{path}: {source}")]
    Url {
        /// The base.
        base: String,
        /// What was appended.
        path: String,
        /// Why it failed.
        source: url::ParseError,
    },

    /// A path from an index (`Filename:`, `Directory:`, a Release entry) that resolves outside
    /// the archive (`..`, `//other.host/`, `%2e%2e`): never fetched, even though its hash would
    /// be checked.
    #[error(
        "`{path}` leaves the archive {base}: an index names a file outside it; refusing it \
         (check the mirror or the repository's configuration)"
    )]
    OutsideArchive {
        /// The base.
        base: String,
        /// What was appended.
        path: String,
    },
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", suggestions.join(", "))
    }
}

/// Joins `path` onto a directory-like `base` (adding the `/` a mirror URL often lacks).
pub(crate) fn join_url(base: &Url, path: &str) -> Result<Url, DebianError> {
    let mut dir = base.clone();
    if !dir.path().ends_with('/') {
        dir.set_path(&format!("{}/", dir.path()));
    }
    let url = dir.join(path).map_err(|source| DebianError::Url {
        base: grocker_fetch::redact_url(base),
        path: path.to_string(),
        source,
    })?;
    // `join` resolves `..`, percent-encoded dots, backslashes and `//host/`: what it gives must
    // still be below the base.
    if url.scheme() != dir.scheme() || !url.as_str().starts_with(dir.as_str()) {
        return Err(DebianError::OutsideArchive {
            base: grocker_fetch::redact_url(base),
            path: path.to_string(),
        });
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Filename:` or `Directory:` of a hostile index cannot send a download elsewhere, even
    /// though the file's hash would still be checked.
    #[test]
    fn paths_that_leave_the_archive_are_refused() {
        let base = Url::parse("https://user:pw@deb.example/debian").unwrap();
        let url = join_url(&base, "pool/main/a/a/a_1_all.deb").unwrap();
        assert_eq!(
            url.as_str(),
            "https://user:pw@deb.example/debian/pool/main/a/a/a_1_all.deb"
        );
        for path in [
            "../x.deb",
            "pool/../../x.deb",
            "//evil.example/debian/x.deb",
            "pool/%2e%2e/%2E%2E/x.deb",
            "pool\\..\\..\\x.deb",
            "/x.deb",
            "http://evil.example/debian/x.deb",
            "file:///etc/passwd",
        ] {
            let err = join_url(&base, path).unwrap_err();
            assert!(
                matches!(err, DebianError::OutsideArchive { .. }),
                "{path}: {err}"
            );
            let text = err.to_string();
            assert!(
                text.contains("leaves the archive") && !text.contains("pw"),
                "{text}"
            );
        }
    }
}
