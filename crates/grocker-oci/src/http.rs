//! Just enough HTTP/1.1 to talk to a container engine's API over a Unix socket or TCP: one
//! request per connection (`Connection: close`), chunked request bodies, chunked or sized replies.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Where the engine listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Unix(PathBuf),
    /// `host:port`
    Tcp(String),
}

/// An open connection.
pub(crate) enum Conn {
    #[cfg(unix)]
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Endpoint {
    pub(crate) fn connect(&self, timeout: Duration) -> io::Result<Conn> {
        let conn = match self {
            #[cfg(unix)]
            Endpoint::Unix(path) => Conn::Unix(UnixStream::connect(path)?),
            #[cfg(not(unix))]
            Endpoint::Unix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "Unix sockets are not available on this platform",
                ));
            }
            Endpoint::Tcp(authority) => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                let mut found = None;
                for addr in authority.to_socket_addrs()? {
                    match TcpStream::connect_timeout(&addr, timeout) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                Conn::Tcp(found.ok_or(last)?)
            }
        };
        conn.set_timeout(Some(timeout))?;
        Ok(conn)
    }

    /// The `Host` header value.
    fn host_header(&self) -> &str {
        match self {
            // Any value is accepted on a Unix socket; the docker CLI sends this one.
            Endpoint::Unix(_) => "api.moby.localhost",
            Endpoint::Tcp(authority) => authority,
        }
    }
}

impl Conn {
    pub(crate) fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            #[cfg(unix)]
            Conn::Unix(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
            Conn::Tcp(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            #[cfg(unix)]
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            #[cfg(unix)]
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            #[cfg(unix)]
            Conn::Unix(s) => s.flush(),
            Conn::Tcp(s) => s.flush(),
        }
    }
}

/// Writes a request head; a body, if any, follows with `Transfer-Encoding: chunked`.
pub(crate) fn write_head(
    conn: &mut Conn,
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    content_type: Option<&str>,
) -> io::Result<()> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: grocker/{}\r\nConnection: close\r\n",
        endpoint.host_header(),
        env!("CARGO_PKG_VERSION"),
    );
    if let Some(content_type) = content_type {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n"
        ));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.flush()
}

/// A request body in chunked transfer coding (RFC 9112 §7.1).
pub(crate) struct ChunkedWriter<W: Write> {
    inner: W,
}

impl<W: Write> ChunkedWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self { inner }
    }

    /// Writes the last chunk.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.inner.write_all(b"0\r\n\r\n")?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ChunkedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
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

/// A reply: status and whole body (engine replies to what we ask are small).
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// Larger replies are cut: nothing we ask for answers with more.
const MAX_BODY: u64 = 16 << 20;

pub(crate) fn read_response(conn: impl Read) -> io::Result<Response> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut reader = BufReader::new(conn.take(MAX_BODY + (64 << 10)));
    let mut line = String::new();
    reader.read_line(&mut line)?;
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
        if reader.read_line(&mut line)? == 0 {
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
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = line.trim_end().split(';').next().unwrap_or("");
            let size = u64::from_str_radix(size.trim(), 16).map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                break;
            }
            let start = body.len();
            (&mut reader).take(size).read_to_end(&mut body)?;
            if (body.len() - start) as u64 != size {
                return Err(bad("connection closed in a chunk"));
            }
            line.clear();
            reader.read_line(&mut line)?;
        }
    } else if let Some(length) = length {
        (&mut reader).take(length).read_to_end(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(Response { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chunked_and_sized_replies() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = read_response(&chunked[..]).unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"abcde"[..]));
        let sized = b"HTTP/1.0 404 Not Found\r\ncontent-length: 2\r\n\r\nhiEXTRA";
        let r = read_response(&sized[..]).unwrap();
        assert_eq!((r.status, &r.body[..]), (404, &b"hi"[..]));
        assert!(read_response(&b"SSH-2.0-OpenSSH\r\n"[..]).is_err());
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
}
