//! `DockerEngineSink`: `-o docker`, load into the local engine through its API
//! (`POST /images/load` with a docker-archive, through `grocker-engine`), like `docker load`
//! without the CLI.

use std::collections::BTreeSet;
use std::io::BufWriter;
use std::time::Duration;

use grocker_engine::{Body, ChunkedWriter, Client};
use serde_json::Value;

use crate::docker_archive::{self, ArchiveEntry, ArchiveError};
use crate::engine_memo::EngineMemo;
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
    memo: Option<EngineMemo>,
}

impl DockerEngineSink {
    /// The engine named by `DOCKER_HOST`, else `/var/run/docker.sock`; checked with `/_ping`.
    pub fn from_env() -> Result<DockerEngineSink, OciError> {
        let engine = Client::from_env(CONNECT_TIMEOUT, ADVICE)?;
        Ok(DockerEngineSink { engine, memo: None })
    }

    /// The engine at `docker_host` (`unix:///path` or `tcp://host:port`); checked with `/_ping`
    /// so that an engine that is not there is reported before anything is built.
    pub fn connect(docker_host: &str) -> Result<DockerEngineSink, OciError> {
        let engine = Client::connect(docker_host, CONNECT_TIMEOUT, ADVICE)?;
        Ok(DockerEngineSink { engine, memo: None })
    }

    /// Remembers in `dir` which layers this engine was given, so that an image on a base an
    /// earlier image brought is loaded without sending the base again (see `engine_memo`).
    pub fn remembering_in(mut self, dir: &std::path::Path) -> Self {
        self.memo = Some(EngineMemo::new(dir, self.engine.host()));
        self
    }

    /// Streams the docker-archive of `entry`, without the `omitted` layers, as the request body.
    fn load(&self, entry: &ArchiveEntry, omitted: &BTreeSet<Digest>) -> Result<(), OciError> {
        const ACTION: &str = "load the image";
        let failed = |e| OciError::from(self.engine.failed(ACTION, e));
        let mut conn = self.engine.open()?;
        conn.set_timeout(Some(LOAD_TIMEOUT)).map_err(failed)?;
        let body = Body::Chunked("application/x-tar");
        conn.send("POST", "/images/load?quiet=1", body)
            .map_err(failed)?;
        let body = ChunkedWriter::new(BufWriter::with_capacity(1 << 17, &mut conn));
        let sent = match docker_archive::write_archive(std::slice::from_ref(entry), omitted, body) {
            Ok(body) => body.finish().map(drop).map_err(ArchiveError::Write),
            Err(e) => Err(e),
        };
        // A failure on this side (a layer's blob unreadable): the engine still waits for the
        // rest of the body, and hanging up is what ends its load, with nothing tagged.
        let sent = match sent {
            Err(ArchiveError::Oci(e)) => return Err(e),
            sent => sent,
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

    /// What of `image` Docker's engine already has, as far as can be told cheaply: `None`
    /// when `name` is this very image (same ID, so nothing to load), else the bottom layers it
    /// shares with the image `name` has now, or that an earlier load gave the engine (same
    /// diff IDs from the bottom up, so the same chain IDs in the engine's layer store). `docker
    /// load` looks a layer up by chain ID before it reads its file, so such layers need not be
    /// sent (the os layer of an app's image: 50 MB the engine would unpack to a temporary
    /// directory only to find it has them). Empty for any other engine.
    fn layers_present(&self, image: &Image, name: &ImageName) -> Option<BTreeSet<Digest>> {
        let get = |path: &str| -> Option<Value> {
            let response = self.engine.request("GET", path, None, "inspect").ok()?;
            (response.status == 200).then_some(())?;
            serde_json::from_slice::<Value>(&response.body).ok()
        };
        // Asked first: when `name` is this very image, a no-op rebuild asks nothing more. An
        // ID equal to the config digest is this image whatever the engine.
        let current = get(&format!("/images/{}/json", name.normalized()));
        if let Some(current) = &current
            && current["Id"].as_str() == Some(&image.config_digest().to_string())
        {
            return None;
        }
        let docker = get("/version").is_some_and(|v| {
            v["Components"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["Name"] == "Engine"))
        });
        if !docker {
            return Some(BTreeSet::new());
        }
        let named = match current {
            None => 0,
            Some(current) => {
                let theirs = current["RootFS"]["Layers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                image
                    .layers()
                    .iter()
                    .zip(theirs)
                    .take_while(|(ours, theirs)| theirs.as_str() == Some(&ours.diff_id.to_string()))
                    .count()
            }
        };
        let remembered = self.memo.as_ref().map_or(0, |memo| memo.present(image));
        Some(
            image
                .layers()
                .iter()
                .take(named.max(remembered))
                .map(|layer| layer.digest())
                .collect(),
        )
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
    fn publish_index(
        &mut self,
        index: &crate::ImageIndex,
        _name: &ImageName,
    ) -> Result<Published, OciError> {
        Err(OciError::OnePlatformOnly {
            destination: "the local engine (-o docker)".into(),
            count: index.images().len(),
        })
    }

    fn publish(&mut self, image: &Image, name: &ImageName) -> Result<Published, OciError> {
        let entry = ArchiveEntry {
            image: image.clone(),
            names: vec![name.clone()],
        };
        let loaded = match self.layers_present(image, name) {
            // `name` is this very image already: its ID is the one just compared.
            None => false,
            Some(present) if present.is_empty() => {
                self.load(&entry, &present)?;
                true
            }
            Some(present) => {
                if let Err(e) = self.load(&entry, &present) {
                    // Whatever went wrong with the short archive, the whole one says it best.
                    tracing::debug!("loading without the layers the engine has failed: {e}");
                    self.load(&entry, &BTreeSet::new())?;
                }
                true
            }
        };
        if let Some(memo) = &self.memo {
            memo.loaded(image);
        }
        let id = if loaded {
            self.image_id(name)?.unwrap_or(image.config_digest())
        } else {
            image.config_digest()
        };
        Ok(Published {
            digest: id,
            location: format!("docker (image id {id})"),
        })
    }

    fn finish(self: Box<Self>) -> Result<(), OciError> {
        Ok(())
    }
}
