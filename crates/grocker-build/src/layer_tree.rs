//! A warm runtime read back from its cached layers: when the `os` and `iconv` layers of a package
//! set are in the layer cache, the runtime filesystem is their tars read back (a gzip
//! decompression, or none for layers kept for the local engine), never the `.deb`s read and assembled again (an xz decompression of every
//! package, three times the work) — for the interpreter the sandbox and `--compile-bytecode`
//! run, and for the native-library check.

use std::io::Read;

use anyhow::{Context as _, Result, bail};
use grocker_fs::{Entry, Kind, RelPath, Tree};
use grocker_oci::Layer;

/// The filesystem of `layers` laid one over the other (they never overlap: the runtime's two
/// layers are a split of one tree). Their blobs were checked against their digests when the
/// layer cache gave them out.
pub fn read_layers(layers: &[&Layer]) -> Result<Tree> {
    let mut tree = Tree::new();
    for layer in layers {
        read_tar(layer.open_tar()?, &mut tree)
            .with_context(|| format!("reading the cached layer {}", layer.blob.display()))?;
    }
    Ok(tree)
}

/// [`read_layers`] on a blocking thread, for async callers.
pub async fn read_back(layers: &[&Layer]) -> Result<Tree> {
    let layers: Vec<Layer> = layers.iter().map(|l| (*l).clone()).collect();
    tokio::task::spawn_blocking(move || read_layers(&layers.iter().collect::<Vec<_>>()))
        .await
        .context("the layer reader stopped unexpectedly")?
}

/// The filesystem of an uncompressed tar file (the builder's CPython build).
pub fn read_tar_file(path: &std::path::Path) -> Result<Tree> {
    let mut tree = Tree::new();
    let file = std::io::BufReader::with_capacity(1 << 17, fs_err::File::open(path)?);
    read_tar(file, &mut tree).with_context(|| format!("reading {}", path.display()))?;
    Ok(tree)
}

fn read_tar(reader: impl Read, tree: &mut Tree) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if name.trim_start_matches("./").trim_matches('/').is_empty() {
            continue;
        }
        let path = RelPath::from_archive_name(&name)?;
        let header = entry.header();
        let (mode, uid, gid) = (header.mode()?, header.uid()? as u32, header.gid()? as u32);
        let kind = header.entry_type();
        let link = || -> Result<String> {
            let target = entry
                .link_name_bytes()
                .context("a link without its target")?;
            Ok(String::from_utf8_lossy(&target).into_owned())
        };
        let new = if kind.is_file() {
            let mut data = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut data)?;
            Entry::file(data, mode)
        } else if kind.is_dir() {
            Entry::dir(mode)
        } else if kind.is_symlink() {
            Entry::symlink(link()?)
        } else if kind.is_hard_link() {
            Entry {
                kind: Kind::Hardlink(RelPath::from_archive_name(&link()?)?),
                mode,
                uid,
                gid,
            }
        } else {
            bail!("{name}: an entry of type {kind:?}, which grocker's layers never hold");
        };
        tree.insert(path, new.owned_by(uid, gid))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use grocker_oci::Compression;

    /// What a layer is written from comes back whole: files, modes, owners, links.
    #[test]
    fn a_layer_reads_back_as_the_tree_it_was_written_from() {
        let mut tree = Tree::new();
        let p = |s: &str| RelPath::new(s).unwrap();
        tree.insert(p("usr"), Entry::dir(0o755)).unwrap();
        tree.insert(p("usr/lib"), Entry::dir(0o755)).unwrap();
        tree.insert(
            p("usr/lib/libx.so.1.2"),
            Entry::file(&b"\x7fELF..."[..], 0o644),
        )
        .unwrap();
        tree.insert(p("usr/lib/libx.so.1"), Entry::symlink("libx.so.1.2"))
            .unwrap();
        tree.insert(
            p("usr/lib/hard"),
            Entry {
                kind: Kind::Hardlink(p("usr/lib/libx.so.1.2")),
                mode: 0o644,
                uid: 0,
                gid: 0,
            },
        )
        .unwrap();
        tree.insert(p("home"), Entry::dir(0o775).owned_by(10001, 0))
            .unwrap();
        let (upper, lower) = {
            let mut lower = tree.clone();
            let upper = lower.split_off(|path, _| path.as_str().starts_with("home"));
            (upper, lower)
        };
        let dir = tempfile::tempdir().unwrap();
        // Layers kept for the local engine are not compressed; either kind reads back.
        for compression in [Compression::Gzip, Compression::None, Compression::Zstd] {
            let write = |t: &Tree| {
                Layer::build(dir.path(), compression, "test", |w| {
                    t.write_tar(w, 0).map(drop)
                })
                .unwrap()
            };
            let (a, b) = (write(&lower), write(&upper));
            let back = read_layers(&[&a, &b]).unwrap();
            assert_eq!(back, tree, "{compression:?}");
        }
    }
}
