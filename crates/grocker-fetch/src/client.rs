//! The HTTP client: platform trust store, proxies from the environment, user agent, and the
//! unverified small-document requests (InRelease, index pages, byte ranges).

use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_RANGE, CONTENT_TYPE, HeaderValue, RANGE};
use url::Url;

use crate::attempt::{self, AttemptError, with_retries};
use crate::error::redact_url;
use crate::{Cache, FetchError};

const USER_AGENT: &str = concat!("grocker/", env!("CARGO_PKG_VERSION"));
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence tolerated between two reads of a response; a stalled mirror becomes a
/// (retried) timeout instead of a hang.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether downloads draw progress bars.
#[derive(Debug, Clone, Default)]
pub enum Progress {
    /// Nothing on the terminal (tests, CI, `--quiet`, stderr not a terminal).
    #[default]
    Hidden,
    /// One bar per batch of downloads, inside the caller's [`indicatif::MultiProgress`] so it
    /// shares the terminal with the caller's own bars instead of drawing over them. The caller
    /// picks this only when stderr is a terminal.
    Bars(indicatif::MultiProgress),
}

/// How a [`Fetcher`] behaves.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Retries after the first attempt for transient failures (default 4, so 5 attempts).
    pub retries: u32,
    /// Downloads running at once in [`Fetcher::get_all_verified`] (default 8).
    pub concurrency: usize,
    /// Progress bars or not.
    pub progress: Progress,
    /// How long an index document fetched earlier (a PyPI project page, a Debian `InRelease`)
    /// is used again without asking (default [`INDEX_TTL`]; zero: always ask, as `--upgrade`).
    pub index_ttl: Duration,
}

/// How long index documents are reused (DESIGN §4: no repeated index fetches within a short
/// TTL). Indexes change a few times a day at most; builds that follow one another within
/// minutes should not each pay for asking again.
pub const INDEX_TTL: Duration = Duration::from_secs(10 * 60);

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            retries: 4,
            concurrency: 8,
            progress: Progress::Hidden,
            index_ttl: INDEX_TTL,
        }
    }
}

/// A small document and where it really came from.
#[derive(Debug, Clone)]
pub struct Document {
    /// The URL after redirects (without credentials), which relative links in the document are
    /// resolved against (PEP 503: "URLs ... relative to the page").
    pub url: Url,
    /// The `Content-Type` header, if any (PEP 691 picks the format by it).
    pub content_type: Option<String>,
    /// The body.
    pub bytes: Bytes,
}

/// A byte range to ask for with [`Fetcher::get_range`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=start-(end-1)`.
    Bounded(Range<u64>),
    /// The last `n` bytes (`bytes=-n`), e.g. a zip's end of central directory.
    Suffix(u64),
}

/// Part of a file, from a `206 Partial Content` answer.
#[derive(Debug, Clone)]
pub struct Partial {
    /// Offset of `bytes[0]` in the whole file.
    pub start: u64,
    /// Size of the whole file, if the server said (`Content-Range: bytes a-b/total`).
    pub total: Option<u64>,
    /// The bytes.
    pub bytes: Bytes,
}

/// Downloads files over HTTP(S) with retries, verifying and caching what has a known hash.
/// Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// Made at the first request: reading the system's trust store is most of a no-op
    /// rebuild's time, and such a build makes no request.
    pub(crate) client: Arc<OnceLock<Result<reqwest::Client, String>>>,
    pub(crate) cache: Cache,
    pub(crate) options: FetchOptions,
    /// Downloads in progress, by hash: a file asked for twice at once is downloaded once.
    pub(crate) downloads: Arc<crate::Flights<grocker_hash::Sha256>>,
}

impl Fetcher {
    /// A fetcher storing into `cache`.
    ///
    /// TLS trusts the platform's certificate store, plus `SSL_CERT_FILE` / `SSL_CERT_DIR` when
    /// set. Proxies come from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (either case).
    /// The client is set up at the first request, and a failure to (an unreadable trust
    /// store) is that request's error.
    pub fn new(cache: Cache, options: FetchOptions) -> Result<Fetcher, FetchError> {
        Ok(Fetcher {
            client: Arc::default(),
            cache,
            options,
            downloads: Arc::default(),
        })
    }

    /// The HTTP client, set up on first use.
    pub(crate) fn http(&self) -> Result<&reqwest::Client, FetchError> {
        let made = self.client.get_or_init(|| {
            // Another crate may have installed a provider already; either way one is in place.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .tls_certs_merge(crate::tls::system_roots_besides_env())
                .build()
                .map_err(|e| crate::retry::reason(&e))
        });
        made.as_ref().map_err(|reason| FetchError::Client {
            reason: reason.clone(),
        })
    }

