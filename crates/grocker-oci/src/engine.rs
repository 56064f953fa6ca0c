//! `DockerEngineSink`: `-o docker`, load into the local engine through its API
//! (`POST /images/load` with a docker-archive, through `grocker-engine`), like `docker load`
//! without the CLI.

use std::io::BufWriter;
use std::time::Duration;

use grocker_engine::{Body, ChunkedWriter, Client};
use serde_json::Value;

use crate::docker_archive::{self, ArchiveEntry, ArchiveError};
use crate::{Digest, Image, ImageName, OciError, Published, Sink};

/// Generous: `/_ping` answers at once, but a busy engine can be slow to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// While loading, the engine reads the whole archive before it answers; that can take minutes.
const LOAD_TIMEOUT: Duration = Duration::from_secs(1800);
/// How the unreachable-engine hint ends: there are outputs that need no engine.
const ADVICE: &str = "without an engine, use `-o docker-archive:FILE` or `-o oci:DIR`";

/// Loads images into a Docker (or Podman, through its Docker-compatible socket) engine.
#[derive(Debug)]
pub struct DockerEngineSink {
    engine: Client,
}

impl DockerEngineSink {
    /// The engine named by `DOCKER_HOST`, else `/var/run/docker.sock`; checked with `/_ping`.
    pub fn from_env() -> Result<DockerEngineSink, OciError> {
        let engine = Client::from_env(CONNECT_TIMEOUT, ADVICE)?;
        Ok(DockerEngineSink { engine })
    }

    /// The engine at `docker_host` (`unix:///path` or `tcp://host:port`); checked with `/_ping`
    /// so that an engine that is not there is reported before anything is built.
    pub fn connect(docker_host: &str) -> Result<DockerEngineSink, OciError> {
        let engine = Client::connect(docker_host, CONNECT_TIMEOUT, ADVICE)?;
        Ok(DockerEngineSink { engine })
    }

    /// Streams the docker-archive of `entry` as the request body.
    fn load(&self, entry: &ArchiveEntry) -> Result<(), OciError> {
        const ACTION: &str = "load the image";
        let failed = |e| OciError::from(self.engine.failed(ACTION, e));
        let mut conn = self.engine.open()?;
        conn.set_timeout(Some(LOAD_TIMEOUT)).map_err(failed)?;
        let body = Body::Chunked("application/x-tar");
        conn.send("POST", "/images/load?quiet=1", body)
            .map_err(failed)?;
        let body = ChunkedWriter::new(BufWriter::with_capacity(1 << 17, &mut conn));
        let sent = match docker_archive::write_archive(std::slice::from_ref(entry), body) {
            Ok(body) => body.finish().map(drop).map_err(ArchiveError::Write),
            Err(e) => Err(e),
        };
        // If the engine hung up early, its reply says why better than "broken pipe".
        let reply = conn.read_response();
        match (sent, reply) {
            (Err(ArchiveError::Oci(e)), _) => Err(e),
            (_, Ok(response)) if !(200..300).contains(&response.status) => {
                Err(self.engine.refused(ACTION, &response).into())
            }
            (Err(ArchiveError::Write(e)), _) | (Ok(()), Err(e)) => Err(failed(e)),
            (Ok(()), Ok(response)) => self.check_messages(ACTION, &response.body),
        }
    }

    /// The reply is a stream of JSON messages; a failure is one with `errorDetail`.
    fn check_messages(&self, action: &'static str, body: &[u8]) -> Result<(), OciError> {
        for message in serde_json::Deserializer::from_slice(body).into_iter::<Value>() {
            let message = message.map_err(|e| {
                self.engine
                    .failed(action, format_args!("unreadable reply: {e}"))
            })?;
            let error = message["errorDetail"]["message"]
                .as_str()
                .or_else(|| message["error"].as_str());
            if let Some(error) = error {
                return Err(self.engine.failed(action, error).into());
            }
        }
        Ok(())
    }

    /// The ID the engine gives the image now called `name` (the config digest for Docker's
    /// classic store; the manifest digest with the containerd store).
    fn image_id(&self, name: &ImageName) -> Result<Option<Digest>, OciError> {
        const ACTION: &str = "inspect the loaded image";
        let path = format!("/images/{}/json", name.normalized());
        let response = self.engine.request("GET", &path, None, ACTION)?;
        if response.status != 200 {
            return Err(self.engine.refused(ACTION, &response).into());
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
