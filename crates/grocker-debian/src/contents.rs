//! Which Debian package ships a shared library, from the archive's `Contents-<arch>` index.
//!
//! When an extension module needs `libpq.so.5` and the image lacks it, the useful message names
//! the package to add (`libpq5`). The archive answers that in `dists/<suite>/main/Contents-<arch>.gz`,
//! one line per file of every package (Debian wiki, "RepositoryFormat", Contents indices):
//!
//! ```text
//! usr/lib/x86_64-linux-gnu/libpq.so.5                     libs/libpq5
//! usr/share/doc/zlib1g/changelog.Debian.gz                libs/zlib1g
//! ```
//!
//! The path (which may contain spaces) is followed by whitespace and a comma-separated list of
//! `[[area/]section/]package`. Bookworm's main index is 12 MB compressed and 150 MB of text, so
//! it is streamed and filtered down to the shared libraries in the loader's directories, and
//! only that (a few hundred kilobytes) is kept in the cache.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::sync::Arc;
use std::time::SystemTime;

use grocker_fetch::{Fetcher, redact_url};
use grocker_hash::Sha256;

use crate::archive::{cached_text, fetch_listed, fetch_release, open_index};
use crate::{DebianError, Keyring, Release, Source};

/// Shared libraries (by file name, i.e. soname) → the packages that ship them in a library
/// directory the dynamic loader searches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentsIndex {
    libraries: BTreeMap<String, BTreeSet<String>>,
}

impl ContentsIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// The packages that ship `soname` (e.g. `libpq.so.5` → `libpq5`), sorted. Runtime
    /// packages are preferred: `-dev` and `-dbg` ones are only named when nothing else ships
    /// the file. Empty when no package does.
    pub fn packages_providing(&self, soname: &str) -> Vec<String> {
        let Some(packages) = self.libraries.get(soname) else {
            return Vec::new();
        };
        let runtime: Vec<String> = packages
            .iter()
            .filter(|p| !["-dev", "-dbg", "-dbgsym"].iter().any(|s| p.ends_with(s)))
            .cloned()
            .collect();
        if runtime.is_empty() {
            packages.iter().cloned().collect()
        } else {
            runtime
        }
    }

    /// How many library file names are known.
    pub fn len(&self) -> usize {
        self.libraries.len()
    }

    /// Whether no library is known.
    pub fn is_empty(&self) -> bool {
        self.libraries.is_empty()
    }

    fn merge(&mut self, other: ContentsIndex) {
        for (soname, packages) in other.libraries {
            self.libraries.entry(soname).or_default().extend(packages);
        }
    }

    /// Reads a `Contents-<arch>` index, keeping the shared libraries of the loader's directories
    /// for `arch`.
    fn parse(reader: impl BufRead, arch: &str) -> std::io::Result<Self> {
        let mut index = Self::new();
        let mut reader = reader;
        let mut line = Vec::with_capacity(256);
        let dirs = LibraryDirs::new(arch);
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                return Ok(index);
            }
            index.add_line(&line, &dirs);
        }
    }

    fn add_line(&mut self, line: &[u8], dirs: &LibraryDirs) {
        // Cheap rejections first: 150 MB of lines go through here.
        if !(line.starts_with(b"usr/lib") || line.starts_with(b"lib")) {
            return;
        }
        let Ok(line) = std::str::from_utf8(line) else {
            return;
        };
        let Some((path, packages)) = line.trim_end().rsplit_once([' ', '\t']) else {
            return;
        };
        let Some((dir, name)) = path.trim_end().rsplit_once('/') else {
            return;
        };
        if !is_shared_library(name) || !dirs.contains(dir) {
            return;
        }
        let entry = self.libraries.entry(name.to_string()).or_default();
        for package in packages.split(',') {
            // `libs/libpq5`, `non-free/libs/foo`: the package is the last part.
            let package = package.rsplit('/').next().unwrap_or(package).trim();
            if !package.is_empty() {
                entry.insert(package.to_string());
            }
        }
    }

    /// The cache form: `soname package...` lines, sorted.
    fn to_text(&self) -> String {
        let mut text = String::new();
        for (soname, packages) in &self.libraries {
            text.push_str(soname);
            for package in packages {
                text.push(' ');
                text.push_str(package);
            }
            text.push('\n');
        }
        text
    }

    fn from_text(text: &str) -> Self {
        let mut index = Self::new();
        for line in text.lines() {
            let mut words = line.split(' ');
            if let Some(soname) = words.next() {
                let packages = words.map(str::to_string).collect();
                index.libraries.insert(soname.to_string(), packages);
            }
        }
        index
    }
}

