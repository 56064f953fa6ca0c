//! A static HTTP/1.1 file server on 127.0.0.1, with request logging and fault injection.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A static file server over HTTP/1.1 on `127.0.0.1:<random port>`, serving a directory.
///
/// GET and HEAD, `Content-Length`, keep-alive, single `Range: bytes=` requests (206), a
/// directory's `index.html` for the directory (so a PEP 503 index is a tree of files), 404 for
/// anything else that is not a file under the root. One thread accepts, one thread per
/// connection serves; [`stop`](Self::stop) (or drop) closes the listening socket, so later
/// connections are refused, and open keep-alive connections are closed before their next
/// request is answered.
pub struct FileServer {
    addr: SocketAddr,
    state: Arc<State>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

struct State {
    root: PathBuf,
    log: Mutex<Vec<(String, String)>>,
    fail: Mutex<(usize, u16)>,
    stopped: AtomicBool,
}

/// How long an idle keep-alive connection is kept open.
const IDLE: Duration = Duration::from_secs(30);
/// How often blocked readers look at the stop flag.
const POLL: Duration = Duration::from_millis(50);

impl FileServer {
    /// Starts serving `dir` on a fresh port.
    pub fn serve(dir: &Path) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("listener address");
        let state = Arc::new(State {
            root: dir.to_path_buf(),
            log: Mutex::new(Vec::new()),
            fail: Mutex::new((0, 500)),
            stopped: AtomicBool::new(false),
        });
        let accept_state = Arc::clone(&state);
        let acceptor = std::thread::Builder::new()
            .name(format!("testkit-http-{}", addr.port()))
            .spawn(move || accept_loop(listener, accept_state))
            .expect("spawn server thread");
        FileServer {
            addr,
            state,
            acceptor: Mutex::new(Some(acceptor)),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Request targets seen (path and query as sent), in order, including failed ones.
    pub fn requests(&self) -> Vec<String> {
        self.request_log().into_iter().map(|(_, p)| p).collect()
    }

    /// (method, target) of every request seen, in order.
    pub fn request_log(&self) -> Vec<(String, String)> {
        self.state.log.lock().expect("request log").clone()
    }

    /// How many requests had exactly this target.
    pub fn count(&self, target: &str) -> usize {
        self.requests().iter().filter(|p| *p == target).count()
    }

    /// Forgets the requests seen so far.
    pub fn clear_requests(&self) {
        self.state.log.lock().expect("request log").clear();
    }

    /// The next `n` requests (whatever their path) get `status` and a short body.
    pub fn fail_next(&self, n: usize, status: u16) {
        *self.state.fail.lock().expect("fault state") = (n, status);
    }

    /// Stops accepting: connections are refused afterwards. Idempotent.
    pub fn stop(&self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        let handle = self.acceptor.lock().expect("acceptor handle").take();
        if let Some(handle) = handle {
            // Wake the blocking accept() so the thread sees the flag and drops the listener.
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            let _ = handle.join();
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, state: Arc<State>) {
    for stream in listener.incoming() {
        if state.stopped.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let state = Arc::clone(&state);
        let _ = std::thread::Builder::new()
            .name("testkit-http-conn".into())
            .spawn(move || serve_connection(stream, &state));
    }
}

fn serve_connection(stream: TcpStream, state: &State) {
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    while let Some(head) = read_head(&mut reader, state) {
        if state.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Some(request) = Request::parse(&head) else {
            let _ = respond(&mut writer, 400, &[], b"bad request\n", true);
            return;
        };
        if let Some(len) = request.header("content-length") {
            // Drain a request body so the next request on this connection parses.
            let len: u64 = len.parse().unwrap_or(0);
            if std::io::copy(&mut (&mut reader).take(len), &mut std::io::sink()).is_err() {
                return;
            }
        }
        state
            .log
            .lock()
            .expect("request log")
            .push((request.method.clone(), request.target.clone()));
        let close = request.wants_close();
        if answer(&mut writer, state, &request, close).is_err() || close {
            return;
        }
    }
}

/// Reads one request head (up to the blank line). `None` on EOF, error, stop or idleness.
fn read_head(reader: &mut BufReader<TcpStream>, state: &State) -> Option<String> {
    let mut head = Vec::new();
    let started = Instant::now();
    loop {
        match reader.read_until(b'\n', &mut head) {
            Ok(0) => return None,
            Ok(_) => {
                if head == b"\r\n" || head == b"\n" {
                    head.clear(); // tolerated stray CRLF between requests (RFC 9112 §2.2)
                } else if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
                    return String::from_utf8(head).ok();
                }
                if head.len() > 64 * 1024 {
                    return None;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if state.stopped.load(Ordering::SeqCst) || started.elapsed() > IDLE {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
}

struct Request {
    method: String,
    target: String,
    http10: bool,
    headers: Vec<(String, String)>,
}

impl Request {
    fn parse(head: &str) -> Option<Request> {
        let mut lines = head.lines();
        let mut parts = lines.next()?.split_whitespace();
        let method = parts.next()?.to_string();
        let target = parts.next()?.to_string();
        let http10 = parts.next()? == "HTTP/1.0";
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Some(Request {
            method,
            target,
            http10,
            headers,
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn wants_close(&self) -> bool {
        let connection = self.header("connection").map(str::to_ascii_lowercase);
        match connection.as_deref() {
            Some("close") => true,
            Some("keep-alive") => false,
            _ => self.http10,
        }
    }
}

fn answer(w: &mut TcpStream, state: &State, req: &Request, close: bool) -> std::io::Result<()> {
    let injected = {
        let mut fail = state.fail.lock().expect("fault state");
        (fail.0 > 0).then(|| {
            fail.0 -= 1;
            fail.1
        })
    };
    if let Some(status) = injected {
        return respond(w, status, &[], b"injected failure\n", close);
    }
    let head_only = match req.method.as_str() {
        "GET" => false,
        "HEAD" => true,
        _ => return respond(w, 405, &[("Allow", "GET, HEAD")], b"", close),
    };
    let Some(body) = resolve(&state.root, &req.target).and_then(|p| fs_err::read(p).ok()) else {
        return respond(w, 404, &[], b"not found\n", close);
    };
    let range = req.header("range").map(|r| parse_range(r, body.len()));
    let (status, slice, content_range) = match range {
        None => (200, &body[..], None),
        Some(Some((start, end))) => (
            206,
            &body[start..end],
            Some(format!("bytes {start}-{}/{}", end - 1, body.len())),
        ),
        Some(None) => (416, &[][..], Some(format!("bytes */{}", body.len()))),
    };
    let mut headers = vec![("Accept-Ranges", "bytes")];
    if let Some(cr) = &content_range {
        headers.push(("Content-Range", cr));
    }
    if head_only {
        let line = status_line(status, slice.len(), &headers, close);
        w.write_all(line.as_bytes())
    } else {
        respond(w, status, &headers, slice, close)
    }
}

/// `Range: bytes=a-b`, `bytes=a-` or `bytes=-n` → half-open byte range; `None` if
/// unsatisfiable or malformed (multiple ranges are not supported).
fn parse_range(value: &str, len: usize) -> Option<(usize, usize)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: usize = n.parse().ok()?;
            (len.saturating_sub(n), len)
        }
        (a, "") => (a.parse().ok()?, len),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<usize>().ok()?.saturating_add(1).min(len),
        ),
    };
    (start < end && start < len).then_some((start, end))
}

/// Maps a request target to a file under `root`, refusing `..` and anything not a file.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let mut out = root.to_path_buf();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let segment = percent_decode(segment)?;
        if segment == "." || segment == ".." || segment.contains('/') {
            return None;
        }
        out.push(segment);
    }
    if out.is_dir() {
        out.push("index.html");
    }
    out.is_file().then_some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn respond(
    w: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) -> std::io::Result<()> {
    let mut out = status_line(status, body.len(), headers, close).into_bytes();
    out.extend_from_slice(body);
    w.write_all(&out)?;
    w.flush()
}

fn status_line(status: u16, len: usize, headers: &[(&str, &str)], close: bool) -> String {
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    };
    let mut s = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {len}\r\n\
         Content-Type: application/octet-stream\r\nConnection: {}\r\n",
        if close { "close" } else { "keep-alive" }
    );
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s
}
