//! One-shot containers through the Docker Engine API (Podman's Docker-compatible socket works the
//! same): create, start, follow the logs, wait, and always remove; over `grocker-engine`'s client.

use std::io::{self, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use grocker_engine::{Body, Client, Connection, Reply, Response};
use serde_json::{Value, json};

use crate::BuilderError;
use crate::logs::{Demuxer, LogBuffer};

/// Generous: a busy engine can be slow to accept, and to create a container.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How the unreachable-engine hint ends: why grocker wants an engine at all.
const ADVICE: &str = "sdists and local projects are compiled in a container";
/// What reading the logs is called in errors.
const READ_LOG: &str = "read the build log";

/// A container engine that speaks the Docker Engine API.
#[derive(Clone, Debug)]
pub struct Engine {
    client: Client,
}

/// A host directory made visible in the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The directory on the engine's host (for a local engine, this machine).
    pub source: PathBuf,
    /// Where it appears in the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// What to run: the image, the command and its environment. The container always runs with no
/// network, every capability dropped and `no-new-privileges`.
#[derive(Clone, Debug, Default)]
pub struct RunSpec {
    /// The image reference; it must already be in the engine (nothing is pulled).
    pub image: String,
    /// The program and its arguments; replaces the image's entrypoint and command.
    pub cmd: Vec<String>,
    /// `NAME=value` pairs, on top of the image's environment.
    pub env: Vec<String>,
    /// The working directory, else the image's.
    pub working_dir: Option<String>,
    /// `uid[:gid]`, else the image's user.
    pub user: Option<String>,
    /// Bind mounts.
    pub mounts: Vec<Mount>,
    /// The container is killed after this long; `None` waits for ever.
    pub timeout: Option<Duration>,
    /// Says what runs, in errors ("build the wheel of black-24.10.0").
    pub what: String,
}

/// How a container ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    /// The main process's exit code.
    pub exit_code: i64,
    /// stdout and stderr, interleaved line by line as the engine delivered them.
    pub log: String,
}

impl Engine {
    /// The engine named by `DOCKER_HOST`, else `/var/run/docker.sock`; checked with `/_ping`.
    pub fn from_env() -> Result<Engine, BuilderError> {
        let client = Client::from_env(REQUEST_TIMEOUT, ADVICE)?;
        Ok(Engine { client })
    }

    /// The engine at `docker_host` (`unix:///path` or `tcp://host:port`), checked with `/_ping`
    /// so that an engine that is not there is reported before anything runs.
    pub fn connect(docker_host: &str) -> Result<Engine, BuilderError> {
        let client = Client::connect(docker_host, REQUEST_TIMEOUT, ADVICE)?;
        Ok(Engine { client })
    }

    /// The engine's address as given (`unix:///var/run/docker.sock`).
    pub fn host(&self) -> &str {
        self.client.host()
    }

