//! Finished layers, cached by the digest of their inputs (DESIGN §4): a rebuild whose inputs did
//! not change reuses the compressed blob without reading a single package, so it re-tars
//! nothing. With `--cache-repo`, a layer the local cache lacks is looked up in the shared cache
//! under the same key, and a layer built here is shared there (`crate::shared`).

use std::fmt;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use anyhow::{Context as _, Result};
use grocker_fetch::{Cache, Flights};
use grocker_fs::Tree;
use grocker_hash::Hasher;
use grocker_oci::{Compression, Descriptor, Digest, Layer, RemoteCache};
use serde::{Deserialize, Serialize};

use crate::context::{Context, SourceDateEpoch};

/// Where each venv layer's index (`VenvIndex`) is kept beside the layer cache, by layer digest.
pub(crate) const INDEXES: &str = "venv-index";

/// Which layer of the image, least to most often changing (DESIGN §1.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerKind {
    /// The runtime: Debian packages and the files grocker synthesizes.
    Os,
    /// glibc's gconv charset modules, for images that call `iconv_open`.
    Iconv,
    /// Runtime libraries nothing in the runtime links, for images that link some
    /// (`crate::unlinked`).
    Unlinked,
    /// CPython built from source, under `/opt/python/3.X`.
    Python,
    /// Third-party wheels, and the venv itself; with several platforms, the wheels they all
    /// share.
    Deps,
    /// With several platforms, this platform's own third-party wheels.
    PlatformDeps,
    /// One very large third-party wheel, alone.
    OwnDeps(String),
    /// The application's own wheel.
    App,
    /// The builder image's one layer (shared through `--cache-repo` only).
    Builder,
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerKind::Os => f.write_str("os"),
            LayerKind::Iconv => f.write_str("iconv"),
            LayerKind::Unlinked => f.write_str("unlinked"),
            LayerKind::Python => f.write_str("python"),
            LayerKind::Deps => f.write_str("deps"),
            LayerKind::PlatformDeps => f.write_str("deps (platform)"),
            LayerKind::OwnDeps(name) => write!(f, "deps: {name}"),
            LayerKind::App => f.write_str("app"),
            LayerKind::Builder => f.write_str("builder"),
        }
    }
}

/// Facts about a layer's content that later builds need without reading it. A fact missing
/// from a record (one written before grocker noted it) reads as the cautious answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notes {
    /// Whether an ELF file of the layer (besides glibc's own) calls `iconv_open`: an `os` fact.
    #[serde(default = "yes")]
    pub calls_iconv: bool,
    /// Console and GUI scripts the layer's wheels install.
    #[serde(default)]
    pub scripts: Vec<String>,
    /// Whether the layer holds an ELF file (see `native::check`).
    #[serde(default = "yes")]
    pub elf: bool,
    /// Whether an ELF file of the layer calls `iconv_open`: a venv fact.
    #[serde(default = "yes")]
    pub iconv: bool,
    /// The units of an `unlinked` layer (`crate::unlinked`).
    #[serde(default)]
    pub units: Vec<crate::unlinked::Unit>,
}

fn yes() -> bool {
    true
}

impl Default for Notes {
    fn default() -> Self {
        Self {
            calls_iconv: true,
            scripts: Vec::new(),
            elf: true,
            iconv: true,
            units: Vec::new(),
        }
    }
}

/// What the layer cache records under a key.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    #[serde(with = "text")]
    diff_id: Digest,
    #[serde(with = "text")]
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    uncompressed_size: u64,
    #[serde(default, deserialize_with = "notes_or_default")]
    notes: Notes,
    /// The blob file as it was when last hashed (see [`Stamp`]).
    #[serde(default)]
    stamp: Option<Stamp>,
}

impl Record {
    /// The record as another machine may read it: the stamp describes a file of this one.
    pub(crate) fn shareable(&self) -> Record {
        Record {
            stamp: None,
            ..self.clone()
        }
    }
}

