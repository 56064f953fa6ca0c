//! `DOCKER_HOST`: where the engine listens, and the socket that reaches it.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::EngineError;

/// The engine's socket when `DOCKER_HOST` is unset.
pub(crate) const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// `DOCKER_HOST` if set and not empty, else [`DEFAULT_HOST`].
pub(crate) fn docker_host_from_env() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

/// Where the engine listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Unix(PathBuf),
    /// `host:port`
    Tcp(String),
}

impl Endpoint {
    /// `unix:///path` or `tcp://host[:port]` (docker's own default port 2375).
    pub(crate) fn parse(value: &str) -> Result<Endpoint, EngineError> {
        let bad = |reason| EngineError::BadDockerHost {
            value: value.to_string(),
            reason,
        };
        if let Some(path) = value.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(bad("a unix socket path must be absolute (unix:///path)"));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = value.strip_prefix("tcp://") {
            if std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty()) {
                return Err(bad(
                    "TLS (DOCKER_TLS_VERIFY) is not supported; use a unix socket",
                ));
            }
            let authority = rest.trim_end_matches('/');
            if authority.is_empty() || authority.contains('/') {
                return Err(bad("expected tcp://host:port"));
            }
            let has_port = authority.rsplit_once(':').is_some_and(|(_, port)| {
                !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
            }) && !authority.ends_with(']');
            return Ok(Endpoint::Tcp(if has_port {
                authority.to_string()
            } else {
                format!("{authority}:2375")
            }));
        }
        Err(bad("only unix:// and tcp:// engines are supported"))
    }

    /// Opens a socket whose reads and writes time out after `timeout`.
    pub(crate) fn connect(&self, timeout: Duration) -> io::Result<Stream> {
        let stream = match self {
            #[cfg(unix)]
            Endpoint::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
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
                Stream::Tcp(found.ok_or(last)?)
            }
        };
        stream.set_timeout(Some(timeout))?;
        Ok(stream)
    }

    /// The `Host` header value.
    pub(crate) fn host_header(&self) -> &str {
        match self {
            // Any value is accepted on a Unix socket; the docker CLI sends this one.
            Endpoint::Unix(_) => "api.moby.localhost",
            Endpoint::Tcp(authority) => authority,
        }
    }
}

/// An open socket.
#[derive(Debug)]
pub(crate) enum Stream {
    #[cfg(unix)]
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    /// Read and write timeout; `None` waits for ever.
    pub(crate) fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            #[cfg(unix)]
            Stream::Unix(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
            Stream::Tcp(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            #[cfg(unix)]
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hosts() {
        assert_eq!(
            Endpoint::parse("unix:///run/docker.sock").unwrap(),
            Endpoint::Unix("/run/docker.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2375").unwrap(),
            Endpoint::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://localhost").unwrap(),
            Endpoint::Tcp("localhost:2375".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]/").unwrap(),
            Endpoint::Tcp("[::1]:2375".into())
        );
        for bad in [
            "ssh://me@host",
            "npipe:////./pipe/docker_engine",
            "unix://rel",
            "tcp://",
            "tcp://host/path",
        ] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("unsupported DOCKER_HOST `{bad}`: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn host_header_names_the_tcp_authority() {
        assert_eq!(
            Endpoint::Unix("/s".into()).host_header(),
            "api.moby.localhost"
        );
        assert_eq!(Endpoint::Tcp("h:1".into()).host_header(), "h:1");
    }
}
