use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime};

use grocker_hash::Sha256;
use grocker_testkit::{DebBuilder, RepoBuilder, RepoLayout, TestKey, tamper};

use crate::{gpgv, keyring_file, stderr};

fn build(key: &TestKey, dir: &Path) -> RepoLayout {
    let libc = DebBuilder::new("libc6", "2.36-9", "amd64").file("usr/lib/libc.so.6", b"ELF", 0o644);
    let data =
        DebBuilder::new("tzdata", "2024a-0", "all").file("usr/share/zoneinfo/UTC", b"TZif", 0o644);
    let arm =
        DebBuilder::new("libc6", "2.36-9", "arm64").file("usr/lib/libc.so.6", b"ELF-arm", 0o644);
    let update = DebBuilder::new("tzdata", "2025b-0", "all");
    RepoBuilder::new(key)
        .suite("bookworm", "bookworm")
        .suite("bookworm-updates", "bookworm-updates")
        .add("bookworm", &libc)
        .add("bookworm", &data)
        .add("bookworm", &arm)
        .add("bookworm-updates", &update)
        .valid_until(
            "bookworm-updates",
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_783_765_000),
        )
        .date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_783_764_997))
        .write(dir)
        .unwrap()
}

/// (sha256, size, path) rows of a Release's SHA256 section.
fn release_hashes(release: &str) -> Vec<(String, u64, String)> {
    release
        .split("SHA256:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with(' '))
        .map(|l| {
            let mut f = l.split_whitespace();
            let (h, s, p) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            (h.to_string(), s.parse().unwrap(), p.to_string())
        })
        .collect()
}

fn field<'a>(paragraph: &'a str, name: &str) -> Option<&'a str> {
    paragraph
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

