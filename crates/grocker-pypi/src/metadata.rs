//! A wheel's METADATA without downloading the wheel when the index allows it (DESIGN §4):
//! PEP 658/714 `.metadata` files, else HTTP range requests on the zip, else a full (verified,
//! cached) download — which the install needs anyway.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

use grocker_fetch::{ByteRange, FetchError, Partial, redact_url};
use grocker_hash::Sha256;

use crate::netrc::strip_credentials;
use crate::zip::{self, Located, ZipError};
use crate::{DistFile, Index, PypiError};

const METADATA: &str = "pypi/metadata";

/// Where the bytes of a wheel come from.
enum Source<'a> {
    /// Range requests to the index's file URL.
    Http(&'a Index, &'a DistFile),
    /// A wheel on disk (the verified cache).
    File(fs_err::File, u64),
    /// A wheel in memory (downloaded without a hash to check).
    Memory(&'a [u8]),
}

/// Why a read did not produce METADATA.
enum Failure {
    /// The server does not do ranges (or stopped doing them): download the whole file.
    NoRanges,
    /// The archive is not a readable wheel.
    Zip(ZipError),
    /// Anything else (network, cache).
    Other(PypiError),
}

impl From<ZipError> for Failure {
    fn from(e: ZipError) -> Self {
        Failure::Zip(e)
    }
}

impl From<FetchError> for Failure {
    fn from(e: FetchError) -> Self {
        match e.status() {
            // Range Not Satisfiable, Not Implemented, Method Not Allowed: no usable ranges.
            Some(405 | 416 | 501) => Failure::NoRanges,
            _ => Failure::Other(e.into()),
        }
    }
}

impl Source<'_> {
    /// The bytes of `range`; `None` when the server ignores range requests.
    async fn read(&mut self, range: ByteRange) -> Result<Option<Partial>, Failure> {
        match self {
            Source::Http(index, file) => Ok(index.get_range(&file.url, range).await?),
            Source::File(f, len) => {
                let range = absolute(range, *len);
                let mut bytes = vec![0; (range.end - range.start) as usize];
                f.seek(SeekFrom::Start(range.start))
                    .and_then(|_| f.read_exact(&mut bytes))
                    .map_err(|e| Failure::Zip(ZipError(e.to_string())))?;
                Ok(Some(partial(range.start, *len, bytes)))
            }
            Source::Memory(data) => {
                let len = data.len() as u64;
                let range = absolute(range, len);
                let bytes = data[range.start as usize..range.end as usize].to_vec();
                Ok(Some(partial(range.start, len, bytes)))
            }
        }
    }

    /// Exactly `range`, or [`Failure::NoRanges`].
    async fn read_exact(&mut self, range: Range<u64>) -> Result<Vec<u8>, Failure> {
        let Some(part) = self.read(ByteRange::Bounded(range.clone())).await? else {
            return Err(Failure::NoRanges);
        };
        if part.start != range.start || part.bytes.len() as u64 != range.end - range.start {
            return Err(Failure::Zip(ZipError(format!(
                "asked for bytes {}-{} and got {} bytes from {}",
                range.start,
                range.end,
                part.bytes.len(),
                part.start
            ))));
        }
        Ok(part.bytes.to_vec())
    }
}

/// A range clamped to a file of `len` bytes.
fn absolute(range: ByteRange, len: u64) -> Range<u64> {
    match range {
        ByteRange::Bounded(r) => r.start.min(len)..r.end.min(len).max(r.start.min(len)),
        ByteRange::Suffix(n) => len.saturating_sub(n)..len,
    }
}

fn partial(start: u64, total: u64, bytes: Vec<u8>) -> Partial {
    Partial {
        start,
        total: Some(total),
        bytes: bytes.into(),
    }
}

/// Contiguous bytes of the file, from `start` to its end.
struct Window {
    start: u64,
    bytes: Vec<u8>,
}

impl Window {
    fn get(&self, range: &Range<u64>) -> Option<&[u8]> {
        let from = usize::try_from(range.start.checked_sub(self.start)?).ok()?;
        let to = usize::try_from(range.end.checked_sub(self.start)?).ok()?;
        self.bytes.get(from..to)
    }
}

