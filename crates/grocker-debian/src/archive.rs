//! Loading a package index from Debian mirrors, every byte verified.
//!
//! The chain of trust is apt's: `dists/<suite>/InRelease` is verified with OpenPGP against
//! the [`Keyring`]; the Release text inside lists the SHA-256 of each `Packages` index; each
//! index entry lists the SHA-256 of each `.deb`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use grocker_fetch::{Cache, Fetcher, redact_url};
use grocker_hash::Sha256;
use url::Url;

use crate::error::join_url;
use crate::{DebianError, Keyring, PackageIndex, Release, verify_inrelease};

/// One `deb` line: an archive root, a suite and its components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The archive root, e.g. `https://deb.debian.org/debian`.
    pub base: Url,
    /// The suite (codename), e.g. `bookworm`, `bookworm-updates`, `bookworm-security`.
    pub suite: String,
    /// Components to load, e.g. `main`.
    pub components: Vec<String>,
}

/// Debian's own mirror network.
pub const DEBIAN_MIRROR: &str = "https://deb.debian.org/debian";
/// Debian's security archive.
pub const DEBIAN_SECURITY_MIRROR: &str = "https://deb.debian.org/debian-security";

impl Source {
    /// A source for `suite` at `base` with component `main`.
    pub fn main(base: Url, suite: &str) -> Self {
        Self {
            base,
            suite: suite.to_string(),
            components: vec!["main".to_string()],
        }
    }

    /// What a Debian system has in its sources for `suite`: `S` and `S-updates` from
    /// `mirror`, `S-security` from `security_mirror` (component `main` everywhere).
    pub fn suite_defaults(suite: &str, mirror: &Url, security_mirror: &Url) -> Vec<Source> {
        vec![
            Self::main(mirror.clone(), suite),
            Self::main(mirror.clone(), &format!("{suite}-updates")),
            Self::main(security_mirror.clone(), &format!("{suite}-security")),
        ]
    }

    /// [`Source::suite_defaults`] with [`DEBIAN_MIRROR`] and [`DEBIAN_SECURITY_MIRROR`].
    pub fn debian_defaults(suite: &str) -> Result<Vec<Source>, DebianError> {
        let parse = |u: &str| {
            Url::parse(u).map_err(|source| DebianError::Url {
                base: u.to_string(),
                path: String::new(),
                source,
            })
        };
        Ok(Self::suite_defaults(
            suite,
            &parse(DEBIAN_MIRROR)?,
            &parse(DEBIAN_SECURITY_MIRROR)?,
        ))
    }

    fn dists(&self) -> Result<Url, DebianError> {
        join_url(&self.base, &format!("dists/{}/", self.suite))
    }
}

/// Fetches, verifies and merges the `Packages` indexes of `sources` for `arch`.
///
/// For each source: `InRelease` must carry a signature by a key of `keyring` and must not be
/// past its `Valid-Until` (compared with `now`); each component's `Packages` (xz, gz or plain,
/// as listed) is fetched by hash when the suite supports it, and checked against the Release
/// file — a tampered index fails with an error naming its URL. Packages present in several
/// sources keep their highest version (ties: the earlier source).
pub async fn load_index(
    fetcher: &Fetcher,
    sources: &[Source],
    keyring: &Keyring,
    arch: &str,
    now: SystemTime,
) -> Result<PackageIndex, DebianError> {
    // Every source in parallel: InRelease, then its Packages files.
    let per_source = sources.iter().map(|source| async move {
        let (dists, release) = fetch_release(fetcher, source, keyring, now).await?;
        let mut files = Vec::new();
        for component in &source.components {
            let (path, sha256, size) =
                pick_index(&release, component, arch).ok_or_else(|| DebianError::MissingIndex {
                    url: redact_url(&dists),
                    path: format!("{component}/binary-{arch}/Packages(.xz|.gz)"),
                })?;
            let (url, local) =
                fetch_listed(fetcher, &dists, &release, &path, &sha256, size).await?;
            files.push((url, path, sha256, local));
        }
        Ok::<_, DebianError>(files)
    });
    let fetched = futures_util::future::try_join_all(per_source).await?;

    // Decompress and parse each file on the blocking pool (CPU-bound), merge in source order.
    let mut parsed = Vec::new();
    for (source, files) in sources.iter().zip(fetched) {
        for (url, path, sha256, local) in files {
            let base = source.base.clone();
            let cache = fetcher.cache().clone();
            parsed.push(tokio::task::spawn_blocking(move || {
                let text = index_text(&cache, &sha256, &path, &local)?;
                let mut index = PackageIndex::new();
                index.add_packages(&base, &redact_url(&url), text)?;
                Ok::<_, DebianError>(index)
            }));
        }
    }
    let mut index = PackageIndex::new();
    for task in parsed {
        let part = task.await.map_err(|e| DebianError::MalformedPackages {
            url: String::new(),
            package: String::new(),
            message: format!("parser task failed: {e}"),
        })??;
        index.merge(part);
    }
    Ok(index)
}

