//! `DockerEngineSink`: `-o docker`, load into the local engine through its API
//! (`POST /images/load` with a docker-archive), like `docker load` without the CLI.

use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::docker_archive::{self, ArchiveEntry, ArchiveError};
use crate::http::{self, ChunkedWriter, Endpoint, Response};
use crate::{Digest, Image, ImageName, OciError, Published, Sink};

/// The engine's socket when `DOCKER_HOST` is unset.
const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
/// Generous: `/_ping` answers at once, but a busy engine can be slow to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// While loading, the engine reads the whole archive before it answers; that can take minutes.
const LOAD_TIMEOUT: Duration = Duration::from_secs(1800);

/// Loads images into a Docker (or Podman, through its Docker-compatible socket) engine.
#[derive(Debug)]
pub struct DockerEngineSink {
    host: String,
    endpoint: Endpoint,
}

impl DockerEngineSink {
    /// The engine named by `DOCKER_HOST`, else `/var/run/docker.sock`; checked with `/_ping`.
    pub fn from_env() -> Result<DockerEngineSink, OciError> {
        match std::env::var("DOCKER_HOST") {
            Ok(host) if !host.is_empty() => Self::connect(&host),
            _ => Self::connect(DEFAULT_HOST),
        }
    }

    /// The engine at `docker_host` (`unix:///path` or `tcp://host:port`); checked with `/_ping`
    /// so that an engine that is not there is reported before anything is built.
    pub fn connect(docker_host: &str) -> Result<DockerEngineSink, OciError> {
        let sink = DockerEngineSink {
            host: docker_host.to_string(),
            endpoint: parse_docker_host(docker_host)?,
        };
        let response = sink.request("GET", "/_ping", "answer /_ping")?;
        if response.status != 200 {
            return Err(sink.engine_error("answer /_ping", &response));
        }
        Ok(sink)
    }

