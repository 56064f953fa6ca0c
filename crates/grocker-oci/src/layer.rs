//! `Layer`: one compressed filesystem tar on disk, with its two digests.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use grocker_hash::{Hasher, HashingWriter};

use crate::error::BlobMismatch;
use crate::pgzip::ParallelGzip;
use crate::{Descriptor, Digest, MediaType, OciError};

/// How layer blobs are compressed. The levels are fixed so that the same tar always gives the
/// same blob, whoever builds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip level 6 (zlib-rs), deflated in parallel in 1 MiB blocks the way pigz does, with
    /// the same bytes for any number of threads; header without file name and with mtime 0.
    /// What every tool reads.
    Gzip,
    /// zstd level 3. Much faster; needs a recent engine (Docker 23+, containerd 1.5+, Podman).
    Zstd,
    /// No compression: for sinks that unpack at once (a local engine) and would only pay for it.
    None,
}

impl Compression {
    const GZIP_LEVEL: u32 = 6;
    const ZSTD_LEVEL: i32 = 3;

    /// The OCI layer media type for this compression.
    pub fn media_type(self) -> MediaType {
        match self {
            Self::Gzip => MediaType::OciLayerGzip,
            Self::Zstd => MediaType::OciLayerZstd,
            Self::None => MediaType::OciLayer,
        }
    }

    /// Threads for compressing; the output never depends on it. gzip cuts its input into
    /// fixed blocks (`pgzip`); zstd's multi-threaded mode gives the same bytes for any number of
    /// workers from one up (it cuts the input into jobs by size, never by thread), which
    /// `tests::zstd_output_does_not_depend_on_worker_count` checks — 0 would be zstd's
    /// single-threaded mode, whose output differs, so it is never used.
    fn threads() -> u32 {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8) as u32)
    }
}

/// A layer: its compressed blob on disk plus what the config and manifest need to describe it.
/// Two are equal when they describe the same blob at the same place, whatever is known of its
/// bytes.
#[derive(Clone, Debug)]
pub struct Layer {
    /// sha256 of the uncompressed tar (`rootfs.diff_ids` in the config).
    pub diff_id: Digest,
    /// The compressed blob as the manifest lists it.
    pub descriptor: Descriptor,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
    /// The compressed bytes on disk, named after their digest.
    pub blob: PathBuf,
    /// The history text of this layer (`history[].created_by` in the config).
    pub created_by: String,
    /// Whether whoever made this value found the blob to hash to its digest (see
    /// [`Layer::intact`]).
    intact: bool,
}

impl PartialEq for Layer {
    fn eq(&self, other: &Layer) -> bool {
        let Layer {
            diff_id,
            descriptor,
            uncompressed_size,
            blob,
            created_by,
            intact: _,
        } = self;
        (diff_id, descriptor, uncompressed_size, blob, created_by)
            == (
                &other.diff_id,
                &other.descriptor,
                &other.uncompressed_size,
                &other.blob,
                &other.created_by,
            )
    }
}

impl Eq for Layer {}

