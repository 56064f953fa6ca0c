//! Finished layers, cached by the digest of their inputs (DESIGN §4): a rebuild whose inputs did
//! not change reuses the compressed blob without reading a single package, so it re-tars
//! nothing.

use std::io::Write;

use anyhow::{Context, Result};
use grocker_fetch::Cache;
use grocker_fs::Tree;
use grocker_hash::Hasher;
use grocker_oci::{Compression, Descriptor, Digest, Layer};
use serde_json::{Value, json};

/// Everything a layer's bytes depend on, hashed. Callers feed every input (package hashes,
/// settings that change file contents); the grocker version and the format are always in.
#[derive(Clone)]
pub struct LayerKey {
    hasher: Hasher,
}

impl LayerKey {
    pub fn new(kind: &str, epoch: u64, compression: Compression) -> Self {
        let mut key = Self {
            hasher: Hasher::new(),
        };
        // Any change to how grocker lays files out must change this line's inputs.
        key.add(&format!(
            "grocker-layer v2 {} {kind} epoch={epoch} {compression:?}",
            env!("CARGO_PKG_VERSION")
        ));
        key
    }

    /// One input line (e.g. `libc6 2.36-9+deb12u13 <sha256>`).
    pub fn add(&mut self, line: &str) {
        self.hasher.update(line.as_bytes());
        self.hasher.update(b"\n");
    }

    fn id(&self) -> String {
        self.hasher.clone().finish().to_string()
    }
}

pub struct LayerCache {
    cache: Cache,
}

impl LayerCache {
    pub fn new(cache: &Cache) -> Self {
        Self {
            cache: cache.clone(),
        }
    }

    fn dir(&self) -> std::path::PathBuf {
        self.cache.root().join("layers")
    }

    /// The layer a previous build made for `key`, with the notes recorded beside it, if its
    /// blob is still there with the recorded size (`grocker purge` removes blobs).
    pub fn lookup(
        &self,
        key: &LayerKey,
        compression: Compression,
        created_by: &str,
    ) -> Option<(Layer, Value)> {
        let (bytes, _) = self.cache.get_keyed("layers", &key.id())?;
        let record: Value = serde_json::from_slice(&bytes).ok()?;
        let diff_id: Digest = record["diff_id"].as_str()?.parse().ok()?;
        let digest: Digest = record["digest"].as_str()?.parse().ok()?;
        let size = record["size"].as_u64()?;
        let uncompressed_size = record["uncompressed_size"].as_u64()?;
        let dir = self.dir();
        let on_disk = fs_err::metadata(dir.join(digest.hex())).ok()?.len();
        if on_disk != size {
            return None;
        }
        let descriptor = Descriptor::new(compression.media_type(), digest, size);
        let layer = Layer::from_parts(&dir, diff_id, descriptor, uncompressed_size, created_by);
        Some((layer, record["notes"].clone()))
    }

    /// Writes `tree` as a layer and records it under `key` with `notes` (facts about the
    /// layer's content later builds need without reading it, e.g. console scripts).
    pub fn build(
        &self,
        key: &LayerKey,
        compression: Compression,
        created_by: &str,
        tree: &Tree,
        epoch: u64,
        notes: Value,
    ) -> Result<Layer> {
        let layer = Layer::build(&self.dir(), compression, created_by, |w: &mut dyn Write| {
            tree.write_tar(w, epoch).map(drop)
        })?;
        let record = json!({
            "diff_id": layer.diff_id.to_string(),
            "digest": layer.digest().to_string(),
            "size": layer.descriptor.size,
            "uncompressed_size": layer.uncompressed_size,
            "notes": notes,
        });
        self.cache
            .put_keyed("layers", &key.id(), record.to_string().as_bytes())
            .context("recording the layer in the cache")?;
        Ok(layer)
    }
}
