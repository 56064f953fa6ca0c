//! Verified downloads into the cache: one file, or many in parallel under one progress bar.

use std::io::SeekFrom;
use std::path::PathBuf;

use futures_util::{StreamExt, TryStreamExt};
use grocker_hash::{Hasher, Sha256};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use url::Url;

use crate::attempt::{self, AttemptError, with_retries};
use crate::error::redact_url;
use crate::{FetchError, Fetcher, Progress};

/// One file to download and verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// Where it is.
    pub url: Url,
    /// What it must hash to.
    pub sha256: Sha256,
    /// How long it must be, when the index says.
    pub size: Option<u64>,
    /// What to call it on the progress bar (`python3.11_3.11.2-6_amd64.deb`).
    pub label: String,
}

impl Fetcher {
    /// The cached file with this hash, downloading it first if needed.
    ///
    /// A cache hit makes no request. Otherwise the body streams into a temp file inside the cache
    /// while being hashed; the size (if given) and the hash are checked, and only then is the file
    /// renamed into the cache. On a mismatch nothing is stored and
    /// [`FetchError::HashMismatch`] / [`FetchError::SizeMismatch`] is returned.
    pub async fn get_verified(
        &self,
        url: &Url,
        sha256: &Sha256,
        size: Option<u64>,
    ) -> Result<PathBuf, FetchError> {
        let segments: Vec<&str> = url.path_segments().map(|s| s.collect()).unwrap_or_default();
        // `.../binary-amd64/by-hash/SHA256/<hex>` says more by its directory than its name.
        let label = match segments.iter().rposition(|s| *s == "by-hash") {
            Some(i) if i > 0 => segments[..i].join("/"),
            _ => segments.last().copied().unwrap_or_default().to_string(),
        };
        let download = Download {
            url: url.clone(),
            sha256: *sha256,
            size,
            label,
        };
        let mut paths = self.get_all_verified(vec![download]).await?;
        paths.pop().ok_or_else(|| FetchError::Request {
            url: redact_url(url),
            reason: "internal error: the download produced no file".into(),
        })
    }

