//! `grocker.lock`: the fully pinned plan of an image (DESIGN §1.2).
//!
//! A lock records what was asked for ([`Request`]) and exactly which files satisfy it: every
//! `.deb` and every wheel with its version and SHA-256. A build that finds a lock whose request matches its own
//! fetches exactly those files, so the same lock gives the same image digest on any machine, any
//! day (DESIGN §3). Paths are stored relative to their archive (`debian`, `debian-security`), not
//! as full URLs, so a lock made against one mirror builds against another.
//!
//! The file is TOML, written with a stable field order and sorted entries so that it diffs well
//! in review and round-trips byte for byte.
//!
//! A multi-platform image (`--platform linux/amd64,linux/arm64`) has one lock: the first
//! platform's pins where a single-platform lock has them, each further platform's in a
//! `[[platform]]` table, and `request.architectures` listing them all. Such a lock is format
//! version 2; a single-platform lock is written as version 1, byte for byte as before, so that
//! existing locks (and the digests of the images they give) do not change.
//!
//! ```
//! use grocker_lock::{Lock, Request};
//! let lock = Lock::new(Request {
//!     runtime: "bookworm/3.11".into(),
//!     architecture: "amd64".into(),
//!     packages: vec![],
//!     application: None,
//!     constraints: vec![],
//!     indexes: vec![],
//!     repositories: vec![],
//!     requires: vec![],
//!     project_lock: None,
//!     selection: vec![],
//!     architectures: vec![],
//!     interpreter: None,
//! });
//! let text = lock.to_toml()?;
//! assert_eq!(Lock::from_toml(&text, "grocker.lock".as_ref())?, lock);
//! # Ok::<(), grocker_lock::LockError>(())
//! ```
#![deny(missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};

use grocker_hash::Sha256;
use serde::{Deserialize, Serialize};

/// The lock format version this grocker writes for a multi-platform image, and the newest it
/// reads. Version 1 (one platform) is still written for single-platform images: a version 2
/// lock without `[[platform]]` tables would be the same lock.
pub const VERSION: u32 = 2;

/// The version of a single-platform lock.
const SINGLE_PLATFORM_VERSION: u32 = 1;

const HEADER: &str = "# This file is written by grocker. Do not edit it by hand:\n\
# `grocker lock --upgrade` (or `grocker root --upgrade`) refreshes it.\n";

/// What went wrong reading or writing a lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The file exists but cannot be read or written.
    #[error("cannot access lock file {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a lock grocker can read.
    #[error(
        "{path} is not a valid grocker lock file: {reason} — delete it or run with --upgrade to write a new one"
    )]
    Invalid {
        /// The lock file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// What the user asked for. A lock applies to a build only if the build asks for the same.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// `SUITE/PYTHON`.
    pub runtime: String,
    /// Debian architecture (`amd64`).
    pub architecture: String,
    /// Extra Debian packages beyond the runtime's own, sorted.
    #[serde(default)]
    pub packages: Vec<String>,
    /// The Python application as asked for (`httpie[socks]==3.2.4`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// Constraints applied to the Python resolution (pip `-c` lines), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// Package indexes, as configured (credentials stripped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<String>,
    /// Extra apt repositories (`NAME: deb URL SUITE COMPONENTS`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
    /// A local application's `Requires-Dist` (it is not on the index), so that editing them
    /// re-resolves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// The project's own lock its Python packages come from, with its hash
    /// (`uv.lock sha256:…`): a changed team lock makes this lock stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_lock: Option<String>,
    /// What was selected of the project's lock (`member=api`, `group=prod`, `extra=pg`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selection: Vec<String>,
    /// For a multi-platform image, every Debian architecture, sorted (`architecture` is the
    /// first); empty for one platform.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    /// How the interpreter is to be built when it is not Debian's (`source`, `source
    /// optimized`, with the URL and SHA-256 of a tarball the user named); `None` for Debian's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
}

/// The CPython source an interpreter built by grocker comes from (`[interpreter]`): what the
/// image's Python is, where its tarball is and the SHA-256 it was verified with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interpreter {
    /// The CPython version (`3.13.5`).
    pub version: String,
    /// Where the tarball is vouched for: `debian trixie python3.13 3.13.5-2` (verified through
    /// the suite's signed `Sources` index), or `user` (the SHA-256 the user gave).
    pub origin: String,
    /// The archive holding it (`debian`), for a Debian source; `path` is then below it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    /// Path below the archive root, or the URL or file the user named.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the tarball, verified at download.
    #[serde(with = "sha256_hex")]
    pub sha256: Sha256,
    /// `configure` flags beyond the defaults (`--enable-optimizations --with-lto`), empty for none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub flags: String,
    /// The Debian packages of the builder that compiled it (compilers and the `-dev` packages
    /// CPython links, nothing of the project's), sorted by name: they make its bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder: Vec<DebianPackage>,
}

