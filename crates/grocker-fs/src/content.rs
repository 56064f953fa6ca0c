//! A regular file's content: a few bytes in memory, or a byte range of a file on disk that is
//! read back when the layer is written (DESIGN §1.5: memory stays bounded whatever the image's
//! size). A wheel's member stays in the verified wheel in the cache (deflated or stored, as
//! the zip has it); a `.deb`'s large files, which come out of a compressed stream that cannot be
//! read again cheaply, go to a [`Spool`], an unnamed temporary file that disappears with the
//! last content referring to it.
//!
//! Every content knows its length and SHA-256 from the moment it is made, so two contents
//! compare without being read (the conflict rules between wheels, DESIGN §5). What is read
//! back from disk is checked against both as it streams: a file changed under a running build
//! fails the read that reaches its end instead of putting other bytes in a layer.

use std::fmt;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use grocker_hash::{Hasher, Sha256};

/// How a byte range on disk holds the content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// The bytes as they are.
    Stored,
    /// A raw deflate stream (RFC 1951), as zip members store it.
    Deflate,
}

/// A regular file's content. Cheap to clone: the bytes are shared, or on disk.
#[derive(Clone)]
pub struct Content {
    len: u64,
    sha256: Sha256,
    source: Source,
}

#[derive(Clone)]
enum Source {
    Inline(Bytes),
    Extent(Extent),
}

#[derive(Clone)]
struct Extent {
    backing: Backing,
    offset: u64,
    stored_len: u64,
    encoding: Encoding,
}

#[derive(Clone)]
enum Backing {
    /// A file that outlives the build (a verified archive in the cache), opened when read.
    Path(Arc<PathBuf>),
    /// The spool: an open, unnamed file.
    Spool(Arc<SpoolFile>),
}

impl Content {
    /// Bytes held in memory.
    pub fn inline(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        Self {
            len: data.len() as u64,
            sha256: Sha256::digest(&data),
            source: Source::Inline(data),
        }
    }

    /// `stored_len` bytes of the file at `path` from `offset`, encoded as `encoding`, which
    /// decode to `len` bytes hashing to `sha256` (the caller read them once to know).
    pub fn in_file(
        path: Arc<PathBuf>,
        offset: u64,
        stored_len: u64,
        encoding: Encoding,
        len: u64,
        sha256: Sha256,
    ) -> Self {
        Self {
            len,
            sha256,
            source: Source::Extent(Extent {
                backing: Backing::Path(path),
                offset,
                stored_len,
                encoding,
            }),
        }
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The SHA-256 of its bytes.
    pub fn sha256(&self) -> Sha256 {
        self.sha256
    }

    /// The bytes, when they are held in memory.
    pub fn as_inline(&self) -> Option<&Bytes> {
        match &self.source {
            Source::Inline(data) => Some(data),
            Source::Extent(_) => None,
        }
    }

    /// A reader of the bytes, checked against the length and hash as they stream: the read
    /// that reaches the end fails if they differ.
    pub fn open(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        match &self.source {
            Source::Inline(data) => Ok(Box::new(&data[..])),
            Source::Extent(extent) => Ok(Box::new(Checked {
                inner: extent.open()?,
                hasher: Hasher::new(),
                expected: (self.len, self.sha256),
                what: extent.describe(),
                done: false,
            })),
        }
    }

    /// All the bytes, checked. For what is read whole anyway (metadata, small texts): a large
    /// file is better streamed with [`Content::open`].
    pub fn read_all(&self) -> io::Result<Bytes> {
        if let Source::Inline(data) = &self.source {
            return Ok(data.clone());
        }
        let mut data = Vec::with_capacity(self.len.min(1 << 24) as usize);
        self.open()?.read_to_end(&mut data)?;
        Ok(data.into())
    }

    /// Up to `n` bytes from the start (not checked: the rest is not read).
    pub fn head(&self, n: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(n.min(self.len as usize));
        match &self.source {
            Source::Inline(data) => out.extend_from_slice(&data[..n.min(data.len())]),
            Source::Extent(extent) => {
                extent.open()?.take(n as u64).read_to_end(&mut out)?;
            }
        }
        Ok(out)
    }
}

/// Two contents are equal when their bytes are: same length, same SHA-256.
impl PartialEq for Content {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.sha256 == other.sha256
    }
}

impl Eq for Content {}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = match &self.source {
            Source::Inline(_) => "inline".to_string(),
            Source::Extent(extent) => extent.describe(),
        };
        write!(f, "Content({} bytes, {}, {place})", self.len, self.sha256)
    }
}

impl From<Bytes> for Content {
    fn from(data: Bytes) -> Self {
        Self::inline(data)
    }
}

impl Extent {
    fn open(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        let raw: Box<dyn Read + Send> = match &self.backing {
            Backing::Path(path) => {
                let mut file = fs_err::File::open(path.as_path())?;
                file.seek(SeekFrom::Start(self.offset))?;
                Box::new(BufReader::with_capacity(1 << 16, file).take(self.stored_len))
            }
            Backing::Spool(spool) => Box::new(BufReader::with_capacity(
                1 << 16,
                SpoolReader {
                    spool: spool.clone(),
                    at: self.offset,
                    end: self.offset + self.stored_len,
                },
            )),
        };
        Ok(match self.encoding {
            Encoding::Stored => raw,
            Encoding::Deflate => Box::new(flate2::read::DeflateDecoder::new(raw)),
        })
    }

