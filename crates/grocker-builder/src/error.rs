//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

use grocker_engine::EngineError;

/// Everything that can go wrong while running a build in the builder container.
#[derive(Debug, thiserror::Error)]
pub enum BuilderError {
    /// Reading or writing a file on the host failed.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },

    /// `DOCKER_HOST` is set to something this client does not speak
    /// ([`EngineError::BadDockerHost`]).
    #[error(transparent)]
    BadDockerHost(EngineError),

    /// Nothing answers on the engine's socket, so nothing can be compiled
    /// ([`EngineError::Unreachable`], which says what to do about it).
    #[error(transparent)]
    EngineUnreachable(EngineError),

    /// The engine answered, but refused the request or said something unexpected
    /// ([`EngineError::Failed`]).
    #[error(transparent)]
    Engine(EngineError),

    /// The builder image is not in the engine (images are never pulled: grocker makes them).
    #[error(
        "the builder image `{image}` is not in the container engine at {host}\n\
         hint: grocker assembles and loads the builder image itself; nothing is pulled"
    )]
    ImageMissing {
        /// The image reference.
        image: String,
        /// The engine address.
        host: String,
    },

    /// The container ran longer than allowed and was killed.
    #[error("`{what}` in `{image}` did not finish within {seconds} s and was stopped\n{log}")]
    Timeout {
        /// What ran ("build the wheel of /src/black-24.10.0", ...).
        what: String,
        /// The builder image.
        image: String,
        /// The limit.
        seconds: u64,
        /// Everything the container printed until then.
        log: String,
    },

    /// The build (or the build-requirements query) exited with a non-zero code.
    #[error("failed to {what} in `{image}` (exit code {exit_code}); the build log follows:\n{log}")]
    BuildFailed {
        /// What ran.
        what: String,
        /// The builder image.
        image: String,
        /// The container's exit code.
        exit_code: i64,
        /// Everything the container printed, stdout and stderr interleaved.
        log: String,
    },

    /// The driver succeeded but its answer is unusable (no result line, no wheel file).
    #[error("failed to {what} in `{image}`: {reason}; the build log follows:\n{log}")]
    BadResult {
        /// What ran.
        what: String,
        /// The builder image.
        image: String,
        /// What is wrong.
        reason: String,
        /// Everything the container printed.
        log: String,
    },

    /// An sdist holds an entry that would escape the unpack directory or is otherwise unsafe.
    #[error("refusing to unpack {}: entry `{entry}`: {reason}", archive.display())]
    HostileArchive {
        /// The sdist.
        archive: PathBuf,
        /// The entry name as found in the archive.
        entry: String,
        /// Why it is refused.
        reason: String,
    },

    /// An sdist cannot be read (not a tar.gz / zip, truncated, ...).
    #[error("cannot read the sdist {}: {reason}", archive.display())]
    BadArchive {
        /// The sdist.
        archive: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A source tree's `pyproject.toml` cannot be used to build it.
    #[error("cannot build from {}: {reason}", path.display())]
    BadProject {
        /// The `pyproject.toml`.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The build environment could not be made from the build requirements' wheels.
    #[error("cannot make the build environment {}: {reason}", dir.display())]
    BadEnv {
        /// Where it was to be written.
        dir: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// A directory to mount into the builder cannot be used there.
    #[error("cannot use {} in the builder: {reason}", path.display())]
    BadMount {
        /// The host directory.
        path: PathBuf,
        /// Why ("not a directory", "not readable by other users: chmod o+rx", ...).
        reason: String,
    },
}

/// Each engine error in the variant that names it.
impl From<EngineError> for BuilderError {
    fn from(error: EngineError) -> BuilderError {
        match error {
            EngineError::BadDockerHost { .. } => BuilderError::BadDockerHost(error),
            EngineError::Unreachable { .. } => BuilderError::EngineUnreachable(error),
            EngineError::Failed { .. } => BuilderError::Engine(error),
        }
    }
}

impl BuilderError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> BuilderError {
        let path = path.into();
        move |source| BuilderError::Io { path, source }
    }
}
