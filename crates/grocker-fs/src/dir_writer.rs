//! Writing a tree out as real files, for trees a container reads through a bind mount (the
//! compiler stage's build environments) rather than as a layer.

use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use crate::{Entry, Kind, Tree};

impl Tree {
    /// Writes the tree under `root`, which must not exist yet: directories, files with their
    /// permission bits, symlinks verbatim and hard links. Ownership is not applied (the files
    /// belong to the calling user). Missing parents become 0755 directories, as in
    /// [`Tree::write_tar`].
    ///
    /// Nothing is written through a link: [`Tree::insert`] refuses any entry below a
    /// non-directory, and `root` is created here, so every path lands inside it.
    pub fn write_dir(&self, root: &Path) -> io::Result<()> {
        fs_err::create_dir(root)?;
        let implicit = Entry::dir(0o755);
        for (path, entry) in self.iter() {
            for ancestor in path.ancestors() {
                let dir = root.join(ancestor.as_str());
                if self.get(&ancestor).is_none() && !dir.exists() {
                    write_entry(root, &dir, &implicit)?;
                }
            }
            write_entry(root, &root.join(path.as_str()), entry)?;
        }
        // Directory modes last: a read-only directory could not have been filled.
        for (path, entry) in self.iter() {
            if entry.kind == Kind::Dir {
                set_mode(&root.join(path.as_str()), entry.mode)?;
            }
        }
        Ok(())
    }
}

fn write_entry(root: &Path, path: &Path, entry: &Entry) -> io::Result<()> {
    match &entry.kind {
        Kind::Dir => match fs_err::create_dir(path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
            other => other,
        },
        Kind::File(content) => {
            let mut file = fs_err::File::create(path)?;
            io::copy(&mut content.open()?, &mut file)?;
            set_mode(path, entry.mode)
        }
        Kind::Symlink(target) => symlink(target, path),
        Kind::Hardlink(target) => fs_err::hard_link(root.join(target.as_str()), path),
    }
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RelPath;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn writes_files_links_and_modes() {
        let mut tree = Tree::new();
        let p = |s: &str| RelPath::new(s).unwrap();
        tree.insert(p("env/bin/tool"), Entry::file(&b"#!/bin/sh\n"[..], 0o755))
            .unwrap();
        tree.insert(p("env/bin/python"), Entry::symlink("/usr/bin/python3.11"))
            .unwrap();
        tree.insert(p("env/lib"), Entry::dir(0o555)).unwrap();
        tree.insert(p("env/lib/a.py"), Entry::file(&b"x = 1\n"[..], 0o644))
            .unwrap();
        tree.insert(
            p("env/lib/b.py"),
            Entry {
                kind: Kind::Hardlink(p("env/lib/a.py")),
                ..Entry::file(&b""[..], 0o644)
            },
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("out");
        tree.write_dir(&root).unwrap();

        let tool = fs_err::metadata(root.join("env/bin/tool")).unwrap();
        assert_eq!(tool.mode() & 0o7777, 0o755);
        assert_eq!(
            fs_err::read(root.join("env/bin/tool")).unwrap(),
            b"#!/bin/sh\n"
        );
        assert_eq!(
            fs_err::read_link(root.join("env/bin/python")).unwrap(),
            Path::new("/usr/bin/python3.11")
        );
        let lib = fs_err::metadata(root.join("env/lib")).unwrap();
        assert_eq!(lib.mode() & 0o7777, 0o555);
        assert_eq!(fs_err::read(root.join("env/lib/b.py")).unwrap(), b"x = 1\n");
        let implicit = fs_err::metadata(root.join("env")).unwrap();
        assert_eq!(implicit.mode() & 0o7777, 0o755);
        // An existing destination is refused rather than written into.
        assert!(tree.write_dir(&root).is_err());
    }
}
