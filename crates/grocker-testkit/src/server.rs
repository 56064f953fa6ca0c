//! A static HTTP/1.1 file server on 127.0.0.1, with request logging and fault injection: a
//! handler on [`ScriptedServer`], which owns the sockets, threads and the request log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::script::parse_range;
use crate::{Reply, Request, ScriptedServer};

/// A static file server over HTTP/1.1 on `127.0.0.1:<random port>`, serving a directory.
///
/// GET and HEAD, `Content-Length`, keep-alive, single `Range: bytes=` requests (206), a
/// directory's `index.html` for the directory (so a PEP 503 index is a tree of files), 404 for
/// anything else that is not a file under the root. One thread accepts, one thread per
/// connection serves; [`stop`](Self::stop) (or drop) closes the listening socket, so later
/// connections are refused, and open keep-alive connections are closed before their next
/// request is answered.
pub struct FileServer {
    server: ScriptedServer,
    /// Requests still to fail, and with which status.
    fail: Arc<Mutex<(usize, u16)>>,
}

impl FileServer {
    /// Starts serving `dir` on a fresh port.
    pub fn serve(dir: &Path) -> FileServer {
        let fail = Arc::new(Mutex::new((0, 500)));
        let (root, faults) = (dir.to_path_buf(), Arc::clone(&fail));
        let server = ScriptedServer::builder()
            .keep_alive()
            .start(move |request| answer(&root, &faults, request));
        FileServer { server, fail }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Request targets seen (path and query as sent), in order, including failed ones.
    pub fn requests(&self) -> Vec<String> {
        self.request_log().into_iter().map(|(_, p)| p).collect()
    }

    /// (method, target) of every request seen, in order.
    pub fn request_log(&self) -> Vec<(String, String)> {
        self.server
            .requests()
            .into_iter()
            .map(|r| (r.method, r.path))
            .collect()
    }

    /// How many requests had exactly this target.
    pub fn count(&self, target: &str) -> usize {
        self.requests().iter().filter(|p| *p == target).count()
    }

    /// Forgets the requests seen so far.
    pub fn clear_requests(&self) {
        self.server.clear();
    }

    /// The next `n` requests (whatever their path) get `status` and a short body.
    pub fn fail_next(&self, n: usize, status: u16) {
        *self.fail.lock().expect("fault state") = (n, status);
    }

    /// Stops accepting: connections are refused afterwards. Idempotent.
    pub fn stop(&self) {
        self.server.stop();
    }
}

fn answer(root: &Path, fail: &Mutex<(usize, u16)>, request: &Request) -> Reply {
    let injected = {
        let mut fail = fail.lock().expect("fault state");
        (fail.0 > 0).then(|| {
            fail.0 -= 1;
            fail.1
        })
    };
    if let Some(status) = injected {
        return reply(status, vec![], b"injected failure\n".to_vec());
    }
    if request.method != "GET" && request.method != "HEAD" {
        return reply(405, vec![("Allow", "GET, HEAD".into())], vec![]);
    }
    let Some(body) = resolve(root, &request.path).and_then(|p| fs_err::read(p).ok()) else {
        return reply(404, vec![], b"not found\n".to_vec());
    };
    let mut headers = vec![("Accept-Ranges", "bytes".to_string())];
    let Some(range) = request.header("range") else {
        return reply(200, headers, body);
    };
    match parse_range(range, body.len()) {
        Some((start, end)) => {
            let total = body.len();
            headers.push((
                "Content-Range",
                format!("bytes {start}-{}/{total}", end - 1),
            ));
            reply(206, headers, body[start..end].to_vec())
        }
        None => {
            headers.push(("Content-Range", format!("bytes */{}", body.len())));
            reply(416, headers, vec![])
        }
    }
}

/// A reply with `status`, `headers` and `body`, typed as bytes (the server sends a HEAD
/// request the headers alone).
fn reply(status: u16, headers: Vec<(&str, String)>, body: Vec<u8>) -> Reply {
    let mut all = vec![(
        "Content-Type".to_string(),
        "application/octet-stream".into(),
    )];
    all.extend(headers.into_iter().map(|(k, v)| (k.to_string(), v)));
    Reply::Full {
        status,
        headers: all,
        body,
    }
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
