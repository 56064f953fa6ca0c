//! The strongest proof: apt itself (gpgv, by-hash, Packages and .deb hashes) accepts the
//! repository served by `FileServer`, and rejects each kind of tampering.

use std::path::Path;
use std::process::{Command, Output};

use grocker_testkit::{DebBuilder, FileServer, RepoBuilder, TestKey, tamper};

use crate::keyring_file;

/// Runs apt-get with every state, cache and config path inside `work`.
fn apt_get(work: &Path, keyring: &Path, url: &str, args: &[&str]) -> Output {
    let sources = work.join("sources.list");
    let line = format!(
        "deb [arch=amd64 signed-by={}] {url} bookworm main\n",
        keyring.display()
    );
    fs_err::write(&sources, line).unwrap();
    for d in [
        "state/lists/partial",
        "cache/archives/partial",
        "etc/preferences.d",
    ] {
        fs_err::create_dir_all(work.join(d)).unwrap();
    }
    fs_err::write(work.join("status"), "").unwrap();
    let mut cmd = Command::new("apt-get");
    for (k, v) in [
        ("Dir::Etc::sourcelist", sources.display().to_string()),
        ("Dir::Etc::sourceparts", "-".into()),
        ("Dir::Etc::parts", work.join("etc").display().to_string()),
        (
            "Dir::Etc::preferencesparts",
            work.join("etc/preferences.d").display().to_string(),
        ),
        ("Dir::State", work.join("state").display().to_string()),
        (
            "Dir::State::status",
            work.join("status").display().to_string(),
        ),
        ("Dir::Cache", work.join("cache").display().to_string()),
        ("Debug::NoLocking", "1".into()),
        ("APT::Sandbox::User", "root".into()),
        ("APT::Architecture", "amd64".into()),
        ("Acquire::Retries", "0".into()),
        ("Acquire::http::Proxy", "DIRECT".into()),
    ] {
        cmd.arg("-o").arg(format!("{k}={v}"));
    }
    cmd.args(args)
        .current_dir(work)
        .output()
        .expect("run apt-get")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn setup() -> (tempfile::TempDir, TestKey, FileServer, std::path::PathBuf) {
    let key = TestKey::generate("Apt Test <apt@test.invalid>");
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("mirror");
    let hello = DebBuilder::new("hello", "2.10-3", "amd64")
        .depends("libc6")
        .file("usr/bin/hello", b"#!/bin/sh\necho hello\n", 0o755);
    let libc = DebBuilder::new("libc6", "2.36-9", "amd64");
    RepoBuilder::new(&key)
        .suite("bookworm", "bookworm")
        .add("bookworm", &hello)
        .add("bookworm", &libc)
        .write(&repo)
        .unwrap();
    let server = FileServer::serve(&repo);
    (dir, key, server, repo)
}

#[test]
fn apt_get_updates_and_downloads_from_the_repository() {
    let (dir, key, server, _repo) = setup();
    let keyring = keyring_file(dir.path(), &key, "archive.gpg");
    let out = apt_get(dir.path(), &keyring, &server.url(), &["update"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("W:"), "apt warned: {}", text(&out));
    // Acquire-By-Hash: apt fetched the index by its hash.
    assert!(
        server
            .requests()
            .iter()
            .any(|p| p.contains("/by-hash/SHA256/")),
        "{:?}",
        server.requests()
    );
    let out = apt_get(dir.path(), &keyring, &server.url(), &["download", "hello"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(dir.path().join("hello_2.10-3_amd64.deb").exists());
}

type Tamper = fn(&Path);

#[test]
fn apt_get_rejects_each_kind_of_tampering() {
    // (what is broken, how, what apt must say)
    let cases: [(&str, Tamper, &str); 3] = [
        (
            "signed text",
            |repo| tamper::inrelease_text(repo, "bookworm"),
            "BADSIG",
        ),
        (
            "signer",
            |repo| tamper::resign_with(repo, "bookworm", &TestKey::generate("M <m@t.invalid>")),
            "NO_PUBKEY",
        ),
        (
            "Packages",
            |repo| tamper::packages(repo, "bookworm"),
            "Hash Sum mismatch",
        ),
    ];
    for (name, tamper, expected) in cases {
        let (dir, key, server, repo) = setup();
        tamper(&repo);
        let keyring = keyring_file(dir.path(), &key, "archive.gpg");
        let out = apt_get(dir.path(), &keyring, &server.url(), &["update"]);
        let log = text(&out);
        assert!(log.contains(expected), "{name}: {log}");
        assert!(log.contains("E:") || log.contains("W:"), "{name}: {log}");
    }

    let (dir, key, server, repo) = setup();
    let keyring = keyring_file(dir.path(), &key, "archive.gpg");
    assert!(
        apt_get(dir.path(), &keyring, &server.url(), &["update"])
            .status
            .success()
    );
    tamper::deb(&repo, "pool/main/h/hello/hello_2.10-3_amd64.deb");
    let out = apt_get(dir.path(), &keyring, &server.url(), &["download", "hello"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Hash Sum mismatch"), "{}", text(&out));
}
