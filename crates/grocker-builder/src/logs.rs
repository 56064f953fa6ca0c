//! The engine's multiplexed log stream, cut into lines.
//!
//! Without a TTY the engine frames what the container writes: "an 8-byte header
//! `[STREAM_TYPE, 0, 0, 0, SIZE1, SIZE2, SIZE3, SIZE4]` (stream 1 is stdout, 2 stderr; the size is
//! big-endian) followed by SIZE bytes of payload" (Docker Engine API, *Attach to a container*).
//! Frames do not follow line boundaries, so each stream keeps its unfinished line.

/// Reassembles lines from frames fed in arbitrary pieces.
#[derive(Debug, Default)]
pub(crate) struct Demuxer {
    header: Vec<u8>,
    /// Payload bytes left in the current frame, and its stream.
    left: usize,
    stream: usize,
    /// Unfinished line per stream (stdin, stdout, stderr).
    pending: [Vec<u8>; 3],
}

/// A line longer than this is passed on in pieces (a progress bar that never prints `\n`).
const MAX_LINE: usize = 64 << 10;

impl Demuxer {
    pub(crate) fn feed(&mut self, mut bytes: &[u8], emit: &mut dyn FnMut(&str)) {
        while !bytes.is_empty() {
            if self.left == 0 {
                let want = 8 - self.header.len();
                let take = want.min(bytes.len());
                self.header.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if self.header.len() == 8 {
                    self.stream = usize::from(self.header[0]).min(2);
                    let size = [
                        self.header[4],
                        self.header[5],
                        self.header[6],
                        self.header[7],
                    ];
                    self.left = u32::from_be_bytes(size) as usize;
                    self.header.clear();
                }
                continue;
            }
            let take = self.left.min(bytes.len());
            self.push(&bytes[..take], emit);
            self.left -= take;
            bytes = &bytes[take..];
        }
    }

    fn push(&mut self, mut payload: &[u8], emit: &mut dyn FnMut(&str)) {
        let pending = &mut self.pending[self.stream];
        while let Some(end) = payload.iter().position(|&b| b == b'\n') {
            pending.extend_from_slice(&payload[..end]);
            emit_line(pending, emit);
            payload = &payload[end + 1..];
        }
        pending.extend_from_slice(payload);
        if pending.len() > MAX_LINE {
            emit_line(pending, emit);
        }
    }

    /// Passes on what is left of unfinished lines at the end of the stream.
    pub(crate) fn finish(&mut self, emit: &mut dyn FnMut(&str)) {
        for pending in &mut self.pending {
            if !pending.is_empty() {
                emit_line(pending, emit);
            }
        }
    }
}

fn emit_line(pending: &mut Vec<u8>, emit: &mut dyn FnMut(&str)) {
    let line = String::from_utf8_lossy(pending);
    emit(line.strip_suffix('\r').unwrap_or(&line));
    pending.clear();
}

/// The whole log, up to a limit past which the oldest lines go (the end of a log says why a build
/// failed).
#[derive(Debug, Default)]
pub(crate) struct LogBuffer {
    text: String,
    cut: bool,
}

const MAX_LOG: usize = 16 << 20;

impl LogBuffer {
    pub(crate) fn push_line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
        if self.text.len() > MAX_LOG {
            let from = self.text.len() - MAX_LOG / 2;
            let from = self.text[from..].find('\n').map_or(from, |i| from + i + 1);
            self.text.drain(..from);
            self.cut = true;
        }
    }

    pub(crate) fn into_string(self) -> String {
        if self.cut {
            format!("[… earlier output cut …]\n{}", self.text)
        } else {
            self.text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![stream, 0, 0, 0];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn demultiplexes_lines_across_frames_and_reads() {
        let mut stream = frame(1, b"hel");
        stream.extend(frame(2, b"oops\r\n"));
        stream.extend(frame(1, b"lo\nworld\nend"));
        let mut lines = Vec::new();
        let mut demux = Demuxer::default();
        // Fed one byte at a time: headers and payloads cut anywhere.
        for byte in stream.chunks(1) {
            demux.feed(byte, &mut |l| lines.push(l.to_string()));
        }
        demux.finish(&mut |l| lines.push(l.to_string()));
        assert_eq!(lines, ["oops", "hello", "world", "end"]);
    }

    #[test]
    fn keeps_the_end_of_a_long_log() {
        let mut log = LogBuffer::default();
        let line = "x".repeat(1 << 20);
        for _ in 0..40 {
            log.push_line(&line);
        }
        log.push_line("the error");
        let text = log.into_string();
        assert!(text.len() <= MAX_LOG + 100);
        assert!(text.starts_with("[… earlier output cut …]\n"));
        assert!(text.ends_with("the error\n"));
    }
}
