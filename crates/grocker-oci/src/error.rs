//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

use crate::Digest;

/// Everything that can go wrong while building or writing an image.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// Reading or writing a file failed.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },

    /// The closure that writes a layer's tar, or the compressor behind it, failed.
    #[error("cannot write layer `{created_by}` into {}", dir.display())]
    LayerWrite {
        /// The layer directory.
        dir: PathBuf,
        /// The layer's history text, to say which layer.
        created_by: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A layer's compressed blob is missing or does not have the size its descriptor says.
    #[error("layer blob {} for {digest} is missing or damaged: {reason}", path.display())]
    BadBlob {
        /// Where the blob should be.
        path: PathBuf,
        /// The digest it should have.
        digest: Digest,
        /// What is wrong with it.
        reason: String,
    },

    /// The destination exists and holds something grocker did not write; it is left untouched.
    #[error("{} already exists and is not {expected}; refusing to overwrite it", path.display())]
    DestinationNotOurs {
        /// The destination.
        path: PathBuf,
        /// What would have been acceptable ("an empty directory or an OCI layout", ...).
        expected: &'static str,
    },

    /// A JSON file of an existing OCI layout cannot be understood.
    #[error("{} is not a valid {what}: {reason}", path.display())]
    BadJson {
        /// The file.
        path: PathBuf,
        /// What it should have been ("OCI image index", ...).
        what: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// The image configuration cannot be written as given.
    #[error("invalid image configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },

    /// `DOCKER_HOST` is set to something this client does not speak.
    #[error("unsupported DOCKER_HOST `{value}`: {reason}")]
    BadDockerHost {
        /// The value of DOCKER_HOST.
        value: String,
        /// Why it is not usable.
        reason: String,
    },

    /// Nothing answers on the engine's socket.
    #[error("cannot reach the container engine at {host}: {source}\nhint: {hint}")]
    EngineUnreachable {
        /// The engine address (`unix:///var/run/docker.sock`, `tcp://host:port`).
        host: String,
        /// What the user can do about it.
        hint: String,
        /// The connection error.
        #[source]
        source: io::Error,
    },

    /// The engine answered, but refused the request or said something unexpected.
    #[error("the container engine at {host} failed to {action}: {message}")]
    Engine {
        /// The engine address.
        host: String,
        /// What was asked ("load the image", ...).
        action: &'static str,
        /// The engine's own message (its `errorDetail`), or what was wrong with its answer.
        message: String,
    },
}

impl OciError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> OciError {
        let path = path.into();
        move |source| OciError::Io { path, source }
    }
}
