//! The deterministic tar writer (DESIGN §3): same tree, same bytes.

use std::collections::HashSet;
use std::io::{self, Write};

use tar::{EntryType, Header};

use crate::{Entry, Kind, RelPath, Tree};

impl Tree {
    /// Writes the tree as a tar stream: entries in path order, parents first (missing parents as
    /// `0755 root:root` directories), numeric owners only, every mtime `mtime`. Long names and
    /// link targets use GNU long-name records, always the same way. Returns the writer.
    pub fn write_tar<W: Write>(&self, w: W, mtime: u64) -> io::Result<W> {
        let mut builder = tar::Builder::new(w);
        // Directories already written, explicit or implicit.
        let mut written: HashSet<String> = HashSet::new();
        let implicit = Entry::dir(0o755);
        for (path, entry) in self.iter() {
            for ancestor in path.ancestors() {
                // Explicit ancestors sort before their children and are already written.
                if self.get(&ancestor).is_none() && !written.contains(ancestor.as_str()) {
                    append(&mut builder, &ancestor, &implicit, mtime)?;
                    written.insert(ancestor.as_str().to_string());
                }
            }
            if let Kind::Hardlink(target) = &entry.kind
                && self.get(target).is_none()
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("hard link {path} points to {target}, which is not in the layer"),
                ));
            }
            append(&mut builder, path, entry, mtime)?;
            if entry.kind == Kind::Dir {
                written.insert(path.as_str().to_string());
            }
        }
        builder.into_inner()
    }
}

fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &RelPath,
    entry: &Entry,
    mtime: u64,
) -> io::Result<()> {
    let mut header = Header::new_gnu();
    header.set_mode(entry.mode & 0o7777);
    header.set_uid(entry.uid.into());
    header.set_gid(entry.gid.into());
    header.set_mtime(mtime);
    match &entry.kind {
        Kind::File(content) => {
            header.set_entry_type(EntryType::Regular);
            header.set_size(content.len());
            // Streamed from wherever the content is (a wheel in the cache, the spool), checked
            // against its hash on the way: never a whole file in memory.
            builder.append_data(&mut header, path.as_str(), content.open()?)
        }
        Kind::Dir => {
            header.set_entry_type(EntryType::Directory);
            header.set_size(0);
            builder.append_data(&mut header, format!("{}/", path.as_str()), io::empty())
        }
        Kind::Symlink(target) => {
            header.set_entry_type(EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, path.as_str(), target)
        }
        Kind::Hardlink(target) => {
            header.set_entry_type(EntryType::Link);
            header.set_size(0);
            builder.append_link(&mut header, path.as_str(), target.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample() -> Tree {
        let mut t = Tree::new();
        t.insert(
            RelPath::new("usr/bin/tool").unwrap(),
            Entry::file(&b"#!x\n"[..], 0o755),
        )
        .unwrap();
        t.insert(RelPath::new("usr/lib").unwrap(), Entry::dir(0o755))
            .unwrap();
        t.insert(RelPath::new("bin").unwrap(), Entry::symlink("usr/bin"))
            .unwrap();
        t.insert(
            RelPath::new("usr/lib/hard").unwrap(),
            Entry {
                kind: Kind::Hardlink(RelPath::new("usr/bin/tool").unwrap()),
                mode: 0o755,
                uid: 0,
                gid: 0,
            },
        )
        .unwrap();
        let long = format!("usr/share/{}/f", "n".repeat(150));
        t.insert(
            RelPath::new(&long).unwrap(),
            Entry::file(&b"long"[..], 0o644).owned_by(10001, 10001),
        )
        .unwrap();
        t.insert(RelPath::new("tmp").unwrap(), Entry::dir(0o1777))
            .unwrap();
        t
    }

    #[test]
    fn same_tree_same_bytes_and_parents_first() {
        let a = sample().write_tar(Vec::new(), 1_700_000_000).unwrap();
        let b = sample().write_tar(Vec::new(), 1_700_000_000).unwrap();
        assert_eq!(a, b);

        let mut archive = tar::Archive::new(&a[..]);
        let mut names = Vec::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            assert_eq!(h.mtime().unwrap(), 1_700_000_000);
            assert!(h.username().unwrap().unwrap_or("").is_empty());
            let name = e.path().unwrap().to_string_lossy().into_owned();
            if name.ends_with("/f") {
                assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (10001, 10001));
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                assert_eq!(s, "long");
            }
            if name == "tmp/" {
                assert_eq!(h.mode().unwrap(), 0o1777);
            }
            names.push(name);
        }
        for (i, n) in names.iter().enumerate() {
            let trimmed = n.trim_end_matches('/');
            if let Some((parent, _)) = trimmed.rsplit_once('/') {
                let pos = names.iter().position(|m| m == &format!("{parent}/"));
                assert!(pos.is_some_and(|p| p < i), "{parent}/ not before {n}");
            }
        }
        assert!(names.contains(&"usr/lib/hard".to_string()));
    }

    #[test]
    fn dangling_hardlink_is_an_error() {
        let mut t = Tree::new();
        t.insert(
            RelPath::new("a").unwrap(),
            Entry {
                kind: Kind::Hardlink(RelPath::new("missing").unwrap()),
                mode: 0o644,
                uid: 0,
                gid: 0,
            },
        )
        .unwrap();
        assert!(t.write_tar(Vec::new(), 0).is_err());
    }

    #[test]
    fn duplicates_and_files_as_parents_are_refused() {
        let mut t = Tree::new();
        let p = RelPath::new("etc/x").unwrap();
        t.insert(p.clone(), Entry::file(&b"1"[..], 0o644)).unwrap();
        assert!(t.insert(p.clone(), Entry::file(&b"2"[..], 0o644)).is_err());
        assert!(
            t.insert(RelPath::new("etc/x/y").unwrap(), Entry::dir(0o755))
                .is_err()
        );
        t.replace(p.clone(), Entry::file(&b"2"[..], 0o600)).unwrap();
        assert_eq!(t.get(&p).unwrap().mode, 0o600);
    }
}
