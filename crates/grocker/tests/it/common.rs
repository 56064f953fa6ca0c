//! Fixtures: running the grocker binary in a scratch directory, a fake Debian archive with the
//! shape of a real runtime, and readers for what grocker writes.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use grocker_testkit::{FakeArchive, runtime_packages};
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

pub fn blob(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

pub fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs_err::read(path).expect("read json")).expect("parse json")
}

/// Files of a gzip-compressed layer, keyed by path without a trailing slash.
pub fn read_layer(path: &Path) -> BTreeMap<String, FileInfo> {
    let file = fs_err::File::open(path).expect("open layer");
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
