//! A signed Debian repository laid out as on deb.debian.org.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use grocker_hash::Sha256;

use crate::{DebBuilder, TestKey, tarball::xz};

/// A Debian-style repository laid out as on deb.debian.org:
///
/// ```text
/// <root>/dists/<suite>/{InRelease,Release,Release.gpg}
/// <root>/dists/<suite>/main/binary-<arch>/{Packages,Packages.xz}
/// <root>/dists/<suite>/main/binary-<arch>/by-hash/SHA256/<hex>   (Acquire-By-Hash: yes)
/// <root>/pool/main/<l>/<source>/<name>_<version>_<arch>.deb
/// ```
///
/// Every suite has `binary-amd64` plus one `binary-<arch>` per other architecture among its
/// packages; `Architecture: all` packages are listed in each, as in Debian.
#[derive(Clone, Debug)]
pub struct RepoBuilder {
    key: TestKey,
    date: SystemTime,
    suites: Vec<Suite>,
}

#[derive(Clone, Debug)]
struct Suite {
    name: String,
    codename: String,
    valid_until: Option<SystemTime>,
    debs: Vec<BuiltDeb>,
}

#[derive(Clone, Debug)]
struct BuiltDeb {
    arch: String,
    name: String,
    pool_path: String,
    control: String,
    bytes: Vec<u8>,
}

impl RepoBuilder {
    /// An empty repository whose `InRelease` files `key` signs. `Date` is now unless
    /// [`date`](Self::date) says otherwise.
    pub fn new(key: &TestKey) -> Self {
        RepoBuilder {
            key: key.clone(),
            date: SystemTime::now(),
            suites: Vec::new(),
        }
    }

    /// Declares a suite (the `dists/` directory name) and its `Codename`. Suites used by
    /// [`add`](Self::add) without being declared get `Codename` = suite.
    pub fn suite(mut self, suite: &str, codename: &str) -> Self {
        self.suite_mut(suite).codename = codename.to_string();
        self
    }

    /// Puts the `.deb` in the pool and its stanza (control fields plus `Filename`, `Size`,
    /// `SHA256`) in that suite's `Packages`. The same package may be added to several suites.
    pub fn add(mut self, suite: &str, deb: &DebBuilder) -> Self {
        let built = BuiltDeb {
            arch: deb.arch().to_string(),
            name: deb.name().to_string(),
            pool_path: deb.pool_path(),
            control: deb.control_paragraph(),
            bytes: deb.build(),
        };
        self.suite_mut(suite).debs.push(built);
        self
    }

    /// Writes a `Valid-Until` field in that suite's Release.
    pub fn valid_until(mut self, suite: &str, when: SystemTime) -> Self {
        self.suite_mut(suite).valid_until = Some(when);
        self
    }

    /// The `Date` written in every Release (default: when the builder was made).
    pub fn date(mut self, when: SystemTime) -> Self {
        self.date = when;
        self
    }

    fn suite_mut(&mut self, suite: &str) -> &mut Suite {
        if let Some(i) = self.suites.iter().position(|s| s.name == suite) {
            return &mut self.suites[i];
        }
        self.suites.push(Suite {
            name: suite.to_string(),
            codename: suite.to_string(),
            valid_until: None,
            debs: Vec::new(),
        });
        self.suites.last_mut().expect("just pushed")
    }

    /// Writes everything under `dir` (which becomes the mirror root).
    pub fn write(&self, dir: &Path) -> std::io::Result<RepoLayout> {
        let mut layout = RepoLayout {
            root: dir.to_path_buf(),
            suites: Vec::new(),
            debs: Vec::new(),
        };
        for suite in &self.suites {
            for deb in &suite.debs {
                write_file(&dir.join(&deb.pool_path), &deb.bytes)?;
                if !layout.debs.iter().any(|(_, p)| *p == deb.pool_path) {
                    layout.debs.push((deb.name.clone(), deb.pool_path.clone()));
                }
            }
            let suite_dir = dir.join("dists").join(&suite.name);
            let mut arches: BTreeSet<&str> = suite.debs.iter().map(|d| d.arch.as_str()).collect();
            arches.remove("all");
            arches.insert("amd64");
            let mut indexes = Vec::new();
            for arch in &arches {
                let text = packages_text(suite, arch).into_bytes();
                let rel = format!("main/binary-{arch}");
                let compressed = xz(&text);
                indexes.push((format!("{rel}/Packages"), text));
                indexes.push((format!("{rel}/Packages.xz"), compressed));
            }
            let release = release_text(self.date, suite, &arches, &indexes);
            for (rel, bytes) in &indexes {
                write_file(&suite_dir.join(rel), bytes)?;
                let parent = Path::new(rel).parent().expect("index in a directory");
                let by_hash = suite_dir
                    .join(parent)
                    .join("by-hash/SHA256")
                    .join(Sha256::digest(bytes).to_string());
                write_file(&by_hash, bytes)?;
            }
            write_release(&suite_dir, &release, &self.key)?;
            layout.suites.push(suite.name.clone());
        }
        Ok(layout)
    }
}

