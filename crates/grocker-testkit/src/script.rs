//! A scripted HTTP/1.1 server on 127.0.0.1: every request is answered by a closure, so a test
//! can fail twice then succeed, send `Retry-After`, cut a body short, drop the connection,
//! answer a range, or wait before answering.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The request target as sent, e.g. `/simple/a/?x=1`.
    pub path: String,
    /// Header names lower-cased, values trimmed, in the order sent.
    pub headers: Vec<(String, String)>,
    /// 1 for the first request to this path, 2 for the second…
    pub nth: usize,
}

impl Request {
    /// A header's value (name in any case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with `Content-Length`.
    Ok(Vec<u8>),
    /// 200 with a `Content-Type`.
    Typed(String, Vec<u8>),
    /// A status with a short body (`error`).
    Status(u16),
    /// Any status, headers and body, e.g. a 503 with `Retry-After: 1`.
    Full {
        /// The status code.
        status: u16,
        /// Extra headers (`Content-Length` and `Connection` are added).
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// A redirect (`status` 301, 302, 307…) to `location`.
    Redirect(u16, String),
    /// Announces the whole body's length, sends the first `sent` bytes, then closes.
    Truncated(Vec<u8>, usize),
    /// No `Content-Length`: the body ends when the connection closes.
    CloseDelimited(Vec<u8>),
    /// Closes the connection without answering.
    Drop,
    /// Honours a `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) with 206 and
    /// `Content-Range`; the whole body with 200 when there is none (or it cannot be read).
    /// The content type, if given, is sent either way.
    Ranged(Option<String>, Vec<u8>),
    /// Waits, then answers.
    Delayed(Duration, Box<Reply>),
}

/// What the server received and what it answered.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request.
    pub request: Request,
    /// The status sent, `None` when the connection was dropped without an answer.
    pub status: Option<u16>,
    /// Body bytes sent.
    pub sent: usize,
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

struct State {
    handler: Box<Handler>,
    log: Mutex<Vec<Exchange>>,
    stopped: AtomicBool,
    open: AtomicUsize,
    active: AtomicUsize,
    max_active: AtomicUsize,
    connections: AtomicUsize,
}

/// Longest request head read; longer ones are dropped.
const MAX_HEAD: usize = 64 * 1024;
/// Longest request body drained (a registry upload in a test is smaller).
const MAX_BODY: u64 = 256 << 20;
/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 256;
/// How long a connection may stay silent before it is closed.
const IDLE: Duration = Duration::from_secs(30);

/// A scripted server on `127.0.0.1:<random port>`: one thread accepts, one thread per
/// connection answers one request (`Connection: close`). Stops when dropped: the listening
/// socket is closed, so later connections are refused.
pub struct ScriptedServer {
    addr: SocketAddr,
    state: Arc<State>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl ScriptedServer {
    /// Starts a server answering with `handler`.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("listener address");
        let state = Arc::new(State {
            handler: Box::new(handler),
            log: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
            open: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            max_active: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        });
        let shared = Arc::clone(&state);
        let acceptor = std::thread::Builder::new()
            .name(format!("testkit-script-{}", addr.port()))
            .spawn(move || accept_loop(listener, shared))
            .expect("spawn server thread");
        ScriptedServer {
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

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.exchanges().into_iter().map(|e| e.request).collect()
    }

    /// Every request with what was answered, in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state.log.lock().expect("request log").clone()
    }