/// One pinned `.deb`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebianPackage {
    /// Package name.
    pub name: String,
    /// Debian version.
    pub version: String,
    /// `amd64`, `arm64` or `all`.
    pub architecture: String,
    /// Which archive holds it: `debian`, `debian-security`, or the name of an extra repository.
    pub archive: String,
    /// Path below the archive root (`pool/main/...deb`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the `.deb`, verified at download.
    #[serde(with = "sha256_hex")]
    pub sha256: Sha256,
}

/// One pinned Python distribution file (a wheel).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonPackage {
    /// Normalized project name (PEP 503).
    pub name: String,
    /// Version.
    pub version: String,
    /// Extras installed for it, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extras: Vec<String>,
    /// The wheel's file name.
    pub filename: String,
    /// Where it was downloaded from (credentials stripped).
    pub url: String,
    /// Size in bytes, when the index said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// SHA-256 of the file, verified at download.
    #[serde(with = "sha256_hex")]
    pub sha256: Sha256,
}

/// The pins of one further platform of a multi-platform lock (`[[platform]]`): the same
/// fields as a lock's own, for that architecture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformPins {
    /// Debian architecture (`arm64`).
    pub architecture: String,
    /// The Debian packages of its `os` layer, sorted by name.
    #[serde(default)]
    pub debian: Vec<DebianPackage>,
    /// Its Python distributions, sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub python: Vec<PythonPackage>,
    /// Its builder's Debian packages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder: Vec<DebianPackage>,
    /// Debian packages grocker added for it, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_packages: Vec<String>,
}

/// A whole lock file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// What was asked for.
    pub request: Request,
    /// The interpreter's source, when grocker builds it (not Debian's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<Interpreter>,
    /// The Debian packages of the `os` layer, sorted by name.
    #[serde(default)]
    pub debian: Vec<DebianPackage>,
    /// The Python distributions of the venv, sorted by name. A source distribution here was
    /// compiled into a wheel in the builder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub python: Vec<PythonPackage>,
    /// The Debian packages of the builder (the compiler stage), when something was compiled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder: Vec<DebianPackage>,
    /// Debian packages grocker added to the `os` layer because a library in the image needs
    /// what they ship (not asked for: the request does not list them), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_packages: Vec<String>,
    /// The further platforms of a multi-platform image, in `request.architectures` order.
    #[serde(default, rename = "platform", skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<PlatformPins>,
}

impl Lock {
    /// An empty lock for `request`.
    pub fn new(request: Request) -> Self {
        Self {
            version: SINGLE_PLATFORM_VERSION,
            request,
            interpreter: None,
            debian: Vec::new(),
            python: Vec::new(),
            builder: Vec::new(),
            added_packages: Vec::new(),
            platforms: Vec::new(),
        }
    }

    /// The Debian architectures this lock pins, in order.
    pub fn architectures(&self) -> Vec<&str> {
        match self.request.architectures.is_empty() {
            true => vec![self.request.architecture.as_str()],
            false => self
                .request
                .architectures
                .iter()
                .map(String::as_str)
                .collect(),
        }
    }

    /// The part of this lock for one architecture, as the single-platform lock a build for it
    /// alone would have; `None` if the lock does not pin `arch`.
    pub fn for_platform(&self, arch: &str) -> Option<Lock> {
        let request = Request {
            architecture: arch.to_string(),
            architectures: Vec::new(),
            ..self.request.clone()
        };
        let mut lock = Lock::new(request);
        lock.interpreter = self.interpreter.clone();
        if self.request.architecture == arch {
            lock.debian = self.debian.clone();
            lock.python = self.python.clone();
            lock.builder = self.builder.clone();
            lock.added_packages = self.added_packages.clone();
            return Some(lock);
        }
        let pins = self.platforms.iter().find(|p| p.architecture == arch)?;
        lock.debian = pins.debian.clone();
        lock.python = pins.python.clone();
        lock.builder = pins.builder.clone();
        lock.added_packages = pins.added_packages.clone();
        Some(lock)
    }

