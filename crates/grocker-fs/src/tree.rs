//! The sorted in-memory filesystem.

use std::collections::BTreeMap;
use std::collections::btree_map;

use bytes::Bytes;

use crate::{Content, FsError, RelPath};

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file and its content (in memory or on disk, see [`Content`]).
    File(Content),
    /// A directory.
    Dir,
    /// A symbolic link and its target, verbatim.
    Symlink(String),
    /// A hard link to another path of the same tree, which must exist when the tar is written.
    Hardlink(RelPath),
}

/// One filesystem entry: its kind, permission bits and numeric owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// File, directory or link.
    pub kind: Kind,
    /// Permission bits (`0o7777` at most).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

impl Entry {
    /// A root-owned file.
    pub fn file(data: impl Into<Bytes>, mode: u32) -> Self {
        Self::file_content(Content::inline(data), mode)
    }

    /// A root-owned file of `content`, wherever it is.
    pub fn file_content(content: Content, mode: u32) -> Self {
        Self {
            kind: Kind::File(content),
            mode,
            uid: 0,
            gid: 0,
        }
    }

    /// A root-owned directory.
    pub fn dir(mode: u32) -> Self {
        Self {
            kind: Kind::Dir,
            mode,
            uid: 0,
            gid: 0,
        }
    }

    /// A root-owned symlink (mode 0777, as symlinks always are).
    pub fn symlink(target: impl Into<String>) -> Self {
        Self {
            kind: Kind::Symlink(target.into()),
            mode: 0o777,
            uid: 0,
            gid: 0,
        }
    }

    /// The same entry owned by `uid:gid`.
    pub fn owned_by(mut self, uid: u32, gid: u32) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    fn describe(&self) -> &'static str {
        match self.kind {
            Kind::File(_) => "file",
            Kind::Dir => "directory",
            Kind::Symlink(_) => "symlink",
            Kind::Hardlink(_) => "hard link",
        }
    }

    /// Bytes of content (files only).
    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::File(content) => content.len(),
            _ => 0,
        }
    }
}

