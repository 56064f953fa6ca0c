//! Unpacking sdists (`.tar.gz`, and the older `.zip`) with every entry treated as hostile
//! (DESIGN §5): names go through grocker-fs's [`RelPath`] rules (no absolute paths, no `..`),
//! symlinks must stay inside the tree and are made last, so nothing is ever written through one;
//! devices, FIFOs and duplicate names are refused, and the inflated size is capped.
//!
//! Modes are normalized (0644, 0755 for executables and directories): the builder reads the tree
//! as another uid, whatever the archive or the umask said.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use fs_err as fs;
use grocker_fs::{FsError, RelPath, check_symlink};

use crate::BuilderError;

/// Inflated bytes allowed in one sdist: far above any real one (numpy's is ~20 MB).
const MAX_UNPACKED: u64 = 4 << 30;
/// Entries allowed in one sdist.
const MAX_ENTRIES: usize = 200_000;

/// Unpacks `archive` into `dest` and returns the source tree: the archive's single top-level
/// directory (`name-version/`, as every sdist has), else `dest` itself.
pub(crate) fn unpack_sdist(archive: &Path, dest: &Path) -> Result<PathBuf, BuilderError> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let mut unpacker = Unpacker::new(archive, dest)?;
    let file = fs::File::open(archive).map_err(BuilderError::io(archive))?;
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        read_tar(flate2::read::GzDecoder::new(file), &mut unpacker)?;
    } else if name.ends_with(".tar") {
        read_tar(file, &mut unpacker)?;
    } else if name.ends_with(".zip") {
        read_zip(file, &mut unpacker)?;
    } else {
        return Err(unpacker.bad("not a .tar.gz or .zip sdist"));
    }
    unpacker.finish()
}

fn read_tar(reader: impl Read, unpacker: &mut Unpacker) -> Result<(), BuilderError> {
    let mut tar = tar::Archive::new(reader);
    let entries = tar.entries().map_err(|e| unpacker.bad(&e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| unpacker.bad(&e.to_string()))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        let link = || -> Result<String, BuilderError> {
            match entry.link_name_bytes() {
                Some(target) => Ok(String::from_utf8_lossy(&target).into_owned()),
                None => Err(unpacker.hostile(&name, "link without a target")),
            }
        };
        use tar::EntryType as T;
        match kind {
            T::Directory => unpacker.dir(&name)?,
            T::Regular | T::Continuous => {
                let mode = entry.header().mode().unwrap_or(0o644);
                unpacker.file(&name, &mut entry, mode & 0o111 != 0)?;
            }
            T::Symlink => {
                let target = link()?;
                unpacker.symlink(&name, &target)?;
            }
            T::Link => {
                let target = link()?;
                unpacker.hardlink(&name, &target)?;
            }
            // Metadata-only entries (pax global headers); the per-file ones (long names, pax
            // extensions) are folded into the entry that follows by the tar crate.
            T::XGlobalHeader => {}
            _ => return Err(unpacker.hostile(&name, "device, FIFO or other special file")),
        }
    }
    Ok(())
}

/// Unix file type bits of a zip entry's `external_attributes >> 16`.
const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

fn read_zip(file: fs::File, unpacker: &mut Unpacker) -> Result<(), BuilderError> {
    let mut zip = zip::ZipArchive::new(file).map_err(|e| unpacker.bad(&e.to_string()))?;
    for index in 0..zip.len() {
        let mut entry = zip
            .by_index(index)
            .map_err(|e| unpacker.bad(&e.to_string()))?;
        let name = match entry.name() {
            Ok(name) => name.into_owned(),
            Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
        };
        let mode = entry.external_attributes() >> 16;
        match mode & S_IFMT {
            _ if name.ends_with('/') => unpacker.dir(&name)?,
            // 0: made on a system without Unix modes; the entry is a plain file.
            0 | S_IFREG => unpacker.file(&name, &mut entry, mode & 0o111 != 0)?,
            S_IFDIR => unpacker.dir(&name)?,
            S_IFLNK => {
                let mut target = String::new();
                (&mut entry)
                    .take(4096)
                    .read_to_string(&mut target)
                    .map_err(|e| unpacker.bad(&e.to_string()))?;
                unpacker.symlink(&name, &target)?;
            }
            _ => return Err(unpacker.hostile(&name, "device, FIFO or other special file")),
        }
    }
    Ok(())
}

