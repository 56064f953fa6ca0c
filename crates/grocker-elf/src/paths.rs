//! Opening a path inside the tree the way the kernel would inside the container.

use std::collections::VecDeque;

use grocker_fs::{Content, Kind, RelPath, Tree};

/// Linux gives up after 40 symlinks in one lookup (`ELOOP`).
const MAX_SYMLINKS: usize = 40;

/// The regular file at absolute `path` (`/usr/lib/x86_64-linux-gnu/libz.so.1`), following
/// symlinks in every component — absolute targets from the image root, relative ones from the
/// link's directory, `..` physically — and hard links; with the path where it really is.
/// Directories the tree only implies (parents of entries) are directories.
pub(crate) fn open<'t>(tree: &'t Tree, path: &str) -> Option<(RelPath, &'t Content)> {
    let mut pending: VecDeque<&str> = components(path).collect();
    let mut here: Vec<&str> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            here.pop();
            continue;
        }
        here.push(part);
        let at = RelPath::new(&here.join("/")).ok()?;
        match tree.get(&at).map(|entry| &entry.kind) {
            None | Some(Kind::Dir) => {}
            Some(Kind::Symlink(target)) => {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return None;
                }
                here.pop();
                if target.starts_with('/') {
                    here.clear();
                }
                for part in components(target).rev() {
                    pending.push_front(part);
                }
            }
            Some(Kind::File(data)) => return pending.is_empty().then_some((at, data)),
            Some(Kind::Hardlink(to)) => {
                return match tree.get(to).map(|entry| &entry.kind) {
                    Some(Kind::File(data)) if pending.is_empty() => Some((to.clone(), data)),
                    _ => None,
                };
            }
        }
    }
    None
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
}

#[cfg(test)]
mod tests {
    use grocker_fs::Entry;

    use super::*;

    fn tree(entries: &[(&str, Entry)]) -> Tree {
        let mut tree = Tree::new();
        for (path, entry) in entries {
            tree.insert(RelPath::new(path).unwrap(), entry.clone())
                .unwrap();
        }
        tree
    }

    fn found(tree: &Tree, path: &str) -> Option<String> {
        open(tree, path).map(|(at, data)| format!("{} {}", at.as_str(), data.len()))
    }

    #[test]
    fn follows_merged_usr_and_library_symlinks() {
        let tree = tree(&[
            ("lib", Entry::symlink("usr/lib")),
            ("lib64", Entry::symlink("/usr/lib64")),
            (
                "usr/lib/x86_64-linux-gnu/libz.so.1.2.13",
                Entry::file(&b"zz"[..], 0o644),
            ),
            (
                "usr/lib/x86_64-linux-gnu/libz.so.1",
                Entry::symlink("libz.so.1.2.13"),
            ),
            (
                "usr/lib64/ld.so",
                Entry::symlink("../lib/x86_64-linux-gnu/./libz.so.1"),
            ),
            ("opt/a/b", Entry::dir(0o755)),
        ]);
        let z = Some("usr/lib/x86_64-linux-gnu/libz.so.1.2.13 2".to_string());
        assert_eq!(found(&tree, "/lib/x86_64-linux-gnu/libz.so.1"), z);
        assert_eq!(found(&tree, "/usr/lib/x86_64-linux-gnu//libz.so.1"), z);
        assert_eq!(found(&tree, "/lib64/ld.so"), z);
        assert_eq!(
            found(&tree, "/opt/a/b/../../../lib/x86_64-linux-gnu/libz.so.1"),
            z
        );
        assert_eq!(found(&tree, "/usr/lib/x86_64-linux-gnu/libc.so.6"), None);
        assert_eq!(
            found(&tree, "/usr/lib/x86_64-linux-gnu"),
            None,
            "a directory"
        );
        assert_eq!(found(&tree, "/lib/x86_64-linux-gnu/libz.so.1/x"), None);
    }

    #[test]
    fn hard_links_and_loops() {
        let mut tree = tree(&[
            ("a", Entry::symlink("b")),
            ("b", Entry::symlink("/a")),
            ("real", Entry::file(&b"x"[..], 0o644)),
        ]);
        let link = Entry {
            kind: Kind::Hardlink(RelPath::new("real").unwrap()),
            ..Entry::file(&b""[..], 0o644)
        };
        tree.insert(RelPath::new("hard").unwrap(), link).unwrap();
        assert_eq!(found(&tree, "/a"), None);
        assert_eq!(found(&tree, "/hard"), Some("real 1".to_string()));
    }
}
