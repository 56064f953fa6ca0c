//! The one error type of this crate.

use grocker_fs::FsError;

/// A wheel file name that does not follow PEP 427.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{file}` is not a wheel file name: {reason}")]
pub struct WheelFilenameError {
    /// The rejected file name.
    pub file: String,
    /// What is wrong with it.
    pub reason: String,
}

/// What can go wrong reading Python metadata or installing a wheel. Every variant names the wheel
/// (its file name) and, where there is one, the offending archive entry.
#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    /// The wheel's file name is not a PEP 427 name.
    #[error(transparent)]
    Filename(#[from] WheelFilenameError),

    /// The file is not a readable zip archive, or an entry could not be inflated.
    #[error("{wheel}: cannot read the zip archive{}: {source}", entry_suffix(.entry))]
    Zip {
        /// The wheel.
        wheel: String,
        /// The entry being read, if any.
        entry: Option<String>,
        /// What the zip reader said.
        source: zip::result::ZipError,
    },

    /// Reading an entry's bytes failed (corrupt data, bad CRC).
    #[error("{wheel}: cannot read `{entry}`: {source}")]
    Io {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// The I/O error.
        source: std::io::Error,
    },

    /// An entry that could write outside the venv, or is not a plain file (DESIGN §5).
    #[error("{wheel}: refusing unsafe entry `{entry}`: {reason}")]
    Hostile {
        /// The wheel.
        wheel: String,
        /// The entry name as found in the archive.
        entry: String,
        /// Why it is refused.
        reason: String,
    },

    /// The archive inflates to more than the configured limit (a zip bomb, or a mistake).
    #[error("{wheel}: inflates to more than {limit} bytes (at `{entry}`): refusing a zip bomb")]
    TooLarge {
        /// The wheel.
        wheel: String,
        /// The entry at which the limit was crossed.
        entry: String,
        /// The limit, in bytes.
        limit: u64,
    },

    /// A member compressed at an absurd ratio, or inflating past the size its header
    /// declares: refused before (or as soon as) its expansion costs anything.
    #[error("{wheel}: `{entry}` {reason}: refusing a zip bomb")]
    ZipBomb {
        /// The wheel.
        wheel: String,
        /// The member.
        entry: String,
        /// What gives it away.
        reason: String,
    },

    /// A file's content does not match the hash the wheel's `RECORD` gives for it.
    #[error(
        "{wheel}: `{entry}` does not match its RECORD hash (expected {expected}, got {actual}): \
         the wheel was modified after it was built"
    )]
    HashMismatch {
        /// The wheel.
        wheel: String,
        /// The entry.
        entry: String,
        /// The hash `RECORD` gives.
        expected: String,
        /// The hash of the bytes in the archive.
        actual: String,
    },

    /// The wheel's own metadata (`.dist-info` layout, `WHEEL`, `RECORD`, `entry_points.txt`,
    /// `METADATA`) is missing or invalid.
    #[error("{wheel}: {entry}: {reason}")]
    Invalid {
        /// The wheel.
        wheel: String,
        /// The metadata file or directory at fault.
        entry: String,
        /// What is wrong.
        reason: String,
    },

    /// A path the wheel installs is a directory for another distribution and a file for this
    /// one (or the reverse): no install order can give both.
    #[error(
        "{wheel}: `{path}` is already installed by {owner} as a file where this wheel needs a \
         directory, or as a directory where this wheel has a file: the two distributions cannot \
         be installed together"
    )]
    Conflict {
        /// The wheel being installed.
        wheel: String,
        /// The clashing path in the image.
        path: String,
        /// Who installed it first (`charset-normalizer 3.4.0`, or a description).
        owner: String,
    },

    /// A wheel none of whose tags the target's interpreter accepts (pip refuses it too).
    #[error(
        "{wheel} is not a supported wheel on this platform ({target}): its tags are {tags}; \
         use a wheel built for this runtime and architecture (or choose the runtime it was \
         built for with --runtime/--platform)"
    )]
    UnsupportedWheel {
        /// The wheel's file name.
        wheel: String,
        /// The target's best tag: `cp311, manylinux_2_36_x86_64`.
        target: String,
        /// The wheel's tags: `cp311-cp311-win_amd64`.
        tags: String,
    },

    /// A file the wheel installs would replace one of grocker's own venv files (DESIGN §5).
    #[error(
        "{wheel}: refusing to install `{path}`: it is grocker's own venv file (the \
         interpreter links `bin/python*`, `pyvenv.cfg`, `lib64`) or outside the venv, which no \
         wheel may replace (a console script or `.data` file of that name would break the \
         venv); this wheel cannot go into an image as it is"
    )]
    OwnFile {
        /// The wheel (its file name).
        wheel: String,
        /// The path in the image, `/opt/venv/bin/python`.
        path: String,
    },

    /// The venv description is unusable (e.g. a relative root).
    #[error("invalid venv: {reason}")]
    Venv {
        /// What is wrong.
        reason: String,
    },

    /// Core metadata (`METADATA`/`PKG-INFO`) that cannot be read.
    #[error("invalid core metadata: {field}: {reason}")]
    Metadata {
        /// The header at fault (`Name`, `Requires-Dist`, ...).
        field: String,
        /// What is wrong, with the offending value.
        reason: String,
    },

    /// The filesystem model refused an entry.
    #[error("{wheel}: {source}")]
    Fs {
        /// The wheel.
        wheel: String,
        /// What the tree said.
        source: FsError,
    },
}

fn entry_suffix(entry: &Option<String>) -> String {
    entry
        .as_ref()
        .map(|e| format!(" at `{e}`"))
        .unwrap_or_default()
}
