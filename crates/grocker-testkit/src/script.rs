//! A scripted HTTP/1.1 server on 127.0.0.1: every request is answered by a closure, so a test
//! can fail twice then succeed, send `Retry-After`, cut a body short, drop the connection,
//! answer a range, or wait before answering. Plain or TLS, one request per connection or
//! keep-alive: the one accept loop every test server of the workspace runs on.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

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
    keep_alive: bool,
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
/// How often a connection waiting for bytes looks at the stop flag, so that a kept-alive
/// connection is closed soon after [`ScriptedServer::stop`].
const POLL: Duration = Duration::from_millis(50);

/// How a [`ScriptedServer`] talks, before it starts: `ScriptedServer::builder().keep_alive()
/// .tls(cert, key).start(handler)`. By default: plain HTTP, one request per connection.
#[derive(Default)]
pub struct ScriptedServerBuilder {
    keep_alive: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl ScriptedServerBuilder {
    /// Serves several requests per connection (HTTP/1.1 persistent connections), answering
    /// `Connection: keep-alive` unless the client asks to close, speaks HTTP/1.0, or the reply
    /// ends with the connection (a truncated or close-delimited body, a drop).
    pub fn keep_alive(mut self) -> Self {
        self.keep_alive = true;
        self
    }

    /// Speaks HTTPS with this certificate chain and private key (PEM). A failed handshake
    /// counts as a connection, not as a request.
    ///
    /// # Panics
    /// If the PEM holds no certificate or no usable key.
    pub fn tls(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Self {
        let certs = CertificateDer::pem_slice_iter(cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .expect("a PEM certificate chain");
        assert!(
            !certs.is_empty(),
            "no certificate in the PEM given to tls()"
        );
        let key = PrivateKeyDer::from_pem_slice(key_pem).expect("a PEM private key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("rustls's default protocol versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("a certificate matching its key");
        self.tls = Some(Arc::new(config));
        self
    }

    /// Starts the server on `127.0.0.1:<random port>`, answering with `handler`.
    pub fn start(
        self,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("listener address");
        let state = Arc::new(State {
            handler: Box::new(handler),
            keep_alive: self.keep_alive,
            log: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
            open: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            max_active: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        });
        let shared = Arc::clone(&state);
        let tls = self.tls.clone();
        let acceptor = std::thread::Builder::new()
            .name(format!("testkit-script-{}", addr.port()))
            .spawn(move || accept_loop(listener, shared, tls))
            .expect("spawn server thread");
        ScriptedServer {
            addr,
            https: self.tls.is_some(),
            state,
            acceptor: Mutex::new(Some(acceptor)),
        }
    }
}

/// A scripted server on `127.0.0.1:<random port>`: one thread accepts, one thread per
/// connection answers (one request with `Connection: close`, unless built with
/// [`keep_alive`](ScriptedServerBuilder::keep_alive)). Stops when dropped: the listening
/// socket is closed, so later connections are refused, and connections waiting for a request
/// are closed.
pub struct ScriptedServer {
    addr: SocketAddr,
    https: bool,
    state: Arc<State>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl ScriptedServer {
    /// Starts a plain HTTP server answering with `handler`, one request per connection.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> ScriptedServer {
        Self::builder().start(handler)
    }

    /// A server with keep-alive or TLS: see [`ScriptedServerBuilder`].
    pub fn builder() -> ScriptedServerBuilder {
        ScriptedServerBuilder::default()
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS; no trailing slash).
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
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

    /// Connections accepted so far (TLS handshakes included, failed or not).
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Most requests waiting for their answer at the same time (from the end of a request's
    /// head until its answer starts).
    pub fn max_active(&self) -> usize {
        self.state.max_active.load(Ordering::SeqCst)
    }

    /// Stops accepting: connections are refused afterwards, and open ones are closed before
    /// their next request is answered. Idempotent.
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

fn accept_loop(listener: TcpListener, state: Arc<State>, tls: Option<Arc<rustls::ServerConfig>>) {
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
        let (state, tls) = (Arc::clone(&state), tls.clone());
        let spawned = std::thread::Builder::new()
            .name("testkit-script-conn".into())
            .spawn(move || {
                connect(stream, &state, tls);
                state.open.fetch_sub(1, Ordering::SeqCst);
            });
        drop(spawned);
    }
}

/// A connection the server can close: TCP, or TLS over TCP.
trait Connection: Read + Write {
    fn close(&mut self);
}

impl Connection for TcpStream {
    fn close(&mut self) {
        let _ = self.flush();
        let _ = self.shutdown(std::net::Shutdown::Both);
    }
}

impl Connection for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn close(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }
}

fn connect(tcp: TcpStream, state: &State, tls: Option<Arc<rustls::ServerConfig>>) {
    let _ = tcp.set_nodelay(true);
    match tls {
        None => {
            let _ = tcp.set_read_timeout(Some(POLL));
            converse(tcp, state);
        }
        Some(config) => {
            let mut tcp = tcp;
            let Ok(mut conn) = rustls::ServerConnection::new(config) else {
                return;
            };
            // The handshake runs with the long timeout: its reads are not resumable polls.
            let _ = tcp.set_read_timeout(Some(IDLE));
            while conn.is_handshaking() {
                if conn.complete_io(&mut tcp).is_err() {
                    return;
                }
            }
            let _ = tcp.set_read_timeout(Some(POLL));
            converse(rustls::StreamOwned::new(conn, tcp), state);
        }
    }
}

/// Answers requests on `stream` until one ends the connection, the client leaves, or the
/// server stops.
fn converse(stream: impl Connection, state: &State) {
    let mut reader = BufReader::new(stream);
    while let Some(head) = read_head(&mut reader, state) {
        let Some((method, path, headers, http10)) = parse_head(&head) else {
            let bad = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
            let _ = reader.get_mut().write_all(bad);
            break;
        };
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .unwrap_or(0);
        if length > MAX_BODY || !drain(&mut reader, length, state) {
            break;
        }
        let close = match headers.iter().find(|(k, _)| k == "connection") {
            Some((_, v)) if v.eq_ignore_ascii_case("close") => true,
            Some((_, v)) if v.eq_ignore_ascii_case("keep-alive") => false,
            _ => http10,
        };
        let request = log_request(state, method, path, headers);
        if !answer(reader.get_mut(), state, request, !close && state.keep_alive) {
            break;
        }
    }
    reader.into_inner().close();
}

/// Records `request` (numbered per path) and returns it with its index in the log.
fn log_request(
    state: &State,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
) -> (Request, usize) {
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
}

/// Answers one request; whether the connection stays open for the next (only if `keep` and
/// the reply left it in a state to go on).
fn answer(
    out: &mut impl Write,
    state: &State,
    (request, index): (Request, usize),
    keep: bool,
) -> bool {
    let now = state.active.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_active.fetch_max(now, Ordering::SeqCst);
    let mut reply = (state.handler)(&request);
    while let Reply::Delayed(delay, inner) = reply {
        std::thread::sleep(delay);
        reply = *inner;
    }
    state.active.fetch_sub(1, Ordering::SeqCst);
    let Some((status, headers, body, length)) = render(&request, reply) else {
        return false; // Reply::Drop
    };
    if let Some(entry) = state.log.lock().expect("request log").get_mut(index) {
        entry.status = Some(status);
        entry.sent = body.len();
    }
    // Only a body whose end the client can tell from its length leaves the connection usable.
    let keep = keep && length == Some(body.len());
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nConnection: {}\r\n",
        reason(status),
        if keep { "keep-alive" } else { "close" }
    );
    if let Some(length) = length {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut written = out.write_all(head.as_bytes());
    if request.method != "HEAD" {
        written = written.and_then(|()| out.write_all(&body));
    }
    written.and_then(|()| out.flush()).is_ok() && keep
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

/// Reads one request head (up to the blank line). `None` on EOF, error, a head too long, a
/// stop, or silence longer than `IDLE`.
fn read_head(reader: &mut BufReader<impl Read>, state: &State) -> Option<String> {
    let mut head = Vec::new();
    let mut waiting = Instant::now();
    loop {
        if state.stopped.load(Ordering::SeqCst) {
            return None;
        }
        // On a timeout, read_until keeps what it read in `head`, so polling loses nothing.
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
                waiting = Instant::now();
            }
            Err(e) if is_poll(&e) && waiting.elapsed() < IDLE => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// Reads and discards a request body of `length` bytes, so the next request on the connection
/// parses; `false` if the client stopped sending.
fn drain(reader: &mut BufReader<impl Read>, mut length: u64, state: &State) -> bool {
    let mut buf = [0; 16 * 1024];
    let mut waiting = Instant::now();
    while length > 0 {
        let want = buf.len().min(usize::try_from(length).unwrap_or(usize::MAX));
        match reader.read(&mut buf[..want]) {
            Ok(0) => return false,
            Ok(n) => {
                length -= n as u64;
                waiting = Instant::now();
            }
            Err(e) if is_poll(&e) && waiting.elapsed() < IDLE => {
                if state.stopped.load(Ordering::SeqCst) {
                    return false;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// A read that timed out after `POLL`: nothing arrived yet.
fn is_poll(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Method, target, headers (names lower-cased) and whether the request is HTTP/1.0.
type Head = (String, String, Vec<(String, String)>, bool);

fn parse_head(head: &str) -> Option<Head> {
    let mut lines = head.lines();
    let mut parts = lines.next()?.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let http10 = parts.next()? == "HTTP/1.0";
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((method, path, headers, http10))
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` → half-open range; `None` if unsatisfiable or
/// malformed.
pub(crate) fn parse_range(value: &str, len: usize) -> Option<(usize, usize)> {
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
        201 => "Created",
        202 => "Accepted",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
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
    }
}
