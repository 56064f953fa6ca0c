//! The content-addressed cache on disk.
//!
//! ```text
//! <root>/blobs/sha256/<hex>        verified content, named by its SHA-256
//! <root>/keyed/<namespace>/<key>   small metadata documents (InRelease, index pages), with mtime
//! <root>/tmp/                      downloads in progress (same filesystem, so rename is atomic)
//! <root>/locks/                    advisory lock files for concurrent builds
//! ```
//!
//! Crash safety (DESIGN §5, "the cache survives kill -9 at any moment"): every entry is written to
//! a temp file in `tmp/`, fsynced, then renamed into place, so a reader sees the old entry, the new
//! one, or none — never half of one. On top of that, [`Cache::get`] re-hashes a blob before handing
//! it out, so even a file damaged behind our back is detected, deleted and fetched again.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use grocker_hash::Sha256;
use tempfile::NamedTempFile;

use crate::FetchError;

/// Temp files older than this are leftovers of a killed process; younger ones may belong to a
/// build running right now.
const STALE_TMP: Duration = Duration::from_secs(24 * 60 * 60);

/// The cache directory. Cheap to clone; several processes may share one root.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// An exclusive advisory lock taken with [`Cache::lock`]; released when dropped (or when the
/// process dies, since the kernel drops `flock` locks with the file descriptor).
#[derive(Debug)]
pub struct CacheLock {
    file: std::fs::File,
    path: PathBuf,
}

impl CacheLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first just makes it immediate.
        let _ = self.file.unlock();
    }
}

impl Cache {
    /// The cache at `GROCKER_CACHE_DIR` if set, else `<user cache dir>/grocker`
    /// (`~/.cache/grocker` on Linux).
    pub fn from_env() -> Result<Cache, FetchError> {
        match std::env::var_os("GROCKER_CACHE_DIR") {
            Some(dir) if !dir.is_empty() => Cache::at(dir),
            _ => Cache::at(
                dirs::cache_dir()
                    .ok_or(FetchError::NoCacheDir)?
                    .join("grocker"),
            ),
        }
    }

    /// The cache at `root`, creating its directories.
    pub fn at(root: impl Into<PathBuf>) -> Result<Cache, FetchError> {
        let cache = Cache { root: root.into() };
        for dir in [
            cache.blob_dir(),
            cache.root.join("keyed"),
            cache.tmp_dir(),
            cache.root.join("locks"),
        ] {
            fs_err::create_dir_all(&dir).map_err(|e| FetchError::io(&dir, e))?;
        }
        cache.remove_stale_temp_files();
        Ok(cache)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this hash lives (whether or not it is there).
    pub fn blob_path(&self, sha256: &Sha256) -> PathBuf {
        self.blob_dir().join(sha256.to_string())
    }

    /// Whether a blob with this hash is stored, without reading it: for work that only needs
    /// to know what is missing (its user hashes it through [`Cache::get`] later).
    pub fn holds(&self, sha256: &Sha256) -> bool {
        self.blob_path(sha256).is_file()
    }

    /// The path of the blob with this hash, if it is present and intact.
    ///
    /// The file is re-hashed on every call. That is cheap at our sizes (a few hundred MB per
    /// build hash in well under a second, against the seconds a download takes) and it means the
    /// cache never hands out bytes it did not verify: a torn or corrupted entry is deleted and
    /// reported absent, so the caller fetches it again.
    pub fn get(&self, sha256: &Sha256) -> Option<PathBuf> {
        let path = self.blob_path(sha256);
        let file = fs_err::File::open(&path).ok()?;
        match grocker_hash::hash_reader(io::BufReader::with_capacity(256 * 1024, file)) {
            Ok((actual, _)) if actual == *sha256 => Some(path),
            Ok((actual, _)) => {
                tracing::warn!(
                    "cache entry {} is corrupted (its content hashes to {actual}); removing it",
                    path.display()
                );
                let _ = fs_err::remove_file(&path);
                None
            }
            Err(e) => {
                tracing::warn!("cannot read cache entry: {e}; removing it");
                let _ = fs_err::remove_file(&path);
                None
            }
        }
    }

    /// Stores `data` under its hash and returns the hash and the blob's path.
    pub fn put_bytes(&self, data: &[u8]) -> Result<(Sha256, PathBuf), FetchError> {
        let sha256 = Sha256::digest(data);
        let mut tmp = self.temp_file()?;
        tmp.write_all(data)
            .map_err(|e| FetchError::io_at("write", tmp.path(), e))?;
        let path = self.put_file_verified(tmp, &sha256)?;
        Ok((sha256, path))
    }

    /// Moves a finished temp file (from [`Cache::temp_file`]) whose content the caller has already
    /// checked against `sha256` into place. If another process stored the same blob meanwhile, the
    /// rename replaces it with identical bytes, which is harmless.
    pub fn put_file_verified(
        &self,
        tmp: NamedTempFile,
        sha256: &Sha256,
    ) -> Result<PathBuf, FetchError> {
        let path = self.blob_path(sha256);
        persist(tmp, &path)?;
        Ok(path)
    }

    /// A new temp file inside the cache (same filesystem as the entries, so the final rename is
    /// atomic). It is deleted when dropped unless it is stored.
    pub fn temp_file(&self) -> Result<NamedTempFile, FetchError> {
        let dir = self.tmp_dir();
        tempfile::Builder::new()
            .prefix("part-")
            .tempfile_in(&dir)
            .map_err(|e| FetchError::io_at("create a temp file in", &dir, e))
    }

    /// Stores a small document under `keyed/<namespace>/<key>`, atomically. `namespace` may have
    /// several `/`-separated segments (`debian/InRelease`); `key` is one segment.
    pub fn put_keyed(&self, namespace: &str, key: &str, data: &[u8]) -> Result<(), FetchError> {
        let path = self.keyed_path(namespace, key)?;
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(|e| FetchError::io(parent, e))?;
        }
        let mut tmp = self.temp_file()?;
        tmp.write_all(data)
            .map_err(|e| FetchError::io_at("write", tmp.path(), e))?;
        persist(tmp, &path)
    }

