//! [`Client`]: one engine, named by `DOCKER_HOST`, checked with `/_ping`; [`Connection`]: one
//! request on it.

use std::fmt;
use std::io::{self, Read, Write};
use std::time::Duration;

use serde_json::Value;

use crate::EngineError;
use crate::docker_host::{self, Endpoint, Stream};
use crate::http::{self, Body, Reply, Response};

/// A container engine that speaks the Docker Engine API (Podman's Docker-compatible socket
/// works the same).
#[derive(Clone, Debug)]
pub struct Client {
    host: String,
    endpoint: Endpoint,
    timeout: Duration,
    advice: &'static str,
}

impl Client {
    /// The engine named by `DOCKER_HOST`, else `/var/run/docker.sock`; see [`Client::connect`].
    pub fn from_env(timeout: Duration, advice: &'static str) -> Result<Client, EngineError> {
        Self::connect(&docker_host::docker_host_from_env(), timeout, advice)
    }

    /// The engine at `docker_host` (`unix:///path` or `tcp://host:port`), checked with `/_ping`
    /// so that an engine that is not there is reported before any work is done.
    ///
    /// `timeout` bounds connecting and each read or write (see [`Connection::set_timeout`]).
    /// `advice` ends the hint of [`EngineError::Unreachable`]: what needs the engine, or what
    /// to do without one ("without an engine, use `-o oci:DIR`").
    pub fn connect(
        docker_host: &str,
        timeout: Duration,
        advice: &'static str,
    ) -> Result<Client, EngineError> {
        const ACTION: &str = "answer /_ping";
        let client = Client {
            host: docker_host.to_string(),
            endpoint: Endpoint::parse(docker_host)?,
            timeout,
            advice,
        };
        let response = client.request("GET", "/_ping", None, ACTION)?;
        if response.status != 200 {
            return Err(client.refused(ACTION, &response));
        }
        Ok(client)
    }

    /// The engine's address as given (`unix:///var/run/docker.sock`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// A request with an optional JSON body, its reply read whole. `action` says what was
    /// asked in errors ("inspect the builder image"); a non-2xx status is not an error here:
    /// callers decide (404 often means "no such thing"), and [`Client::refused`] words it.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        json: Option<&[u8]>,
        action: &'static str,
    ) -> Result<Response, EngineError> {
        let mut conn = self.open()?;
        let body = json.map_or(Body::Empty, Body::Json);
        conn.send(method, path, body)
            .and_then(|()| conn.read_response())
            .map_err(|e| self.failed(action, e))
    }

    /// A new connection, for a request whose body or reply is streamed.
    pub fn open(&self) -> Result<Connection, EngineError> {
        let stream =
            self.endpoint
                .connect(self.timeout)
                .map_err(|error| EngineError::Unreachable {
                    host: self.host.clone(),
                    hint: self.hint(&error),
                    error,
                })?;
        Ok(Connection {
            stream,
            host_header: self.endpoint.host_header().to_string(),
        })
    }

    fn hint(&self, error: &io::Error) -> String {
        match (&self.endpoint, error.kind()) {
            (_, io::ErrorKind::PermissionDenied) => {
                "you may not have access to the engine's socket: join the `docker` group, \
                 or point DOCKER_HOST at a socket you own (rootless Docker or Podman)"
                    .into()
            }
            (Endpoint::Unix(_), _) => format!(
                "is the engine running? Start it (`systemctl start docker`), or set DOCKER_HOST \
                 (e.g. unix://$XDG_RUNTIME_DIR/podman/podman.sock); {} (DOCKER_HOST is {})",
                self.advice, self.host
            ),
            (Endpoint::Tcp(_), _) => format!(
                "is the engine listening on that address? Check DOCKER_HOST; {}",
                self.advice
            ),
        }
    }

    /// The error for a reply with an unexpected status: the engine's JSON `message` if it has
    /// one (`{"message": "No such image: …"}`), else the body as text.
    pub fn refused(&self, action: &'static str, response: &Response) -> EngineError {
        let message = serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&response.body).trim().to_string());
        self.failed(action, format_args!("HTTP {}: {message}", response.status))
    }

    /// The error for anything else that went wrong while asking the engine to do `action`: a
    /// broken connection, a reply that makes no sense.
    pub fn failed(&self, action: &'static str, message: impl fmt::Display) -> EngineError {
        EngineError::Failed {
            host: self.host.clone(),
            action,
            message: message.to_string(),
        }
    }
}

