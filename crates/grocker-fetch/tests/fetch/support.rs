//! A tiny scripted HTTP/1.1 server on 127.0.0.1 for the tests: every request is answered by a
//! closure, so a test can fail twice then succeed, cut a body short, or drop the connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types::pem::PemObject};
use url::Url;

/// What the server received.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request target, e.g. `/files/a.deb`.
    pub path: String,
    /// The whole request head, lower-cased.
    pub head: String,
    /// 1 for the first request to this path, 2 for the second...
    pub nth: usize,
}

impl Request {
    /// A header's value, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(str::trim)
    }
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with `Content-Length`.
    Ok(Vec<u8>),
    /// 200 with a content type.
    Typed(&'static str, Vec<u8>),
    /// An error status with a short body.
    Status(u16),
    /// A 302 to another path.
    Redirect(String),
    /// Announces the whole body's length, sends `sent` bytes, then closes.
    Truncated(Vec<u8>, usize),
    /// No `Content-Length`: the body ends when the connection closes.
    CloseDelimited(Vec<u8>),
    /// Closes the connection without answering.
    Drop,
    /// Honours a `Range` header (`bytes=a-b` or `bytes=-n`) with 206.
    Ranged(Vec<u8>),
    /// Waits, then answers.
    Delayed(Duration, Box<Reply>),
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

struct State {
    handler: Box<Handler>,
    log: Mutex<Vec<Request>>,
    active: AtomicUsize,
    max_active: Arc<AtomicUsize>,
}

/// A running server; it stops when the test's runtime ends.
pub struct Server {
    scheme: &'static str,
    port: u16,
    state: Arc<State>,
    /// Most requests waiting for their answer at the same time (a request counts from the end
    /// of its head until its answer starts, so the client cannot overlap two of its own here).
    pub max_active: Arc<AtomicUsize>,
    /// Connections accepted so far (TLS handshakes included, failed or not).
    pub connections: Arc<AtomicUsize>,
}

impl Server {
    pub async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_with(None, handler).await
    }

    /// The same over HTTPS, with `fixtures/localhost.pem`, issued by `fixtures/test-ca.pem`.
    /// Failed handshakes are counted as connections, not requests.
    pub async fn start_tls(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let certs =
            rustls::pki_types::CertificateDer::pem_file_iter(format!("{fixtures}/localhost.pem"))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::from_pem_file(format!("{fixtures}/localhost.key"))
                .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        Server::start_with(Some(TlsAcceptor::from(Arc::new(config))), handler).await
    }

    async fn start_with(
        tls: Option<TlsAcceptor>,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            handler: Box::new(handler),
            log: Mutex::new(Vec::new()),
            active: AtomicUsize::new(0),
            max_active: Arc::new(AtomicUsize::new(0)),
        });
        let connections = Arc::new(AtomicUsize::new(0));
        let (accepted, shared) = (connections.clone(), state.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let (state, tls) = (shared.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => serve(stream, &state).await,
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(stream).await {
                                serve(stream, &state).await;
                            }
                        }
                    }
                });
            }
        });
        let max_active = state.max_active.clone();
        Server {
            scheme,
            port,
            state,
            max_active,
            connections,
        }
    }

    /// `http(s)://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)).unwrap()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.log.lock().unwrap().clone()
    }
}

async fn serve(mut stream: impl AsyncRead + AsyncWrite + Unpin, state: &State) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
    let request = {
        let mut log = state.log.lock().unwrap();
        let nth = log.iter().filter(|r| r.path == path).count() + 1;
        let request = Request { path, head, nth };
        log.push(request.clone());
        request
    };
    let now = state.active.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_active.fetch_max(now, Ordering::SeqCst);
    let mut reply = (state.handler)(&request);
    while let Reply::Delayed(delay, inner) = reply {
        tokio::time::sleep(delay).await;
        reply = *inner;
    }
    state.active.fetch_sub(1, Ordering::SeqCst);
    let (status, headers, body): (u16, String, Vec<u8>) = match reply {
        Reply::Ok(body) => (200, length(body.len()), body),
        Reply::Typed(ty, body) => (
            200,
            format!("content-type: {ty}\r\n{}", length(body.len())),
            body,
        ),
        Reply::Status(code) => (code, length(5), b"error".to_vec()),
        Reply::Redirect(to) => (302, format!("location: {to}\r\n{}", length(0)), Vec::new()),
        Reply::Truncated(body, sent) => (200, length(body.len()), body[..sent].to_vec()),
        Reply::CloseDelimited(body) => (200, String::new(), body),
        Reply::Drop => return,
        Reply::Ranged(body) => ranged(&request, body),
        Reply::Delayed(..) => unreachable!(),
    };
    let response = format!("HTTP/1.1 {status} X\r\nconnection: close\r\n{headers}\r\n");
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}

fn length(n: usize) -> String {
    format!("content-length: {n}\r\n")
}

fn ranged(request: &Request, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    let total = body.len();
    let Some(spec) = request
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
    else {
        return (200, length(total), body);
    };
    let (start, end) = match spec.split_once('-').unwrap() {
        ("", n) => (total - n.parse::<usize>().unwrap(), total - 1),
        (a, b) => (
            a.parse().unwrap(),
            b.parse::<usize>().unwrap().min(total - 1),
        ),
    };
    let part = body[start..=end].to_vec();
    let headers = format!(
        "content-range: bytes {start}-{end}/{total}\r\n{}",
        length(part.len())
    );
    (206, headers, part)
}