/// A filesystem: entries by path, iterated in byte order of their paths, which puts every parent
/// before its children. Missing parent directories are written as `0755 root:root`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    entries: BTreeMap<RelPath, Entry>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry. A directory may be inserted again (the first one's metadata stays, so the
    /// result depends only on insertion order, which callers keep deterministic); any other
    /// repeat is an error, as is an entry below a path that is not a directory.
    pub fn insert(&mut self, path: RelPath, entry: Entry) -> Result<(), FsError> {
        self.check_insert(&path, &entry)?;
        match self.entries.entry(path) {
            btree_map::Entry::Vacant(v) => {
                v.insert(entry);
                Ok(())
            }
            btree_map::Entry::Occupied(o) => {
                if o.get().kind == Kind::Dir && entry.kind == Kind::Dir {
                    Ok(())
                } else {
                    Err(FsError::Duplicate {
                        path: o.key().as_str().to_string(),
                    })
                }
            }
        }
    }

    /// Whether [`Tree::insert`] would accept `entry` at `path`: no ancestor is a non-directory,
    /// nothing is below a non-directory, and only directories repeat. Entries below a path
    /// imply a directory there even when none was inserted (`a/b` before `a`), so a file `a`
    /// would leave a tree no layer can hold.
    fn check_insert(&self, path: &RelPath, entry: &Entry) -> Result<(), FsError> {
        for ancestor in path.ancestors() {
            if let Some(existing) = self.entries.get(&ancestor)
                && existing.kind != Kind::Dir
            {
                return Err(FsError::NotADirectory {
                    path: ancestor.as_str().to_string(),
                    existing: existing.describe(),
                });
            }
        }
        match self.entries.get(path) {
            Some(existing) if existing.kind == Kind::Dir && entry.kind == Kind::Dir => Ok(()),
            Some(_) => Err(FsError::Duplicate {
                path: path.as_str().to_string(),
            }),
            None if entry.kind == Kind::Dir => Ok(()),
            None => match self.first_below(path) {
                Some(below) => Err(FsError::HasEntriesBelow {
                    path: path.as_str().to_string(),
                    kind: entry.describe(),
                    below: below.as_str().to_string(),
                }),
                None => Ok(()),
            },
        }
    }

    /// The first entry below `path`, if any: in the sorted map, entries below `a` follow `a/`
    /// directly (only names starting with a byte below `/` sort between, and none of those
    /// starts with `a/`).
    fn first_below(&self, path: &RelPath) -> Option<&RelPath> {
        let prefix = format!("{}/", path.as_str());
        self.entries
            .range(RelPath(prefix.clone())..)
            .next()
            .map(|(p, _)| p)
            .filter(|p| p.as_str().starts_with(&prefix))
    }

    /// Adds or overwrites an entry (for files grocker synthesizes over what packages shipped).
    pub fn replace(&mut self, path: RelPath, entry: Entry) -> Result<(), FsError> {
        self.entries.remove(&path);
        self.insert(path, entry)
    }

    /// The entry at `path`.
    pub fn get(&self, path: &RelPath) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Removes and returns the entry at `path` (not its children).
    pub fn remove(&mut self, path: &RelPath) -> Option<Entry> {
        self.entries.remove(path)
    }

    /// Entries in write order.
    pub fn iter(&self) -> impl Iterator<Item = (&RelPath, &Entry)> {
        self.entries.iter()
    }

    /// Number of explicit entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the tree has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sum of file sizes.
    pub fn content_size(&self) -> u64 {
        self.entries.values().map(Entry::size).sum()
    }

    /// Moves every entry of `other` into `self`, with [`Tree::insert`]'s rules.
    pub fn merge(&mut self, other: Tree) -> Result<(), FsError> {
        for (path, entry) in other.entries {
            self.insert(path, entry)?;
        }
        Ok(())
    }

    /// Moves every entry of `upper` into `self` as an image layer above it would be seen: a
    /// non-directory replaces the one at its path, directories merge (the first one's metadata
    /// stays). Callers decide beforehand whether a replacement is allowed; a directory and a
    /// non-directory at one path, or an entry below a non-directory, stay errors, because a
    /// layer cannot express them without whiteouts.
    ///
    /// All or nothing: every entry is checked before any is moved, so that an error leaves
    /// `self` as it was (a refused wheel must not leave half its files in the venv).
    pub fn overlay(&mut self, upper: Tree) -> Result<(), FsError> {
        // `upper` is itself a valid tree, so its entries can only clash with ours.
        for (path, entry) in &upper.entries {
            match self.entries.get(path) {
                Some(lower) if lower.kind != Kind::Dir && entry.kind != Kind::Dir => {}
                _ => self.check_insert(path, entry)?,
            }
        }
        for (path, entry) in upper.entries {
            match self.entries.get(&path) {
                Some(lower) if lower.kind != Kind::Dir && entry.kind != Kind::Dir => {
                    self.entries.insert(path, entry);
                }
                _ => self.insert(path, entry)?,
            }
        }
        Ok(())
    }

    /// Removes and returns the entries for which `keep_out` is true, as a tree of their own.
    pub fn split_off(&mut self, mut keep_out: impl FnMut(&RelPath, &Entry) -> bool) -> Tree {
        let (out, kept) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|(p, e)| keep_out(p, e));
        self.entries = kept;
        Tree { entries: out }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> RelPath {
        RelPath::new(p).unwrap()
    }

    #[test]
    fn overlay_replaces_files_and_keeps_lower_directories() {
        let mut lower = Tree::new();
        lower.insert(path("d"), Entry::dir(0o700)).unwrap();
        lower
            .insert(path("d/f"), Entry::file(&b"low"[..], 0o644))
            .unwrap();
        let mut upper = Tree::new();
        upper.insert(path("d"), Entry::dir(0o755)).unwrap();
        upper
            .insert(path("d/f"), Entry::file(&b"up"[..], 0o755))
            .unwrap();
        upper.insert(path("d/g"), Entry::symlink("f")).unwrap();
        lower.overlay(upper).unwrap();
        assert_eq!(lower.get(&path("d")).unwrap().mode, 0o700);
        assert_eq!(
            lower.get(&path("d/f")),
            Some(&Entry::file(&b"up"[..], 0o755))
        );
        assert_eq!(lower.get(&path("d/g")), Some(&Entry::symlink("f")));
    }

    #[test]
    fn overlay_refuses_a_file_over_a_directory_and_the_reverse() {
        let mut lower = Tree::new();
        lower.insert(path("d"), Entry::dir(0o755)).unwrap();
        lower
            .insert(path("d/f"), Entry::file(&b""[..], 0o644))
            .unwrap();
        let mut file_over_dir = Tree::new();
        file_over_dir
            .insert(path("d"), Entry::file(&b""[..], 0o644))
            .unwrap();
        let err = lower.clone().overlay(file_over_dir).unwrap_err();
        assert!(matches!(err, FsError::Duplicate { .. }), "{err}");
        let mut below_file = Tree::new();
        below_file
            .insert(path("d/f/x"), Entry::file(&b""[..], 0o644))
            .unwrap();
        let err = lower.overlay(below_file).unwrap_err();
        assert!(matches!(err, FsError::NotADirectory { .. }), "{err}");
    }

    /// fuzz/ wheel_files crash-1d3dc68f: a wheel with `x.dist-info/WHEEL/…` and
    /// `x.dist-info/WHEEL` staged both (a file inserted after entries below it was accepted),
    /// then the overlay into the venv failed halfway and left the wheel's other files there.
    #[test]
    fn fuzz_crash_a_file_over_entries_below_it_is_refused() {
        let mut tree = Tree::new();
        tree.insert(path("a/b"), Entry::file(&b""[..], 0o644))
            .unwrap();
        // Names sorting between `a` and `a/` do not hide what is below `a`.
        tree.insert(path("a-z"), Entry::file(&b""[..], 0o644))
            .unwrap();
        tree.insert(path("a.txt"), Entry::dir(0o755)).unwrap();
        let err = tree
            .insert(path("a"), Entry::file(&b""[..], 0o644))
            .unwrap_err();
        assert_eq!(err.to_string(), "`a` cannot be a file: `a/b` is below it");
        tree.insert(path("a"), Entry::dir(0o755)).unwrap();
        let err = tree.insert(path("a"), Entry::symlink("x")).unwrap_err();
        assert!(matches!(err, FsError::Duplicate { .. }), "{err}");
        tree.insert(path("ab"), Entry::symlink("a")).unwrap();
    }

    /// The same crash, at the overlay: an error leaves the lower tree as it was.
    #[test]
    fn fuzz_crash_overlay_is_all_or_nothing() {
        let mut lower = Tree::new();
        lower
            .insert(path("v/f"), Entry::file(&b"x"[..], 0o644))
            .unwrap();
        let before = lower.clone();
        let mut upper = Tree::new();
        upper
            .insert(path("v/a"), Entry::file(&b""[..], 0o644))
            .unwrap();
        upper
            .insert(path("v/b"), Entry::file(&b""[..], 0o644))
            .unwrap();
        // Sorts after `v/a` and `v/b`: the old overlay had moved them in before failing here.
        upper
            .insert(path("v/f/g"), Entry::file(&b""[..], 0o644))
            .unwrap();
        let err = lower.overlay(upper).unwrap_err();
        assert!(matches!(err, FsError::NotADirectory { .. }), "{err}");
        assert_eq!(lower, before);
    }
}