/// The METADATA of the wheel behind `source`, in as few reads as the layout allows.
async fn read_metadata(source: &mut Source<'_>, tail: u64) -> Result<Vec<u8>, Failure> {
    let Some(last) = source.read(ByteRange::Suffix(tail)).await? else {
        return Err(Failure::NoRanges);
    };
    let end = last.start.checked_add(last.bytes.len() as u64);
    let total = last.total.or(end).unwrap_or(u64::MAX);
    if end != Some(total) {
        return Err(ZipError(format!(
            "the answer to a suffix range request ends at byte {:?}, not at the end of the \
             {total}-byte file",
            end
        ))
        .into());
    }
    let mut window = Window {
        start: last.start,
        bytes: last.bytes.to_vec(),
    };
    let dir = match zip::locate(&window.bytes, window.start, total)? {
        Located::Directory(dir) => dir,
        Located::Zip64Record { offset } => {
            let record = offset..offset + zip::ZIP64_EOCD_LEN as u64;
            zip::zip64_record(&source.read_exact(record).await?, offset)?
        }
    };
    // The central directory, or the part of it before the bytes we already have.
    if dir.offset < window.start {
        let mut before = source.read_exact(dir.offset..window.start).await?;
        before.append(&mut window.bytes);
        window = Window {
            start: dir.offset,
            bytes: before,
        };
    }
    let cd = window
        .get(&dir.range())
        .ok_or_else(|| ZipError("the central directory lies outside the file".into()))?;
    let entries = zip::entries(cd, &dir)?;
    let entry = zip::find_metadata(&entries)?;
    // One read for the local header and the compressed data, unless we hold them already.
    let guess = zip::entry_guess(entry, &dir)?;
    let fetched;
    let (local, local_start) = match window.get(&guess) {
        Some(bytes) => (bytes, guess.start),
        None => {
            fetched = source.read_exact(guess.clone()).await?;
            (fetched.as_slice(), guess.start)
        }
    };
    let data = zip::data_range(local, entry, &dir)?;
    let in_local = (data.start - local_start)..(data.end - local_start);
    let compressed = match local.get(in_local.start as usize..in_local.end as usize) {
        Some(bytes) => bytes.to_vec(),
        None => source.read_exact(data).await?,
    };
    Ok(zip::inflate(&compressed, entry)?)
}

impl Index {
    /// The METADATA bytes of a wheel, without downloading it when possible:
    ///
    /// 1. from the cache (results are kept forever, keyed by the wheel's sha256 — or its URL
    ///    when the index gives no hash — since they are content-addressed), or from the wheel
    ///    itself when it is already in the download cache;
    /// 2. PEP 658/714: `<url>.metadata` when the index advertises it, checked against its
    ///    sha256 when given;
    /// 3. HTTP range requests on the wheel: the tail (end of central directory, ZIP64 records),
    ///    the rest of the central directory if it is longer, then one range for the local
    ///    header and compressed data of `*.dist-info/METADATA`, inflated and CRC-checked;
    /// 4. a full download, verified against the wheel's sha256 and kept in the cache for the
    ///    install.
    ///
    /// The bytes from 2 and 3 are checked for integrity (hash, CRC-32), not against the wheel's
    /// sha256, which needs the whole file: the install step verifies that.
    pub async fn wheel_metadata(&self, file: &DistFile) -> Result<Vec<u8>, PypiError> {
        let key = match &file.sha256 {
            Some(sha256) => format!("sha256-{sha256}"),
            None => {
                let url = strip_credentials(&file.url);
                format!("url-{}", Sha256::digest(url.as_str().as_bytes()))
            }
        };
        let cache = self.fetcher.cache();
        if let Some((bytes, _)) = cache.get_keyed(METADATA, &key) {
            return Ok(bytes);
        }
        let metadata = self.fetch_metadata(file).await?;
        cache.put_keyed(METADATA, &key, &metadata)?;
        Ok(metadata)
    }

