//! [`Index`]: project pages from the index and the extra indexes, cached for a few minutes.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use grocker_fetch::{ByteRange, Document, FetchError, Fetcher, Partial, redact_url};
use grocker_hash::Sha256;
use pep508_rs::PackageName;
use url::Url;

use crate::netrc::{Credentials, strip_credentials};
use crate::simple::{ACCEPT, RawPage, parse_page};
use crate::{DistFile, IndexUrls, Netrc, PypiError};

/// The first range request for a wheel's METADATA asks for this many bytes from the end: the
/// end of central directory record with the longest comment, and for most wheels the whole
/// central directory and METADATA itself (the `.dist-info` files are written last).
pub const RANGE_TAIL: u64 = 64 * 1024;

const PAGES: &str = "pypi/simple";
const PAGE_MAGIC: &str = "grocker-simple-page 1";

/// A package index client: [`Index::project`] lists a project's files across the index and the
/// extra indexes; [`Index::wheel_metadata`] reads a wheel's METADATA as cheaply as the index
/// allows. Cheap to clone; clones share the transfer counters.
#[derive(Clone)]
pub struct Index {
    pub(crate) fetcher: Fetcher,
    urls: IndexUrls,
    credentials: Credentials,
    page_ttl: Duration,
    pub(crate) range_tail: u64,
    stats: Arc<[AtomicU64; 2]>,
}

/// What an [`Index`] has fetched so far (index pages, metadata files, byte ranges, and full
/// downloads made to read METADATA; cache hits are free).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// HTTP requests made.
    pub requests: u64,
    /// Body bytes received.
    pub bytes: u64,
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index")
            .field("urls", &self.urls)
            .field("page_ttl", &self.page_ttl)
            .field("range_tail", &self.range_tail)
            .finish_non_exhaustive()
    }
}

impl Index {
    /// A client for `urls`. Credentials come from the URLs themselves, else from `$NETRC` or
    /// `~/.netrc` (an unreadable netrc is reported in the log and ignored).
    pub fn new(fetcher: Fetcher, urls: IndexUrls) -> Index {
        let env = |k: &str| std::env::var(k).ok();
        let netrc = Netrc::load(&env, dirs::home_dir().as_deref()).unwrap_or_else(|e| {
            tracing::warn!("{e}; continuing without it");
            Netrc::default()
        });
        let credentials = Credentials::new(urls.all(), netrc);
        Index {
            page_ttl: fetcher.index_ttl(),
            fetcher,
            urls,
            credentials,
            range_tail: RANGE_TAIL,
            stats: Arc::new([AtomicU64::new(0), AtomicU64::new(0)]),
        }
    }

    /// Uses these netrc credentials instead of the ones found in the environment.
    pub fn with_netrc(mut self, netrc: Netrc) -> Index {
        self.credentials.set_netrc(netrc);
        self
    }

    /// Reuses cached project pages for `ttl` instead of the fetcher's
    /// [`index_ttl`](grocker_fetch::Fetcher::index_ttl) (zero: always ask).
    pub fn with_page_ttl(mut self, ttl: Duration) -> Index {
        self.page_ttl = ttl;
        self
    }

    /// Asks for `bytes` in the first range request instead of [`RANGE_TAIL`].
    pub fn with_range_tail(mut self, bytes: u64) -> Index {
        self.range_tail = bytes.max(22);
        self
    }

    /// The indexes asked.
    pub fn urls(&self) -> &IndexUrls {
        &self.urls
    }

    /// The fetcher used (and its cache).
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// Requests made and bytes received so far, by this index and its clones.
    pub fn transfer_stats(&self) -> TransferStats {
        TransferStats {
            requests: self.stats[0].load(Ordering::Relaxed),
            bytes: self.stats[1].load(Ordering::Relaxed),
        }
    }

    /// All files of a project across the index and the extra indexes: the union, index first,
    /// as pip does (the same file name on two indexes appears twice; the resolver chooses).
    ///
    /// Each page is requested as PEP 691 JSON, PEP 503 HTML accepted, and parsed according to
    /// the Content-Type that comes back; relative links resolve against the final URL after
    /// redirects. Pages are cached and reused for the fetcher's
    /// [`index_ttl`](grocker_fetch::Fetcher::index_ttl). When every index answers 404,
    /// the error is [`PypiError::NotFound`], naming the indexes asked.
    pub async fn project(&self, name: &PackageName) -> Result<Vec<DistFile>, PypiError> {
        let pages = self.urls.all().map(|index| self.project_on(index, name));
        let mut files = Vec::new();
        let mut found = false;
        for page in futures_util::future::join_all(pages).await {
            if let Some(page_files) = page? {
                found = true;
                files.extend(page_files);
            }
        }
        if !found {
            return Err(PypiError::NotFound {
                name: name.to_string(),
                indexes: self.urls.all().map(redact_url).collect(),
            });
        }
        Ok(files)
    }

