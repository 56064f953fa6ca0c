use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use grocker_testkit::FileServer;

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request on `reader`'s connection and reads the response (by Content-Length).
fn exchange(reader: &mut BufReader<TcpStream>, request: &str, head: bool) -> Response {
    reader.get_mut().write_all(request.as_bytes()).unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.to_string(), v.trim().to_string()));
    }
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if !head {
        let len: usize = resp.header("content-length").unwrap().parse().unwrap();
        resp.body.resize(len, 0);
        reader.read_exact(&mut resp.body).unwrap();
    }
    resp
}

fn request(server: &FileServer, method: &str, path: &str, extra: &str) -> Response {
    let stream = TcpStream::connect(server.addr()).unwrap();
    let mut reader = BufReader::new(stream);
    let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n");
    exchange(&mut reader, &req, method == "HEAD")
}

fn fixture() -> (tempfile::TempDir, FileServer) {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(dir.path().join("dists/bookworm")).unwrap();
    fs_err::write(dir.path().join("dists/bookworm/InRelease"), b"0123456789").unwrap();
    let server = FileServer::serve(dir.path());
    (dir, server)
}

#[test]
fn serves_get_head_range_and_404() {
    let (_dir, server) = fixture();
    assert!(server.url().starts_with("http://127.0.0.1:"));
    let r = request(&server, "GET", "/dists/bookworm/InRelease", "");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"0123456789"[..]));
    let r = request(&server, "HEAD", "/dists/bookworm/InRelease", "");
    assert_eq!((r.status, r.header("content-length")), (200, Some("10")));
    let r = request(
        &server,
        "GET",
        "/dists/bookworm/InRelease",
        "Range: bytes=2-4\r\n",
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &b"234"[..]));
    assert_eq!(r.header("content-range"), Some("bytes 2-4/10"));
    let r = request(
        &server,
        "GET",
        "/dists/bookworm/InRelease",
        "Range: bytes=-3\r\n",
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &b"789"[..]));
    assert_eq!(
        request(&server, "GET", "/dists/bookworm/Release", "").status,
        404
    );
    assert_eq!(request(&server, "GET", "/dists/", "").status, 404);
    assert_eq!(request(&server, "GET", "/../etc/passwd", "").status, 404);
    assert_eq!(
        server.requests(),
        [
            "/dists/bookworm/InRelease",
            "/dists/bookworm/InRelease",
            "/dists/bookworm/InRelease",
            "/dists/bookworm/InRelease",
            "/dists/bookworm/Release",
            "/dists/",
            "/../etc/passwd",
        ]
    );
    assert_eq!(server.count("/dists/bookworm/InRelease"), 4);
}

#[test]
fn keeps_connections_alive() {
    let (_dir, server) = fixture();
    let mut reader = BufReader::new(TcpStream::connect(server.addr()).unwrap());
    for _ in 0..3 {
        let r = exchange(
            &mut reader,
            "GET /dists/bookworm/InRelease HTTP/1.1\r\nHost: x\r\n\r\n",
            false,
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("keep-alive"));
    }
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn injects_failures_then_recovers() {
    let (_dir, server) = fixture();
    server.fail_next(2, 503);
    assert_eq!(
        request(&server, "GET", "/dists/bookworm/InRelease", "").status,
        503
    );
    assert_eq!(request(&server, "GET", "/anything", "").status, 503);
    assert_eq!(
        request(&server, "GET", "/dists/bookworm/InRelease", "").status,
        200
    );
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn stop_refuses_new_connections_and_closes_idle_ones() {
    let (_dir, server) = fixture();
    let mut idle = BufReader::new(TcpStream::connect(server.addr()).unwrap());
    let r = exchange(
        &mut idle,
        "GET /dists/bookworm/InRelease HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
    );
    assert_eq!(r.status, 200);
    server.stop();
    let err = TcpStream::connect(server.addr()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    // The kept-alive connection gets no answer: EOF (or a reset), never a response.
    let _ = idle
        .get_mut()
        .write_all(b"GET /dists/bookworm/InRelease HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut rest = Vec::new();
    let _ = idle.read_to_end(&mut rest);
    assert!(rest.is_empty());
    server.stop(); // idempotent
}