/// What [`load_index`] of the same arguments would read, without reading it: each source's
/// archive root and suite, and the SHA-256 of each `Packages` file its verified `InRelease`
/// lists for `arch`. Equal identities give equal indexes, so whatever was computed from one
/// index (a resolution) holds for the other; an `InRelease` is fetched and verified as
/// [`load_index`] does (within the fetcher's index TTL, from the cache).
pub async fn index_identity(
    fetcher: &Fetcher,
    sources: &[Source],
    keyring: &Keyring,
    arch: &str,
    now: SystemTime,
) -> Result<Vec<String>, DebianError> {
    let per_source = sources.iter().map(|source| async move {
        let (dists, release) = fetch_release(fetcher, source, keyring, now).await?;
        let mut lines = Vec::new();
        for component in &source.components {
            let (path, sha256, _) =
                pick_index(&release, component, arch).ok_or_else(|| DebianError::MissingIndex {
                    url: redact_url(&dists),
                    path: format!("{component}/binary-{arch}/Packages(.xz|.gz)"),
                })?;
            lines.push(format!("{} {} {path} {sha256}", source.base, source.suite));
        }
        Ok::<_, DebianError>(lines)
    });
    let lines = futures_util::future::try_join_all(per_source).await?;
    Ok(lines.into_iter().flatten().collect())
}

const INRELEASE: &str = "debian/inrelease";

/// A source's `dists/<suite>/` URL and its Release, from an `InRelease` whose signature by a key
/// of `keyring` verifies and whose `Valid-Until` is not before `now`. A copy younger than the
/// fetcher's [`index_ttl`](Fetcher::index_ttl) is taken from the cache (and verified again).
pub(crate) async fn fetch_release(
    fetcher: &Fetcher,
    source: &Source,
    keyring: &Keyring,
    now: SystemTime,
) -> Result<(Url, Release), DebianError> {
    let dists = source.dists()?;
    let inrelease_url = join_url(&dists, "InRelease")?;
    // Credentials a private mirror URL may carry never reach an error message.
    let shown = redact_url(&inrelease_url);
    // Builds that follow one another do not ask the mirror each time.
    let key = Sha256::digest(inrelease_url.as_str().as_bytes()).to_string();
    let key = key.as_str();
    let cache = fetcher.cache();
    let fresh = cache
        .get_keyed(INRELEASE, key)
        .filter(|(_, mtime)| mtime.elapsed().is_ok_and(|age| age < fetcher.index_ttl()))
        .map(|(bytes, _)| bytes);
    let bytes = match fresh {
        Some(bytes) => bytes.into(),
        None => {
            let bytes = fetcher.get_bytes(&inrelease_url).await?;
            if let Err(e) = cache.put_keyed(INRELEASE, key, &bytes) {
                tracing::debug!(url = %shown, error = %e, "not caching InRelease");
            }
            bytes
        }
    };
    let text = verify_inrelease(&shown, &bytes, keyring)?;
    let release = Release::parse(&shown, &text)?;
    release.check_valid(&shown, now)?;
    Ok((dists, release))
}

/// Downloads a file the Release lists at `path` (relative to `dists`) with that `sha256` and
/// `size`, into the cache, checked; returns the URL used and the local file.
pub(crate) async fn fetch_listed(
    fetcher: &Fetcher,
    dists: &Url,
    release: &Release,
    path: &str,
    sha256: &Sha256,
    size: u64,
) -> Result<(Url, PathBuf), DebianError> {
    let url = if release.acquire_by_hash {
        // Acquire-By-Hash: the file's name is its hash, so a mirror update in the middle
        // of our download cannot swap it for a newer one that does not match.
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        join_url(dists, &format!("{dir}/by-hash/SHA256/{sha256}"))?
    } else {
        join_url(dists, path)?
    };
    let local = fetcher.get_verified(&url, sha256, Some(size)).await?;
    Ok((url, local))
}

/// The best-compressed listed `Packages` index of `component` for `arch`. debian-security
/// lists its components as `updates/main` while the files live under `main/`, so both
/// spellings are accepted.
fn pick_index(release: &Release, component: &str, arch: &str) -> Option<(String, Sha256, u64)> {
    let component = component.strip_prefix("updates/").unwrap_or(component);
    ["Packages.xz", "Packages.gz", "Packages"]
        .iter()
        .find_map(|file| {
            let path = format!("{component}/binary-{arch}/{file}");
            release.file(&path).map(|(sha, size)| (path, sha, size))
        })
}

