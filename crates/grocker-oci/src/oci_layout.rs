//! `OciLayoutSink`: `-o oci:DIR`, an OCI image layout directory (OCI image spec, image-layout.md).

use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::referrer::EMPTY;
use crate::sink::{self, OCI_LAYOUT, REF_NAME};
use crate::{Digest, Image, ImageIndex, ImageName, OciError, Published, Referrer, Sink, json};

/// Writes images into an OCI image layout: `oci-layout`, `index.json`, `blobs/sha256/…`.
///
/// The directory may be new, empty, or an existing layout: blobs are added and the index entry
/// with the same `org.opencontainers.image.ref.name` (the tag) is replaced. `oci-layout` is
/// written first, then the blobs, each through a temp file and a rename, and `index.json` is
/// replaced last, atomically: an interrupted publish leaves the previous index (or none), never
/// one naming missing blobs, and a layout the next run resumes (removing the temp files).
#[derive(Debug)]
pub struct OciLayoutSink {
    dir: PathBuf,
}

impl OciLayoutSink {
    /// Checks that `dir` is absent, an empty directory, an OCI layout, or what an interrupted
    /// grocker left of one (blobs and temp files, no `oci-layout` yet), and removes the temp
    /// files a killed run left there. Nothing else is written yet.
    pub fn new(dir: &Path) -> Result<OciLayoutSink, OciError> {
        let not_ours = || OciError::DestinationNotOurs {
            path: dir.to_path_buf(),
            expected: "an empty directory or an OCI image layout",
        };
        match fs_err::metadata(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(OciError::io(dir)(e)),
            Ok(meta) if !meta.is_dir() => return Err(not_ours()),
            Ok(_) => {
                let layout = dir.join("oci-layout");
                if !layout.is_file() {
                    if !is_partial_layout(dir)? {
                        return Err(not_ours());
                    }
                } else {
                    let bytes = fs_err::read(&layout).map_err(OciError::io(&layout))?;
                    let value: Value = serde_json::from_slice(&bytes).map_err(|_| not_ours())?;
                    if !value["imageLayoutVersion"].is_string() {
                        return Err(not_ours());
                    }
                }
                sink::remove_stale_temps(dir, None)?;
                sink::remove_stale_temps(&dir.join("blobs/sha256"), None)?;
            }
        }
        Ok(OciLayoutSink {
            dir: dir.to_path_buf(),
        })
    }