struct Unpacker<'a> {
    archive: &'a Path,
    dest: PathBuf,
    /// Regular files written, by path (hard links copy them).
    files: HashSet<RelPath>,
    dirs: HashSet<RelPath>,
    /// Symlinks to make once every file is written.
    symlinks: HashMap<RelPath, String>,
    remaining: u64,
    entries: usize,
}

impl<'a> Unpacker<'a> {
    fn new(archive: &'a Path, dest: &Path) -> Result<Self, BuilderError> {
        fs::create_dir_all(dest).map_err(BuilderError::io(dest))?;
        let not_empty = fs::read_dir(dest)
            .map_err(BuilderError::io(dest))?
            .next()
            .is_some();
        if not_empty {
            return Err(BuilderError::BadMount {
                path: dest.to_path_buf(),
                reason: "the directory to unpack the sdist into is not empty".into(),
            });
        }
        set_mode(dest, 0o755)?;
        Ok(Unpacker {
            archive,
            dest: dest.to_path_buf(),
            files: HashSet::new(),
            dirs: HashSet::new(),
            symlinks: HashMap::new(),
            remaining: MAX_UNPACKED,
            entries: 0,
        })
    }

    fn hostile(&self, entry: &str, reason: &str) -> BuilderError {
        BuilderError::HostileArchive {
            archive: self.archive.to_path_buf(),
            entry: entry.to_string(),
            reason: reason.to_string(),
        }
    }

    fn bad(&self, reason: &str) -> BuilderError {
        BuilderError::BadArchive {
            archive: self.archive.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    /// The checked path of an entry, counted against the entry limit.
    fn path(&mut self, name: &str) -> Result<RelPath, BuilderError> {
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(self.hostile(name, "more entries than any sdist has"));
        }
        if name.contains('\\') {
            return Err(self.hostile(name, "backslash in the name"));
        }
        let bytes = name.as_bytes();
        if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
            return Err(self.hostile(name, "absolute path (drive letter)"));
        }
        let path = RelPath::from_archive_name(name).map_err(|e| match e {
            FsError::Hostile { reason, .. } => self.hostile(name, reason),
            other => self.hostile(name, &other.to_string()),
        })?;
        if self.files.contains(&path) || self.symlinks.contains_key(&path) {
            return Err(self.hostile(name, "the archive holds two entries of this name"));
        }
        Ok(path)
    }

    fn host_path(&self, path: &RelPath) -> PathBuf {
        self.dest.join(path.as_str())
    }

    fn make_dirs(&mut self, path: &RelPath, name: &str) -> Result<(), BuilderError> {
        for dir in path.ancestors().chain(std::iter::once(path.clone())) {
            if self.dirs.contains(&dir) {
                continue;
            }
            if self.files.contains(&dir) || self.symlinks.contains_key(&dir) {
                return Err(self.hostile(name, "a file of the archive is used as a directory"));
            }
            let host = self.host_path(&dir);
            fs::create_dir(&host).or_else(|e| match e.kind() {
                io::ErrorKind::AlreadyExists if host.is_dir() => Ok(()),
                _ => Err(BuilderError::io(&host)(e)),
            })?;
            set_mode(&host, 0o755)?;
            self.dirs.insert(dir);
        }
        Ok(())
    }

    fn dir(&mut self, name: &str) -> Result<(), BuilderError> {
        let path = self.path(name)?;
        self.make_dirs(&path, name)
    }