/// The directories whose libraries the loader finds without help: `lib`, `usr/lib`, their
/// multiarch subdirectory for the architecture, `lib64`, `usr/lib64` (not `lib32`/`libx32`,
/// whose 32-bit libraries an amd64 object cannot load).
struct LibraryDirs {
    triplet: Option<&'static str>,
}

impl LibraryDirs {
    fn new(arch: &str) -> Self {
        let triplet = match arch {
            "amd64" => Some("x86_64-linux-gnu"),
            "arm64" => Some("aarch64-linux-gnu"),
            "armhf" => Some("arm-linux-gnueabihf"),
            "armel" => Some("arm-linux-gnueabi"),
            "i386" => Some("i386-linux-gnu"),
            "ppc64el" => Some("powerpc64le-linux-gnu"),
            "s390x" => Some("s390x-linux-gnu"),
            "mips64el" => Some("mips64el-linux-gnuabi64"),
            "riscv64" => Some("riscv64-linux-gnu"),
            _ => None,
        };
        LibraryDirs { triplet }
    }

    fn contains(&self, dir: &str) -> bool {
        let dir = dir.strip_prefix("usr/").unwrap_or(dir);
        match dir.strip_prefix("lib/") {
            // An unknown architecture: any multiarch directory.
            Some(sub) => self.triplet.map_or(sub.contains("-linux-"), |t| sub == t),
            None => dir == "lib" || dir == "lib64",
        }
    }
}

/// `libz.so`, `libz.so.1`, `libz.so.1.2.13`, `ld-linux-x86-64.so.2` — not `libfoo.so.1-gdb.py`.
fn is_shared_library(name: &str) -> bool {
    match name.split_once(".so") {
        Some((stem, version)) => {
            !stem.is_empty()
                && (version.is_empty()
                    || version.strip_prefix('.').is_some_and(|v| {
                        !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                    }))
        }
        None => false,
    }
}

/// Fetches and reads the `Contents-<arch>` index of each component of each source, through the
/// same chain of trust as [`load_index`](crate::load_index): signed `InRelease`, then the file
/// by hash, checked against the Release. A source whose Release lists no Contents index for a
/// component is skipped; none at all is [`DebianError::MissingIndex`]. The libraries read from
/// each index are cached, keyed by the index's SHA-256.
pub async fn load_contents(
    fetcher: &Fetcher,
    sources: &[Source],
    keyring: &Keyring,
    arch: &str,
    now: SystemTime,
) -> Result<ContentsIndex, DebianError> {
    let per_source = sources.iter().map(|source| async move {
        let (dists, release) = fetch_release(fetcher, source, keyring, now).await?;
        let mut files = Vec::new();
        for component in &source.components {
            if let Some((path, sha256, size)) = pick_contents(&release, component, arch) {
                let (_, local) =
                    fetch_listed(fetcher, &dists, &release, &path, &sha256, size).await?;
                files.push((path, sha256, local));
            }
        }
        Ok::<_, DebianError>((dists, files))
    });
    let fetched = futures_util::future::try_join_all(per_source).await?;
    if let Some((dists, _)) = fetched.first()
        && fetched.iter().all(|(_, files)| files.is_empty())
    {
        return Err(DebianError::MissingIndex {
            url: redact_url(dists),
            path: format!("main/Contents-{arch}(.gz)"),
        });
    }
    let mut tasks = Vec::new();
    for (path, sha256, local) in fetched.into_iter().flat_map(|(_, files)| files) {
        let cache = fetcher.cache().clone();
        let arch = arch.to_string();
        tasks.push(tokio::task::spawn_blocking(move || {
            let text = cached_text(&cache, "debian/contents-libraries-v1", &sha256, || {
                let reader = std::io::BufReader::new(open_index(&path, &local)?);
                let index =
                    ContentsIndex::parse(reader, &arch).map_err(|source| DebianError::Io {
                        path: local.clone(),
                        source,
                    })?;
                Ok(Arc::from(index.to_text()))
            })?;
            Ok::<_, DebianError>(ContentsIndex::from_text(&text))
        }));
    }
    let mut index = ContentsIndex::new();
    for task in tasks {
        let part = task.await.map_err(|e| DebianError::Io {
            path: Default::default(),
            source: std::io::Error::other(format!("Contents reader task failed: {e}")),
        })??;
        index.merge(part);
    }
    Ok(index)
}

