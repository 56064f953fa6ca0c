//! The `Sink` seam, and what the sinks share: blob copies, atomic writes, index entries.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use serde_json::{Value, json};

use crate::{Digest, Image, ImageIndex, ImageName, OciError};

/// Where a finished image goes (ko's `publish.Interface`): an OCI layout, a docker-archive, the
/// local engine, a registry. Sinks that write in one batch (an archive) do it in `finish`.
pub trait Sink {
    /// Writes (or records, for batch sinks) `image` under `name`.
    fn publish(&mut self, image: &Image, name: &ImageName) -> Result<Published, OciError>;

    /// Writes a multi-platform image: every platform's image and the index over them, `name`
    /// naming the index. Sinks that hold one platform's image (an archive, the engine) refuse
    /// it, which is the default.
    fn publish_index(
        &mut self,
        index: &ImageIndex,
        name: &ImageName,
    ) -> Result<Published, OciError> {
        let _ = name;
        Err(OciError::OnePlatformOnly {
            destination: "this output".into(),
            count: index.images().len(),
        })
    }

    /// Attaches `referrer` to its subject, an image published under `name` before; returns
    /// where it went. Sinks that cannot hold one (an archive, the engine) skip it, which is the
    /// default.
    fn attach(
        &mut self,
        referrer: &crate::Referrer,
        name: &ImageName,
    ) -> Result<Option<String>, OciError> {
        let _ = (referrer, name);
        Ok(None)
    }

    /// Completes the batch; for sinks that write at once, does nothing.
    fn finish(self: Box<Self>) -> Result<(), OciError>;
}

/// What a sink did with an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The manifest digest, or for the engine the image ID (config digest).
    pub digest: Digest,
    /// For people: `oci:DIR:TAG`, `docker-archive:FILE`, `docker (image id sha256:…)`,
    /// `docker://HOST/REPOSITORY:TAG`.
    pub location: String,
}

/// ko's `MultiPublisher`, like tee(1): the image goes to every sink, in order. Sinks agree on
/// the image's bytes; the digest reported is the last sink's, so a registry after an engine
/// reports the manifest digest a deployment pulls, not the engine's image ID.
pub struct Tee {
    sinks: Vec<Box<dyn Sink>>,
}

impl Tee {
    /// Every sink of `sinks`, in order.
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Self {
        Self { sinks }
    }
}

impl Tee {
    fn each(
        &mut self,
        mut publish: impl FnMut(&mut dyn Sink) -> Result<Published, OciError>,
    ) -> Result<Published, OciError> {
        let mut digest = None;
        let mut locations = Vec::new();
        for sink in &mut self.sinks {
            let published = publish(sink.as_mut())?;
            digest = Some(published.digest);
            locations.push(published.location);
        }
        let digest = digest.ok_or_else(|| OciError::InvalidConfig {
            reason: "no output was chosen".into(),
        })?;
        Ok(Published {
            digest,
            location: locations.join(" and "),
        })
    }
}

impl Sink for Tee {
    fn publish(&mut self, image: &Image, name: &ImageName) -> Result<Published, OciError> {
        self.each(|sink| sink.publish(image, name))
    }

    fn publish_index(
        &mut self,
        index: &ImageIndex,
        name: &ImageName,
    ) -> Result<Published, OciError> {
        self.each(|sink| sink.publish_index(index, name))
    }

    fn attach(
        &mut self,
        referrer: &crate::Referrer,
        name: &ImageName,
    ) -> Result<Option<String>, OciError> {
        let mut locations = Vec::new();
        for sink in &mut self.sinks {
            locations.extend(sink.attach(referrer, name)?);
        }
        Ok((!locations.is_empty()).then(|| locations.join(" and ")))
    }

    fn finish(self: Box<Self>) -> Result<(), OciError> {
        for sink in self.sinks {
            sink.finish()?;
        }
        Ok(())
    }
}

/// What a [`Recorder`]'s action may fail with (the binary's own errors: writing the lock, the
/// result file).
pub type RecordError = Box<dyn std::error::Error + Send + Sync>;

/// ko's `Recorder`: a sink that, once the sink it wraps has finished — the images are safely at
/// their destination — runs an action with every image it published, by name and in order
/// (grocker writes its lock and `--result-file` there). When a publish or the inner `finish`
/// fails, the action never runs: nothing records an image that did not arrive.
pub struct Recorder<F> {
    inner: Box<dyn Sink>,
    published: Vec<(ImageName, Published)>,
    action: F,
}

