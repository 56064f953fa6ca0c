//! SHA-256 as a value type, and readers/writers that hash what passes through them.
//!
//! Every byte grocker fetches is checked against a SHA-256 (Debian `Packages`, PyPI file hashes),
//! every cache entry is addressed by one, and every OCI blob is named by one. This crate is the one
//! place that type lives, so the fetch, cache and image crates agree on its spelling.
//!
//! ```
//! use grocker_hash::Sha256;
//! let h = Sha256::digest(b"");
//! assert_eq!(h.to_string(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
//! assert_eq!(h, h.to_string().parse().unwrap());
//! ```
#![deny(missing_docs)]

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::Digest as _;

/// A SHA-256 hash. `Display` and `FromStr` use 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256([u8; 32]);

/// A string that is not 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("`{value}` is not a SHA-256 (64 hex digits expected)")]
pub struct ParseSha256Error {
    /// The rejected text.
    pub value: String,
}

impl Sha256 {
    /// Hashes `data` in one go.
    pub fn digest(data: &[u8]) -> Self {
        Self(sha2::Sha256::digest(data).into())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Wraps raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

impl FromStr for Sha256 {
    type Err = ParseSha256Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseSha256Error {
            value: s.to_string(),
        };
        // Upper-case hex is accepted (some indexes print it) but always displayed lower-case.
        if s.len() != 64 {
            return Err(err());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| err())?;
        Ok(Self(out))
    }
}

/// Incremental SHA-256 that also counts bytes.
#[derive(Clone, Default)]
pub struct Hasher {
    inner: sha2::Sha256,
    len: u64,
}

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
        self.len += data.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The hash of everything fed.
    pub fn finish(self) -> Sha256 {
        Sha256(self.inner.finalize().into())
    }
}

/// A writer that hashes and counts every byte on its way to `W`.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// The wrapped writer, the hash and the byte count of what was written.
    pub fn finish(self) -> (W, Sha256, u64) {
        let len = self.hasher.len();
        (self.inner, self.hasher.finish(), len)
    }

    /// The wrapped writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts every byte read from `R`.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// The wrapped reader, the hash and the byte count of what was read.
    pub fn finish(self) -> (R, Sha256, u64) {
        let len = self.hasher.len();
        (self.inner, self.hasher.finish(), len)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Hashes a whole reader to its end.
pub fn hash_reader<R: Read>(reader: R) -> io::Result<(Sha256, u64)> {
    let mut r = HashingReader::new(reader);
    io::copy(&mut r, &mut io::sink())?;
    let (_, h, n) = r.finish();
    Ok((h, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        let h = Sha256::digest(b"abc");
        assert_eq!(
            h.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(h.to_string().to_uppercase().parse::<Sha256>().unwrap(), h);
        assert!("abc".parse::<Sha256>().is_err());
        assert!("zz".repeat(32).parse::<Sha256>().is_err());
    }

    #[test]
    fn writer_and_reader_agree_with_digest() {
        let data = vec![7u8; 100_000];
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(&data).unwrap();
        let (out, h, n) = w.finish();
        assert_eq!((h, n), (Sha256::digest(&data), 100_000));
        assert_eq!(hash_reader(&out[..]).unwrap(), (h, n));
    }
}
