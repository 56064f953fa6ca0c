//! `DockerArchiveSink`: `-o docker-archive:FILE`, a tarball for `docker load` and `podman load`.
//!
//! The layout is the one `docker save` writes since Docker 25: an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/…`) plus the legacy `manifest.json` and `repositories` pointing into
//! the same blobs. Older engines and skopeo's `docker-archive:` read `manifest.json`; OCI tools
//! (`oci-archive:`, containerd, Podman) read `index.json`. Layers stay compressed: `docker load`
//! decompresses them, and the image ID (the config digest) does not depend on it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::sink::{self, OCI_LAYOUT};
use crate::{Digest, Image, ImageName, OciError, Published, Sink, json};

/// Collects images and writes them as one docker-archive in `finish`.
///
/// The archive is written to a temp file next to FILE and renamed over it at the end, so FILE
/// is either untouched or complete.
#[derive(Debug)]
pub struct DockerArchiveSink {
    file: PathBuf,
    entries: Vec<ArchiveEntry>,
}

/// One image in an archive with all the names it was published under.
#[derive(Debug, Clone)]
pub(crate) struct ArchiveEntry {
    pub(crate) image: Image,
    pub(crate) names: Vec<ImageName>,
}

impl DockerArchiveSink {
    /// Checks that `file` is absent or a tar archive with a `manifest.json` (one we or
    /// `docker save` wrote), and removes the temp files of `file` (`.NAME.XXXXXX.tmp`, as big
    /// as the archive) that a killed or out-of-space run left beside it. Nothing is written
    /// before `finish`.
    pub fn new(file: &Path) -> Result<DockerArchiveSink, OciError> {
        let not_ours = || OciError::DestinationNotOurs {
            path: file.to_path_buf(),
            expected: "a docker-archive (a tar file with manifest.json)",
        };
        match fs_err::metadata(file) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(OciError::io(file)(e)),
            Ok(meta) if !meta.is_file() => return Err(not_ours()),
            Ok(_) => {
                let f = fs_err::File::open(file).map_err(OciError::io(file))?;
                if !has_manifest_json(io::BufReader::new(f)) {
                    return Err(not_ours());
                }
            }
        }
        if let Some(name) = file.file_name().and_then(|n| n.to_str()) {
            sink::remove_stale_temps(sink::parent(file), Some(name))?;
        }
        Ok(DockerArchiveSink {
            file: file.to_path_buf(),
            entries: Vec::new(),
        })
    }
}

/// Whether `reader` is a tar archive with a top-level `manifest.json`. Reads headers only,
/// seeking over the contents.
fn has_manifest_json(reader: impl Read + io::Seek) -> bool {
    let mut archive = tar::Archive::new(reader);
    let Ok(entries) = archive.entries_with_seek() else {
        return false;
    };
    for entry in entries {
        let Ok(entry) = entry else {
            return false;
        };
        let is_manifest = entry
            .path()
            .is_ok_and(|p| p.to_str().map(|s| s.trim_start_matches("./")) == Some("manifest.json"));
        if is_manifest {
            return true;
        }
    }
    false
}

impl Sink for DockerArchiveSink {
    fn publish_index(
        &mut self,
        index: &crate::ImageIndex,
        _name: &ImageName,
    ) -> Result<Published, OciError> {
        Err(OciError::OnePlatformOnly {
            destination: format!("-o docker-archive:{}", self.file.display()),
            count: index.images().len(),
        })
    }

    fn publish(&mut self, image: &Image, name: &ImageName) -> Result<Published, OciError> {
        add_entry(&mut self.entries, image, name);
        Ok(Published {
            digest: image.digest(),
            location: format!("docker-archive:{}", self.file.display()),
        })
    }

    fn finish(self: Box<Self>) -> Result<(), OciError> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let dir = sink::parent(&self.file);
        fs_err::create_dir_all(dir).map_err(OciError::io(dir))?;
        let mut blob_error = None;
        let result = sink::write_atomic_with(&self.file, |w| {
            write_archive(&self.entries, &BTreeSet::new(), w)
                .map(drop)
                .map_err(|e| match e {
                    ArchiveError::Oci(e) => {
                        blob_error = Some(e);
                        io::Error::other("blob")
                    }
                    ArchiveError::Write(e) => e,
                })
        });
        match blob_error {
            Some(e) => Err(e),
            None => result,
        }
    }
}

/// Adds `image` as `name`; a name moves from the image that had it, as `docker tag` would.
pub(crate) fn add_entry(entries: &mut Vec<ArchiveEntry>, image: &Image, name: &ImageName) {
    for entry in entries.iter_mut() {
        entry.names.retain(|n| n != name);
    }
    match entries
        .iter_mut()
        .find(|e| e.image.digest() == image.digest())
    {
        Some(entry) => entry.names.push(name.clone()),
        None => entries.push(ArchiveEntry {
            image: image.clone(),
            names: vec![name.clone()],
        }),
    }
}