    fn open(&self) -> Result<http::Conn, OciError> {
        self.endpoint
            .connect(CONNECT_TIMEOUT)
            .map_err(|source| OciError::EngineUnreachable {
                host: self.host.clone(),
                hint: self.hint(&source),
                source,
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
                 (e.g. unix://$XDG_RUNTIME_DIR/podman/podman.sock); without an engine, use \
                 `-o docker-archive:FILE` or `-o oci:DIR` (DOCKER_HOST is {})",
                self.host
            ),
            (Endpoint::Tcp(_), _) => {
                "is the engine listening on that address? Check DOCKER_HOST, or use \
                 `-o docker-archive:FILE` or `-o oci:DIR`"
                    .into()
            }
        }
    }

    /// A request without a body.
    fn request(
        &self,
        method: &str,
        path: &str,
        action: &'static str,
    ) -> Result<Response, OciError> {
        let mut conn = self.open()?;
        http::write_head(&mut conn, &self.endpoint, method, path, None)
            .and_then(|()| http::read_response(&mut conn))
            .map_err(|e| self.protocol_error(action, e))
    }

    fn protocol_error(&self, action: &'static str, e: io::Error) -> OciError {
        OciError::Engine {
            host: self.host.clone(),
            action,
            message: e.to_string(),
        }
    }

    /// An error from a non-2xx reply: the engine's JSON `message` if it has one.
    fn engine_error(&self, action: &'static str, response: &Response) -> OciError {
        let message = serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&response.body).trim().to_string());
        OciError::Engine {
            host: self.host.clone(),
            action,
            message: format!("HTTP {}: {message}", response.status),
        }
    }

    /// Streams the docker-archive of `entry` as the request body.
    fn load(&self, entry: &ArchiveEntry) -> Result<(), OciError> {
        const ACTION: &str = "load the image";
        let mut conn = self.open()?;
        conn.set_timeout(Some(LOAD_TIMEOUT))
            .map_err(|e| self.protocol_error(ACTION, e))?;
        let path = "/images/load?quiet=1";
        http::write_head(
            &mut conn,
            &self.endpoint,
            "POST",
            path,
            Some("application/x-tar"),
        )
        .map_err(|e| self.protocol_error(ACTION, e))?;
        let body = ChunkedWriter::new(BufWriter::with_capacity(1 << 17, &mut conn));
        let sent = match docker_archive::write_archive(std::slice::from_ref(entry), body) {
            Ok(body) => body.finish().map(drop).map_err(ArchiveError::Write),
            Err(e) => Err(e),
        };
        // If the engine hung up early, its reply says why better than "broken pipe".
        let reply = http::read_response(&mut conn);
        match (sent, reply) {
            (Err(ArchiveError::Oci(e)), _) => Err(e),
            (_, Ok(response)) if !(200..300).contains(&response.status) => {
                Err(self.engine_error(ACTION, &response))
            }
            (Err(ArchiveError::Write(e)), _) | (Ok(()), Err(e)) => {
                Err(self.protocol_error(ACTION, e))
            }
            (Ok(()), Ok(response)) => self.check_messages(ACTION, &response.body),
        }
    }

    /// The reply is a stream of JSON messages; a failure is one with `errorDetail`.
    fn check_messages(&self, action: &'static str, body: &[u8]) -> Result<(), OciError> {
        for message in serde_json::Deserializer::from_slice(body).into_iter::<Value>() {
            let message = message.map_err(|e| OciError::Engine {
                host: self.host.clone(),
                action,
                message: format!("unreadable reply: {e}"),
            })?;
            let error = message["errorDetail"]["message"]
                .as_str()
                .or_else(|| message["error"].as_str());
            if let Some(error) = error {
                return Err(OciError::Engine {
                    host: self.host.clone(),
                    action,
                    message: error.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The ID the engine gives the image now called `name` (the config digest for Docker's
    /// classic store; the manifest digest with the containerd store).
    fn image_id(&self, name: &ImageName) -> Result<Option<Digest>, OciError> {
        let path = format!("/images/{}/json", name.normalized());
        let response = self.request("GET", &path, "inspect the loaded image")?;
        if response.status != 200 {
            return Err(self.engine_error("inspect the loaded image", &response));
        }
        Ok(serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|v| v["Id"].as_str().and_then(|id| id.parse().ok())))
    }
}

impl Sink for DockerEngineSink {
    fn publish(&mut self, image: &Image, name: &ImageName) -> Result<Published, OciError> {
        let entry = ArchiveEntry {
            image: image.clone(),
            names: vec![name.clone()],
        };
        self.load(&entry)?;
        let id = self.image_id(name)?.unwrap_or(image.config_digest());
        Ok(Published {
            digest: id,
            location: format!("docker (image id {id})"),
        })
    }

    fn finish(self: Box<Self>) -> Result<(), OciError> {
        Ok(())
    }
}

/// `unix:///path` or `tcp://host[:port]` (docker's own default port 2375).
fn parse_docker_host(value: &str) -> Result<Endpoint, OciError> {
    let bad = |reason: &str| OciError::BadDockerHost {
        value: value.to_string(),
        reason: reason.to_string(),
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
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
            && !authority.ends_with(']');
        return Ok(Endpoint::Tcp(if has_port {
            authority.to_string()
        } else {
            format!("{authority}:2375")
        }));
    }
    Err(bad("only unix:// and tcp:// engines are supported"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hosts() {
        assert_eq!(
            parse_docker_host("unix:///run/docker.sock").unwrap(),
            Endpoint::Unix("/run/docker.sock".into())
        );
        assert_eq!(
            parse_docker_host("tcp://127.0.0.1:2375").unwrap(),
            Endpoint::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            parse_docker_host("tcp://localhost").unwrap(),
            Endpoint::Tcp("localhost:2375".into())
        );
        for bad in [
            "ssh://me@host",
            "npipe:////./pipe/docker_engine",
            "unix://rel",
            "tcp://",
        ] {
            let err = parse_docker_host(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