    /// How long index documents are reused ([`FetchOptions::index_ttl`]).
    pub fn index_ttl(&self) -> Duration {
        self.options.index_ttl
    }

    /// The cache this fetcher stores into.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The options it was built with.
    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    /// The underlying client, with the same trust store, proxies and user agent, for requests
    /// this crate does not model (e.g. a registry upload). No retries are applied to it.
    pub fn client(&self) -> Result<&reqwest::Client, FetchError> {
        self.http()
    }

    /// An unverified small document (InRelease, a simple-index page), retrying transient
    /// failures. The caller verifies it (OpenPGP, or hashes from a signed file).
    pub async fn get_bytes(&self, url: &Url) -> Result<Bytes, FetchError> {
        Ok(self.get_document(url, "*/*").await?.bytes)
    }

    /// Like [`Fetcher::get_bytes`], sending `Accept: accept` and returning the final URL and
    /// content type too (PEP 691 content negotiation).
    pub async fn get_document(&self, url: &Url, accept: &str) -> Result<Document, FetchError> {
        let accept = HeaderValue::from_str(accept).map_err(|e| FetchError::Request {
            url: redact_url(url),
            reason: format!("invalid Accept header: {e}"),
        })?;
        with_retries(url, self.options.retries, |attempt| {
            let request = self
                .http()
                .map(|c| c.get(url.clone()).header(ACCEPT, accept.clone()));
            async move {
                let response = self.send(url, attempt, request).await?;
                let final_url = response.url().clone();
                let content_type = response
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| attempt::classify(url, attempt, e))?;
                Ok(Document {
                    url: final_url,
                    content_type,
                    bytes,
                })
            }
        })
        .await
    }

    /// Part of a file, with an HTTP range request. `None` when the server ignores ranges (it
    /// answered `200` with the whole file, which is not read): fall back to a full download.
    pub async fn get_range(
        &self,
        url: &Url,
        range: ByteRange,
    ) -> Result<Option<Partial>, FetchError> {
        let header = match &range {
            ByteRange::Bounded(r) if r.is_empty() => {
                return Ok(Some(Partial {
                    start: r.start,
                    total: None,
                    bytes: Bytes::new(),
                }));
            }
            ByteRange::Bounded(r) => format!("bytes={}-{}", r.start, r.end - 1),
            ByteRange::Suffix(n) => format!("bytes=-{n}"),
        };
        with_retries(url, self.options.retries, |attempt| {
            let request = self
                .http()
                .map(|c| c.get(url.clone()).header(RANGE, header.as_str()));
            async move {
                let response = self.send(url, attempt, request).await?;
                if response.status() != reqwest::StatusCode::PARTIAL_CONTENT {
                    tracing::debug!("{} ignores range requests", redact_url(url));
                    return Ok(None);
                }
                let (start, total) = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_content_range)
                    .ok_or_else(|| {
                        AttemptError::Final(FetchError::Request {
                            url: redact_url(url),
                            reason: "206 answer without a valid Content-Range header".into(),
                        })
                    })?;
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| attempt::classify(url, attempt, e))?;
                Ok(Some(Partial {
                    start,
                    total,
                    bytes,
                }))
            }
        })
        .await
    }

    /// Sends one attempt and sorts out the status.
    pub(crate) async fn send(
        &self,
        url: &Url,
        attempt: u32,
        request: Result<reqwest::RequestBuilder, FetchError>,
    ) -> Result<reqwest::Response, AttemptError> {
        tracing::debug!("GET {} (attempt {attempt})", redact_url(url));
        let response = request
            .map_err(AttemptError::Final)?
            .send()
            .await
            .map_err(|e| attempt::classify(url, attempt, e))?;
        tracing::debug!(
            "{} answered {} ({:?})",
            redact_url(url),
            response.status(),
            response.version()
        );
        attempt::check_status(url, attempt, &response)?;
        Ok(response)
    }
}

/// `bytes 100-199/1000` → (100, Some(1000)); `bytes 100-199/*` → (100, None).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let (range, total) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start.trim().parse().ok()?, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_range() {
        assert_eq!(
            parse_content_range("bytes 100-199/1000"),
            Some((100, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 0-0/*"), Some((0, None)));
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }

    #[test]
    fn user_agent_names_the_version() {
        assert!(USER_AGENT.starts_with("grocker/0."));
    }
}