/// One connection to the engine, for one request (`Connection: close`).
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    host_header: String,
}

impl Connection {
    /// Read and write timeout from now on; `None` waits for ever.
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_timeout(timeout)
    }

    /// Sends the request head, and the body if it is [`Body::Json`]; a [`Body::Chunked`] body
    /// follows through a [`ChunkedWriter`](crate::ChunkedWriter) on `&mut self`.
    pub fn send(&mut self, method: &str, path: &str, body: Body<'_>) -> io::Result<()> {
        http::write_request(&mut self.stream, &self.host_header, method, path, body)
    }

    /// Reads the whole reply (at most 16 MiB of body).
    pub fn read_response(&mut self) -> io::Result<Response> {
        http::read_response(&mut self.stream)
    }

    /// Reads the status and headers; the body is read from the [`Reply`] as it comes.
    pub fn into_reply(self) -> io::Result<Reply<Connection>> {
        http::read_head(self)
    }
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    const ADVICE: &str = "without an engine, use `-o oci:DIR`";
    const SECOND: Duration = Duration::from_secs(1);

    /// A one-request engine on a local TCP port that answers `reply`; returns its DOCKER_HOST
    /// and, once served, the request it got.
    fn engine(replies: &'static [&'static str]) -> (String, thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = format!("tcp://{}", listener.local_addr().unwrap());
        let served = thread::spawn(move || {
            let mut requests = Vec::new();
            for reply in replies {
                let (mut conn, _) = listener.accept().unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.ends_with(b"\r\n\r\n") {
                    let n = conn.read(&mut buf).unwrap();
                    request.extend_from_slice(&buf[..n]);
                }
                conn.write_all(reply.as_bytes()).unwrap();
                requests.push(String::from_utf8(request).unwrap());
            }
            requests
        });
        (host, served)
    }

    #[test]
    fn connects_pings_and_words_refusals() {
        let (host, served) = engine(&[
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK",
            "HTTP/1.1 404 Not Found\r\nContent-Length: 31\r\n\r\n{\"message\":\"No such image: x\"}\n",
        ]);
        let client = Client::connect(&host, SECOND, ADVICE).unwrap();
        assert_eq!(client.host(), host);
        let response = client
            .request("GET", "/images/x/json", None, "inspect x")
            .unwrap();
        let err = client.refused("inspect x", &response);
        assert_eq!(
            err.to_string(),
            format!(
                "the container engine at {host} failed to inspect x: HTTP 404: No such image: x"
            )
        );
        let requests = served.join().unwrap();
        assert!(
            requests[0].starts_with("GET /_ping HTTP/1.1\r\n"),
            "{requests:?}"
        );
        assert!(requests[1].starts_with("GET /images/x/json HTTP/1.1\r\n"));
    }

    #[test]
    fn a_failed_ping_is_an_engine_error() {
        let (host, served) = engine(&["HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\nbusy"]);
        let err = Client::connect(&host, SECOND, ADVICE).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("the container engine at {host} failed to answer /_ping: HTTP 500: busy")
        );
        served.join().unwrap();
    }

    #[test]
    fn unreachable_engine_says_where_and_what_to_do() {
        let err =
            Client::connect("unix:///nonexistent/grocker-test.sock", SECOND, ADVICE).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "cannot reach the container engine at unix:///nonexistent/grocker-test.sock: "
            ),
            "{text}"
        );
        assert!(
            text.ends_with(
                "\nhint: is the engine running? Start it (`systemctl start docker`), or set \
                 DOCKER_HOST (e.g. unix://$XDG_RUNTIME_DIR/podman/podman.sock); without an \
                 engine, use `-o oci:DIR` (DOCKER_HOST is unix:///nonexistent/grocker-test.sock)"
            ),
            "{text}"
        );
        // Printed as a chain (`{:#}`), nothing follows the hint.
        assert!(std::error::Error::source(&err).is_none());

        // A port nothing listens on: bound, then closed.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = Client::connect(&format!("tcp://127.0.0.1:{port}"), SECOND, ADVICE).unwrap_err();
        assert!(
            err.to_string().ends_with(
                "\nhint: is the engine listening on that address? Check DOCKER_HOST; without an \
                 engine, use `-o oci:DIR`"
            ),
            "{err}"
        );
        assert!(matches!(
            Client::connect("ssh://host", SECOND, ADVICE),
            Err(EngineError::BadDockerHost { .. })
        ));
    }
}