    fn file(
        &mut self,
        name: &str,
        data: &mut dyn Read,
        executable: bool,
    ) -> Result<(), BuilderError> {
        let path = self.path(name)?;
        if self.dirs.contains(&path) {
            return Err(self.hostile(name, "a directory of the archive is also a file"));
        }
        if let Some(parent) = path.parent() {
            self.make_dirs(&parent, name)?;
        }
        let host = self.host_path(&path);
        let mut out = fs::File::create_new(&host).map_err(BuilderError::io(&host))?;
        let written = io::copy(&mut data.take(self.remaining + 1), &mut out).map_err(|e| {
            // A read error is the archive's fault (corrupt or truncated), not the disk's.
            self.bad(&format!("entry `{name}`: {e}"))
        })?;
        if written > self.remaining {
            return Err(self.hostile(name, "the sdist unpacks to more than 4 GiB"));
        }
        self.remaining -= written;
        set_mode(&host, if executable { 0o755 } else { 0o644 })?;
        self.files.insert(path);
        Ok(())
    }

    fn symlink(&mut self, name: &str, target: &str) -> Result<(), BuilderError> {
        let path = self.path(name)?;
        if target.starts_with('/') {
            return Err(self.hostile(name, "symlink to an absolute path"));
        }
        check_symlink(&path, target)
            .map_err(|_| self.hostile(name, "symlink points outside the sdist"))?;
        self.symlinks.insert(path, target.to_string());
        Ok(())
    }

    fn hardlink(&mut self, name: &str, target: &str) -> Result<(), BuilderError> {
        let target_path = RelPath::from_archive_name(target)
            .map_err(|_| self.hostile(name, "hard link to a path outside the sdist"))?;
        if !self.files.contains(&target_path) {
            return Err(self.hostile(name, "hard link to something that is not an earlier file"));
        }
        // A copy: the tree is copied again in the builder anyway.
        let source = self.host_path(&target_path);
        let mut data = fs::File::open(&source).map_err(BuilderError::io(&source))?;
        let executable = is_executable(&source)?;
        self.file(name, &mut data, executable)
    }

    fn finish(self) -> Result<PathBuf, BuilderError> {
        let mut links: Vec<_> = self.symlinks.iter().collect();
        links.sort();
        for (path, target) in links {
            // Made last, and never below another symlink: nothing is created through one.
            if path.ancestors().any(|a| self.symlinks.contains_key(&a)) {
                return Err(self.hostile(path.as_str(), "symlink inside a symlinked directory"));
            }
            if let Some(parent) = path.parent()
                && !self.dirs.contains(&parent)
            {
                return Err(self.hostile(
                    path.as_str(),
                    "symlink in a directory the archive does not make",
                ));
            }
            let host = self.host_path(path);
            symlink(target, &host).map_err(BuilderError::io(&host))?;
        }
        // Every sdist holds one directory, `{name}-{version}/` (PyPA source distribution format).
        let top: HashSet<&str> = self
            .files
            .iter()
            .chain(self.dirs.iter())
            .chain(self.symlinks.keys())
            .map(|p| p.as_str().split('/').next().unwrap_or_default())
            .collect();
        let root = match top.into_iter().collect::<Vec<_>>()[..] {
            [one]
                if self
                    .dirs
                    .contains(&RelPath::new(one).map_err(|e| self.bad(&e.to_string()))?) =>
            {
                self.dest.join(one)
            }
            _ => self.dest.clone(),
        };
        if !root.join("pyproject.toml").is_file() && !root.join("setup.py").is_file() {
            return Err(self.bad("it has neither pyproject.toml nor setup.py at its top"));
        }
        Ok(root)
    }
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), BuilderError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(BuilderError::io(path))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

fn is_executable(path: &Path) -> Result<bool, BuilderError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).map_err(BuilderError::io(path))?;
        Ok(meta.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(false)
    }
}

#[cfg(unix)]
fn symlink(target: &str, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &str, _link: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "symlinks in sdists need a Unix host",
    ))
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
