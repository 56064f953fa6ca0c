//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

use grocker_engine::EngineError;

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

    /// A multi-platform image was sent to a destination that holds one platform's image.
    #[error(
        "{destination} holds one platform's image, and this image has {count} platforms: build \
         one of them there (--platform linux/ARCH), or write them all with -o oci:DIR or \
         -o registry"
    )]
    OnePlatformOnly {
        /// The destination, as the user named it (`-o docker`, `-o docker-archive:FILE`).
        destination: String,
        /// How many platforms the image has.
        count: usize,
    },

    /// The image configuration cannot be written as given.
    #[error("invalid image configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },

    /// `DOCKER_HOST` is set to something this client does not speak
    /// ([`EngineError::BadDockerHost`]).
    #[error(transparent)]
    BadDockerHost(EngineError),

    /// Nothing answers on the engine's socket, so `-o docker` cannot load the image
    /// ([`EngineError::Unreachable`], which says what to do about it).
    #[error("{error}")]
    EngineUnreachable {
        /// The engine address (`unix:///var/run/docker.sock`, `tcp://host:port`).
        host: String,
        /// The connection error and its hint.
        error: EngineError,
    },

    /// The engine answered, but refused the request or said something unexpected
    /// ([`EngineError::Failed`]).
    #[error(transparent)]
    Engine(EngineError),

    /// What a [`Recorder`](crate::Recorder) runs after publishing failed (writing the lock,
    /// the result file); its message is the action's own.
    #[error(transparent)]
    Record(crate::RecordError),

    /// The image name has no registry host, so there is nowhere to push it.
    #[error(
        "cannot push `{name}` to a registry: the name has no registry host; \
         name it `HOST[:PORT]/{name}` (e.g. `ghcr.io/…`, `127.0.0.1:5000/…`)"
    )]
    NotPushable {
        /// The image name as given.
        name: String,
    },

    /// A registry option cannot be used (an `insecure_registries` entry that is not a host).
    #[error("invalid registry option `{value}`: {reason}")]
    InvalidRegistryOption {
        /// The rejected value.
        value: String,
        /// Why.
        reason: String,
    },

    /// Nothing answers at the registry's address (after the retries).
    #[error(
        "cannot reach the registry {registry}: {reason}\n\
         hint: check that the registry is running and reachable at {registry}"
    )]
    RegistryUnreachable {
        /// `host[:port]`.
        registry: String,
        /// The connection error (never a credential).
        reason: String,
    },

    /// The registry refused the credentials it was given.
    #[error(
        "cannot push to {registry}/{repository}: authentication failed for {registry}{}: \
         check `docker login {registry}`",
        user_suffix(user)
    )]
    RegistryAuthFailed {
        /// `host[:port]`.
        registry: String,
        /// The repository pushed to.
        repository: String,
        /// The user name that was tried (never the password), if any.
        user: Option<String>,
    },

    /// The registry wants credentials and none were found for it.
    #[error(
        "cannot push to {registry}/{repository}: {registry} asks for credentials and none were \
         found (looked in {searched}): run `docker login {registry}`"
    )]
    RegistryNoCredentials {
        /// `host[:port]`.
        registry: String,
        /// The repository pushed to.
        repository: String,
        /// The files that were searched.
        searched: String,
    },

    /// The TLS handshake with the registry failed (an untrusted certificate, or no TLS at all).
    #[error(
        "cannot push to {registry}: the TLS connection failed: {reason}\n\
         hint: if the registry's certificate comes from a private CA, point SSL_CERT_FILE or \
         SSL_CERT_DIR at it; a registry that only speaks plain HTTP must be listed as insecure"
    )]
    RegistryTls {
        /// `host[:port]`.
        registry: String,
        /// What rustls said.
        reason: String,
    },

    /// The registry knows who we are and says no (HTTP 403).
    #[error(
        "cannot push to {registry}/{repository}: permission denied{}: {message}",
        user_suffix(user)
    )]
    RegistryDenied {
        /// `host[:port]`.
        registry: String,
        /// The repository pushed to.
        repository: String,
        /// The user name, if credentials were sent.
        user: Option<String>,
        /// The registry's own message.
        message: String,
    },

    /// The repository does not exist and the push did not create it (HTTP 404, `NAME_UNKNOWN`).
    #[error(
        "cannot push to {registry}/{repository}: the repository does not exist on {registry} \
         ({message}); create it first (some registries need the project or namespace made \
         beforehand) or check the image name"
    )]
    RegistryNameUnknown {
        /// `host[:port]`.
        registry: String,
        /// The repository pushed to.
        repository: String,
        /// The registry's own message.
        message: String,
    },

    /// The registry answered a request with an error.
    #[error("cannot push to {registry}/{repository}: failed to {action}: {message}")]
    Registry {
        /// `host[:port]`.
        registry: String,
        /// The repository pushed to.
        repository: String,
        /// What was asked (`upload blob sha256:…`, `put manifest 1.0`, …).
        action: String,
        /// The HTTP status and the registry's error codes and messages.
        message: String,
    },

    /// The registry stored the manifest under another digest than the one computed here.
    #[error(
        "cannot push to {registry}/{repository}: the registry reports manifest digest \
         {reported}, expected {expected}"
    )]
    RegistryDigestMismatch {
        /// `host[:port]`.
        registry: String,
        /// The repository pushed to.
        repository: String,
        /// The digest of `Image::manifest_bytes`.
        expected: Digest,
        /// What the registry's `Docker-Content-Digest` header said.
        reported: String,
    },

    /// A docker credential helper could not be run or failed.
    #[error("credential helper `{helper}` failed for {registry}: {reason}")]
    CredentialHelper {
        /// The program (`docker-credential-pass`).
        helper: String,
        /// The registry the credentials were for.
        registry: String,
        /// What went wrong (the helper's message; never a secret).
        reason: String,
    },
}