    /// Many verified downloads, at most `options.concurrency` at a time, with one progress bar
    /// (in bytes) when enabled. The paths come back in the order of `items`. The first failure
    /// is returned as soon as it happens and the other downloads are cancelled (their temp files
    /// are deleted; files already stored stay, they are verified).
    pub async fn get_all_verified(&self, items: Vec<Download>) -> Result<Vec<PathBuf>, FetchError> {
        let bar = self.progress_bar(&items);
        let count = items.len();
        let mut paths: Vec<Option<PathBuf>> = vec![None; count];
        let mut results = futures_util::stream::iter(items.into_iter().enumerate())
            .map(|(i, item)| {
                let bar = &bar;
                async move { Ok::<_, FetchError>((i, self.fetch_one(item, bar).await?)) }
            })
            .buffer_unordered(self.options.concurrency.max(1));
        let outcome = loop {
            match results.try_next().await {
                Ok(Some((i, path))) => paths[i] = Some(path),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        drop(results); // cancels whatever is still running
        bar.finish_and_clear();
        outcome?;
        Ok(paths.into_iter().flatten().collect())
    }

    fn progress_bar(&self, items: &[Download]) -> ProgressBar {
        let Progress::Bars(multi) = &self.options.progress else {
            return ProgressBar::hidden();
        };
        if items.is_empty() {
            return ProgressBar::hidden();
        }
        let total = items.iter().filter_map(|d| d.size).sum();
        let bar = multi.add(ProgressBar::new(total));
        let style = ProgressStyle::with_template(
            "{spinner} downloading {wide_msg} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        match items {
            [one] => bar.set_message(one.label.clone()),
            _ => bar.set_message(format!("{} files", items.len())),
        }
        bar
    }

    async fn fetch_one(&self, item: Download, bar: &ProgressBar) -> Result<PathBuf, FetchError> {
        let _downloading = self.downloads.claim(&item.sha256).await;
        let cache = self.cache.clone();
        let sha256 = item.sha256;
        // Re-hashing a cached file is blocking work; keep it off the async workers.
        let hit = tokio::task::spawn_blocking(move || cache.get(&sha256))
            .await
            .ok()
            .flatten();
        if let Some(path) = hit {
            tracing::debug!("{} is cached at {}", item.label, path.display());
            bar.inc(item.size.unwrap_or(0));
            return Ok(path);
        }

        bar.set_message(item.label.clone());
        let tmp = self.cache.temp_file()?;
        let (actual, len) = with_retries(&item.url, self.options.retries, |attempt| {
            self.download_attempt(&item, attempt, &tmp, bar)
        })
        .await?;
        let url = redact_url(&item.url);
        if let Some(expected) = item.size.filter(|&s| s != len) {
            return Err(FetchError::SizeMismatch {
                url,
                expected,
                actual: len,
            });
        }
        if actual != item.sha256 {
            // `tmp` is dropped here, which deletes it: nothing unverified reaches the cache.
            return Err(FetchError::HashMismatch {
                url,
                expected: item.sha256,
                actual,
            });
        }
        let cache = self.cache.clone();
        tokio::task::spawn_blocking(move || cache.put_file_verified(tmp, &sha256))
            .await
            .map_err(|e| FetchError::Request {
                url,
                reason: format!("internal error while storing the download: {e}"),
            })?
    }

    /// One attempt at streaming `item` into `tmp` (truncated first), hashing as it goes.
    async fn download_attempt(
        &self,
        item: &Download,
        attempt: u32,
        tmp: &tempfile::NamedTempFile,
        bar: &ProgressBar,
    ) -> Result<(Sha256, u64), AttemptError> {
        let url = &item.url;
        let io_error = |e| AttemptError::Final(FetchError::io_at("write", tmp.path(), e));
        let std_file = tmp.as_file().try_clone().map_err(io_error)?;
        let mut file = tokio::fs::File::from_std(std_file);
        file.set_len(0).await.map_err(io_error)?;
        file.seek(SeekFrom::Start(0)).await.map_err(io_error)?;

        let response = self
            .send(url, attempt, self.http().map(|c| c.get(url.clone())))
            .await?;
        let announced = response.content_length();
        if let (Some(expected), Some(actual)) = (item.size, announced)
            && expected != actual
        {
            return Err(AttemptError::Final(FetchError::SizeMismatch {
                url: redact_url(url),
                expected,
                actual,
            }));
        }
        if item.size.is_none() && attempt == 1 {
            bar.inc_length(announced.unwrap_or(0));
        }

        let mut hasher = Hasher::new();
        let mut body = response.bytes_stream();
        let outcome = loop {
            let chunk = match body.next().await {
                None => break Ok(()),
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => break Err(attempt::classify(url, attempt, e)),
            };
            hasher.update(&chunk);
            bar.inc(chunk.len() as u64);
            if let Some(expected) = item.size.filter(|&s| hasher.len() > s) {
                // Longer than promised: wrong file. Stop reading rather than fill the disk.
                break Err(AttemptError::Final(FetchError::SizeMismatch {
                    url: redact_url(url),
                    expected,
                    actual: hasher.len(),
                }));
            }
            if let Err(e) = file.write_all(&chunk).await {
                break Err(io_error(e));
            }
        };
        let received = hasher.len();
        let short = item.size.filter(|&s| received < s);
        let outcome = match (outcome, short) {
            (Ok(()), Some(expected)) => Err(attempt::cut_short(
                url,
                attempt,
                format!("the connection closed after {received} of {expected} bytes"),
            )),
            (outcome, _) => outcome,
        };
        if let Err(e) = outcome {
            // Let a write still running in tokio's pool finish now, so that it cannot land in
            // the file after the next attempt has truncated it.
            let _ = file.flush().await;
            // The bytes of this attempt will be fetched again: grow the bar's total to match.
            bar.inc_length(received);
            return Err(e);
        }
        // Waits for tokio's background writes, so the file is complete before it is renamed.
        file.flush().await.map_err(io_error)?;
        Ok((hasher.finish(), received))
    }
}
