//! The Docker Engine API over its socket (Podman's Docker-compatible socket works the same),
//! without the docker CLI: `DOCKER_HOST` parsing (`unix://`, `tcp://`, else
//! `/var/run/docker.sock`), connect and `/_ping` with one clear error when no engine answers,
//! and requests over just enough HTTP/1.1 — JSON or chunked request bodies, replies sized,
//! chunked or to the end of the stream, read whole or streamed.
//!
//! Two stages of grocker's pipeline talk to an engine (DESIGN §1): `grocker-builder` runs its
//! one-shot build containers (create, start, follow the logs, wait, remove), and `grocker-oci`'s
//! `DockerEngineSink` streams a docker-archive into `POST /images/load` (`-o docker`). Each
//! wraps [`EngineError`] in its own error type.
//!
//! ```no_run
//! use std::time::Duration;
//! use grocker_engine::Client;
//!
//! # fn main() -> Result<(), grocker_engine::EngineError> {
//! // DOCKER_HOST, else /var/run/docker.sock. No engine? The error says where it looked, and the
//! // hint ends with the advice given here.
//! let engine = Client::from_env(Duration::from_secs(30), "without an engine, use `-o oci:DIR`")?;
//! const ACTION: &str = "report its version";
//! let reply = engine.request("GET", "/version", None, ACTION)?;
//! if reply.status != 200 {
//!     // "the container engine at unix:///… failed to report its version: HTTP 500: …"
//!     return Err(engine.refused(ACTION, &reply));
//! }
//! println!("{}", String::from_utf8_lossy(&reply.body));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub use client::{Client, Connection};
pub use error::EngineError;
pub use http::{Body, ChunkedWriter, Reply, Response};
pub use images::ImageSummary;

mod client;
mod docker_host;
mod error;
mod http;
mod images;