    fn blob_path(&self, digest: Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    /// Whether a blob file of the right size is there already (blobs are immutable).
    fn holds(&self, digest: Digest, size: u64) -> bool {
        fs_err::metadata(self.blob_path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// Writes a blob unless [`Self::holds`] it.
    fn put_blob(
        &self,
        digest: Digest,
        size: u64,
        write: impl FnOnce(&mut dyn io::Write) -> io::Result<()>,
    ) -> Result<(), OciError> {
        if self.holds(digest, size) {
            return Ok(());
        }
        sink::write_atomic_with(&self.blob_path(digest), write)
    }

    fn read_index(&self, path: &Path) -> Result<Vec<Value>, OciError> {
        let bad = |reason: String| OciError::BadJson {
            path: path.to_path_buf(),
            what: "OCI image index",
            reason,
        };
        let bytes = match fs_err::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(OciError::io(path)(e)),
        };
        let mut index: Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        match index.get_mut("manifests").map(Value::take) {
            Some(Value::Array(manifests)) => Ok(manifests),
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(_) => Err(bad("`manifests` is not an array".into())),
        }
    }
}

impl OciLayoutSink {
    /// Writes the blobs of `images` (each layer once, whichever images share it), then their
    /// configs and manifests; `index.json` is the caller's, last.
    fn put_images(&self, images: &[Image]) -> Result<(), OciError> {
        // Every layer blob is checked before anything is created at the destination.
        let mut seen = std::collections::HashSet::new();
        let sources = images
            .iter()
            .flat_map(|image| image.layers())
            .filter(|layer| seen.insert(layer.digest()))
            .map(|layer| {
                let source = match layer.is_intact() {
                    true => Source::Intact(layer.open_file()?),
                    false => Source::Checked(layer.open_blob()?),
                };
                Ok((layer, source))
            })
            .collect::<Result<Vec<_>, OciError>>()?;
        // `oci-layout` first, as the mark of a layout: whatever a kill or a full disk leaves
        // after it, the next run recognises as a layout and completes.
        fs_err::create_dir_all(&self.dir).map_err(OciError::io(&self.dir))?;
        let layout = self.dir.join("oci-layout");
        if !layout.is_file() {
            sink::write_atomic(&layout, OCI_LAYOUT)?;
        }
        let blobs = self.dir.join("blobs/sha256");
        fs_err::create_dir_all(&blobs).map_err(OciError::io(&blobs))?;
        for (layer, source) in sources {
            let (digest, size) = (layer.digest(), layer.descriptor.size);
            match source {
                Source::Intact(mut file) => {
                    if !self.holds(digest, size) {
                        sink::copy_atomic(&self.blob_path(digest), file.file_mut())?;
                    }
                }
                Source::Checked(mut reader) => {
                    self.put_blob(digest, size, |w| io::copy(&mut reader, w).map(drop))?;
                }
            }
        }
        for image in images {
            let config = image.config_bytes();
            self.put_blob(image.config_digest(), config.len() as u64, |w| {
                w.write_all(config)
            })?;
            let manifest = image.manifest_bytes();
            self.put_blob(image.digest(), manifest.len() as u64, |w| {
                w.write_all(manifest)
            })?;
        }
        Ok(())
    }

    /// Replaces the entry tagged like `name` in `index.json` with `entry`, atomically.
    fn tag(&self, name: &ImageName, entry: Value) -> Result<(), OciError> {
        let index_path = self.dir.join("index.json");
        let mut manifests = self.read_index(&index_path)?;
        manifests.retain(|m| m["annotations"][REF_NAME].as_str() != Some(name.tag()));
        manifests.push(entry);
        sink::write_atomic(&index_path, &json::to_vec(&sink::index(manifests)))
    }
}

impl Sink for OciLayoutSink {
    fn publish(&mut self, image: &Image, name: &ImageName) -> Result<Published, OciError> {
        self.put_images(std::slice::from_ref(image))?;
        self.tag(name, sink::index_entry(image, name))?;
        Ok(Published {
            digest: image.digest(),
            location: format!("oci:{}:{}", self.dir.display(), name.tag()),
        })
    }

    /// The images' blobs, the nested index as a blob, and `index.json` naming it (OCI image
    /// spec, image-layout.md: "index.json … MAY reference other indexes").
    fn publish_index(
        &mut self,
        index: &ImageIndex,
        name: &ImageName,
    ) -> Result<Published, OciError> {
        self.put_images(index.images())?;
        let bytes = index.bytes();
        self.put_blob(index.digest(), bytes.len() as u64, |w| w.write_all(bytes))?;
        self.tag(name, sink::named_entry(index.descriptor(), name))?;
        Ok(Published {
            digest: index.digest(),
            location: format!("oci:{}:{}", self.dir.display(), name.tag()),
        })
    }

    /// The artifact, the empty config and the artifact manifest as blobs, then `index.json`
    /// listing the manifest — untagged: it is found by its `subject` — in place of an earlier
    /// artifact of the same type for the same subject.
    fn attach(
        &mut self,
        referrer: &Referrer,
        _name: &ImageName,
    ) -> Result<Option<String>, OciError> {
        let blob = referrer.blob();
        self.put_blob(referrer.blob_digest(), blob.len() as u64, |w| {
            w.write_all(blob)
        })?;
        self.put_blob(Digest::of(EMPTY), EMPTY.len() as u64, |w| {
            w.write_all(EMPTY)
        })?;
        let manifest = referrer.manifest_bytes();
        self.put_blob(referrer.digest(), manifest.len() as u64, |w| {
            w.write_all(manifest)
        })?;
        let index_path = self.dir.join("index.json");
        let mut manifests = self.read_index(&index_path)?;
        manifests.retain(|entry| !self.same_kind_for_same_subject(entry, referrer));
        let manifests = referrer.listed_in(manifests);
        sink::write_atomic(&index_path, &json::to_vec(&sink::index(manifests)))?;
        Ok(Some(format!(
            "oci:{}@{}",
            self.dir.display(),
            referrer.digest()
        )))
    }

    fn finish(self: Box<Self>) -> Result<(), OciError> {
        Ok(())
    }
}

impl OciLayoutSink {
    /// Whether the `index.json` entry `entry` is an artifact of `referrer`'s type for the same
    /// subject (its manifest, read from the layout, says so).
    fn same_kind_for_same_subject(&self, entry: &Value, referrer: &Referrer) -> bool {
        if entry["artifactType"].as_str() != Some(referrer.artifact_type()) {
            return false;
        }
        let Some(digest) = entry["digest"]
            .as_str()
            .and_then(|d| d.parse::<Digest>().ok())
        else {
            return false;
        };
        let manifest: Option<Value> = fs_err::read(self.blob_path(digest))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        manifest.is_some_and(|m| {
            m["subject"]["digest"].as_str() == Some(referrer.subject().digest.to_string().as_str())
        })
    }
}

/// Whether `dir`, which has no `oci-layout`, holds only what an interrupted grocker leaves:
/// `blobs/sha256/` with blobs named by their digest and grocker's temp files, and temp files
/// of `oci-layout` or `index.json` (earlier versions wrote `oci-layout` after the blobs).
/// Anything else is someone else's, and is left alone.
fn is_partial_layout(dir: &Path) -> Result<bool, OciError> {
    let is_temp_of = |name: &str, targets: &[&str]| {
        sink::temp_target(name).is_some_and(|t| targets.contains(&t))
    };
    let is_hex = |name: &str| {
        name.len() == 64
            && name
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    for (path, name, is_dir) in dir_entries(dir)? {
        let ok = match (name.as_str(), is_dir) {
            ("blobs", true) => dir_entries(&path)?
                .into_iter()
                .all(|(_, n, d)| n == "sha256" && d),
            (name, false) => is_temp_of(name, &["oci-layout", "index.json"]),
            _ => false,
        };
        if !ok {
            return Ok(false);
        }
    }
    let blobs = dir.join("blobs/sha256");
    if !blobs.is_dir() {
        return Ok(true);
    }
    Ok(dir_entries(&blobs)?.into_iter().all(|(_, name, is_dir)| {
        !is_dir && (is_hex(&name) || sink::temp_target(&name).is_some_and(is_hex))
    }))
}

/// `(path, file name, is a directory)` of each entry of `dir`; names that are not UTF-8 come
/// out lossy, which no name grocker writes is.
fn dir_entries(dir: &Path) -> Result<Vec<(PathBuf, String, bool)>, OciError> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir).map_err(OciError::io(dir))? {
        let entry = entry.map_err(OciError::io(dir))?;
        let is_dir = entry
            .file_type()
            .map_err(OciError::io(entry.path()))?
            .is_dir();
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push((entry.path(), name, is_dir));
    }
    Ok(out)
}

/// A layer blob to copy into the layout: hashed while it is read, or (known intact) copied by
/// the kernel.
enum Source {
    Checked(crate::layer::BlobReader),
    Intact(fs_err::File),
}