    fn describe(&self) -> String {
        let place = match &self.backing {
            Backing::Path(path) => path.display().to_string(),
            Backing::Spool(spool) => format!("the spool in {}", spool.dir.display()),
        };
        format!("{place} at byte {}", self.offset)
    }
}

/// Counts and hashes what passes; at the end, compares with what the content was made with.
struct Checked<R> {
    inner: R,
    hasher: Hasher,
    expected: (u64, Sha256),
    what: String,
    done: bool,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        if self.hasher.len() > self.expected.0 {
            return Err(changed(&self.what, "is longer than it was"));
        }
        if n == 0 && !buf.is_empty() && !self.done {
            self.done = true;
            let (len, sha256) = self.expected;
            if self.hasher.len() != len {
                return Err(changed(&self.what, "is shorter than it was"));
            }
            if self.hasher.clone().finish() != sha256 {
                return Err(changed(&self.what, "does not hash as it did"));
            }
        }
        Ok(n)
    }
}

fn changed(what: &str, how: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "file content read back from {what} {how} when the build first read it: something \
             changed the file during the build; run the build again"
        ),
    )
}

/// Where file contents too large to keep in memory go while a build runs: one unnamed
/// temporary file (gone when the last [`Content`] using it is dropped, or the process dies),
/// appended to and read back by offset. Cheap to clone; usable from several threads.
#[derive(Clone)]
pub struct Spool {
    file: Arc<SpoolFile>,
}

struct SpoolFile {
    file: std::fs::File,
    dir: PathBuf,
    end: Mutex<u64>,
}

impl fmt::Debug for Spool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Spool({})", self.file.dir.display())
    }
}

impl Spool {
    /// A new spool in `dir` (created if missing).
    pub fn new_in(dir: &Path) -> io::Result<Spool> {
        fs_err::create_dir_all(dir)?;
        let file = tempfile::tempfile_in(dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("creating a spool file in {}: {e}", dir.display()),
            )
        })?;
        Ok(Spool {
            file: Arc::new(SpoolFile {
                file,
                dir: dir.to_path_buf(),
                end: Mutex::new(0),
            }),
        })
    }

    /// Copies everything `reader` yields into the spool, as one content.
    pub fn add(&self, mut reader: impl Read) -> io::Result<Content> {
        let mut end = self
            .file
            .end
            .lock()
            .map_err(|_| io::Error::other("the spool's lock is poisoned"))?;
        let offset = *end;
        let mut hasher = Hasher::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut writer = SpoolWriter {
            file: &self.file.file,
            at: offset,
        };
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            writer.write_all(&buf[..n])?;
        }
        *end = writer.at;
        let len = hasher.len();
        Ok(Content {
            len,
            sha256: hasher.finish(),
            source: Source::Extent(Extent {
                backing: Backing::Spool(self.file.clone()),
                offset,
                stored_len: len,
                encoding: Encoding::Stored,
            }),
        })
    }
}

struct SpoolWriter<'a> {
    file: &'a std::fs::File,
    at: u64,
}

impl Write for SpoolWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct SpoolReader {
    spool: Arc<SpoolFile>,
    at: u64,
    end: u64,
}

impl Read for SpoolReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.at) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.spool.file.read_at(&mut buf[..want], self.at)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the spool in {} was cut short", self.spool.dir.display()),
            ));
        }
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spooled_content_reads_back_and_compares_by_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new_in(dir.path()).unwrap();
        let a = spool.add(&b"first"[..]).unwrap();
        let big = vec![7u8; 300_000];
        let b = spool.add(&big[..]).unwrap();
        assert_eq!(&a.read_all().unwrap()[..], b"first");
        assert_eq!(b.read_all().unwrap().len(), 300_000);
        assert_eq!(b.head(3).unwrap(), [7, 7, 7]);
        assert_eq!(a, Content::inline(&b"first"[..]));
        assert_ne!(a, b);
        assert!(b.as_inline().is_none());
        // Nothing named is left in the directory: the spool is an unnamed file.
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn deflated_range_of_a_file_reads_back_checked() {
        let dir = tempfile::tempdir().unwrap();
        let data = b"hello hello hello hello".repeat(100);
        let mut deflated = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
        deflated.write_all(&data).unwrap();
        let deflated = deflated.finish().unwrap();
        let path = dir.path().join("archive");
        let mut file = b"HEADER".to_vec();
        file.extend_from_slice(&deflated);
        file.extend_from_slice(b"TRAILER");
        fs_err::write(&path, &file).unwrap();
        let path = Arc::new(path);
        let at = |len: u64, sha256: Sha256| {
            Content::in_file(
                path.clone(),
                6,
                deflated.len() as u64,
                Encoding::Deflate,
                len,
                sha256,
            )
        };
        let good = at(data.len() as u64, Sha256::digest(&data));
        assert_eq!(good.read_all().unwrap(), data);
        let wrong_hash = at(data.len() as u64, Sha256::digest(b"other"));
        let err = wrong_hash.read_all().unwrap_err();
        assert!(err.to_string().contains("does not hash as it did"), "{err}");
        let too_short = at(data.len() as u64 - 1, Sha256::digest(&data));
        let err = too_short.read_all().unwrap_err();
        assert!(err.to_string().contains("longer"), "{err}");
    }
}
