//! `Sources` indexes: the source packages of a suite, and their upstream tarballs.
//!
//! The chain of trust is the one `.deb`s have (see [`crate::load_index`]): the verified
//! `InRelease` lists the SHA-256 of `main/source/Sources.xz`; each paragraph of that index lists
//! the SHA-256 of each file of the source package (`Checksums-Sha256`), among them the upstream
//! tarball (`NAME_VERSION.orig.tar.xz`), which grocker downloads checked against it.

use std::path::PathBuf;
use std::time::SystemTime;

use grocker_fetch::{Fetcher, redact_url};
use grocker_hash::Sha256;
use url::Url;

use crate::archive::{cached_text, fetch_listed, fetch_release, open_index};
use crate::deb822::paragraphs;
use crate::error::join_url;
use crate::{DebianError, DebianVersion, Keyring, Source};

/// One source package as a `Sources` index describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePackage {
    /// `Package:`.
    pub name: String,
    /// `Version:`.
    pub version: DebianVersion,
    /// `Directory:`, relative to the archive root (`pool/main/p/python3.13`).
    pub directory: String,
    /// `Checksums-Sha256:`: each file of the package.
    pub files: Vec<SourceFile>,
    /// The archive root (`https://deb.debian.org/debian`).
    pub base_url: Url,
    /// The suite whose index listed it (`trixie`).
    pub suite: String,
}

/// One file of a source package, with its size and SHA-256 from the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The file name (`python3.13_3.13.5.orig.tar.xz`).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256.
    pub sha256: Sha256,
}

impl SourcePackage {
    /// The upstream tarball (`*.orig.tar.xz`, else `.gz`/`.bz2`), if the package has one (a
    /// native package has none).
    pub fn orig_tarball(&self) -> Option<&SourceFile> {
        [".orig.tar.xz", ".orig.tar.gz", ".orig.tar.bz2"]
            .iter()
            .find_map(|ext| self.files.iter().find(|f| f.name.ends_with(ext)))
    }

    /// The path of `file` below the archive root, as a lock records it.
    pub fn path_of(&self, file: &SourceFile) -> String {
        format!("{}/{}", self.directory.trim_end_matches('/'), file.name)
    }

    /// The URL of `file`.
    pub fn url_of(&self, file: &SourceFile) -> Result<Url, DebianError> {
        join_url(&self.base_url, &self.path_of(file))
    }
}

/// The source packages of `source` (component by component) whose name `wanted` accepts,
/// every version the index lists (sid lists several), read from a `Sources` index whose
/// SHA-256 the verified `InRelease` lists.
pub async fn load_sources(
    fetcher: &Fetcher,
    source: &Source,
    keyring: &Keyring,
    now: SystemTime,
    wanted: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Vec<SourcePackage>, DebianError> {
    let (dists, release) = fetch_release(fetcher, source, keyring, now).await?;
    let mut out = Vec::new();
    for component in &source.components {
        let (path, sha256, size) = ["Sources.xz", "Sources.gz", "Sources"]
            .iter()
            .find_map(|file| {
                let path = format!("{component}/source/{file}");
                release.file(&path).map(|(sha, size)| (path, sha, size))
            })
            .ok_or_else(|| DebianError::MissingIndex {
                url: redact_url(&dists),
                path: format!("{component}/source/Sources(.xz|.gz)"),
            })?;
        let (url, local) = fetch_listed(fetcher, &dists, &release, &path, &sha256, size).await?;
        let cache = fetcher.cache().clone();
        let listed = path.clone();
        let text = tokio::task::spawn_blocking(move || {
            cached_text(&cache, "debian/sources-text", &sha256, || {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut open_index(&listed, &local)?, &mut text)
                    .map_err(|source| DebianError::Io {
                        path: local.clone(),
                        source,
                    })?;
                Ok(text.into())
            })
        })
        .await
        .map_err(|e| DebianError::MalformedPackages {
            url: redact_url(&url),
            package: String::new(),
            message: format!("parser task failed: {e}"),
        })??;
        out.extend(parse_sources(
            &text,
            &redact_url(&url),
            &source.base,
            &source.suite,
            wanted,
        )?);
    }
    Ok(out)
}

