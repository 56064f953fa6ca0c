//! The filesystem model image layers are cut from, and its deterministic tar writer.
//!
//! Every producer of files in a grocker image — the `.deb` reader, the wheel installer, the files
//! grocker synthesizes (`/etc/passwd`, the CA bundle) — inserts [`Entry`]s into a [`Tree`]. A tree
//! is then written as one layer tar whose bytes depend only on its content (DESIGN §3): entries
//! sorted with parents first, ownership and modes as recorded, no user/group names, no xattrs, and
//! one fixed mtime (`SOURCE_DATE_EPOCH`) for everything.
//!
//! A tree is an index of paths, not of bytes: a file's [`Content`] is a few bytes in memory, or
//! a byte range on disk — a member of a verified wheel in the cache, or a [`Spool`] for what
//! comes out of a stream — read back, checked against its SHA-256, as the tar is written. So
//! memory stays bounded whatever the image's size (DESIGN §1.5: torch with CUDA is ~5 GB).
//!
//! Paths are [`RelPath`]s: relative to the image root, normalized, never escaping it. Archives are
//! hostile until proven otherwise (DESIGN §5), so the checks live here, once, for every reader.
//!
//! ```
//! use grocker_fs::{Entry, RelPath, Tree};
//! let mut tree = Tree::new();
//! tree.insert(RelPath::new("etc/hostname")?, Entry::file(&b"grocker\n"[..], 0o644))?;
//! let tar = tree.write_tar(Vec::new(), 0)?;
//! // parents come first: "etc/", then "etc/hostname"
//! assert_eq!(tree.write_tar(Vec::new(), 0)?, tar);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod content;
mod dir_writer;
mod path;
mod tar_writer;
mod tree;

pub use content::{Content, Encoding, Spool};
pub use path::{RelPath, check_symlink};
pub use tree::{Entry, Kind, Tree};

/// What can go wrong building a filesystem tree.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// An archive entry that would write outside the image root or is otherwise unsafe.
    #[error("refusing unsafe entry `{name}`: {reason}")]
    Hostile {
        /// The entry name as found in the archive.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Two non-directory entries for one path.
    #[error("`{path}` appears twice")]
    Duplicate {
        /// The repeated path.
        path: String,
    },
    /// A path is a file in the tree but another entry needs it to be a directory.
    #[error("`{path}` is needed as a directory but is already a {existing}")]
    NotADirectory {
        /// The conflicting path.
        path: String,
        /// What it already is.
        existing: &'static str,
    },
    /// A non-directory at a path the tree already has entries below.
    #[error("`{path}` cannot be a {kind}: `{below}` is below it")]
    HasEntriesBelow {
        /// The conflicting path.
        path: String,
        /// What was to be put there.
        kind: &'static str,
        /// One entry below it.
        below: String,
    },
}