/// The listed `Contents-<arch>` index of `component` (gzip, else plain). debian-security's
/// `updates/main` lives under `main/`, as for `Packages`.
fn pick_contents(release: &Release, component: &str, arch: &str) -> Option<(String, Sha256, u64)> {
    let component = component.strip_prefix("updates/").unwrap_or(component);
    [".gz", ""].iter().find_map(|ext| {
        let path = format!("{component}/Contents-{arch}{ext}");
        release.file(&path).map(|(sha, size)| (path, sha, size))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
usr/lib/x86_64-linux-gnu/libpq.so.5                             libs/libpq5
usr/lib/x86_64-linux-gnu/libpq.so.5.15                          libs/libpq5
usr/lib/x86_64-linux-gnu/libpq.so                               libdevel/libpq-dev
lib/x86_64-linux-gnu/libz.so.1                                  libs/zlib1g
usr/lib32/libz.so.1                                             libs/lib32z1
usr/lib/debug/.build-id/ab/cdef.debug                           debug/zlib1g-dbg
usr/lib/x86_64-linux-gnu/libfoo.so.1                            libs/libfoo1,non-free/libs/libfoo1-alt
usr/lib/x86_64-linux-gnu/libonly.so.0                           debug/libonly-dbg
usr/lib/x86_64-linux-gnu/dir with space/libx.so.1               libs/libx1
usr/lib/x86_64-linux-gnu/libfoo.so.1-gdb.py                     debug/libfoo1-dbg
usr/lib/aarch64-linux-gnu/libz.so.1                             libs/zlib1g-cross
usr/lib/python3/dist-packages/_foo.cpython-311-x86_64-linux-gnu.so  python/python3-foo
usr/share/doc/zlib1g/copyright                                  libs/zlib1g
lib64/ld-linux-x86-64.so.2                                      libs/libc6
";

    #[test]
    fn reads_the_libraries_of_the_loader_dirs() {
        let index = ContentsIndex::parse(SAMPLE.as_bytes(), "amd64").unwrap();
        assert_eq!(index.packages_providing("libpq.so.5"), ["libpq5"]);
        assert_eq!(index.packages_providing("libpq.so"), ["libpq-dev"]);
        assert_eq!(index.packages_providing("libz.so.1"), ["zlib1g"]);
        assert_eq!(
            index.packages_providing("libfoo.so.1"),
            ["libfoo1", "libfoo1-alt"]
        );
        assert_eq!(index.packages_providing("libonly.so.0"), ["libonly-dbg"]);
        assert_eq!(index.packages_providing("ld-linux-x86-64.so.2"), ["libc6"]);
        assert!(index.packages_providing("libx.so.1").is_empty());
        assert!(index.packages_providing("libfoo.so.1-gdb.py").is_empty());
        assert_eq!(index.len(), 7);
        // The cache form round-trips.
        assert_eq!(ContentsIndex::from_text(&index.to_text()), index);
        let arm = ContentsIndex::parse(SAMPLE.as_bytes(), "arm64").unwrap();
        assert_eq!(arm.packages_providing("libz.so.1"), ["zlib1g-cross"]);
    }

    #[test]
    fn shared_library_names() {
        for yes in [
            "libz.so",
            "libz.so.1",
            "libz.so.1.2.13",
            "ld-linux-x86-64.so.2",
        ] {
            assert!(is_shared_library(yes), "{yes}");
        }
        for no in [
            ".so",
            "libz.so.",
            "libz.so.1-gdb.py",
            "libz.a",
            "foo.sources",
            "x.so.1a",
        ] {
            assert!(!is_shared_library(no), "{no}");
        }
    }
}