impl Layer {
    /// Builds a layer in `dir` (created if needed) from a closure that writes the uncompressed tar.
    ///
    /// The bytes stream through: tar → sha256 (diff ID) → compressor → sha256 (digest) → a temp
    /// file in `dir`, renamed to `dir/<digest hex>` once complete, so an interrupted build never
    /// leaves a blob under a digest it does not have. Nothing is held in memory whole.
    pub fn build(
        dir: &Path,
        compression: Compression,
        created_by: &str,
        write_tar: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<Layer, OciError> {
        fs_err::create_dir_all(dir).map_err(OciError::io(dir))?;
        let write_err = |source| OciError::LayerWrite {
            dir: dir.to_path_buf(),
            created_by: created_by.to_string(),
            source,
        };
        let temp = tempfile::Builder::new()
            .prefix(".layer-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(OciError::io(dir))?;
        let compressed = HashingWriter::new(BufWriter::with_capacity(1 << 17, temp));
        let encoder = Compressor::new(compression, compressed).map_err(write_err)?;
        let mut tar = HashingWriter::new(encoder);
        write_tar(&mut tar).map_err(write_err)?;
        let (encoder, diff_id, uncompressed_size) = tar.finish();
        let compressed = encoder.finish().map_err(write_err)?;
        let (file, digest, size) = compressed.finish();
        let temp = file.into_inner().map_err(|e| write_err(e.into_error()))?;

        let digest = Digest::from(digest);
        let blob = dir.join(digest.hex());
        temp.persist(&blob).map_err(|e| OciError::Io {
            path: blob.clone(),
            source: e.error,
        })?;
        Ok(Layer {
            diff_id: diff_id.into(),
            descriptor: Descriptor::new(compression.media_type(), digest, size),
            uncompressed_size,
            blob,
            created_by: created_by.to_string(),
            // Hashed as it was written, but a value that lives on says nothing of the file
            // later: sinks hash it as they read it.
            intact: false,
        })
    }

    /// A layer built earlier into `dir` (a layer cache), from what was recorded about it.
    /// The blob is expected at `dir/<digest hex>`; sinks check it is there when they copy it.
    pub fn from_parts(
        dir: &Path,
        diff_id: Digest,
        descriptor: Descriptor,
        uncompressed_size: u64,
        created_by: &str,
    ) -> Layer {
        Layer {
            diff_id,
            blob: dir.join(descriptor.digest.hex()),
            descriptor,
            uncompressed_size,
            created_by: created_by.to_string(),
            intact: false,
        }
    }

    /// Says that the blob was checked against its digest just now by the layer's maker (a
    /// layer cache that hashes its files, or knows them unchanged since): sinks that copy it
    /// whole then let the kernel copy it rather than hash it again.
    pub fn intact(mut self) -> Layer {
        self.intact = true;
        self
    }

    /// Whether the blob is known to hash to its digest (see [`Layer::intact`]).
    pub fn is_intact(&self) -> bool {
        self.intact
    }

    /// The digest of the compressed blob.
    pub fn digest(&self) -> Digest {
        self.descriptor.digest
    }

    /// Opens the blob, checking it has the size its descriptor says. Its bytes are checked
    /// against the digest as they are read (DESIGN §5: what comes out of a cache is verified
    /// as if it were downloaded): the read that reaches its end fails with a `BlobMismatch`
    /// instead if they do not match, so no copy of a damaged blob completes.
    pub(crate) fn open_blob(&self) -> Result<BlobReader, OciError> {
        Ok(BlobReader {
            file: self.open_file()?,
            hasher: Some(Hasher::new()),
            left: self.descriptor.size,
            path: self.blob.clone(),
            digest: self.descriptor.digest,
        })
    }

    /// Opens the blob unverified, checking its size only: for reads of a part of it.
    pub(crate) fn open_file(&self) -> Result<fs_err::File, OciError> {
        let bad = |reason: String| OciError::BadBlob {
            path: self.blob.clone(),
            digest: self.descriptor.digest,
            reason,
        };
        let file = fs_err::File::open(&self.blob).map_err(|e| bad(e.to_string()))?;
        let len = file.metadata().map_err(|e| bad(e.to_string()))?.len();
        if len != self.descriptor.size {
            return Err(bad(format!(
                "{len} bytes, expected {}",
                self.descriptor.size
            )));
        }
        Ok(file)
    }

    /// The uncompressed tar, read from the blob through the decompressor its media type names.
    /// Unverified, like [`Layer::open_file`]: for a layer whose maker vouched for it (see
    /// [`Layer::intact`]).
    pub fn open_tar(&self) -> Result<Box<dyn io::Read + Send>, OciError> {
        let file = io::BufReader::with_capacity(1 << 17, self.open_file()?);
        Ok(match self.descriptor.media_type {
            MediaType::OciLayerGzip | MediaType::DockerLayerGzip => {
                Box::new(flate2::read::MultiGzDecoder::new(file))
            }
            MediaType::OciLayerZstd => {
                Box::new(zstd::Decoder::with_buffer(file).map_err(OciError::io(&self.blob))?)
            }
            MediaType::OciLayer => Box::new(file),
            other => {
                return Err(OciError::BadBlob {
                    path: self.blob.clone(),
                    digest: self.descriptor.digest,
                    reason: format!("{} is not a layer's media type", other.as_str()),
                });
            }
        })
    }

    /// Reads the whole blob and checks it against its digest, for sinks that send it in parts.
    pub(crate) fn verify_blob(&self) -> Result<(), OciError> {
        let mut reader = io::BufReader::with_capacity(1 << 17, self.open_blob()?);
        io::copy(&mut reader, &mut io::sink())
            .map(drop)
            .map_err(OciError::io_or_bad_blob(&self.blob))
    }
}

/// A layer blob as it is read, hashed on the way (see [`Layer::open_blob`]).
pub(crate) struct BlobReader {
    file: fs_err::File,
    /// `None` once the end was reached and checked.
    hasher: Option<Hasher>,
    /// Bytes of the blob not read yet.
    left: u64,
    path: PathBuf,
    digest: Digest,
}

impl io::Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.left = self.left.saturating_sub(n as u64);
        // Checked on the read that takes the last byte, not at EOF: readers such as
        // `Read::take` stop at the size and never ask for the EOF.
        if self.left == 0
            && let Some(hasher) = self.hasher.take()
        {
            let actual = Digest::from(hasher.finish());
            if actual != self.digest {
                let mismatch = BlobMismatch {
                    path: self.path.clone(),
                    digest: self.digest,
                    actual,
                };
                return Err(io::Error::new(io::ErrorKind::InvalidData, mismatch));
            }
        }
        Ok(n)
    }
}

