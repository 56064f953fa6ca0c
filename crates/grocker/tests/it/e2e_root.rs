//! End to end: the real Debian archive, the real Docker engine (DESIGN §8). These fail when no
//! engine answers, unless GROCKER_TEST_NO_ENGINE=1 says to skip the engine checks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;

/// A cache shared by the end-to-end tests of this run and the next (downloads are verified on
/// read, so sharing is safe — and exercises two builds using one cache at once).
pub fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-grocker-cache")
}

pub fn real(scratch: &Scratch, args: &[&str]) -> Command {
    let mut cmd = scratch.grocker(args);
    cmd.env("GROCKER_CACHE_DIR", shared_cache());
    cmd
}

/// Whether to run engine checks; panics when the engine is missing and nobody opted out.
pub fn engine() -> bool {
    if std::env::var_os("GROCKER_TEST_NO_ENGINE").is_some_and(|v| v == "1") {
        eprintln!("GROCKER_TEST_NO_ENGINE=1: SKIPPING the Docker engine checks of this test");
        return false;
    }
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "no Docker engine answers `docker info`: run scripts/setup, or set GROCKER_TEST_NO_ENGINE=1 to skip engine checks"
    );
    true
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn unique(name: &str) -> String {
    format!("grocker-e2e/{name}:{}", std::process::id())
}

/// The name of an image a test loaded into the engine, removed from it when the test ends
/// however it ends: images left behind pile up in the engine run after run, and hold layers
/// that spare later loads (and `bench/run`'s cold builds) their unpacking.
pub struct Loaded(pub String);

impl std::ops::Deref for Loaded {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Drop for Loaded {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["image", "rm", "--force", &self.0])
            .output();
    }
}

/// Unpacks a docker-archive (which grocker writes as an OCI layout plus manifest.json).
pub fn unpack_archive(file: &Path, into: &Path) -> OciImage {
    let mut archive = tar::Archive::new(fs_err::File::open(file).unwrap());
    archive.unpack(into).unwrap();
    assert!(
        into.join("manifest.json").exists(),
        "docker-archive without manifest.json"
    );
    OciImage::read(into)
}

#[test]
fn bookworm_root_built_without_engine_loads_and_runs() {
    let s = Scratch::new();
    let name = unique("root-bookworm");
    let mut cmd = real(
        &s,
        &[
            "root",
            "-r",
            "bookworm/3.11",
            "-o",
            "docker-archive:root.tar",
            "-n",
            &name,
        ],
    );
    cmd.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    run(cmd, true);

    let image = unpack_archive(&s.path().join("root.tar"), &s.path().join("unpacked"));
    let files = image.files();
    for forbidden in [
        "sh", "bash", "dash", "apt", "apt-get", "dpkg", "perl", "gcc", "cc", "pip", "pip3",
    ] {
        for dir in ["usr/bin", "usr/sbin", "usr/local/bin"] {
            let p = format!("{dir}/{forbidden}");
            assert!(!files.contains_key(&p), "{p} is in the image");
        }
    }
    for (path, info) in &files {
        assert_eq!(info.mode & 0o6000, 0, "{path} is setuid/setgid");
    }
    let bundle =
        String::from_utf8(files["etc/ssl/certs/ca-certificates.crt"].data.clone()).unwrap();
    let roots = bundle.matches("BEGIN CERTIFICATE").count();
    assert!(roots > 100, "only {roots} CA certificates");
    let lock = fs_err::read_to_string(s.path().join("grocker.lock")).unwrap();
    let locked: Vec<&str> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|l| l.trim_end_matches('"'))
        .collect();
    assert!(locked.len() > 10, "{lock}");
    for package in &locked {
        assert!(
            files.contains_key(&format!("var/lib/dpkg/status.d/{package}")),
            "no status.d for {package}"
        );
    }
    for package in ["dpkg", "perl-base", "debconf", "bash", "dash", "coreutils"] {
        assert!(!locked.contains(&package), "{package} was pulled in");
    }

    if !engine() {
        return;
    }
    docker(&["load", "-i", s.path().join("root.tar").to_str().unwrap()]);
    let out = docker(&[
        "run",
        "--rm",
        &name,
        "-c",
        "import ssl,sqlite3,zlib,lzma,bz2,ctypes,uuid,json,urllib.request,os; ssl.create_default_context(); print(os.getuid())",
    ]);
    let uid: u32 = out
        .parse()
        .unwrap_or_else(|_| panic!("unexpected output {out:?}"));
    assert_ne!(uid, 0);
    let size: u64 = docker(&["image", "inspect", "--format", "{{.Size}}", &name])
        .parse()
        .unwrap();
    eprintln!(
        "bookworm/3.11 root image: {:.1} MB uncompressed",
        size as f64 / 1e6
    );
    assert!(size <= 60_000_000, "image is {size} bytes, over 60 MB");
    let tz = docker(&[
        "run",
        "--rm",
        &name,
        "-c",
        "import zoneinfo; print(zoneinfo.ZoneInfo('Europe/Paris'))",
    ]);
    assert_eq!(tz, "Europe/Paris");
    // Issue #12 item 3: the image sets LANG=C.UTF-8, so the locale must exist.
    let locale = docker(&[
        "run",
        "--rm",
        &name,
        "-c",
        "import locale, os; print(os.environ['LANG'], locale.setlocale(locale.LC_ALL, ''), \
         locale.getpreferredencoding())",
    ]);
    assert_eq!(locale, "C.UTF-8 C.UTF-8 UTF-8");
    // Issue #13 item 8: an arbitrary uid (OpenShift's) runs with gid 0 and writes the home,
    // which is also the working directory.
    let home = docker(&[
        "run",
        "--rm",
        "--user",
        "12345:0",
        &name,
        "-c",
        "import os; open('x', 'w').write('ok'); print(os.getuid(), os.getcwd(), open('x').read())",
    ]);
    assert_eq!(home, "12345 /home/app ok");
    docker(&["rmi", &name]);
}

