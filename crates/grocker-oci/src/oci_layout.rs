//! `OciLayoutSink`: `-o oci:DIR`, an OCI image layout directory (OCI image spec, image-layout.md).

use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::sink::{self, OCI_LAYOUT, REF_NAME};
use crate::{Digest, Image, ImageName, OciError, Published, Sink, json};

/// Writes images into an OCI image layout: `oci-layout`, `index.json`, `blobs/sha256/…`.
///
/// The directory may be new, empty, or an existing layout: blobs are added and the index entry
/// with the same `org.opencontainers.image.ref.name` (the tag) is replaced. Blobs are written
/// first, each through a temp file and a rename, and `index.json` is replaced last, atomically:
/// an interrupted publish leaves the previous index (or none), never one naming missing blobs.
#[derive(Debug)]
pub struct OciLayoutSink {
    dir: PathBuf,
}

impl OciLayoutSink {
    /// Checks that `dir` is absent, an empty directory or an OCI layout. Nothing is written yet.
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
                    let mut entries = fs_err::read_dir(dir).map_err(OciError::io(dir))?;
                    if entries.next().is_some() {
                        return Err(not_ours());
                    }
                } else {
                    let bytes = fs_err::read(&layout).map_err(OciError::io(&layout))?;
                    let value: Value = serde_json::from_slice(&bytes).map_err(|_| not_ours())?;
                    if !value["imageLayoutVersion"].is_string() {
                        return Err(not_ours());
                    }
                }
            }
        }
        Ok(OciLayoutSink {
            dir: dir.to_path_buf(),
        })
    }

    fn blob_path(&self, digest: Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    /// Writes a blob unless a file of the right size is already there (blobs are immutable).
    fn put_blob(
        &self,
        digest: Digest,
        size: u64,
        write: impl FnOnce(&mut dyn io::Write) -> io::Result<()>,
    ) -> Result<(), OciError> {
        let path = self.blob_path(digest);
        if fs_err::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == size) {
            return Ok(());
        }
        sink::write_atomic_with(&path, write)
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

impl Sink for OciLayoutSink {
    fn publish(&mut self, image: &Image, name: &ImageName) -> Result<Published, OciError> {
        // Every layer blob is checked before anything is created at the destination.
        let sources = image
            .layers()
            .iter()
            .map(|layer| Ok((layer, layer.open_blob()?)))
            .collect::<Result<Vec<_>, OciError>>()?;
        let blobs = self.dir.join("blobs/sha256");
        fs_err::create_dir_all(&blobs).map_err(OciError::io(&blobs))?;
        for (layer, mut source) in sources {
            self.put_blob(layer.digest(), layer.descriptor.size, |w| {
                io::copy(&mut source, w).map(drop)
            })?;
        }
        let config = image.config_bytes();
        self.put_blob(image.config_digest(), config.len() as u64, |w| {
            w.write_all(config)
        })?;
        let manifest = image.manifest_bytes();
        self.put_blob(image.digest(), manifest.len() as u64, |w| {
            w.write_all(manifest)
        })?;

        let layout = self.dir.join("oci-layout");
        if !layout.is_file() {
            sink::write_atomic(&layout, OCI_LAYOUT)?;
        }
        let index_path = self.dir.join("index.json");
        let mut manifests = self.read_index(&index_path)?;
        manifests.retain(|m| m["annotations"][REF_NAME].as_str() != Some(name.tag()));
        manifests.push(sink::index_entry(image, name));
        sink::write_atomic(&index_path, &json::to_vec(&sink::index(manifests)))?;

        Ok(Published {
            digest: image.digest(),
            location: format!("oci:{}:{}", self.dir.display(), name.tag()),
        })
    }

    fn finish(self: Box<Self>) -> Result<(), OciError> {
        Ok(())
    }
}
