//! Just enough HTTP/1.1 (RFC 9112) to drive an engine's API: one request per connection
//! (`Connection: close`), request bodies sized or chunked, replies sized, chunked or to the end
//! of the stream, read whole or streamed.

use std::io::{self, BufRead, BufReader, Read, Write};

/// A request's body, as its head announces it.
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    /// No body.
    Empty,
    /// A JSON document, sent right after the head with its `Content-Length`.
    Json(&'a [u8]),
    /// A body of this media type, written after the head through a [`ChunkedWriter`] (for
    /// bodies made while they are sent, like the tar of `POST /images/load`).
    Chunked(&'a str),
}

/// Writes a request head, and the body if it is [`Body::Json`].
pub(crate) fn write_request(
    out: &mut impl Write,
    host_header: &str,
    method: &str,
    path: &str,
    body: Body<'_>,
) -> io::Result<()> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: grocker/{}\r\n\
         Connection: close\r\n",
        env!("CARGO_PKG_VERSION"),
    );
    match body {
        // RFC 9110 §8.6: "a user agent normally sends Content-Length in a POST request even
        // when the value is 0".
        Body::Empty if method == "POST" => head.push_str("Content-Length: 0\r\n"),
        Body::Empty => {}
        Body::Json(json) => head.push_str(&format!(
            "Content-Length: {}\r\nContent-Type: application/json\r\n",
            json.len()
        )),
        Body::Chunked(content_type) => head.push_str(&format!(
            "Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n"
        )),
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    if let Body::Json(json) = body {
        out.write_all(json)?;
    }
    out.flush()
}

/// A request body in chunked transfer coding (RFC 9112 §7.1), after a [`Body::Chunked`] head.
pub struct ChunkedWriter<W: Write> {
    inner: W,
}

impl<W: Write> ChunkedWriter<W> {
    /// Chunks what is written to `inner`.
    pub fn new(inner: W) -> Self {
        Self { inner }
    }

    /// Writes the last chunk, and gives `inner` back.
    pub fn finish(mut self) -> io::Result<W> {
        self.inner.write_all(b"0\r\n\r\n")?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ChunkedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // An empty chunk would be the last one.
        if !buf.is_empty() {
            write!(self.inner, "{:x}\r\n", buf.len())?;
            self.inner.write_all(buf)?;
            self.inner.write_all(b"\r\n")?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reply whose body is still to be read, as a [`Read`]er that undoes the transfer coding
/// (container logs, which go on as long as the container runs).
pub struct Reply<R> {
    /// The HTTP status code.
    pub status: u16,
    body: ReplyBody<BufReader<R>>,
}

enum ReplyBody<R> {
    Sized(io::Take<R>),
    /// `left` bytes remain in the current chunk; `done` after the last chunk.
    Chunked {
        inner: R,
        left: u64,
        done: bool,
    },
    ToEnd(R),
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Header lines longer than this are cut (and then fail to parse).
const MAX_HEADER_LINE: u64 = 64 << 10;

/// Reads the status line and headers.
pub(crate) fn read_head<R: Read>(conn: R) -> io::Result<Reply<R>> {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    (&mut reader).take(MAX_HEADER_LINE).read_line(&mut line)?;
    // "HTTP/1.1 200 OK"
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| bad("not an HTTP response"))?;
    let mut chunked = false;
    let mut length = None;
    loop {
        line.clear();
        if (&mut reader).take(MAX_HEADER_LINE).read_line(&mut line)? == 0 {
            return Err(bad("connection closed in the response headers"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| bad("bad Content-Length"))?,
                );
            }
        }
    }
    // RFC 9112 §6.3: chunked wins over Content-Length; with neither, the body runs to the close.
    let body = if chunked {
        ReplyBody::Chunked {
            inner: reader,
            left: 0,
            done: false,
        }
    } else if let Some(length) = length {
        ReplyBody::Sized(reader.take(length))
    } else {
        ReplyBody::ToEnd(reader)
    };
    Ok(Reply { status, body })
}

impl<R> Reply<R> {
    /// The connection underneath, to change its timeouts while the body is read.
    pub fn get_ref(&self) -> &R {
        match &self.body {
            ReplyBody::Sized(inner) => inner.get_ref().get_ref(),
            ReplyBody::Chunked { inner, .. } | ReplyBody::ToEnd(inner) => inner.get_ref(),
        }
    }
}

impl<R: Read> Read for Reply<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.body {
            ReplyBody::Sized(inner) => inner.read(buf),
            ReplyBody::ToEnd(inner) => inner.read(buf),
            ReplyBody::Chunked { inner, left, done } => {
                if *done || buf.is_empty() {
                    return Ok(0);
                }
                if *left == 0 {
                    let mut line = String::new();
                    (&mut *inner).take(1024).read_line(&mut line)?;
                    let size = line.trim_end().split(';').next().unwrap_or("").trim();
                    *left = u64::from_str_radix(size, 16).map_err(|_| bad("bad chunk size"))?;
                    if *left == 0 {
                        *done = true;
                        return Ok(0);
                    }
                }
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = inner.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(bad("connection closed in a chunk"));
                }
                *left -= n as u64;
                if *left == 0 {
                    // The CRLF that ends the chunk.
                    let mut crlf = String::new();
                    (&mut *inner).take(2).read_line(&mut crlf)?;
                }
                Ok(n)
            }
        }
    }
}