#[test]
fn trixie_root_loads_into_the_engine_and_runs_python_3_13() {
    if !engine() {
        return;
    }
    let s = Scratch::new();
    let name = unique("root-trixie");
    run(
        real(
            &s,
            &["root", "-r", "trixie/3.13", "-o", "docker", "-n", &name],
        ),
        true,
    );
    let out = docker(&[
        "run",
        "--rm",
        &name,
        "-c",
        "import sys, ssl, locale; ssl.create_default_context(); \
         locale.setlocale(locale.LC_ALL, ''); print('%d.%d' % sys.version_info[:2])",
    ]);
    // setlocale under LANG=C.UTF-8 works on trixie too (libc-bin's C.utf8).
    assert_eq!(out, "3.13");
    docker(&["rmi", &name]);
}

#[test]
fn same_lock_in_empty_caches_gives_identical_manifests_readable_by_skopeo() {
    let a = Scratch::new();
    run(real(&a, &["root", "-o", "oci:img"]), true);
    // Fresh, empty caches from here on (not the shared one).
    let b = Scratch::new();
    let c = Scratch::new();
    for s in [&b, &c] {
        fs_err::copy(a.path().join("grocker.lock"), s.path().join("grocker.lock")).unwrap();
        run(s.grocker(&["root", "-o", "oci:img"]), true);
    }
    let read = |s: &Scratch| {
        let img = OciImage::read(&s.path().join("img"));
        let bytes = fs_err::read(
            s.path()
                .join("img/blobs/sha256")
                .join(img.manifest_digest.trim_start_matches("sha256:")),
        )
        .unwrap();
        (img.manifest_digest, bytes)
    };
    let (da, ma) = read(&a);
    let (db, mb) = read(&b);
    let (dc, mc) = read(&c);
    assert_eq!((&da, &ma), (&db, &mb));
    assert_eq!((&db, &mb), (&dc, &mc));

    let out = Command::new("skopeo")
        .args([
            "inspect",
            &format!("oci:{}", b.path().join("img").display()),
        ])
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inspect: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inspect["Digest"], da.as_str());
    assert_eq!(inspect["Labels"]["grocker.runtime"], "bookworm/3.11");
}

#[test]
fn a_build_killed_at_any_point_completes_when_started_again() {
    let s = Scratch::new();
    // A cold cache of its own, so the kills land in downloads, extraction and layer writing.
    let cache = s.path().join("kill-cache");
    let mut reference: BTreeMap<String, String> = BTreeMap::new();
    for (i, delay_ms) in [300u64, 900, 1800, 3000, 4500].into_iter().enumerate() {
        let mut cmd = s.grocker(&["root", "-o", &format!("oci:img{i}")]);
        cmd.env("GROCKER_CACHE_DIR", &cache);
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let mut cmd = s.grocker(&["root", "-o", "oci:final"]);
    cmd.env("GROCKER_CACHE_DIR", &cache);
    run(cmd, true);
    let digest = OciImage::read(&s.path().join("final")).manifest_digest;
    reference.insert("killed".into(), digest.clone());

    // The same lock built in one go gives the same image.
    let clean = Scratch::new();
    fs_err::copy(
        s.path().join("grocker.lock"),
        clean.path().join("grocker.lock"),
    )
    .unwrap();
    run(real(&clean, &["root", "-o", "oci:img"]), true);
    assert_eq!(
        OciImage::read(&clean.path().join("img")).manifest_digest,
        digest
    );
}