impl<F> Recorder<F>
where
    F: FnOnce(&[(ImageName, Published)]) -> Result<(), RecordError>,
{
    /// Wraps `inner`; `action` runs after `inner.finish()` succeeded.
    pub fn new(inner: Box<dyn Sink>, action: F) -> Self {
        Self {
            inner,
            published: Vec::new(),
            action,
        }
    }
}

impl<F> Sink for Recorder<F>
where
    F: FnOnce(&[(ImageName, Published)]) -> Result<(), RecordError>,
{
    fn publish(&mut self, image: &Image, name: &ImageName) -> Result<Published, OciError> {
        let published = self.inner.publish(image, name)?;
        self.published.push((name.clone(), published.clone()));
        Ok(published)
    }

    fn publish_index(
        &mut self,
        index: &ImageIndex,
        name: &ImageName,
    ) -> Result<Published, OciError> {
        let published = self.inner.publish_index(index, name)?;
        self.published.push((name.clone(), published.clone()));
        Ok(published)
    }

    fn attach(
        &mut self,
        referrer: &crate::Referrer,
        name: &ImageName,
    ) -> Result<Option<String>, OciError> {
        self.inner.attach(referrer, name)
    }

    fn finish(self: Box<Self>) -> Result<(), OciError> {
        let Self {
            inner,
            published,
            action,
        } = *self;
        inner.finish()?;
        action(&published).map_err(OciError::Record)
    }
}

/// `org.opencontainers.image.ref.name` (OCI image spec, annotations.md): the tag in a layout.
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The full name containerd, Docker 25+ and Podman read back when loading an OCI archive.
pub(crate) const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// `oci-layout` (OCI image spec, image-layout.md).
pub(crate) const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The index entry for `image` named `name`.
pub(crate) fn index_entry(image: &Image, name: &ImageName) -> Value {
    named_entry(image.descriptor(), name)
}

/// The entry of a layout's `index.json` for the blob `descriptor` names, tagged `name`.
pub(crate) fn named_entry(mut descriptor: crate::Descriptor, name: &ImageName) -> Value {
    descriptor.annotations = BTreeMap::from([
        (REF_NAME.to_string(), name.tag().to_string()),
        (CONTAINERD_NAME.to_string(), name.normalized()),
    ]);
    descriptor.to_json()
}

/// An image index listing `manifests`.
pub(crate) fn index(manifests: Vec<Value>) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": crate::MediaType::OciIndex.as_str(),
        "manifests": manifests,
    })
}

/// Writes `bytes` to `path` through a temp file in the same directory and a rename, so `path`
/// holds either the old content or the new, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like `write_atomic`, with the content written by a closure.
pub(crate) fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), OciError> {
    write_atomic_to_file(path, |file| {
        let mut out = io::BufWriter::new(file);
        write(&mut out)?;
        out.flush()
    })
}

/// Copies `source` to `path` as [`write_atomic_with`] writes, file to file: the kernel copies
/// (`copy_file_range`, a reflink where the filesystem has them), nothing passes through here.
pub(crate) fn copy_atomic(path: &Path, source: &mut std::fs::File) -> Result<(), OciError> {
    write_atomic_to_file(path, |file| io::copy(source, file).map(drop))
}

