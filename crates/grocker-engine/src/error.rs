//! The one error type of this crate.

use std::io;

/// Everything that can go wrong while talking to a container engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// `DOCKER_HOST` is set to something this client does not speak.
    #[error("unsupported DOCKER_HOST `{value}`: {reason}")]
    BadDockerHost {
        /// The value of DOCKER_HOST.
        value: String,
        /// Why it is not usable.
        reason: &'static str,
    },

    /// Nothing answers on the engine's socket.
    // The connection error is said before the hint, so it is not also the `source()`: printed
    // as a chain (`{:#}`), it would come again after the hint.
    #[error("cannot reach the container engine at {host}: {error}\nhint: {hint}")]
    Unreachable {
        /// The engine address (`unix:///var/run/docker.sock`, `tcp://host:port`).
        host: String,
        /// What the user can do about it.
        hint: String,
        /// The connection error.
        error: io::Error,
    },

    /// The engine answered, but refused the request or said something unexpected.
    #[error("the container engine at {host} failed to {action}: {message}")]
    Failed {
        /// The engine address.
        host: String,
        /// What was asked ("load the image", "create the build container", ...).
        action: &'static str,
        /// The engine's own message, or what was wrong with its answer.
        message: String,
    },
}
