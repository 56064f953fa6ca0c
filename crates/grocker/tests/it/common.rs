//! Fixtures: running the grocker binary in a scratch directory, a fake Debian archive with the
//! shape of a real runtime, and readers for what grocker writes.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use grocker_testkit::{DebBuilder, FileServer, RepoBuilder, RepoLayout, TestKey};
use serde_json::Value;

/// A scratch working directory and cache for one grocker invocation series.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub cache: PathBuf,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("cache");
        Self { dir, cache }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `grocker ARGS` in the scratch directory, with its own cache and no engine unless asked.
    pub fn grocker(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_grocker"));
        cmd.args(args)
            .current_dir(self.path())
            .env("GROCKER_CACHE_DIR", &self.cache)
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("GROCKER_DEBIAN_MIRROR")
            .env_remove("GROCKER_DEBIAN_SECURITY_MIRROR")
            .env_remove("GROCKER_DEBIAN_KEYRING");
        cmd
    }
}

/// Runs and returns the output, panicking with both streams if the exit status is not `ok`.
pub fn run(mut cmd: Command, ok: bool) -> Output {
    let out = cmd.output().expect("run grocker");
    if out.status.success() != ok {
        panic!(
            "{cmd:?} exited {} (expected {}):\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            if ok { "success" } else { "failure" },
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fake Debian archive shaped like bookworm: `debian` (bookworm, bookworm-updates) and
/// `debian-security` (bookworm-security), each a signed repository, served over HTTP.
pub struct FakeArchive {
    pub key: TestKey,
    pub root: tempfile::TempDir,
    pub debian: RepoLayout,
    pub security: RepoLayout,
    pub server: FileServer,
    pub keyring: PathBuf,
}

const CERT: &[u8] = b"-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n";

/// The packages of a `bookworm/3.11` runtime, in miniature. `extra` goes into `bookworm`.
pub fn runtime_packages() -> Vec<DebBuilder> {
    vec![
        DebBuilder::new("libc6", "2.36-9+deb12u1", "amd64")
            .file("lib/x86_64-linux-gnu/libc.so.6", b"\x7fELF libc", 0o755)
            .symlink(
                "lib64/ld-linux-x86-64.so.2",
                "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            )
            .file(
                "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                b"\x7fELF ld",
                0o755,
            )
            .file("usr/share/doc/libc6/copyright", b"glibc copyright", 0o644)
            .file("usr/share/doc/libc6/changelog.Debian.gz", b"noise", 0o644)
            .postinst("#!/bin/sh\nexit 1\n"),
        DebBuilder::new("python3.11-minimal", "3.11.2-6", "amd64")
            .depends("libc6 (>= 2.34)")
            .file("usr/bin/python3.11", b"\x7fELF python", 0o755),
        DebBuilder::new("libpython3.11-stdlib", "3.11.2-6", "amd64")
            .depends("libc6 (>= 2.36), media-types | mime-support")
            .file("usr/lib/python3.11/os.py", b"# os\n", 0o644),
        DebBuilder::new("media-types", "10.0.0", "all").file("etc/mime.types", b"", 0o644),
        DebBuilder::new("python3.11", "3.11.2-6", "amd64")
            .depends("python3.11-minimal (= 3.11.2-6), libpython3.11-stdlib (= 3.11.2-6)"),
        DebBuilder::new("python3-minimal", "3.11.2-1+b1", "amd64")
            .pre_depends("python3.11-minimal (>= 3.11.2-1~)")
            .depends("dpkg (>= 1.13.20)")
            .symlink("usr/bin/python3", "python3.11"),
        DebBuilder::new("ca-certificates", "20230311", "all")
            .depends("openssl (>= 1.1.1), debconf (>= 0.5) | debconf-2.0")
            .file(
                "usr/share/ca-certificates/mozilla/Test_Root.crt",
                CERT,
                0o644,
            ),
        DebBuilder::new("openssl", "3.0.11-1", "amd64").file("usr/bin/openssl", b"x", 0o755),
        DebBuilder::new("debconf", "1.5.82", "all")
            .pre_depends("perl-base (>= 5.20.1-3~)")
            .file("usr/bin/debconf", b"x", 0o755),
        DebBuilder::new("perl-base", "5.36.0-7", "amd64").file("usr/bin/perl", b"x", 0o755),
        DebBuilder::new("dpkg", "1.21.22", "amd64").file("usr/bin/dpkg", b"x", 0o755),
        DebBuilder::new("bash", "5.2.15-2", "amd64").file("bin/bash", b"x", 0o755),
        DebBuilder::new("base-files", "12.4+deb12u1", "amd64")
            .pre_depends("awk")
            .file(
                "usr/lib/os-release",
                b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
                0o644,
            )
            .symlink("etc/os-release", "../usr/lib/os-release"),
        DebBuilder::new("mawk", "1.3.4", "amd64")
            .provides("awk")
            .file("usr/bin/mawk", b"x", 0o755),
        DebBuilder::new("libstdc++6", "12.2.0-14", "amd64")
            .depends("libc6 (>= 2.34)")
            .file(
                "usr/lib/x86_64-linux-gnu/libstdc++.so.6",
                b"\x7fELF c++",
                0o644,
            ),
        DebBuilder::new("netbase", "6.4", "all").file("etc/services", b"http 80/tcp\n", 0o644),
        DebBuilder::new("tzdata", "2024a-0+deb12u1", "all")
            .depends("debconf (>= 0.5) | debconf-2.0")
            .file("usr/share/zoneinfo/UTC", b"TZif", 0o644),
        DebBuilder::new("libpq5", "15.5-0+deb12u1", "amd64")
            .depends("libc6 (>= 2.34)")
            .file("usr/lib/x86_64-linux-gnu/libpq.so.5", b"\x7fELF pq", 0o644),
    ]
}

impl FakeArchive {
    /// The runtime packages; `libc6` has an older version in `bookworm` and the newest in
    /// `bookworm-security`, as after a security update.
    pub fn new() -> Self {
        Self::with(runtime_packages(), |b| b)
    }

    /// `packages` in `bookworm`; `customize` may change the debian repository builder.
    pub fn with(
        packages: Vec<DebBuilder>,
        customize: impl FnOnce(RepoBuilder) -> RepoBuilder,
    ) -> Self {
        let key = TestKey::generate("grocker test archive <archive@test.invalid>");
        let root = tempfile::tempdir().expect("tempdir");

        let old_libc = DebBuilder::new("libc6", "2.36-9", "amd64").file(
            "lib/x86_64-linux-gnu/libc.so.6",
            b"\x7fELF old libc",
            0o755,
        );
        let mut debian = RepoBuilder::new(&key)
            .suite("bookworm", "bookworm")
            .suite("bookworm-updates", "bookworm-updates");
        let mut security = RepoBuilder::new(&key).suite("bookworm-security", "bookworm-security");
        for p in &packages {
            if p.name() == "libc6" {
                security = security.add("bookworm-security", p);
            } else {
                debian = debian.add("bookworm", p);
            }
        }
        debian = debian.add("bookworm", &old_libc);
        let debian = customize(debian)
            .write(&root.path().join("debian"))
            .expect("write debian repo");
        let security = security
            .write(&root.path().join("debian-security"))
            .expect("write security repo");
        let keyring = root.path().join("test-archive.gpg");
        std::fs::write(&keyring, key.public_keyring_binary()).expect("keyring");
        let server = FileServer::serve(root.path());
        Self {
            key,
            root,
            debian,
            security,
            server,
            keyring,
        }
    }

    /// Arguments pointing grocker at this archive.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--debian-mirror".into(),
            format!("{}/debian", self.server.url()),
            "--debian-security-mirror".into(),
            format!("{}/debian-security", self.server.url()),
            "--debian-keyring".into(),
            self.keyring.display().to_string(),
        ]
    }
}

/// `grocker root` against `archive` with extra arguments.
pub fn root_cmd(scratch: &Scratch, archive: &FakeArchive, extra: &[&str]) -> Command {
    let mut args: Vec<String> = vec!["root".into()];
    args.extend(archive.args());
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    scratch.grocker(&refs)
}

/// What one file of a layer looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    pub kind: char,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub link: Option<String>,
    pub data: Vec<u8>,
}

/// An image read back from an OCI layout: manifest digest, config, and every layer's files.
pub struct OciImage {
    pub manifest_digest: String,
    pub manifest: Value,
    pub config: Value,
    pub layers: Vec<BTreeMap<String, FileInfo>>,
}

impl OciImage {
    pub fn read(dir: &Path) -> Self {
        let index: Value = json(&dir.join("index.json"));
        let desc = &index["manifests"][0];
        let manifest_digest = desc["digest"].as_str().expect("digest").to_string();
        let manifest: Value = json(&blob(dir, &manifest_digest));
        let config: Value = json(&blob(dir, manifest["config"]["digest"].as_str().unwrap()));
        let layers = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| read_layer(&blob(dir, l["digest"].as_str().unwrap())))
            .collect();
        Self {
            manifest_digest,
            manifest,
            config,
            layers,
        }
    }

    /// All layers' files, later layers winning.
    pub fn files(&self) -> BTreeMap<String, FileInfo> {
        let mut all = BTreeMap::new();
        for l in &self.layers {
            all.extend(l.clone());
        }
        all
    }
}

fn blob(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read json")).expect("parse json")
}

/// Files of a gzip-compressed layer, keyed by path without a trailing slash.
pub fn read_layer(path: &Path) -> BTreeMap<String, FileInfo> {
    let file = std::fs::File::open(path).expect("open layer");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = BTreeMap::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        let h = entry.header().clone();
        let name = entry
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        let kind = match h.entry_type() {
            tar::EntryType::Regular => 'f',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            _ => '?',
        };
        let link = entry
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned());
        out.insert(
            name,
            FileInfo {
                kind,
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                link,
                data,
            },
        );
    }
    out
}