/// The compressor in the middle of the layer pipeline.
///
/// Input reaches the encoder in blocks of exactly `CHUNK` bytes, whatever sizes the tar writer
/// uses: zlib-rs's deflate output depends on how its input is split (the test below caught it),
/// and the blob must depend only on the tar's bytes.
struct Compressor<W: Write> {
    encoder: Encoder<W>,
    pending: Vec<u8>,
}

const CHUNK: usize = 1 << 17;

enum Encoder<W: Write> {
    Gzip(ParallelGzip<W>),
    Zstd(zstd::Encoder<'static, W>),
    None(W),
}

impl<W: Write> Compressor<W> {
    fn new(compression: Compression, inner: W) -> io::Result<Self> {
        Self::with_workers(compression, inner, Compression::threads())
    }

    fn with_workers(compression: Compression, inner: W, workers: u32) -> io::Result<Self> {
        let encoder = match compression {
            Compression::Gzip => Encoder::Gzip(ParallelGzip::new(
                inner,
                Compression::GZIP_LEVEL,
                workers.max(1) as usize,
            )?),
            Compression::Zstd => {
                let mut enc = zstd::Encoder::new(inner, Compression::ZSTD_LEVEL)?;
                enc.multithread(workers.max(1))?;
                enc.include_checksum(false)?;
                Encoder::Zstd(enc)
            }
            Compression::None => Encoder::None(inner),
        };
        Ok(Self {
            encoder,
            pending: Vec::with_capacity(CHUNK),
        })
    }