/// Digests as their `sha256:…` text.
mod text {
    use grocker_oci::Digest;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(digest: &Digest, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(digest)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Records of the iconv layer hold `null` notes.
fn notes_or_default<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Notes, D::Error> {
    Ok(Option::<Notes>::deserialize(d)?.unwrap_or_default())
}

/// Whether the cached blob at `path` hashes to `digest`, as the download cache checks its
/// blobs (DESIGN §5: the outcome of a build never depends on what is cached). A damaged blob
/// is removed with a warning naming its key, so the layer is built again and the image gets
/// the right bytes.
fn intact(path: &Path, digest: Digest, key_id: &str) -> bool {
    let read = fs_err::File::open(path)
        .and_then(|f| grocker_hash::hash_reader(std::io::BufReader::with_capacity(1 << 17, f)));
    let problem = match read {
        Ok((actual, _)) if Digest::from(actual) == digest => return true,
        Ok((actual, _)) => format!("its bytes hash to {}", Digest::from(actual)),
        Err(e) => e.to_string(),
    };
    tracing::warn!(
        "layer cache entry {key_id} ({}) is damaged: {problem}, not {digest}; removing it and \
         building the layer again",
        path.display()
    );
    if let Err(e) = fs_err::remove_file(path) {
        tracing::warn!("cannot remove the damaged layer: {e}");
    }
    false
}

/// A blob file as the filesystem describes it. A blob whose stamp is the one recorded when it
/// was last hashed is the file that was hashed, unchanged: any write to it changes its ctime,
/// which no program can set back, and the cache replaces files by renaming (a new inode). So
/// a layer is hashed when it is written or first found changed, not on every build — a no-op
/// rebuild reads no layer — and every sink still hashes what it streams out (DESIGN §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let m = fs_err::metadata(path).ok()?;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        })
    }
}

/// Everything a layer's bytes depend on, hashed. Callers feed every input (package hashes,
/// settings that change file contents); the grocker version and the format are always in.
#[derive(Clone)]
pub struct LayerKey {
    hasher: Hasher,
    /// How the layer is written: the key names them, so the writer takes them from it.
    epoch: SourceDateEpoch,
    compression: Compression,
}

impl LayerKey {
    pub fn new(kind: &LayerKind, epoch: SourceDateEpoch, compression: Compression) -> Self {
        let mut key = Self {
            hasher: Hasher::new(),
            epoch,
            compression,
        };
        let epoch = epoch.seconds();
        // Any change to how grocker lays files out must change this line's inputs, or a layer
        // cached by an earlier grocker is published for inputs that now give other bytes.
        // v3: the runtime's C.UTF-8 locale and group-0 writable home; file conflicts between
        // wheels resolved as installers do.
        key.add(&format!(
            "grocker-layer v3 {} {kind} epoch={epoch} {compression:?}",
            env!("CARGO_PKG_VERSION")
        ));
        key
    }

    /// One input line (e.g. `libc6 2.36-9+deb12u13 <sha256>`).
    pub fn add(&mut self, line: &str) {
        self.hasher.update(line.as_bytes());
        self.hasher.update(b"\n");
    }

    pub(crate) fn id(&self) -> String {
        self.hasher.clone().finish().to_string()
    }

    /// The key's digest, which names the layer in the shared cache too.
    pub(crate) fn digest(&self) -> Digest {
        Digest::from(self.hasher.clone().finish())
    }
}

pub struct LayerCache {
    cache: Cache,
    remote: Option<Arc<RemoteCache>>,
}

impl LayerCache {
    pub fn new(ctx: &Context) -> Self {
        Self {
            cache: ctx.fetcher.cache().clone(),
            remote: ctx.remote.clone(),
        }
    }

    fn dir(&self) -> std::path::PathBuf {
        self.cache.root().join("layers")
    }

    /// The layer a previous build made for `key`, with the notes recorded beside it, if its
    /// blob is still there with the recorded size (`grocker purge` removes blobs) and the
    /// recorded digest. A damaged blob is removed, so the caller builds the layer again. What
    /// the local cache lacks, the shared cache may have: it is fetched, checked and recorded
    /// here as if built here. A blob is hashed only when its file is not the one hashed last
    /// (see [`Stamp`]), on a blocking thread: the platforms of one build look their layers up
    /// at the same time.
    pub async fn lookup(&self, key: &LayerKey, created_by: &str) -> Option<(Layer, Notes)> {
        let dir = self.dir();
        let record = match self.local(key, &dir).await {
            Some(record) => record,
            None => {
                crate::shared::layer(self.remote.as_deref()?, &self.cache, key, &dir)?;
                // Recorded without a stamp: the blob is hashed as any other found changed.
                self.local(key, &dir).await?
            }
        };
        let descriptor = Descriptor::new(key.compression.media_type(), record.digest, record.size);
        let layer = Layer::from_parts(
            &dir,
            record.diff_id,
            descriptor,
            record.uncompressed_size,
            created_by,
        )
        .intact();
        Some((layer, record.notes))
    }