    async fn fetch_metadata(&self, file: &DistFile) -> Result<Vec<u8>, PypiError> {
        let shown = redact_url(&file.url);
        let wheel_error = |reason: String| PypiError::Wheel {
            filename: file.filename.clone(),
            url: shown.clone(),
            reason,
        };
        if !file.is_wheel() {
            return Err(wheel_error(
                "not a wheel; the metadata of a source distribution comes from building it".into(),
            ));
        }
        // Already downloaded: read it locally.
        if let Some(sha256) = &file.sha256 {
            let cache = self.fetcher.cache();
            if cache.blob_path(sha256).exists()
                && let Some(path) = cache.get(sha256)
            {
                return self.read_local(&path, file).await;
            }
        }
        if let Some(hint) = &file.core_metadata {
            let url = file.metadata_url();
            match self.get_document(&url, "*/*").await {
                Ok(doc) => {
                    if let Some(expected) = hint.sha256 {
                        let actual = Sha256::digest(&doc.bytes);
                        if actual != expected {
                            return Err(PypiError::MetadataHashMismatch {
                                url: redact_url(&url),
                                expected,
                                actual,
                            });
                        }
                    }
                    return Ok(doc.bytes.to_vec());
                }
                Err(e) if e.is_not_found() => {
                    tracing::debug!("{} is advertised but missing", redact_url(&url));
                }
                Err(e) => return Err(e.into()),
            }
        }
        match read_metadata(&mut Source::Http(self, file), self.range_tail).await {
            Ok(metadata) => return Ok(metadata),
            Err(Failure::NoRanges) => {
                tracing::debug!("{shown} does not serve byte ranges; downloading it whole");
            }
            Err(Failure::Zip(e)) => {
                tracing::warn!(
                    "cannot read the metadata of {} through range requests ({e}); downloading it whole",
                    file.filename
                );
            }
            Err(Failure::Other(e)) => return Err(e),
        }
        match &file.sha256 {
            Some(sha256) => {
                let path = self.get_verified(&file.url, sha256, file.size).await?;
                self.read_local(&path, file).await
            }
            None => {
                tracing::warn!(
                    "{shown} has no sha256 on the index: its metadata is read unverified"
                );
                let doc = self.get_document(&file.url, "*/*").await?;
                let mut source = Source::Memory(&doc.bytes);
                read_metadata(&mut source, u64::MAX)
                    .await
                    .map_err(|f| failure_error(f, file, &shown))
            }
        }
    }

    async fn read_local(
        &self,
        path: &std::path::Path,
        file: &DistFile,
    ) -> Result<Vec<u8>, PypiError> {
        let shown = path.display().to_string();
        let io_error = |e: std::io::Error| PypiError::Wheel {
            filename: file.filename.clone(),
            url: shown.clone(),
            reason: e.to_string(),
        };
        let handle = fs_err::File::open(path).map_err(io_error)?;
        let len = handle.metadata().map_err(io_error)?.len();
        read_metadata(&mut Source::File(handle, len), self.range_tail)
            .await
            .map_err(|f| failure_error(f, file, &shown))
    }
}

/// The METADATA of a wheel held in memory, read the way range requests read it: the last `tail`
/// bytes first, then whatever else the archive's layout asks for. Fuzz targets call this
/// through [`crate::fuzz`]: it is the whole hostile-ZIP path of [`Index::wheel_metadata`]
/// without a network.
#[cfg(feature = "fuzz")]
pub(crate) fn read_in_memory(wheel: &[u8], tail: u64) -> Result<Vec<u8>, String> {
    use futures_util::FutureExt;
    // A `Source::Memory` read never waits, so the future is ready on its first poll.
    match read_metadata(&mut Source::Memory(wheel), tail).now_or_never() {
        Some(Ok(metadata)) => Ok(metadata),
        Some(Err(Failure::Zip(e))) => Err(e.0),
        Some(Err(Failure::NoRanges)) => Err("a read in memory was refused".into()),
        Some(Err(Failure::Other(e))) => Err(e.to_string()),
        None => Err("reading from memory did not complete at once".into()),
    }
}

fn failure_error(failure: Failure, file: &DistFile, shown: &str) -> PypiError {
    let reason = match failure {
        Failure::Other(e) => return e,
        Failure::Zip(e) => e.0,
        Failure::NoRanges => "internal error: a local read was refused".into(),
    };
    PypiError::Wheel {
        filename: file.filename.clone(),
        url: shown.to_string(),
        reason,
    }
}
