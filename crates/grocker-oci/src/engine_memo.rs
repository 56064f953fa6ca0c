//! What grocker loaded into a Docker engine before, so that the next image on the same base
//! need not send the base again, whatever its name: an app's image on a runtime that
//! `grocker root -o docker` (or any earlier app) loaded. The engine cannot be asked whether it
//! has a layer without listing and inspecting every image it holds; `docker load` does look
//! each layer up by its chain ID before it reads the layer's file, so an archive without the
//! layers the engine has is enough.
//!
//! The memo is a hint, never the truth: the engine may have removed the layers since (`docker
//! rmi`, a prune, another machine's cache copied here). A load without them then fails, and
//! the caller sends the whole archive. One file per engine address, one chain ID per line,
//! oldest first, the newest [`KEEP`] kept.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use grocker_hash::Sha256;

use crate::{Digest, Image};

/// Chain IDs remembered per engine: a few hundred images' worth.
const KEEP: usize = 4096;

#[derive(Debug)]
pub(crate) struct EngineMemo {
    file: PathBuf,
}

impl EngineMemo {
    /// The memo of the engine at `host` (`unix:///var/run/docker.sock`), kept in `dir`.
    pub(crate) fn new(dir: &Path, host: &str) -> Self {
        let name = Sha256::digest(host.as_bytes()).to_string();
        Self {
            file: dir.join(&name[..16]),
        }
    }

    /// How many of `image`'s layers, from the bottom, the engine had after an earlier load.
    pub(crate) fn present(&self, image: &Image) -> usize {
        let Ok(text) = fs_err::read_to_string(&self.file) else {
            return 0;
        };
        let known: BTreeSet<&str> = text.lines().collect();
        chain_ids(image)
            .iter()
            .take_while(|chain| known.contains(chain.to_string().as_str()))
            .count()
    }

    /// Remembers that the engine has every layer of `image` now. A memo that cannot be written
    /// only costs the next load its shortcut.
    pub(crate) fn loaded(&self, image: &Image) {
        if let Err(e) = self.write(image) {
            tracing::debug!("cannot remember the layers the engine has: {e}");
        }
    }

    fn write(&self, image: &Image) -> std::io::Result<()> {
        let old = fs_err::read_to_string(&self.file).unwrap_or_default();
        let new: Vec<String> = chain_ids(image).iter().map(Digest::to_string).collect();
        let mut lines: Vec<&str> = old
            .lines()
            .filter(|line| !new.iter().any(|n| n == line))
            .collect();
        lines.extend(new.iter().map(String::as_str));
        let start = lines.len().saturating_sub(KEEP);
        let dir = self.file.parent().unwrap_or(Path::new("."));
        fs_err::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        for line in &lines[start..] {
            writeln!(tmp, "{line}")?;
        }
        tmp.persist(&self.file).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The image's layers as the engine's layer store names them: each layer's chain ID is its
/// diff ID on top of the chain below (`sha256(parent + " " + diff_id)`), the OCI image spec's
/// ChainID.
pub(crate) fn chain_ids(image: &Image) -> Vec<Digest> {
    let mut chains: Vec<Digest> = Vec::with_capacity(image.layers().len());
    for layer in image.layers() {
        let chain = match chains.last() {
            None => layer.diff_id,
            Some(parent) => Digest::from(Sha256::digest(
                format!("{parent} {}", layer.diff_id).as_bytes(),
            )),
        };
        chains.push(chain);
    }
    chains
}
