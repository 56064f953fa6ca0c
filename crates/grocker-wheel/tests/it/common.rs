//! Fixtures: the bookworm target, real wheels, and a builder for synthetic wheels.

use std::io::{Cursor, Write};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grocker_fs::{Kind, RelPath, Tree};
use grocker_wheel::{
    Arch, InstallOptions, InstalledWheel, Target, Venv, WheelError, install_wheel,
};
use sha2::Digest as _;
use zip::write::SimpleFileOptions;

pub fn target() -> Target {
    Target {
        python: (3, 11),
        python_full: "3.11.2".parse().unwrap(),
        glibc: (2, 36),
        arch: Arch::X86_64,
    }
}

pub fn venv() -> Venv {
    Venv::for_target("/opt/venv", &target())
}

pub fn data_path(file: &str) -> String {
    format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"))
}

pub fn real_wheel(file: &str) -> Vec<u8> {
    fs_err::read(data_path(file)).unwrap()
}

pub const SIX: &str = "six-1.16.0-py2.py3-none-any.whl";
pub const HTTPIE: &str = "httpie-3.2.4-py3-none-any.whl";
pub const CHARSET: &str =
    "charset_normalizer-3.4.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";

/// Installs `bytes` as `file` into `tree`.
pub fn install_into(
    tree: &mut Tree,
    file: &str,
    bytes: &[u8],
) -> Result<InstalledWheel, WheelError> {
    install_wheel(
        Cursor::new(bytes),
        file,
        &venv(),
        tree,
        &InstallOptions::default(),
    )
}

/// Installs into a fresh tree (no venv skeleton).
pub fn install(file: &str, bytes: &[u8]) -> Result<(Tree, InstalledWheel), WheelError> {
    let mut tree = Tree::new();
    let installed = install_into(&mut tree, file, bytes)?;
    Ok((tree, installed))
}

/// The file's bytes (leaked: a test reads a few small files) and mode.
pub fn file(tree: &Tree, path: &str) -> (&'static [u8], u32) {
    let entry = tree
        .get(&RelPath::new(path).unwrap())
        .unwrap_or_else(|| panic!("{path} not installed"));
    let Kind::File(data) = &entry.kind else {
        panic!("{path} is not a file");
    };
    assert_eq!((entry.uid, entry.gid), (0, 0), "{path} not root-owned");
    let data = data.read_all().unwrap().to_vec();
    (Box::leak(data.into_boxed_slice()), entry.mode)
}

pub fn record_hash(data: &[u8]) -> String {
    format!(
        "sha256={}",
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(data))
    )
}

/// A wheel built here: `files` as given (name, content, Unix mode), plus METADATA, WHEEL and a
/// correct RECORD for `name-version`, unless `files` already has them.
pub struct WheelBuilder {
    pub dist: String,
    pub files: Vec<(String, Vec<u8>, u32)>,
    pub record: bool,
}

impl WheelBuilder {
    pub fn new(dist: &str) -> Self {
        let name = dist.split('-').next().unwrap();
        let version = dist.split('-').nth(1).unwrap();
        let mut builder = Self {
            dist: dist.to_string(),
            files: Vec::new(),
            record: true,
        };
        builder = builder
            .file(
                &format!("{dist}.dist-info/METADATA"),
                format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").as_bytes(),
            )
            .file(
                &format!("{dist}.dist-info/WHEEL"),
                b"Wheel-Version: 1.0\nGenerator: grocker-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            );
        builder
    }

    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.file_mode(name, data, 0o644)
    }

    pub fn file_mode(mut self, name: &str, data: &[u8], mode: u32) -> Self {
        self.files.push((name.to_string(), data.to_vec(), mode));
        self
    }

    pub fn file_name(&self) -> String {
        format!("{}-py3-none-any.whl", self.dist)
    }

    pub fn build(&self) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let mut record = String::new();
        for (name, data, mode) in &self.files {
            let options = SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .external_attributes(mode << 16);
            zip.start_file(name.as_str(), options).unwrap();
            zip.write_all(data).unwrap();
            record.push_str(&format!("{name},{},{}\n", record_hash(data), data.len()));
        }
        if self.record {
            let record_name = format!("{}.dist-info/RECORD", self.dist);
            record.push_str(&format!("{record_name},,\n"));
            zip.start_file(record_name, SimpleFileOptions::default())
                .unwrap();
            zip.write_all(record.as_bytes()).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }
}

/// Replaces every occurrence of `from` by `to` (same length) in raw zip bytes: names live in the
/// local headers and the central directory, and no checksum covers them.
pub fn patch(bytes: &mut [u8], from: &str, to: &str) -> usize {
    assert_eq!(from.len(), to.len());
    let (from, to) = (from.as_bytes(), to.as_bytes());
    let mut count = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            count += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    count
}