    /// One lock for several platforms from each one's single-platform lock (see
    /// [`Lock::for_platform`]), in the order given; one lock is returned as it is. The locks
    /// must have been made for the same request but for their architecture.
    pub fn combine(mut locks: Vec<Lock>) -> Result<Lock, LockError> {
        let invalid = |reason: String| LockError::Invalid {
            path: PathBuf::from("grocker.lock"),
            reason,
        };
        if locks.len() <= 1 {
            return locks
                .pop()
                .ok_or_else(|| invalid("a lock for no platform".into()));
        }
        let mut rest = locks.split_off(1);
        let mut first = locks.remove(0);
        let architectures: Vec<String> = std::iter::once(&first)
            .chain(&rest)
            .map(|l| l.request.architecture.clone())
            .collect();
        for other in &rest {
            let same = Request {
                architecture: first.request.architecture.clone(),
                ..other.request.clone()
            };
            if same != first.request {
                return Err(invalid(format!(
                    "the {} and {} parts were made for different requests",
                    first.request.architecture, other.request.architecture
                )));
            }
        }
        first.version = VERSION;
        first.request.architectures = architectures;
        first.platforms = rest
            .drain(..)
            .map(|l| PlatformPins {
                architecture: l.request.architecture,
                debian: l.debian,
                python: l.python,
                builder: l.builder,
                added_packages: l.added_packages,
            })
            .collect();
        Ok(first)
    }

    /// The lock as TOML text, entries sorted.
    pub fn to_toml(&self) -> Result<String, LockError> {
        let mut sorted = self.clone();
        sorted.request.packages.sort();
        sorted.request.constraints.sort();
        sorted.added_packages.sort();
        sorted.debian.sort_by(|a, b| a.name.cmp(&b.name));
        sorted.python.sort_by(|a, b| a.name.cmp(&b.name));
        sorted.builder.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(interpreter) = &mut sorted.interpreter {
            interpreter.builder.sort_by(|a, b| a.name.cmp(&b.name));
        }
        for p in &mut sorted.platforms {
            p.added_packages.sort();
            p.debian.sort_by(|a, b| a.name.cmp(&b.name));
            p.python.sort_by(|a, b| a.name.cmp(&b.name));
            p.builder.sort_by(|a, b| a.name.cmp(&b.name));
        }
        let body = toml::to_string(&sorted).map_err(|e| LockError::Invalid {
            path: PathBuf::from("grocker.lock"),
            reason: e.to_string(),
        })?;
        Ok(format!("{HEADER}\n{body}"))
    }

