//! A tiny HTTP/1.1 server for index fixtures: fixed routes with their own Content-Type (PEP 691
//! negotiation needs it), redirects, a switch to ignore `Range`, and a log of every request with
//! the headers that matter here.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
enum Route {
    Body { content_type: String, body: Vec<u8> },
    Redirect(String),
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub path: String,
    pub range: Option<String>,
    pub accept: Option<String>,
    pub authorization: Option<String>,
    pub status: u16,
    /// Body bytes sent back.
    pub sent: usize,
}

#[derive(Default)]
struct State {
    routes: Mutex<HashMap<String, Route>>,
    ignore_ranges: AtomicBool,
    log: Mutex<Vec<Logged>>,
}

pub struct Server {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        Server { addr, state }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) {
        let route = Route::Body {
            content_type: content_type.into(),
            body: body.into(),
        };
        self.state.routes.lock().unwrap().insert(path.into(), route);
    }

    pub fn redirect(&self, path: &str, location: &str) {
        let route = Route::Redirect(location.into());
        self.state.routes.lock().unwrap().insert(path.into(), route);
    }

    /// Answer every request with the whole file, as servers without range support do.
    pub fn ignore_ranges(&self, ignore: bool) {
        self.state.ignore_ranges.store(ignore, Ordering::SeqCst);
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }

    pub fn clear_log(&self) {
        self.state.log.lock().unwrap().clear();
    }
}

fn serve(stream: TcpStream, state: &State) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push(line.trim_end().to_string());
    }
    let Some(path) = head.first().and_then(|l| l.split_whitespace().nth(1)) else {
        return;
    };
    let path = path.to_string();
    let header = |name: &str| {
        head.iter().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let range = header("range");
    let route = state.routes.lock().unwrap().get(&path).cloned();
    let (status, headers, body): (u16, Vec<(String, String)>, Vec<u8>) = match route {
        None => (404, vec![], b"not found\n".to_vec()),
        Some(Route::Redirect(to)) => (301, vec![("Location".into(), to)], vec![]),
        Some(Route::Body { content_type, body }) => {
            let mut headers = vec![("Content-Type".into(), content_type)];
            let wanted = range
                .as_deref()
                .filter(|_| !state.ignore_ranges.load(Ordering::SeqCst))
                .and_then(|r| parse_range(r, body.len()));
            match wanted {
                Some((start, end)) => {
                    headers.push((
                        "Content-Range".into(),
                        format!("bytes {start}-{}/{}", end - 1, body.len()),
                    ));
                    (206, headers, body[start..end].to_vec())
                }
                None => (200, headers, body),
            }
        }
    };
    state.log.lock().unwrap().push(Logged {
        path,
        range,
        accept: header("accept"),
        authorization: header("authorization"),
        status,
        sent: body.len(),
    });
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut stream = stream;
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.write_all(&body);
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` → half-open range.
fn parse_range(value: &str, len: usize) -> Option<(usize, usize)> {
    let (a, b) = value.strip_prefix("bytes=")?.split_once('-')?;
    let (start, end) = match (a, b) {
        ("", n) => (len.saturating_sub(n.parse().ok()?), len),
        (a, "") => (a.parse().ok()?, len),
        (a, b) => (a.parse().ok()?, (b.parse::<usize>().ok()? + 1).min(len)),
    };
    (start < end).then_some((start, end))
}