/// Checks Release → Packages → .deb for a suite; returns the first broken link.
fn check_chain(layout: &RepoLayout, suite: &str) -> Result<(), String> {
    let dir = layout.suite_dir(suite);
    let release = fs_err::read_to_string(layout.release(suite)).unwrap();
    for (hash, size, rel) in release_hashes(&release) {
        let bytes = fs_err::read(dir.join(&rel)).unwrap();
        if Sha256::digest(&bytes).to_string() != hash || bytes.len() as u64 != size {
            return Err(format!("index {rel}"));
        }
        let by_hash = dir
            .join(Path::new(&rel).parent().unwrap())
            .join("by-hash/SHA256")
            .join(&hash);
        if fs_err::read(&by_hash).unwrap() != bytes {
            return Err(format!("by-hash {rel}"));
        }
        if rel.ends_with("Packages") {
            for stanza in String::from_utf8(bytes)
                .unwrap()
                .split("\n\n")
                .filter(|s| !s.is_empty())
            {
                let deb =
                    fs_err::read(layout.root().join(field(stanza, "Filename").unwrap())).unwrap();
                if Sha256::digest(&deb).to_string() != field(stanza, "SHA256").unwrap()
                    || deb.len().to_string() != field(stanza, "Size").unwrap()
                {
                    return Err(format!("deb {}", field(stanza, "Filename").unwrap()));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn layout_hashes_and_signatures_are_consistent() {
    let key = TestKey::generate("Repo <repo@test.invalid>");
    let dir = tempfile::tempdir().unwrap();
    let layout = build(&key, dir.path());
    let keyring = keyring_file(dir.path(), &key, "archive.gpg");
    for suite in ["bookworm", "bookworm-updates"] {
        check_chain(&layout, suite).unwrap();
        let out = gpgv(&keyring, &[&layout.inrelease(suite)]);
        assert!(out.status.success(), "{suite}: {}", stderr(&out));
        let out = gpgv(
            &keyring,
            &[&layout.release_gpg(suite), &layout.release(suite)],
        );
        assert!(
            out.status.success(),
            "{suite} Release.gpg: {}",
            stderr(&out)
        );
        // InRelease carries exactly the Release text.
        let inrelease = fs_err::read_to_string(layout.inrelease(suite)).unwrap();
        let release = fs_err::read_to_string(layout.release(suite)).unwrap();
        assert!(inrelease.contains(&format!("\n\n{release}-----BEGIN PGP SIGNATURE-----")));
    }
    let release = fs_err::read_to_string(layout.release("bookworm")).unwrap();
    assert_eq!(
        field(&release, "Date"),
        Some("Sat, 11 Jul 2026 10:16:37 UTC")
    );
    assert_eq!(field(&release, "Valid-Until"), None);
    assert_eq!(field(&release, "Acquire-By-Hash"), Some("yes"));
    assert_eq!(field(&release, "Architectures"), Some("amd64 arm64"));
    let updates = fs_err::read_to_string(layout.release("bookworm-updates")).unwrap();
    assert_eq!(
        field(&updates, "Valid-Until"),
        Some("Sat, 11 Jul 2026 10:16:40 UTC")
    );
    assert_eq!(field(&updates, "Codename"), Some("bookworm-updates"));

    // arch:all packages appear in every architecture's Packages; Packages.xz = Packages.
    let amd64 = fs_err::read_to_string(layout.packages("bookworm", "amd64")).unwrap();
    let arm64 = fs_err::read_to_string(layout.packages("bookworm", "arm64")).unwrap();
    assert!(amd64.contains("Package: tzdata") && arm64.contains("Package: tzdata"));
    assert!(amd64.contains("Filename: pool/main/libc/libc6/libc6_2.36-9_amd64.deb\n"));
    assert!(!amd64.contains("_arm64.deb") && arm64.contains("libc6_2.36-9_arm64.deb"));
    let mut unxz = String::new();
    lzma_rust2::XzReader::new(
        fs_err::File::open(layout.packages_xz("bookworm", "amd64")).unwrap(),
        false,
    )
    .read_to_string(&mut unxz)
    .unwrap();
    assert_eq!(unxz, amd64);
    assert_eq!(
        layout.deb_relative("tzdata"),
        "pool/main/t/tzdata/tzdata_2024a-0_all.deb"
    );
    assert_eq!(layout.debs().len(), 4);
}

#[test]
fn tampered_inrelease_fails_gpgv() {
    let key = TestKey::generate("Repo <repo@test.invalid>");
    let dir = tempfile::tempdir().unwrap();
    let layout = build(&key, dir.path());
    let keyring = keyring_file(dir.path(), &key, "archive.gpg");
    let before = fs_err::read(layout.inrelease("bookworm")).unwrap();
    tamper::inrelease_text(layout.root(), "bookworm");
    let after = fs_err::read(layout.inrelease("bookworm")).unwrap();
    assert_eq!(before.iter().zip(&after).filter(|(a, b)| a != b).count(), 1);
    let out = gpgv(&keyring, &[&layout.inrelease("bookworm")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("BAD signature"), "{}", stderr(&out));
}

#[test]
fn resigned_inrelease_verifies_only_with_the_other_key() {
    let key = TestKey::generate("Repo <repo@test.invalid>");
    let other = TestKey::generate("Mallory <mallory@test.invalid>");
    let dir = tempfile::tempdir().unwrap();
    let layout = build(&key, dir.path());
    tamper::resign_with(layout.root(), "bookworm", &other);
    let trusted = keyring_file(dir.path(), &key, "trusted.gpg");
    let untrusted = keyring_file(dir.path(), &other, "other.gpg");
    assert!(
        !gpgv(&trusted, &[&layout.inrelease("bookworm")])
            .status
            .success()
    );
    assert!(
        gpgv(&untrusted, &[&layout.inrelease("bookworm")])
            .status
            .success()
    );
    check_chain(&layout, "bookworm").unwrap();
}

#[test]
fn tampered_packages_keep_a_valid_signature_but_break_hashes() {
    let key = TestKey::generate("Repo <repo@test.invalid>");
    let dir = tempfile::tempdir().unwrap();
    let layout = build(&key, dir.path());
    let size = fs_err::metadata(layout.packages("bookworm", "amd64"))
        .unwrap()
        .len();
    tamper::packages(layout.root(), "bookworm");
    let packages = layout.packages("bookworm", "amd64");
    assert_eq!(
        fs_err::metadata(packages).unwrap().len(),
        size,
        "same size, other hash"
    );
    let keyring = keyring_file(dir.path(), &key, "archive.gpg");
    assert!(
        gpgv(&keyring, &[&layout.inrelease("bookworm")])
            .status
            .success()
    );
    let err = check_chain(&layout, "bookworm").unwrap_err();
    assert!(err.starts_with("index main/binary-amd64/Packages"), "{err}");
    // The by-hash copies were changed too, under their old names.
    let release = fs_err::read_to_string(layout.release("bookworm")).unwrap();
    for (hash, _, rel) in release_hashes(&release) {
        let dir = layout
            .suite_dir("bookworm")
            .join(Path::new(&rel).parent().unwrap());
        let copy = fs_err::read(dir.join("by-hash/SHA256").join(&hash)).unwrap();
        assert_ne!(Sha256::digest(&copy).to_string(), hash, "{rel}");
    }
    check_chain(&layout, "bookworm-updates").unwrap();
}

#[test]
fn tampered_deb_breaks_only_its_hash() {
    let key = TestKey::generate("Repo <repo@test.invalid>");
    let dir = tempfile::tempdir().unwrap();
    let layout = build(&key, dir.path());
    let rel = layout.deb_relative("libc6").to_string();
    let size = fs_err::metadata(layout.root().join(&rel)).unwrap().len();
    tamper::deb(layout.root(), &rel);
    assert_eq!(
        fs_err::metadata(layout.root().join(&rel)).unwrap().len(),
        size
    );
    assert_eq!(
        check_chain(&layout, "bookworm").unwrap_err(),
        format!("deb {rel}")
    );
    check_chain(&layout, "bookworm-updates").unwrap();
}