    /// A document stored with [`Cache::put_keyed`] and when it was stored, so that callers can
    /// apply their own time-to-live.
    pub fn get_keyed(&self, namespace: &str, key: &str) -> Option<(Vec<u8>, SystemTime)> {
        let path = self.keyed_path(namespace, key).ok()?;
        let data = fs_err::read(&path).ok()?;
        let mtime = fs_err::metadata(&path).ok()?.modified().ok()?;
        Some((data, mtime))
    }

    /// Takes the exclusive lock `locks/<name>.lock`, waiting for another process (or another
    /// `CacheLock` in this one) to release it. This blocks the calling thread: from async code,
    /// call it inside `tokio::task::spawn_blocking`.
    pub fn lock(&self, name: &str) -> Result<CacheLock, FetchError> {
        check_segment(name).map_err(|()| FetchError::InvalidKey {
            namespace: "locks".into(),
            key: name.into(),
        })?;
        let path = self.root.join("locks").join(format!("{name}.lock"));
        let file = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| FetchError::io(&path, e))?
            .into_file();
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                tracing::info!(
                    "waiting for another grocker process to release {}",
                    path.display()
                );
                file.lock()
                    .map_err(|e| FetchError::io_at("lock", &path, e))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(FetchError::io_at("lock", &path, e));
            }
        }
        Ok(CacheLock { file, path })
    }

    /// Deletes every cache entry and returns how many bytes that freed. Lock files stay: another
    /// build may hold one right now.
    pub fn purge(&self) -> Result<u64, FetchError> {
        let mut freed = 0;
        let entries = fs_err::read_dir(&self.root).map_err(|e| FetchError::io(&self.root, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| FetchError::io(&self.root, e))?;
            if entry.file_name() == "locks" {
                continue;
            }
            let path = entry.path();
            freed += disk_usage(&path);
            let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                fs_err::remove_dir_all(&path)
            } else {
                fs_err::remove_file(&path)
            };
            removed.map_err(|e| FetchError::io(&path, e))?;
        }
        // Leave a usable cache behind.
        Cache::at(&self.root)?;
        Ok(freed)
    }

    fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn keyed_path(&self, namespace: &str, key: &str) -> Result<PathBuf, FetchError> {
        let invalid = || FetchError::InvalidKey {
            namespace: namespace.into(),
            key: key.into(),
        };
        let mut path = self.root.join("keyed");
        for segment in namespace.split('/').chain([key]) {
            check_segment(segment).map_err(|()| invalid())?;
            path.push(segment);
        }
        Ok(path)
    }

    /// Best effort: a process killed mid-download leaves its temp file behind.
    fn remove_stale_temp_files(&self) {
        let Ok(entries) = fs_err::read_dir(self.tmp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_TMP);
            if stale {
                let _ = fs_err::remove_file(entry.path());
            }
        }
    }
}

/// One path segment we are willing to create under the cache root.
fn check_segment(segment: &str) -> Result<(), ()> {
    let bad = segment.is_empty()
        || segment == "."
        || segment == ".."
        || segment.contains(['/', '\\', '\0']);
    if bad { Err(()) } else { Ok(()) }
}

/// fsync, then rename over `path`.
fn persist(tmp: NamedTempFile, path: &Path) -> Result<(), FetchError> {
    // The fsync orders the data before the rename, so that after a power loss the entry is the
    // old one or the new one, not a renamed empty file. (A kill -9 alone cannot tear it: the
    // page cache survives the process.)
    tmp.as_file()
        .sync_all()
        .map_err(|e| FetchError::io_at("sync", tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| FetchError::io_at("move a download into", path, e.error))?;
    Ok(())
}

/// Bytes used by a file or a directory tree (best effort; symlinks are not followed).
fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = fs_err::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    let Ok(entries) = fs_err::read_dir(path) else {
        return 0;
    };
    entries.flatten().map(|e| disk_usage(&e.path())).sum()
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