    /// Forgets the requests seen so far.
    pub fn clear(&self) {
        self.state.log.lock().expect("request log").clear();
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Most requests waiting for their answer at the same time (from the end of a request's
    /// head until its answer starts).
    pub fn max_active(&self) -> usize {
        self.state.max_active.load(Ordering::SeqCst)
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

impl Drop for ScriptedServer {
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
        state.connections.fetch_add(1, Ordering::SeqCst);
        if state.open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            state.open.fetch_sub(1, Ordering::SeqCst);
            continue; // dropped: closes it
        }
        let state = Arc::clone(&state);
        let spawned = std::thread::Builder::new()
            .name("testkit-script-conn".into())
            .spawn(move || {
                serve(stream, &state);
                state.open.fetch_sub(1, Ordering::SeqCst);
            });
        drop(spawned);
    }
}

fn serve(stream: TcpStream, state: &State) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let Some(head) = read_head(&mut reader) else {
        return;
    };
    let Some((method, path, headers)) = parse_head(&head) else {
        return;
    };
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(0);
    if length > MAX_BODY
        || std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink()).is_err()
    {
        return;
    }
    let (request, index) = {
        let mut log = state.log.lock().expect("request log");
        let nth = log.iter().filter(|e| e.request.path == path).count() + 1;
        let request = Request {
            method,
            path,
            headers,
            nth,
        };
        log.push(Exchange {
            request: request.clone(),
            status: None,
            sent: 0,
        });
        (request, log.len() - 1)
    };
    let now = state.active.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_active.fetch_max(now, Ordering::SeqCst);
    let mut reply = (state.handler)(&request);
    while let Reply::Delayed(delay, inner) = reply {
        std::thread::sleep(delay);
        reply = *inner;
    }
    state.active.fetch_sub(1, Ordering::SeqCst);
    let Some((status, headers, body, length)) = render(&request, reply) else {
        return; // Reply::Drop
    };
    if let Some(entry) = state.log.lock().expect("request log").get_mut(index) {
        entry.status = Some(status);
        entry.sent = body.len();
    }
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nConnection: close\r\n",
        reason(status)
    );
    if let Some(length) = length {
        out.push_str(&format!("Content-Length: {length}\r\n"));
    }
    for (k, v) in &headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut stream = stream;
    let _ = stream.write_all(out.as_bytes());
    if request.method != "HEAD" {
        let _ = stream.write_all(&body);
    }
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

type Rendered = (u16, Vec<(String, String)>, Vec<u8>, Option<usize>);

/// Status, headers, body sent and announced length; `None` to drop the connection.
fn render(request: &Request, reply: Reply) -> Option<Rendered> {
    let whole = |status, headers, body: Vec<u8>| {
        let len = body.len();
        Some((status, headers, body, Some(len)))
    };
    match reply {
        Reply::Ok(body) => whole(200, vec![], body),
        Reply::Typed(ty, body) => whole(200, vec![("Content-Type".into(), ty)], body),
        Reply::Status(code) => whole(code, vec![], b"error".to_vec()),
        Reply::Full {
            status,
            headers,
            body,
        } => whole(status, headers, body),
        Reply::Redirect(code, to) => whole(code, vec![("Location".into(), to)], vec![]),
        Reply::Truncated(body, sent) => {
            let len = body.len();
            Some((200, vec![], body[..sent.min(len)].to_vec(), Some(len)))
        }
        Reply::CloseDelimited(body) => Some((200, vec![], body, None)),
        Reply::Drop | Reply::Delayed(..) => None,
        Reply::Ranged(ty, body) => {
            let mut headers: Vec<(String, String)> =
                ty.into_iter().map(|t| ("Content-Type".into(), t)).collect();
            match request
                .header("range")
                .and_then(|r| parse_range(r, body.len()))
            {
                Some((start, end)) => {
                    headers.push((
                        "Content-Range".into(),
                        format!("bytes {start}-{}/{}", end - 1, body.len()),
                    ));
                    whole(206, headers, body[start..end].to_vec())
                }
                None => whole(200, headers, body),
            }
        }
    }
}

fn read_head(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut head = Vec::new();
    loop {
        match reader.read_until(b'\n', &mut head) {
            Ok(0) => return None,
            Ok(_) => {
                if head == b"\r\n" || head == b"\n" {
                    head.clear(); // a stray CRLF before a request is tolerated (RFC 9112 §2.2)
                } else if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
                    return String::from_utf8(head).ok();
                }
                if head.len() > MAX_HEAD {
                    return None;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

type Head = (String, String, Vec<(String, String)>);

fn parse_head(head: &str) -> Option<Head> {
    let mut lines = head.lines();
    let mut parts = lines.next()?.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((method, path, headers))
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` → half-open range; `None` if unsatisfiable or
/// malformed.
fn parse_range(value: &str, len: usize) -> Option<(usize, usize)> {
    let (a, b) = value.trim().strip_prefix("bytes=")?.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => (len.saturating_sub(n.parse().ok()?), len),
        (a, "") => (a.parse().ok()?, len),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<usize>().ok()?.saturating_add(1).min(len),
        ),
    };
    (start < end).then_some((start, end))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