    /// Holds `key` while this task looks it up and, on a miss, writes it: the platforms of one
    /// build share layers, and the second finds the first's instead of writing it too.
    pub async fn claim(key: &LayerKey) -> tokio::sync::OwnedMutexGuard<()> {
        static WRITING: LazyLock<Flights<String>> = LazyLock::new(Flights::default);
        WRITING.claim(&key.id()).await
    }

    /// The local record of `key`, if its blob is in `dir`, whole.
    async fn local(&self, key: &LayerKey, dir: &Path) -> Option<Record> {
        let (bytes, _) = self.cache.get_keyed("layers", &key.id())?;
        let record: Record = match serde_json::from_slice(&bytes) {
            Ok(record) => record,
            Err(e) => {
                tracing::debug!("ignoring an unreadable layer-cache record: {e}");
                return None;
            }
        };
        let blob = dir.join(record.digest.hex());
        let stamp = Stamp::of(&blob)?;
        if stamp.size != record.size {
            return None;
        }
        if record.stamp == Some(stamp) {
            return Some(record);
        }
        let (path, digest, key_id) = (blob.clone(), record.digest, key.id());
        let intact = tokio::task::spawn_blocking(move || intact(&path, digest, &key_id))
            .await
            .unwrap_or(false);
        if !intact {
            return None;
        }
        // Remembered only if the file did not change while it was read.
        let record = Record {
            stamp: Some(stamp).filter(|s| Stamp::of(&blob).as_ref() == Some(s)),
            ..record
        };
        if record.stamp.is_some()
            && let Err(e) = Self::record(&self.cache, key, &record, None)
        {
            tracing::debug!("cannot record that the layer was verified: {e:#}");
        }
        Some(record)
    }

    /// Records `record` (and the venv layer's `index`) under `key`, as a build or a fetch
    /// from the shared cache leaves it.
    pub(crate) fn record(
        cache: &Cache,
        key: &LayerKey,
        record: &Record,
        index: Option<&str>,
    ) -> Result<()> {
        if let Some(index) = index {
            cache
                .put_keyed(INDEXES, &record.digest.hex(), index.as_bytes())
                .context("recording the layer's index in the cache")?;
        }
        cache
            .put_keyed("layers", &key.id(), &serde_json::to_vec(record)?)
            .context("recording the layer in the cache")?;
        Ok(())
    }

    /// Writes `tree` as a layer and records it under `key` with `notes` (facts about the
    /// layer's content later builds need without reading it, e.g. console scripts) and, for a
    /// venv layer, its `index`; shares it when there is a shared cache.
    pub fn build(
        &self,
        key: &LayerKey,
        created_by: &str,
        tree: &Tree,
        notes: &Notes,
        index: Option<&str>,
    ) -> Result<Layer> {
        let (compression, epoch) = (key.compression, key.epoch);
        let layer = Layer::build(&self.dir(), compression, created_by, |w: &mut dyn Write| {
            tree.write_tar(w, epoch.seconds()).map(drop)
        })?;
        let record = Record {
            diff_id: layer.diff_id,
            digest: layer.digest(),
            size: layer.descriptor.size,
            uncompressed_size: layer.uncompressed_size,
            notes: notes.clone(),
            // Hashed as it was written.
            stamp: Stamp::of(&layer.blob),
        };
        Self::record(&self.cache, key, &record, index)?;
        if let Some(remote) = &self.remote {
            crate::shared::put_layer(remote, key, &record, index, &layer.blob);
        }
        // Hashed as it was written, just now: the cache vouches for it as for one it looked
        // up, so sinks copy it without hashing it again.
        Ok(layer.intact())
    }
}
