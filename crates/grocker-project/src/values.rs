//! The small values every lock format spells as strings: names, versions, markers, hashes, URLs.

use std::path::Path;
use std::str::FromStr;

use grocker_hash::Sha256;
use grocker_wheel::{MarkerTree, PackageName, Version};

use crate::error::{ProjectError, invalid};

/// Where a value was read, for its error.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub path: &'a Path,
    pub line: Option<usize>,
    pub package: Option<&'a str>,
}

impl At<'_> {
    pub fn error(&self, message: impl Into<String>) -> ProjectError {
        invalid(self.path, self.line, self.package, message)
    }

    /// A distribution file's name as the lock gives it (its own field, or the end of its URL,
    /// percent-decoded). It becomes a path in the download cache and the builder's work
    /// directory, so it must be one plain path component.
    pub fn file_name(&self, name: String) -> Result<String, ProjectError> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
            return Err(self.error(format!(
                "the file name `{}` is not a plain file name (a wheel or sdist name has no `/`, \
                 `\\` or NUL and is not `.` or `..`): fix the lock's entry or lock again",
                name.escape_debug()
            )));
        }
        Ok(name)
    }

    pub fn name(&self, text: &str) -> Result<PackageName, ProjectError> {
        PackageName::from_str(text)
            .map_err(|e| self.error(format!("`{text}` is not a package name: {e}")))
    }

    pub fn version(&self, text: &str) -> Result<Version, ProjectError> {
        Version::from_str(text)
            .map_err(|e| self.error(format!("`{text}` is not a PEP 440 version: {e}")))
    }

    pub fn marker(&self, text: &str) -> Result<MarkerTree, ProjectError> {
        grocker_wheel::parse_markers(text)
            .map_err(|e| self.error(format!("`{text}` is not a PEP 508 marker: {e}")))
    }

    /// `sha256:HEX` (uv, Poetry, pip's `--hash`).
    pub fn prefixed_sha256(&self, text: &str) -> Result<Sha256, ProjectError> {
        let Some(hex) = text.strip_prefix("sha256:") else {
            return Err(self.error(format!(
                "hash `{text}` is not a sha256: grocker verifies every file by its SHA-256; \
                 lock again with sha256 hashes"
            )));
        };
        self.sha256(hex)
    }

    pub fn sha256(&self, hex: &str) -> Result<Sha256, ProjectError> {
        Sha256::from_str(hex)
            .map_err(|_| self.error(format!("`{hex}` is not a SHA-256 (64 hex digits)")))
    }
}

/// The file name a URL ends with (query and fragment dropped, percent-escapes decoded: PyPI
/// writes `+` of local versions as `%2B`).
pub(crate) fn url_filename(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let path = &url[..end];
    path.rsplit('/').next().unwrap_or(path)
}

/// `%XX` escapes decoded (invalid ones kept as written).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