/// Engine replies read whole are small (besides logs, which are streamed); larger ones are cut.
const MAX_BODY: u64 = 16 << 20;

/// A reply read whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The body, without its transfer coding (at most 16 MiB).
    pub body: Vec<u8>,
}

pub(crate) fn read_response(conn: impl Read) -> io::Result<Response> {
    let mut reply = read_head(conn)?;
    let mut body = Vec::new();
    (&mut reply).take(MAX_BODY).read_to_end(&mut body)?;
    Ok(Response {
        status: reply.status,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chunked_sized_and_open_ended_replies() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = read_response(&chunked[..]).unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"abcde"[..]));
        let sized = b"HTTP/1.0 404 Not Found\r\ncontent-length: 2\r\n\r\nhiEXTRA";
        let r = read_response(&sized[..]).unwrap();
        assert_eq!((r.status, &r.body[..]), (404, &b"hi"[..]));
        let open = b"HTTP/1.1 200 OK\r\n\r\nall of it";
        let r = read_response(&open[..]).unwrap();
        assert_eq!(&r.body[..], b"all of it");
        assert!(read_response(&b"SSH-2.0-OpenSSH\r\n"[..]).is_err());
        let cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc";
        assert!(read_response(&cut[..]).is_err());
        let headless = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n";
        assert!(read_response(&headless[..]).is_err());
    }

    #[test]
    fn streams_chunks_in_small_reads() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n";
        let mut reply = read_head(&chunked[..]).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 2];
        loop {
            let n = reply.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, b"hello!");
    }

    fn request(method: &str, body: Body<'_>) -> String {
        let mut out = Vec::new();
        write_request(&mut out, "api.moby.localhost", method, "/x", body).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_request_heads() {
        let json = request("POST", Body::Json(b"{}"));
        assert!(json.starts_with("POST /x HTTP/1.1\r\nHost: api.moby.localhost\r\n"));
        assert!(json.contains("Connection: close\r\n"));
        assert!(json.ends_with("Content-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"));
        assert!(request("POST", Body::Empty).ends_with("Content-Length: 0\r\n\r\n"));
        assert!(request("GET", Body::Empty).ends_with("Connection: close\r\n\r\n"));
        assert!(
            request("POST", Body::Chunked("application/x-tar"))
                .ends_with("Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n")
        );
    }

    #[test]
    fn writes_chunks() {
        let mut w = ChunkedWriter::new(Vec::new());
        w.write_all(&[b'x'; 26]).unwrap();
        w.write_all(b"").unwrap();
        assert_eq!(
            w.finish().unwrap(),
            b"1a\r\nxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n0\r\n\r\n"
        );
    }

    #[test]
    fn what_is_written_chunked_reads_back() {
        let mut w =
            ChunkedWriter::new(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec());
        w.write_all(b"hello, ").unwrap();
        w.write_all(b"engine").unwrap();
        let wire = w.finish().unwrap();
        assert_eq!(read_response(&wire[..]).unwrap().body, b"hello, engine");
    }
}
