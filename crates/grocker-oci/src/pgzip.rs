//! Parallel gzip whose bytes do not depend on the number of threads (DESIGN §3), the way pigz
//! does it: the input is cut into blocks of a fixed size, each block is deflated on its own —
//! primed with the last 32 KiB of the block before it as a dictionary, so matches still reach
//! back across the cut — and ends on a byte boundary (a sync flush), so the blocks concatenate
//! into one deflate stream. The cuts depend only on the input's length, never on the threads.

use std::io::{self, Write};

use flate2::{Compress, FlushCompress, Status};

/// Uncompressed bytes per block: large enough that the cuts cost under 0.1% of ratio.
pub(crate) const BLOCK: usize = 1 << 20;
/// Deflate's window: the dictionary a block is primed with.
const WINDOW: usize = 32 << 10;
/// RFC 1952: ID1 ID2 CM=8 (deflate) FLG=0 (no name) MTIME=0 ("no time stamp") XFL=0 OS=255.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// A gzip encoder over `inner`, deflating blocks on `workers` threads at `level`.
pub(crate) struct ParallelGzip<W: Write> {
    inner: W,
    level: u32,
    workers: usize,
    /// Input not yet compressed: whole blocks waiting for a batch, then a partial one.
    pending: Vec<u8>,
    /// The end of the last compressed block: the next block's dictionary.
    window: Vec<u8>,
    crc: crc32fast::Hasher,
    size: u64,
}

impl<W: Write> ParallelGzip<W> {
    pub(crate) fn new(mut inner: W, level: u32, workers: usize) -> io::Result<Self> {
        inner.write_all(&HEADER)?;
        let workers = workers.max(1);
        Ok(Self {
            inner,
            level,
            workers,
            pending: Vec::with_capacity(BLOCK * workers),
            window: Vec::new(),
            crc: crc32fast::Hasher::new(),
            size: 0,
        })
    }

    /// Deflates the whole blocks of `pending` (and, at the end, the rest) and writes them out.
    fn drain(&mut self, last: bool) -> io::Result<()> {
        let whole = if last {
            self.pending.len()
        } else {
            self.pending.len() / BLOCK * BLOCK
        };
        if whole == 0 && !last {
            return Ok(());
        }
        let input = &self.pending[..whole];
        self.crc.update(input);
        self.size += whole as u64;
        // Block i's dictionary: the window before it, from this batch or the previous one.
        let blocks: Vec<(&[u8], &[u8])> = if input.is_empty() {
            vec![(&self.window[..], &[][..])]
        } else {
            input
                .chunks(BLOCK)
                .enumerate()
                .map(|(i, block)| {
                    let dict = match i {
                        0 => &self.window[..],
                        _ => &input[i * BLOCK - WINDOW..i * BLOCK],
                    };
                    (dict, block)
                })
                .collect()
        };
        let count = blocks.len();
        let level = self.level;
        let per_worker = count.div_ceil(self.workers);
        let outputs: Vec<io::Result<Vec<u8>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = blocks
                .chunks(per_worker)
                .enumerate()
                .map(|(w, group)| {
                    let first = w * per_worker;
                    scope.spawn(move || {
                        group
                            .iter()
                            .enumerate()
                            .map(|(j, (dict, block))| {
                                let finish = last && first + j + 1 == count;
                                deflate_block(level, dict, block, finish)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        for out in outputs {
            self.inner.write_all(&out?)?;
        }
        if whole >= WINDOW {
            self.window = input[whole - WINDOW..].to_vec();
        } else if whole > 0 {
            // Only at the very end: nothing follows a short last block.
            self.window = input.to_vec();
        }
        self.pending.drain(..whole);
        Ok(())
    }

    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.drain(true)?;
        let crc = self.crc.clone().finalize();
        self.inner.write_all(&crc.to_le_bytes())?;
        // RFC 1952: ISIZE is the input size modulo 2^32.
        self.inner.write_all(&(self.size as u32).to_le_bytes())?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= BLOCK * self.workers * 2 {
            self.drain(false)?;
        }
        Ok(buf.len())
    }

    /// Buffered input stays buffered: flushing early would move the block cuts.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One block as raw deflate, ending byte-aligned (sync flush) or, for the last, with the final
/// block marker. The whole block goes to the compressor in one call, into room for all of its
/// output, so the bytes cannot depend on buffer sizes.
fn deflate_block(level: u32, dict: &[u8], block: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(flate2::Compression::new(level), false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    // zlib's deflateBound plus room for the flush markers.
    let bound = block.len() + (block.len() >> 12) + (block.len() >> 14) + (block.len() >> 25) + 64;
    let mut out = Vec::with_capacity(bound);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let status = c
        .compress_vec(block, &mut out, flush)
        .map_err(io::Error::other)?;
    let done = c.total_in() == block.len() as u64
        && match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            _ => out.len() < out.capacity(),
        };
    if !done {
        return Err(io::Error::other(
            "deflate did not fit its output bound (a bug in grocker)",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Text-like: a few hundred distinct words, so matches span block cuts.
            let word = format!("w{} ", x % 300);
            out.extend_from_slice(word.as_bytes());
            if x.is_multiple_of(97) {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out.truncate(len);
        out
    }

    fn gzip(data: &[u8], workers: usize, piece: usize) -> Vec<u8> {
        let mut enc = ParallelGzip::new(Vec::new(), 6, workers).unwrap();
        for p in data.chunks(piece.max(1)) {
            enc.write_all(p).unwrap();
        }
        enc.finish().unwrap()
    }

    #[test]
    fn output_depends_on_the_input_only() {
        for len in [0, 1, 1000, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 12345] {
            let data = sample(len);
            let one = gzip(&data, 1, 1 << 16);
            for (workers, piece) in [(2, 4096), (3, 1 << 20), (8, 77777), (1, len + 1)] {
                assert!(
                    one == gzip(&data, workers, piece),
                    "len {len}: {workers} workers, pieces of {piece}"
                );
            }
            assert_eq!(&one[..10], &HEADER);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&one[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == data, "len {len}: round trip");
        }
    }

    #[test]
    fn ratio_is_close_to_single_stream_gzip() {
        let data = sample(8 * BLOCK);
        let parallel = gzip(&data, 2, 1 << 16).len();
        let mut single = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        single.write_all(&data).unwrap();
        let single = single.finish().unwrap().len();
        assert!(
            (parallel as f64) < single as f64 * 1.01,
            "parallel {parallel} vs single {single}"
        );
    }

    #[test]
    fn system_gzip_reads_it() {
        let data = sample(3 * BLOCK + 5);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.gz");
        fs_err::write(&path, gzip(&data, 2, 1 << 16)).unwrap();
        let out = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == data);
    }
}
