//! The shared cache (`--cache-repo`, DESIGN §1.8) as the local cache's second level: where the
//! layer cache and the built-wheel cache miss, they ask here under the same key; what they make,
//! they share here. The registry side is [`grocker_oci::RemoteCache`]; this module only says
//! what an entry holds and puts what comes back where the local cache keeps it.
//!
//! Trust: a key names every input of what it holds (a layer's package hashes, a wheel's source
//! hash and builder), and every blob is checked against the digest its entry names before it
//! lands in the local cache, so what a runner takes from the shared cache is what it would
//! have built itself, or nothing.

use std::path::Path;

use grocker_fetch::Cache;
use grocker_hash::Sha256;
use grocker_oci::{CacheKey, Digest, RemoteCache};
use serde_json::{Value, json};

use crate::layers::{LayerCache, LayerKey, Record};

/// The layer of `key` from the shared cache: its blob fetched into `dir` (checked against its
/// digest), its record and venv index written to the local cache.
pub(crate) fn layer(
    remote: &RemoteCache,
    cache: &Cache,
    key: &LayerKey,
    dir: &Path,
) -> Option<Record> {
    let name = CacheKey::new("layer", key.digest());
    let entry = remote.lookup(&name)?;
    let record: Record = match serde_json::from_value(entry.record["layer"].clone()) {
        Ok(record) => record,
        Err(e) => {
            tracing::warn!("shared cache entry {name} has an unreadable record ({e}); ignoring it");
            return None;
        }
    };
    let index = entry.record["index"].as_str();
    let [(digest, size)] = entry.blobs[..] else {
        tracing::warn!("shared cache entry {name} does not hold one blob; ignoring it");
        return None;
    };
    if digest != record.digest || size != record.size {
        tracing::warn!("shared cache entry {name} names another blob than its record; ignoring it");
        return None;
    }
    let blob = dir.join(digest.hex());
    let have = fs_err::metadata(&blob).is_ok_and(|m| m.len() == size);
    if !have && !remote.fetch(&name, digest, size, &blob) {
        return None;
    }
    if let Err(e) = LayerCache::record(cache, key, &record, index) {
        tracing::warn!("cannot record the shared layer {name} in the local cache: {e:#}");
        return None;
    }
    Some(record)
}

/// Shares the layer just built under `key` (its blob at `blob`).
pub(crate) fn put_layer(
    remote: &RemoteCache,
    key: &LayerKey,
    record: &Record,
    index: Option<&str>,
    blob: &Path,
) {
    let document = json!({ "layer": record.shareable(), "index": index });
    let blobs = [(record.digest, record.size, blob.to_path_buf())];
    remote.store(&CacheKey::new("layer", key.digest()), &document, &blobs);
}

/// The name of the wheel built under `key` (the digest of its source's hash and its builder),
/// fetched into the local cache's blobs (checked against its SHA-256) from the shared cache.
pub(crate) fn wheel(
    remote: &RemoteCache,
    cache: &Cache,
    key: &Sha256,
) -> Option<(String, Sha256, std::path::PathBuf)> {
    let name = CacheKey::new("wheel", Digest::from(*key));
    let entry = remote.lookup(&name)?;
    let filename = entry.record["filename"].as_str()?;
    // A wheel's name ends up in the venv's paths: only a plain file name is acceptable.
    if !filename.ends_with(".whl") || filename.contains(['/', '\\']) || filename.starts_with('.') {
        tracing::warn!("shared cache entry {name} names the wheel `{filename}`; ignoring it");
        return None;
    }
    let [(digest, size)] = entry.blobs[..] else {
        tracing::warn!("shared cache entry {name} does not hold one blob; ignoring it");
        return None;
    };
    let sha256 = digest.sha256();
    let path = match cache.get(&sha256) {
        Some(path) => path,
        None => {
            let path = cache.blob_path(&sha256);
            if !remote.fetch(&name, digest, size, &path) {
                return None;
            }
            path
        }
    };
    Some((filename.to_string(), sha256, path))
}

/// Shares the wheel built under `key`.
pub(crate) fn put_wheel(remote: &RemoteCache, key: &Sha256, record: &Value, wheel: &Path) {
    let Ok(meta) = fs_err::metadata(wheel) else {
        return;
    };
    let Some(sha256) = record["sha256"]
        .as_str()
        .and_then(|s| s.parse::<Sha256>().ok())
    else {
        return;
    };
    let blobs = [(Digest::from(sha256), meta.len(), wheel.to_path_buf())];
    remote.store(&CacheKey::new("wheel", Digest::from(*key)), record, &blobs);
}