    /// The files of `name` on one index; `None` when the index does not know it.
    async fn project_on(
        &self,
        index: &Url,
        name: &PackageName,
    ) -> Result<Option<Vec<DistFile>>, PypiError> {
        let index = strip_credentials(index);
        // PEP 503: `<index>/<normalized name>/`, whether or not the index URL ends in `/`.
        let mut page_url = index.clone();
        if let Ok(mut segments) = page_url.path_segments_mut() {
            segments.pop_if_empty().push(name.as_ref()).push("");
        }
        let key = Sha256::digest(page_url.as_str().as_bytes()).to_string();
        let cache = self.fetcher.cache();

        let fresh = cache
            .get_keyed(PAGES, &key)
            .filter(|(_, mtime)| mtime.elapsed().is_ok_and(|age| age < self.page_ttl));
        let (final_url, content_type, body) = match fresh.and_then(|(b, _)| unpack_page(&b)) {
            Some(cached) => {
                tracing::debug!("{} is cached", page_url);
                cached
            }
            None => {
                let doc = match self.get_document(&page_url, ACCEPT).await {
                    Ok(doc) => doc,
                    Err(e) if e.is_not_found() => {
                        tracing::debug!("{} does not know `{name}`", redact_url(&index));
                        return Ok(None);
                    }
                    Err(e) => return Err(e.into()),
                };
                let final_url = strip_credentials(&doc.url);
                let content_type = doc.content_type.unwrap_or_default();
                let packed = pack_page(&final_url, &content_type, &doc.bytes);
                cache.put_keyed(PAGES, &key, &packed)?;
                (final_url, content_type, doc.bytes.to_vec())
            }
        };
        let files = parse_page(&RawPage {
            name: name.as_ref(),
            url: &final_url,
            content_type: Some(content_type.as_str()).filter(|c| !c.is_empty()),
            body: &body,
            index: &index,
        })?;
        Ok(Some(files))
    }

    /// A small document, with credentials for its host, counted.
    pub(crate) async fn get_document(
        &self,
        url: &Url,
        accept: &str,
    ) -> Result<Document, FetchError> {
        let doc = self
            .fetcher
            .get_document(&self.credentials.apply(url), accept)
            .await?;
        self.count(doc.bytes.len() as u64);
        Ok(doc)
    }

    /// A byte range, with credentials for its host, counted.
    pub(crate) async fn get_range(
        &self,
        url: &Url,
        range: ByteRange,
    ) -> Result<Option<Partial>, FetchError> {
        let partial = self
            .fetcher
            .get_range(&self.credentials.apply(url), range)
            .await?;
        self.count(partial.as_ref().map_or(0, |p| p.bytes.len() as u64));
        Ok(partial)
    }

    /// A verified, cached download, with credentials for its host; counted when it was not
    /// cached yet.
    pub(crate) async fn get_verified(
        &self,
        url: &Url,
        sha256: &Sha256,
        size: Option<u64>,
    ) -> Result<std::path::PathBuf, FetchError> {
        let cached = self.fetcher.cache().blob_path(sha256).exists();
        let path = self
            .fetcher
            .get_verified(&self.credentials.apply(url), sha256, size)
            .await?;
        if !cached {
            self.count(fs_err::metadata(&path).map_or(0, |m| m.len()));
        }
        Ok(path)
    }

    pub(crate) fn count(&self, bytes: u64) {
        self.stats[0].fetch_add(1, Ordering::Relaxed);
        self.stats[1].fetch_add(bytes, Ordering::Relaxed);
    }
}

/// `magic \n final-url \n content-type \n body`: enough to parse the page again later exactly
/// as it was first parsed.
fn pack_page(url: &Url, content_type: &str, body: &Bytes) -> Vec<u8> {
    let content_type = content_type.replace(['\r', '\n'], " ");
    let mut out = format!("{PAGE_MAGIC}\n{url}\n{content_type}\n").into_bytes();
    out.extend_from_slice(body);
    out
}

fn unpack_page(packed: &[u8]) -> Option<(Url, String, Vec<u8>)> {
    let mut parts = packed.splitn(4, |&b| b == b'\n');
    if parts.next()? != PAGE_MAGIC.as_bytes() {
        return None;
    }
    let url = Url::parse(std::str::from_utf8(parts.next()?).ok()?).ok()?;
    let content_type = String::from_utf8(parts.next()?.to_vec()).ok()?;
    Some((url, content_type, parts.next()?.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_envelope_round_trips() {
        let url: Url = "https://i.example/simple/six/".parse().unwrap();
        let packed = pack_page(&url, "text/html", &Bytes::from_static(b"<a>\n</a>"));
        let (u, ct, body) = unpack_page(&packed).unwrap();
        assert_eq!(
            (u, ct.as_str(), body.as_slice()),
            (url, "text/html", &b"<a>\n</a>"[..])
        );
        assert!(unpack_page(b"garbage").is_none());
    }
}