fn write_atomic_to_file(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> io::Result<()>,
) -> Result<(), OciError> {
    let dir = parent(path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    // tempfile creates 0600 files; what grocker publishes is for others to read, like any
    // file a user creates (`docker save -o` makes 0644 too).
    let mut temp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .prefix(&format!(".{}.", name.as_deref().unwrap_or("blob")))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(OciError::io(dir))?;
    // Held until the file is closed, whether renamed or not: a later run removes only temp
    // files no one holds (`remove_stale_temps`), i.e. those of a process that died. Where the
    // filesystem has no locks, the temp file is never taken for stale.
    let _ = temp.as_file().try_lock();
    write(temp.as_file_mut()).map_err(OciError::io_or_bad_blob(path))?;
    temp.persist(path).map_err(|e| OciError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// The file a temp file of [`write_atomic_with`] was to become: `.NAME.XXXXXX.tmp` → `NAME`
/// (tempfile's six random alphanumerics); `None` for any other name.
pub(crate) fn temp_target(file_name: &str) -> Option<&str> {
    let inner = file_name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (target, random) = inner.rsplit_once('.')?;
    let random_ok = random.len() == 6 && random.bytes().all(|b| b.is_ascii_alphanumeric());
    (random_ok && !target.is_empty()).then_some(target)
}

/// Removes from `dir` the temp files that [`write_atomic_with`] left when a run was killed or
/// ran out of space, for `target` (a file name) or, with `None`, for any file. One that a live
/// process holds locked (another build writing now) is left alone. Returns how many went.
pub(crate) fn remove_stale_temps(dir: &Path, target: Option<&str>) -> Result<usize, OciError> {
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(OciError::io(dir)(e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(OciError::io(dir))?;
        let name = entry.file_name();
        let ours = name
            .to_str()
            .and_then(temp_target)
            .is_some_and(|t| target.is_none_or(|wanted| t == wanted));
        if !ours || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = fs_err::File::open(&path) else {
            continue; // gone meanwhile
        };
        if file.file().try_lock().is_ok() {
            fs_err::remove_file(&path).map_err(OciError::io(&path))?;
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(
            "removed {removed} temp file(s) an interrupted run left in {}",
            dir.display()
        );
    }
    Ok(removed)
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::ImageConfig;

    /// A sink that publishes in memory and fails where it is told to.
    struct Fake {
        fail_publish: bool,
        fail_finish: bool,
    }

    impl Sink for Fake {
        fn publish(&mut self, image: &Image, name: &ImageName) -> Result<Published, OciError> {
            if self.fail_publish {
                return Err(OciError::InvalidConfig {
                    reason: "publish failed".into(),
                });
            }
            Ok(Published {
                digest: image.digest(),
                location: format!("fake:{name}"),
            })
        }

        fn finish(self: Box<Self>) -> Result<(), OciError> {
            match self.fail_finish {
                true => Err(OciError::InvalidConfig {
                    reason: "finish failed".into(),
                }),
                false => Ok(()),
            }
        }
    }

    type Seen = Rc<RefCell<Option<Vec<(ImageName, Published)>>>>;

    /// Publishes one image as `app:1` through a recorder around `inner`; returns the outcome
    /// and what the action saw (`None`: it did not run).
    fn record(inner: Fake, result: Result<(), &str>) -> (Result<(), OciError>, Seen) {
        let image = Image::new(&ImageConfig::default(), vec![], BTreeMap::new()).unwrap();
        let name: ImageName = "app:1".parse().unwrap();
        let seen: Seen = Rc::default();
        let log = Rc::clone(&seen);
        let mut sink = Box::new(Recorder::new(
            Box::new(inner),
            move |published: &[(ImageName, Published)]| {
                *log.borrow_mut() = Some(published.to_vec());
                result.map_err(|e| RecordError::from(e.to_string()))
            },
        ));
        let outcome = sink
            .publish(&image, &name)
            .map(drop)
            .and_then(|()| sink.finish());
        (outcome, seen)
    }

    #[test]
    fn temp_names_are_recognised_exactly() {
        assert_eq!(temp_target(".index.json.q1W2e3.tmp"), Some("index.json"));
        assert_eq!(temp_target(".app.tar.gz.Xy12Ab.tmp"), Some("app.tar.gz"));
        for other in [
            "index.json",
            ".index.json.tmp",
            ".index.json.q1W2e.tmp",
            ".index.json.q1W2e3.tmpx",
            "index.json.q1W2e3.tmp",
            "..q1W2e3.tmp",
            ".x.q1-2e3.tmp",
        ] {
            assert_eq!(temp_target(other), None, "{other}");
        }
    }

    #[test]
    fn recorder_acts_after_a_successful_finish_with_what_was_published() {
        let fake = Fake {
            fail_publish: false,
            fail_finish: false,
        };
        let (outcome, seen) = record(fake, Ok(()));
        outcome.unwrap();
        let seen = seen.borrow().clone().expect("the action ran");
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0.to_string(), "app:1");
        assert_eq!(seen[0].1.location, "fake:app:1");
    }

    #[test]
    fn recorder_does_not_act_when_the_inner_sink_fails() {
        for (fail_publish, fail_finish, message) in [
            (true, false, "publish failed"),
            (false, true, "finish failed"),
        ] {
            let fake = Fake {
                fail_publish,
                fail_finish,
            };
            let (outcome, seen) = record(fake, Ok(()));
            let err = outcome.unwrap_err();
            assert!(err.to_string().contains(message), "{err}");
            assert!(
                seen.borrow().is_none(),
                "{message}: the action must not run"
            );
        }
    }

    #[test]
    fn recorder_reports_the_action_error_as_its_own() {
        let fake = Fake {
            fail_publish: false,
            fail_finish: false,
        };
        let (outcome, _) = record(fake, Err("cannot write grocker.lock"));
        let err = outcome.unwrap_err();
        assert!(matches!(err, OciError::Record(_)), "{err:?}");
        assert_eq!(err.to_string(), "cannot write grocker.lock");
    }
}