/// Why writing an archive stopped.
#[derive(Debug)]
pub(crate) enum ArchiveError {
    /// A layer blob is missing or damaged.
    Oci(OciError),
    /// The output failed.
    Write(io::Error),
}

impl From<io::Error> for ArchiveError {
    /// A blob found damaged while it was copied is the blob's fault, not the output's.
    fn from(e: io::Error) -> Self {
        match crate::error::BlobMismatch::in_io(&e) {
            Some(mismatch) => Self::Oci(mismatch.to_error()),
            None => Self::Write(e),
        }
    }
}

/// Writes the archive. Entries are in a fixed order with fixed metadata, so the same images
/// give the same bytes. The blobs of `omitted` layers are left out (for an engine that has them;
/// such an archive is incomplete anywhere else).
pub(crate) fn write_archive<W: Write>(
    entries: &[ArchiveEntry],
    omitted: &BTreeSet<Digest>,
    out: W,
) -> Result<W, ArchiveError> {
    let mut tar = tar::Builder::new(out);
    dir_entry(&mut tar, "blobs/")?;
    dir_entry(&mut tar, "blobs/sha256/")?;
    let mut written = BTreeSet::new();
    let mut manifests = Vec::new();
    let mut index = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for ArchiveEntry { image, names } in entries {
        for layer in image.layers() {
            if !omitted.contains(&layer.digest()) && written.insert(layer.digest()) {
                // A blob its layer cache vouched for is not hashed a second time.
                let file: Box<dyn Read> = match layer.is_intact() {
                    true => Box::new(layer.open_file().map_err(ArchiveError::Oci)?),
                    false => Box::new(layer.open_blob().map_err(ArchiveError::Oci)?),
                };
                file_entry(
                    &mut tar,
                    &blob_path(layer.digest()),
                    layer.descriptor.size,
                    file,
                )?;
            }
        }
        for (digest, bytes) in [
            (image.config_digest(), image.config_bytes()),
            (image.digest(), image.manifest_bytes()),
        ] {
            if written.insert(digest) {
                file_entry(&mut tar, &blob_path(digest), bytes.len() as u64, bytes)?;
            }
        }
        let layers: Vec<String> = image
            .layers()
            .iter()
            .map(|l| blob_path(l.digest()))
            .collect();
        let repo_tags: Vec<String> = names.iter().map(ToString::to_string).collect();
        manifests.push(json!({
            "Config": blob_path(image.config_digest()),
            "RepoTags": repo_tags,
            "Layers": layers,
        }));
        for name in names {
            index.push(sink::index_entry(image, name));
            if let Some(top) = image.layers().last() {
                repositories
                    .entry(name.name())
                    .or_default()
                    .insert(name.tag().to_string(), top.digest().hex());
            }
        }
    }
    let index = json::to_vec(&sink::index(index));
    file_entry(&mut tar, "index.json", index.len() as u64, &index[..])?;
    let manifest = json::to_vec(&Value::Array(manifests));
    file_entry(
        &mut tar,
        "manifest.json",
        manifest.len() as u64,
        &manifest[..],
    )?;
    file_entry(&mut tar, "oci-layout", OCI_LAYOUT.len() as u64, OCI_LAYOUT)?;
    if !repositories.is_empty() {
        let repositories = json::to_vec(&json!(repositories));
        file_entry(
            &mut tar,
            "repositories",
            repositories.len() as u64,
            &repositories[..],
        )?;
    }
    Ok(tar.into_inner()?)
}

fn blob_path(digest: Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

fn header(path: &str, kind: tar::EntryType, mode: u32, size: u64) -> io::Result<tar::Header> {
    let mut header = tar::Header::new_ustar();
    header.set_path(path)?;
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    header.set_cksum();
    Ok(header)
}

fn dir_entry<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> io::Result<()> {
    tar.append(
        &header(path, tar::EntryType::Directory, 0o755, 0)?,
        io::empty(),
    )
}

/// Appends a file of exactly `size` bytes; a short source is an error, not a corrupt archive.
fn file_entry<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let header = header(path, tar::EntryType::Regular, 0o644, size)?;
    let mut exact = ExactReader {
        inner: data.take(size),
        left: size,
        path,
    };
    tar.append(&header, &mut exact)
}

/// Fails instead of ending early, so the tar never gets a truncated entry.
struct ExactReader<'a, R> {
    inner: R,
    left: u64,
    path: &'a str,
}

impl<R: Read> Read for ExactReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} ended {} bytes early", self.path, self.left),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