/// Parses a `Sources` text (`url` names it in errors), keeping the packages `wanted` accepts.
pub fn parse_sources(
    text: &str,
    url: &str,
    base_url: &Url,
    suite: &str,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<SourcePackage>, DebianError> {
    let mut out = Vec::new();
    for paragraph in paragraphs(text) {
        let Some(name) = paragraph.get("Package") else {
            continue;
        };
        if !wanted(name) {
            continue;
        }
        let bad = |message: String| DebianError::MalformedPackages {
            url: url.to_string(),
            package: name.to_string(),
            message,
        };
        let version = paragraph
            .get("Version")
            .ok_or_else(|| bad("no Version field".into()))?;
        let version: DebianVersion = version.parse()?;
        let directory = paragraph
            .get("Directory")
            .ok_or_else(|| bad("no Directory field".into()))?;
        if directory
            .split('/')
            .any(|part| part == ".." || part.is_empty())
        {
            return Err(bad(format!("Directory `{directory}` leaves the archive")));
        }
        let listed = paragraph
            .get("Checksums-Sha256")
            .ok_or_else(|| bad("no Checksums-Sha256 field".into()))?;
        let mut files = Vec::new();
        for line in listed.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let mut parts = line.split_whitespace();
            let (Some(sha), Some(size), Some(file), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad(format!("Checksums-Sha256 line `{line}`")));
            };
            if file.contains('/') || file.starts_with('.') {
                return Err(bad(format!("file name `{file}` leaves its directory")));
            }
            files.push(SourceFile {
                name: file.to_string(),
                size: size
                    .parse()
                    .map_err(|_| bad(format!("size `{size}` of {file}")))?,
                sha256: sha
                    .parse()
                    .map_err(|_| bad(format!("SHA-256 `{sha}` of {file}")))?,
            });
        }
        out.push(SourcePackage {
            name: name.to_string(),
            version,
            directory: directory.to_string(),
            files,
            base_url: base_url.clone(),
            suite: suite.to_string(),
        });
    }
    Ok(out)
}

/// Downloads `file` of `package` into the cache, checked against the SHA-256 and size the
/// verified index lists; returns where it is.
pub async fn fetch_source_file(
    fetcher: &Fetcher,
    package: &SourcePackage,
    file: &SourceFile,
) -> Result<PathBuf, DebianError> {
    let url = package.url_of(file)?;
    Ok(fetcher
        .get_verified(&url, &file.sha256, Some(file.size))
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Package: python3.13\n\
Binary: python3.13, python3.13-dev\n\
Version: 3.13.5-2\n\
Directory: pool/main/p/python3.13\n\
Checksums-Sha256:\n \
1111111111111111111111111111111111111111111111111111111111111111 3579 python3.13_3.13.5-2.dsc\n \
2222222222222222222222222222222222222222222222222222222222222222 22856016 python3.13_3.13.5.orig.tar.xz\n \
3333333333333333333333333333333333333333333333333333333333333333 236732 python3.13_3.13.5-2.debian.tar.xz\n\
\n\
Package: hello\n\
Version: 2.10-3\n\
Directory: pool/main/h/hello\n\
Checksums-Sha256:\n \
4444444444444444444444444444444444444444444444444444444444444444 1 hello_2.10.orig.tar.gz\n";

    fn base() -> Url {
        Url::parse("https://deb.debian.org/debian").unwrap()
    }

    #[test]
    fn reads_the_wanted_packages_and_their_upstream_tarball() {
        let wanted = |n: &str| n.starts_with("python3.");
        let found = parse_sources(TEXT, "Sources", &base(), "trixie", &wanted).unwrap();
        assert_eq!(found.len(), 1);
        let p = &found[0];
        assert_eq!(p.version.to_string(), "3.13.5-2");
        let orig = p.orig_tarball().unwrap();
        assert_eq!(orig.name, "python3.13_3.13.5.orig.tar.xz");
        assert_eq!(orig.size, 22_856_016);
        assert_eq!(
            p.url_of(orig).unwrap().as_str(),
            "https://deb.debian.org/debian/pool/main/p/python3.13/python3.13_3.13.5.orig.tar.xz"
        );
    }

    #[test]
    fn refuses_paths_out_of_the_archive() {
        let all = |_: &str| true;
        for (from, to) in [
            ("pool/main/h/hello", "pool/../../etc"),
            ("hello_2.10.orig.tar.gz", "../hello.tar.gz"),
            (" 1 hello_2.10", " x hello_2.10"),
        ] {
            let text = TEXT.replace(from, to);
            let err = parse_sources(&text, "Sources", &base(), "sid", &all).unwrap_err();
            assert!(err.to_string().contains("hello"), "{err}");
        }
    }
}