/// ` (user alice)`, or nothing.
fn user_suffix(user: &Option<String>) -> String {
    user.as_ref()
        .map(|u| format!(" (user {u})"))
        .unwrap_or_default()
}

/// Each engine error in the variant that names it.
impl From<EngineError> for OciError {
    fn from(error: EngineError) -> OciError {
        match &error {
            EngineError::BadDockerHost { .. } => OciError::BadDockerHost(error),
            EngineError::Unreachable { host, .. } => OciError::EngineUnreachable {
                host: host.clone(),
                error,
            },
            EngineError::Failed { .. } => OciError::Engine(error),
        }
    }
}

impl OciError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> OciError {
        let path = path.into();
        move |source| OciError::Io { path, source }
    }

    /// An I/O error while writing `path` — unless what failed was reading a layer blob whose
    /// bytes are not its digest's ([`BlobMismatch`]): then [`OciError::BadBlob`], naming the
    /// blob, since the destination is not at fault.
    pub(crate) fn io_or_bad_blob(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> OciError {
        let path = path.into();
        move |source| match BlobMismatch::in_io(&source) {
            Some(mismatch) => mismatch.to_error(),
            None => OciError::Io { path, source },
        }
    }
}

/// A layer blob whose bytes, read to the end, do not hash to its digest: carried inside an
/// `io::Error` out of the reader that found it (see `Layer::open_blob`).
#[derive(Debug, Clone)]
pub(crate) struct BlobMismatch {
    pub(crate) path: PathBuf,
    pub(crate) digest: Digest,
    pub(crate) actual: Digest,
}

impl BlobMismatch {
    /// The mismatch inside `error`, if that is what it is.
    pub(crate) fn in_io(error: &io::Error) -> Option<&BlobMismatch> {
        error.get_ref()?.downcast_ref::<BlobMismatch>()
    }

    pub(crate) fn to_error(&self) -> OciError {
        OciError::BadBlob {
            path: self.path.clone(),
            digest: self.digest,
            reason: format!(
                "its bytes hash to {}; the file was damaged after it was written (delete it, \
                 or run `grocker purge`, and build again)",
                self.actual
            ),
        }
    }
}

impl std::fmt::Display for BlobMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} should hash to {} but hashes to {}",
            self.path.display(),
            self.digest,
            self.actual
        )
    }
}

impl std::error::Error for BlobMismatch {}