/// The text of a verified index. Decompressing bookworm's 9 MB `Packages.xz` takes most of a
/// second, so the text is also kept in the cache (see [`cached_text`]).
fn index_text(
    cache: &Cache,
    index_sha256: &Sha256,
    listed: &str,
    local: &Path,
) -> Result<Arc<str>, DebianError> {
    cached_text(cache, "debian/packages-text", index_sha256, || {
        decompress_index(listed, local)
    })
}

/// Text derived from a verified file, computed by `make` once and then kept in the cache as zstd
/// (bookworm's `Packages` text: 12 MB, read back in a tenth of the time `xz` takes), as a
/// content-addressed blob — re-hashed when handed out, like every blob — named by a keyed entry
/// `<namespace>/<sha256 of the source file>`. The cache is best effort: any failure falls back
/// to `make`.
pub(crate) fn cached_text(
    cache: &Cache,
    namespace: &str,
    source_sha256: &Sha256,
    make: impl FnOnce() -> Result<Arc<str>, DebianError>,
) -> Result<Arc<str>, DebianError> {
    let key = source_sha256.to_string();
    let cached = cache
        .get_keyed(namespace, &key)
        .and_then(|(blob, _)| String::from_utf8(blob).ok()?.trim().parse::<Sha256>().ok())
        .and_then(|blob| cache.get(&blob))
        .and_then(|path| {
            let file = std::io::BufReader::new(fs_err::File::open(path).ok()?);
            let mut text = String::new();
            zstd::stream::read::Decoder::new(file)
                .ok()?
                .read_to_string(&mut text)
                .ok()?;
            Some(text)
        });
    if let Some(text) = cached {
        return Ok(text.into());
    }
    let text = make()?;
    let stored = zstd::encode_all(text.as_bytes(), 1)
        .map_err(|e| e.to_string())
        .and_then(|z| cache.put_bytes(&z).map_err(|e| e.to_string()))
        .and_then(|(blob, _)| {
            cache
                .put_keyed(namespace, &key, blob.to_string().as_bytes())
                .map_err(|e| e.to_string())
        });
    if let Err(e) = stored {
        tracing::debug!(namespace, key = %key, error = %e, "not caching derived text");
    }
    Ok(text)
}

/// Reads a verified index file, decompressing by its listed name.
fn decompress_index(listed: &str, local: &Path) -> Result<Arc<str>, DebianError> {
    let mut text = String::new();
    open_index(listed, local)?
        .read_to_string(&mut text)
        .map_err(|source| DebianError::Io {
            path: local.to_path_buf(),
            source,
        })?;
    Ok(text.into())
}

/// A streaming reader of a verified index file, decompressing by its listed name (`.xz`,
/// `.gz` or plain).
pub(crate) fn open_index(listed: &str, local: &Path) -> Result<Box<dyn Read>, DebianError> {
    let file = fs_err::File::open(local).map_err(|source| DebianError::Io {
        path: local.to_path_buf(),
        source,
    })?;
    let file = std::io::BufReader::new(file);
    Ok(if listed.ends_with(".xz") {
        Box::new(lzma_rust2::XzReader::new(file, true))
    } else if listed.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sources() {
        let sources = Source::debian_defaults("bookworm").unwrap();
        let lines: Vec<String> = sources
            .iter()
            .map(|s| format!("{} {} {}", s.base, s.suite, s.components.join(" ")))
            .collect();
        assert_eq!(
            lines,
            [
                "https://deb.debian.org/debian bookworm main",
                "https://deb.debian.org/debian bookworm-updates main",
                "https://deb.debian.org/debian-security bookworm-security main",
            ]
        );
        assert_eq!(
            sources[2].dists().unwrap().as_str(),
            "https://deb.debian.org/debian-security/dists/bookworm-security/"
        );
    }

    #[test]
    fn picks_security_index_under_main() {
        let text = verify_inrelease(
            "sec",
            include_bytes!("../tests/data/bookworm-security-InRelease"),
            &Keyring::debian().unwrap(),
        )
        .unwrap();
        let release = Release::parse("sec", &text).unwrap();
        for component in ["main", "updates/main"] {
            let (path, _, _) = pick_index(&release, component, "amd64").unwrap();
            assert_eq!(path, "main/binary-amd64/Packages.xz");
        }
        assert!(pick_index(&release, "main", "sparc").is_none());
    }
}