/// Writes `Release`, `InRelease` and `Release.gpg` for `release` signed by `key`.
pub(crate) fn write_release(suite_dir: &Path, release: &str, key: &TestKey) -> std::io::Result<()> {
    write_file(&suite_dir.join("Release"), release.as_bytes())?;
    write_file(
        &suite_dir.join("InRelease"),
        key.clearsign(release).as_bytes(),
    )?;
    write_file(
        &suite_dir.join("Release.gpg"),
        key.detach_sign(release.as_bytes()).as_bytes(),
    )
}

fn packages_text(suite: &Suite, arch: &str) -> String {
    let mut out = String::new();
    for deb in suite
        .debs
        .iter()
        .filter(|d| d.arch == arch || d.arch == "all")
    {
        out.push_str(&deb.control);
        out.push_str(&format!(
            "Filename: {}\nSize: {}\nSHA256: {}\n\n",
            deb.pool_path,
            deb.bytes.len(),
            Sha256::digest(&deb.bytes)
        ));
    }
    out
}

fn release_text(
    date: SystemTime,
    suite: &Suite,
    arches: &BTreeSet<&str>,
    indexes: &[(String, Vec<u8>)],
) -> String {
    let mut out = format!(
        "Origin: Debian\nLabel: Debian\nSuite: {}\nCodename: {}\nDate: {}\n",
        suite.name,
        suite.codename,
        rfc2822(date)
    );
    if let Some(until) = suite.valid_until {
        out.push_str(&format!("Valid-Until: {}\n", rfc2822(until)));
    }
    let arches: Vec<&str> = arches.iter().copied().collect();
    out.push_str(&format!(
        "Acquire-By-Hash: yes\nArchitectures: {}\nComponents: main\n\
         Description: grocker-testkit repository\nSHA256:\n",
        arches.join(" ")
    ));
    for (rel, bytes) in indexes {
        let hash = Sha256::digest(bytes);
        out.push_str(&format!(" {hash} {:>8} {rel}\n", bytes.len()));
    }
    out
}

/// `Sat, 11 Jul 2026 10:16:37 UTC`, the form Debian's Release files use.
pub fn rfc2822(when: SystemTime) -> String {
    let when: chrono::DateTime<chrono::Utc> = when.into();
    when.format("%a, %d %b %Y %H:%M:%S UTC").to_string()
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    fs_err::write(path, bytes)
}

/// Where [`RepoBuilder::write`] put things.
#[derive(Clone, Debug)]
pub struct RepoLayout {
    root: PathBuf,
    suites: Vec<String>,
    debs: Vec<(String, String)>,
}

impl RepoLayout {
    /// The mirror root (the directory to serve; `dists/` and `pool/` are inside).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The suites written, in declaration order.
    pub fn suites(&self) -> &[String] {
        &self.suites
    }

    /// `<root>/dists/<suite>`.
    pub fn suite_dir(&self, suite: &str) -> PathBuf {
        self.root.join("dists").join(suite)
    }

    /// `<root>/dists/<suite>/InRelease`.
    pub fn inrelease(&self, suite: &str) -> PathBuf {
        self.suite_dir(suite).join("InRelease")
    }

    /// `<root>/dists/<suite>/Release` (unsigned).
    pub fn release(&self, suite: &str) -> PathBuf {
        self.suite_dir(suite).join("Release")
    }

    /// `<root>/dists/<suite>/Release.gpg` (armored detached signature of `Release`).
    pub fn release_gpg(&self, suite: &str) -> PathBuf {
        self.suite_dir(suite).join("Release.gpg")
    }

    /// `<root>/dists/<suite>/main/binary-<arch>/Packages`.
    pub fn packages(&self, suite: &str, arch: &str) -> PathBuf {
        self.suite_dir(suite)
            .join(format!("main/binary-{arch}"))
            .join("Packages")
    }

    /// `<root>/dists/<suite>/main/binary-<arch>/Packages.xz`.
    pub fn packages_xz(&self, suite: &str, arch: &str) -> PathBuf {
        self.packages(suite, arch).with_file_name("Packages.xz")
    }

    /// Every `.deb` written, as (package name, path relative to the root), in order.
    pub fn debs(&self) -> &[(String, String)] {
        &self.debs
    }

    /// The pool path (relative to the root) of the first `.deb` of package `name`.
    pub fn deb_relative(&self, name: &str) -> &str {
        self.debs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.as_str())
            .unwrap_or_else(|| panic!("no package {name} in the repository"))
    }

    /// The absolute path of the first `.deb` of package `name`.
    pub fn deb_path(&self, name: &str) -> PathBuf {
        self.root.join(self.deb_relative(name))
    }

    /// `base` (a mirror URL such as [`FileServer::url`](crate::FileServer::url)) joined with a
    /// path relative to the root.
    pub fn url(base: &str, relative: &str) -> String {
        format!(
            "{}/{}",
            base.trim_end_matches('/'),
            relative.trim_start_matches('/')
        )
    }
}