    fn finish(mut self) -> io::Result<W> {
        let last = std::mem::take(&mut self.pending);
        self.encoder.write_all(&last)?;
        match self.encoder {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::None(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let len = buf.len();
        if !self.pending.is_empty() {
            let take = buf.len().min(CHUNK - self.pending.len());
            self.pending.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.pending.len() < CHUNK {
                return Ok(len);
            }
            self.encoder.write_all(&self.pending)?;
            self.pending.clear();
        }
        let mut blocks = buf.chunks_exact(CHUNK);
        for block in &mut blocks {
            self.encoder.write_all(block)?;
        }
        self.pending.extend_from_slice(blocks.remainder());
        Ok(len)
    }

    /// Buffered input stays buffered: flushing early would change the compressed bytes.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Gzip(e) => e.write(buf),
            Self::Zstd(e) => e.write(buf),
            Self::None(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Gzip(e) => e.flush(),
            Self::Zstd(e) => e.flush(),
            Self::None(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Compressible but not trivial: pseudo-random words.
    fn sample(len: usize) -> Vec<u8> {
        let words: [&[u8]; 6] = [
            b"grocker ",
            b"layer ",
            b"python\n",
            b"wheel ",
            b"\0\0\0",
            b"deb ",
        ];
        let mut out = Vec::with_capacity(len + 16);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.extend_from_slice(words[(x % 6) as usize]);
            if x.is_multiple_of(11) {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out.truncate(len);
        out
    }

    fn compress(compression: Compression, workers: u32, data: &[u8], chunk: usize) -> Vec<u8> {
        let mut enc = Compressor::with_workers(compression, Vec::new(), workers).unwrap();
        for piece in data.chunks(chunk) {
            enc.write_all(piece).unwrap();
        }
        enc.finish().unwrap()
    }

    #[test]
    fn gzip_is_deterministic_and_header_is_clean() {
        let data = sample(3 << 20);
        let a = compress(Compression::Gzip, 1, &data, 1 << 16);
        // Same bytes however the writer is fed, on however many threads.
        for (chunk, threads) in [(1, 1), (512, 2), (7777, 3), (1 << 20, 8), (data.len(), 2)] {
            let small = &data[..data.len().min(1 << 18)];
            let reference = compress(Compression::Gzip, 1, small, 4096);
            assert!(
                reference == compress(Compression::Gzip, threads, small, chunk),
                "chunk {chunk}, {threads} threads"
            );
            if chunk > 1 {
                assert!(
                    a == compress(Compression::Gzip, threads, &data, chunk),
                    "chunk {chunk}, {threads} threads"
                );
            }
        }
        // ID1 ID2 CM=8 FLG=0 (no name) MTIME=0 XFL=0 OS=255.
        assert_eq!(&a[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&a[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn zstd_output_does_not_depend_on_worker_count() {
        // Larger than several zstd jobs at level 3, so the workers really split the input.
        let data = sample(40 << 20);
        let one = compress(Compression::Zstd, 1, &data, 1 << 16);
        for workers in [2, 3, 4, 8] {
            let other = compress(Compression::Zstd, workers, &data, 1 << 16);
            assert!(one == other, "zstd output differs with {workers} workers");
        }
        assert!(one == compress(Compression::Zstd, 2, &data, 4096));
        assert!(one == compress(Compression::Zstd, 3, &data, 1 << 20));
        assert_eq!(zstd::decode_all(&one[..]).unwrap(), data);
    }

    #[test]
    fn build_streams_and_names_blob_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample(1 << 20);
        for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
            let layer =
                Layer::build(dir.path(), compression, "test", |w| w.write_all(&data)).unwrap();
            let blob = fs_err::read(&layer.blob).unwrap();
            assert_eq!(layer.blob, dir.path().join(layer.digest().hex()));
            assert_eq!(layer.descriptor.digest, Digest::of(&blob));
            assert_eq!(layer.descriptor.size, blob.len() as u64);
            assert_eq!(layer.descriptor.media_type, compression.media_type());
            assert_eq!(layer.diff_id, Digest::of(&data));
            assert_eq!(layer.uncompressed_size, data.len() as u64);
            let again = Layer::from_parts(
                dir.path(),
                layer.diff_id,
                layer.descriptor.clone(),
                layer.uncompressed_size,
                "test",
            );
            assert_eq!(again, layer);
        }
        // Only the three blobs remain: no temp files.
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn failing_writer_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let err = Layer::build(dir.path(), Compression::Gzip, "RUN boom", |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("RUN boom"), "{err}");
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 0);
    }
}