    /// Parses TOML text; `path` is for error messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, LockError> {
        let lock: Lock = toml::from_str(text).map_err(|e| LockError::Invalid {
            path: path.to_path_buf(),
            reason: e.message().to_string(),
        })?;
        let invalid = |reason: String| LockError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        if !(SINGLE_PLATFORM_VERSION..=VERSION).contains(&lock.version) {
            return Err(invalid(format!(
                "format version {} (this grocker reads versions {SINGLE_PLATFORM_VERSION} to \
                 {VERSION})",
                lock.version
            )));
        }
        let multi = !lock.request.architectures.is_empty();
        if multi != (lock.version == VERSION) {
            return Err(invalid(format!(
                "format version {} with {} request.architectures",
                lock.version,
                if multi { "some" } else { "no" }
            )));
        }
        // Each further architecture has exactly its table, in order.
        let tables: Vec<&str> = std::iter::once(lock.request.architecture.as_str())
            .chain(lock.platforms.iter().map(|p| p.architecture.as_str()))
            .collect();
        if multi && tables != lock.architectures() {
            return Err(invalid(format!(
                "request.architectures {:?} but pins for {tables:?}",
                lock.request.architectures
            )));
        }
        if !multi && !lock.platforms.is_empty() {
            return Err(invalid(
                "[[platform]] tables in a single-platform lock".into(),
            ));
        }
        Ok(lock)
    }

    /// Reads `path`, or `None` if it does not exist.
    pub fn read(path: &Path) -> Result<Option<Self>, LockError> {
        match fs_err::read_to_string(path) {
            Ok(text) => Self::from_toml(&text, path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LockError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes the lock atomically (temp file + rename), so an interrupted build never leaves
    /// half a lock.
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = self.to_toml()?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        // A lock is committed and shared: readable by all, like any file the user writes.
        let mut tmp = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(dir)
            .map_err(io)?;
        tmp.write_all(text.as_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

mod sha256_hex {
    use grocker_hash::Sha256;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(h: &Sha256, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(h)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Sha256, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        let mut lock = Lock::new(Request {
            runtime: "bookworm/3.11".into(),
            architecture: "amd64".into(),
            packages: vec!["libpq5".into()],
            application: Some("httpie[socks]==3.2.4".into()),
            constraints: vec!["requests<3".into()],
            indexes: vec!["https://pypi.org/simple".into()],
            repositories: vec![],
            requires: vec![],
            project_lock: Some("uv.lock sha256:00".into()),
            selection: vec!["group=prod".into()],
            architectures: vec![],
            interpreter: Some("source".into()),
        });
        lock.interpreter = Some(Interpreter {
            version: "3.13.5".into(),
            origin: "debian trixie python3.13 3.13.5-2".into(),
            archive: Some("debian".into()),
            path: "pool/main/p/python3.13/python3.13_3.13.5.orig.tar.xz".into(),
            size: 22_856_016,
            sha256: Sha256::digest(b"x"),
            flags: String::new(),
            builder: vec![],
        });
        lock.python.push(PythonPackage {
            name: "requests".into(),
            version: "2.32.3".into(),
            extras: vec!["socks".into()],
            filename: "requests-2.32.3-py3-none-any.whl".into(),
            url: "https://files.pythonhosted.org/x/requests-2.32.3-py3-none-any.whl".into(),
            size: Some(64928),
            sha256: Sha256::digest(b"requests"),
        });
        for name in ["zlib1g", "libc6"] {
            lock.debian.push(DebianPackage {
                name: name.into(),
                version: "1:1.2.13.dfsg-1".into(),
                architecture: "amd64".into(),
                archive: "debian".into(),
                path: format!("pool/main/x/{name}/{name}_1.2.13_amd64.deb"),
                size: 42,
                sha256: Sha256::digest(name.as_bytes()),
            });
        }
        lock
    }

    #[test]
    fn round_trips_byte_for_byte() {
        let text = sample().to_toml().unwrap();
        let back = Lock::from_toml(&text, Path::new("x")).unwrap();
        assert_eq!(back.to_toml().unwrap(), text);
        // Written sorted whatever the in-memory order.
        assert!(text.find("name = \"libc6\"").unwrap() < text.find("name = \"zlib1g\"").unwrap());
    }

    #[test]
    fn single_platform_locks_stay_version_1() {
        let text = sample().to_toml().unwrap();
        assert!(text.contains("\nversion = 1\n"), "{text}");
        assert!(!text.contains("architectures") && !text.contains("[[platform]]"));
    }

    #[test]
    fn platforms_combine_and_split_back() {
        let amd64 = sample();
        assert_eq!(
            amd64.for_platform("arm64"),
            None,
            "the sample pins amd64 only"
        );
        let mut arm64 = sample();
        arm64.request.architecture = "arm64".into();
        for p in &mut arm64.debian {
            p.architecture = "arm64".into();
        }
        arm64.added_packages = vec!["libgomp1".into()];
        let both = Lock::combine(vec![amd64.clone(), arm64.clone()]).unwrap();
        assert_eq!(both.version, VERSION);
        assert_eq!(both.architectures(), ["amd64", "arm64"]);
        let text = both.to_toml().unwrap();
        assert!(text.contains("[[platform]]"), "{text}");
        let back = Lock::from_toml(&text, Path::new("x")).unwrap();
        assert_eq!(back.to_toml().unwrap(), text);
        let same = |a: Lock, b: &Lock| assert_eq!(a.to_toml().unwrap(), b.to_toml().unwrap());
        same(back.for_platform("amd64").unwrap(), &amd64);
        same(back.for_platform("arm64").unwrap(), &arm64);
        assert_eq!(back.for_platform("riscv64"), None);
        // One platform's lock is that lock.
        assert_eq!(Lock::combine(vec![amd64.clone()]).unwrap(), amd64);
        // Parts of different requests are no one lock.
        arm64.request.packages.push("curl".into());
        assert!(Lock::combine(vec![amd64, arm64]).is_err());
    }

    #[test]
    fn inconsistent_platform_tables_are_refused() {
        let mut arm64 = sample();
        arm64.request.architecture = "arm64".into();
        let both = Lock::combine(vec![sample(), arm64]).unwrap();
        let text = both.to_toml().unwrap();
        let err = Lock::from_toml(&text.replace("version = 2", "version = 1"), Path::new("g"))
            .unwrap_err();
        assert!(err.to_string().contains("architectures"), "{err}");
        let missing = text.replace("architecture = \"arm64\"", "architecture = \"s390x\"");
        let err = Lock::from_toml(&missing, Path::new("g")).unwrap_err();
        assert!(err.to_string().contains("s390x"), "{err}");
    }

    #[test]
    fn writes_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grocker.lock");
        assert_eq!(Lock::read(&path).unwrap(), None);
        let mut lock = sample();
        lock.write(&path).unwrap();
        lock.debian.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(Lock::read(&path).unwrap(), Some(lock));
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs_err::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn bad_files_say_what_to_do() {
        let err = Lock::from_toml(
            "version = 9\n[request]\nruntime='x'\narchitecture='amd64'\n",
            Path::new("grocker.lock"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("format version 9"), "{err}");
        assert!(err.contains("--upgrade"), "{err}");
        let err = Lock::from_toml("garbage", Path::new("grocker.lock")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("grocker.lock is not a valid grocker lock file")
        );
    }
}