    /// Whether the engine has `image`.
    pub fn has_image(&self, image: &str) -> Result<bool, BuilderError> {
        const ACTION: &str = "inspect the builder image";
        let path = format!("/images/{image}/json");
        let response = self.client.request("GET", &path, None, ACTION)?;
        match response.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.client.refused(ACTION, &response).into()),
        }
    }

    /// Runs `spec` to completion, passing each line it prints to `on_log`. The container is
    /// removed afterwards whatever happens (error, timeout, panic in `on_log`).
    pub fn run(
        &self,
        spec: &RunSpec,
        on_log: &mut dyn FnMut(&str),
    ) -> Result<RunOutcome, BuilderError> {
        const START: &str = "start the build container";
        let deadline = spec.timeout.map(|t| Instant::now() + t);
        let id = self.create(spec)?;
        let container = Container { engine: self, id };
        let path = format!("/containers/{}/start", container.id);
        let response = self.client.request("POST", &path, None, START)?;
        if !matches!(response.status, 204 | 304) {
            return Err(self.client.refused(START, &response).into());
        }
        let mut log = LogBuffer::default();
        let mut emit = |line: &str| {
            log.push_line(line);
            on_log(line);
        };
        let reply = self.logs(&container.id)?;
        match follow_logs(reply, deadline, &mut emit) {
            Ok(()) => {}
            Err(e) if is_timeout(&e) => {
                return Err(BuilderError::Timeout {
                    what: spec.what.clone(),
                    image: spec.image.clone(),
                    seconds: spec.timeout.unwrap_or_default().as_secs(),
                    log: log.into_string(),
                });
            }
            Err(e) => return Err(self.client.failed(READ_LOG, e).into()),
        }
        let exit_code = self.wait(&container.id)?;
        container.remove();
        Ok(RunOutcome {
            exit_code,
            log: log.into_string(),
        })
    }

    fn create(&self, spec: &RunSpec) -> Result<String, BuilderError> {
        const ACTION: &str = "create the build container";
        let (entrypoint, cmd) = spec
            .cmd
            .split_first()
            .map_or((&[][..], &[][..]), |(p, a)| (std::slice::from_ref(p), a));
        let mounts: Vec<Value> = spec
            .mounts
            .iter()
            .map(|m| {
                json!({
                    "Type": "bind",
                    "Source": m.source.to_string_lossy(),
                    "Target": m.target,
                    "ReadOnly": m.read_only,
                })
            })
            .collect();
        let mut body = json!({
            "Image": spec.image,
            "Entrypoint": entrypoint,
            "Cmd": cmd,
            "Env": spec.env,
            "Tty": false,
            "OpenStdin": false,
            "AttachStdin": false,
            // Belt and braces with NetworkMode "none": the build has no network at all.
            "NetworkDisabled": true,
            "Labels": { "grocker.role": "builder" },
            "HostConfig": {
                "NetworkMode": "none",
                "Mounts": mounts,
                // Removed by us after reading the exit code and logs.
                "AutoRemove": false,
                // Builds write to /tmp, so the root filesystem stays writable.
                "ReadonlyRootfs": false,
                // Builds work in /tmp: in memory, copying a source tree takes a tenth of the time
                // the overlay filesystem needs. `exec`: configure scripts run what they compile.
                "Tmpfs": { "/tmp": "rw,exec,nosuid,nodev,mode=1777" },
                "CapDrop": ["ALL"],
                "SecurityOpt": ["no-new-privileges"],
            },
        });
        if let Some(dir) = &spec.working_dir {
            body["WorkingDir"] = json!(dir);
        }
        if let Some(user) = &spec.user {
            body["User"] = json!(user);
        }
        let bytes = body.to_string().into_bytes();
        let response = self
            .client
            .request("POST", "/containers/create", Some(&bytes), ACTION)?;
        match response.status {
            201 => serde_json::from_slice::<Value>(&response.body)
                .ok()
                .and_then(|v| v["Id"].as_str().map(str::to_string))
                .ok_or_else(|| {
                    self.client
                        .failed(ACTION, "no container Id in the reply")
                        .into()
                }),
            404 => Err(BuilderError::ImageMissing {
                image: spec.image.clone(),
                host: self.host().to_string(),
            }),
            _ => Err(self.client.refused(ACTION, &response).into()),
        }
    }

    /// Opens the multiplexed log stream of container `id`, to follow until it exits.
    fn logs(&self, id: &str) -> Result<Reply<Connection>, BuilderError> {
        let failed = |e| BuilderError::from(self.client.failed(READ_LOG, e));
        let mut conn = self.client.open()?;
        let path = format!("/containers/{id}/logs?follow=1&stdout=1&stderr=1");
        conn.send("GET", &path, Body::Empty).map_err(failed)?;
        let mut reply = conn.into_reply().map_err(failed)?;
        if reply.status != 200 {
            let mut body = Vec::new();
            (&mut reply)
                .take(64 << 10)
                .read_to_end(&mut body)
                .map_err(failed)?;
            let response = Response {
                status: reply.status,
                body,
            };
            return Err(self.client.refused(READ_LOG, &response).into());
        }
        Ok(reply)
    }

    fn wait(&self, id: &str) -> Result<i64, BuilderError> {
        const ACTION: &str = "wait for the build container";
        let path = format!("/containers/{id}/wait");
        let response = self.client.request("POST", &path, None, ACTION)?;
        if response.status != 200 {
            return Err(self.client.refused(ACTION, &response).into());
        }
        let reply = serde_json::from_slice::<Value>(&response.body).unwrap_or_default();
        if let Some(message) = reply["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
            return Err(self.client.failed(ACTION, message).into());
        }
        reply["StatusCode"].as_i64().ok_or_else(|| {
            self.client
                .failed(ACTION, "no StatusCode in the reply")
                .into()
        })
    }
}

/// A created container, force-removed when dropped so that no error path leaves one behind.
struct Container<'a> {
    engine: &'a Engine,
    id: String,
}

impl Container<'_> {
    /// Removes the container now (the same as dropping it; reads better on the success path).
    fn remove(self) {}
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        const ACTION: &str = "remove the build container";
        // `force` kills it if it still runs; `v` removes its anonymous volumes.
        let path = format!("/containers/{}?force=1&v=1", self.id);
        let client = &self.engine.client;
        match client.request("DELETE", &path, None, ACTION) {
            // 404: already gone; 409: removal already in progress.
            Ok(r) if matches!(r.status, 200 | 204 | 404 | 409) => {}
            Ok(r) => tracing::warn!("{}", client.refused(ACTION, &r)),
            Err(e) => tracing::warn!("{e}"),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// Reads the log stream until the container exits, or fails with `TimedOut` at the deadline.
fn follow_logs(
    mut reply: Reply<Connection>,
    deadline: Option<Instant>,
    emit: &mut dyn FnMut(&str),
) -> io::Result<()> {
    let mut demux = Demuxer::default();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let remaining = match deadline {
            Some(d) => Some(
                d.checked_duration_since(Instant::now())
                    .filter(|r| !r.is_zero())
                    .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))?,
            ),
            None => None,
        };
        reply.get_ref().set_timeout(remaining)?;
        let n = match reply.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::from(io::ErrorKind::TimedOut));
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            demux.finish(emit);
            return Ok(());
        }
        demux.feed(&buf[..n], emit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_engine_says_where_and_what_to_do() {
        let err = Engine::connect("unix:///nonexistent/grocker-test.sock").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "cannot reach the container engine at unix:///nonexistent/grocker-test.sock"
            ),
            "{text}"
        );
        assert!(text.contains("hint: is the engine running?"), "{text}");
    }
}
