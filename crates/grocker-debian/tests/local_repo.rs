//! The whole chain of trust against a signed repository served on 127.0.0.1: key → InRelease →
//! Packages → .deb, and each link broken in turn.

use std::time::{Duration, SystemTime};

use grocker_debian::{
    DebOptions, DebianError, Keyring, PackageIndex, Source, load_index, read_deb_file, resolve,
};
use grocker_fetch::{Cache, FetchOptions, Fetcher};
use grocker_fs::Kind;
use grocker_testkit::{DebBuilder, FileServer, RepoBuilder, RepoLayout, TestKey, tamper};
use url::Url;

struct Fixture {
    key: TestKey,
    layout: RepoLayout,
    server: FileServer,
    fetcher: Fetcher,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn fixture(edit: impl FnOnce(RepoBuilder) -> RepoBuilder) -> Fixture {
    let key = TestKey::generate("Grocker Test Archive <archive@test.invalid>");
    let libfoo = DebBuilder::new("libfoo1", "1.0-1", "amd64")
        .depends("libc6 (>= 2.34)")
        .file("lib/x86_64-linux-gnu/libfoo.so.1", b"\x7fELF old", 0o644)
        .file("usr/share/doc/libfoo1/changelog.gz", b"log", 0o644)
        .file("usr/share/doc/libfoo1/copyright", b"MIT", 0o644);
    let libfoo_fixed = DebBuilder::new("libfoo1", "1.0-1+deb12u1", "amd64")
        .depends("libc6 (>= 2.34)")
        .file("lib/x86_64-linux-gnu/libfoo.so.1", b"\x7fELF fixed", 0o644)
        .postinst("#!/bin/sh\nexit 1\n");
    let libc = DebBuilder::new("libc6", "2.36-9", "amd64").file(
        "lib/x86_64-linux-gnu/libc.so.6",
        b"\x7fELF libc",
        0o755,
    );
    let app = DebBuilder::new("app", "1", "all")
        .depends("libfoo1 (>= 1.0-1), debconf (>= 0.5) | debconf-2.0");
    let builder = RepoBuilder::new(&key)
        .suite("bookworm", "bookworm")
        .add("bookworm", &libfoo)
        .add("bookworm", &libc)
        .add("bookworm", &app)
        .suite("bookworm-security", "bookworm-security")
        .add("bookworm-security", &libfoo_fixed);
    let repo = tempfile::tempdir().unwrap();
    let layout = edit(builder).write(repo.path()).unwrap();
    let server = FileServer::serve(layout.root());
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(
        Cache::at(cache.path()).unwrap(),
        FetchOptions {
            retries: 0,
            ..FetchOptions::default()
        },
    )
    .unwrap();
    Fixture {
        key,
        layout,
        server,
        fetcher,
        _dirs: (repo, cache),
    }
}

impl Fixture {
    fn sources(&self) -> Vec<Source> {
        let base = Url::parse(&self.server.url()).unwrap();
        vec![
            Source::main(base.clone(), "bookworm"),
            Source::main(base, "bookworm-security"),
        ]
    }

    fn keyring(&self) -> Keyring {
        Keyring::from_bytes("test", &self.key.public_keyring_binary()).unwrap()
    }

    async fn load(&self) -> Result<PackageIndex, DebianError> {
        load_index(
            &self.fetcher,
            &self.sources(),
            &self.keyring(),
            "amd64",
            SystemTime::now(),
        )
        .await
    }
}

#[tokio::test]
async fn signed_repo_to_files() {
    let fx = fixture(|b| b);
    let index = fx.load().await.unwrap();
    let foo = index.get("libfoo1").unwrap();
    assert_eq!(
        foo.version.to_string(),
        "1.0-1+deb12u1",
        "the security update wins"
    );
    let packages = resolve(&index, &["app".to_string()], "amd64").unwrap();
    let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["app", "libc6", "libfoo1"]);
    // Packages were fetched by hash, never by name
    let requests = fx.server.requests().join("\n");
    assert!(requests.contains("/by-hash/SHA256/"), "{requests}");
    assert!(!requests.contains("Packages"), "{requests}");
    // the .deb, verified against Packages, then read
    let foo = packages.iter().find(|p| p.name == "libfoo1").unwrap();
    let path = fx
        .fetcher
        .get_verified(&foo.deb_url().unwrap(), &foo.sha256, Some(foo.size))
        .await
        .unwrap();
    let deb = read_deb_file(&path, &DebOptions::default()).unwrap();
    assert!(deb.control.contains("Version: 1.0-1+deb12u1"));
    let (path, entry) = deb
        .files
        .iter()
        .find(|(p, _)| p.as_str().ends_with("libfoo.so.1"))
        .unwrap();
    assert_eq!(path.as_str(), "usr/lib/x86_64-linux-gnu/libfoo.so.1");
    assert!(matches!(&entry.kind, Kind::File(d) if &d.read_all().unwrap()[..] == b"\x7fELF fixed"));
}

#[tokio::test]
async fn tampered_packages_is_refused_naming_the_url() {
    let fx = fixture(|b| b);
    tamper::packages(fx.layout.root(), "bookworm-security");
    let err = fx.load().await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, DebianError::Fetch(_)), "{message}");
    assert!(
        message.contains("dists/bookworm-security/main/binary-amd64/by-hash/SHA256/"),
        "{message}"
    );
    assert!(message.contains("does not match"), "{message}");
}

#[tokio::test]
async fn tampered_inrelease_is_refused() {
    let fx = fixture(|b| b);
    tamper::inrelease_text(fx.layout.root(), "bookworm");
    let err = fx.load().await.unwrap_err();
    assert!(matches!(err, DebianError::BadSignature { .. }), "{err}");
    assert!(
        err.to_string().contains("dists/bookworm/InRelease"),
        "{err}"
    );
}

#[tokio::test]
async fn untrusted_key_is_refused() {
    let fx = fixture(|b| b);
    let other = TestKey::generate("Mallory <m@test.invalid>");
    tamper::resign_with(fx.layout.root(), "bookworm-security", &other);
    let err = fx.load().await.unwrap_err();
    assert!(matches!(err, DebianError::BadSignature { .. }), "{err}");
    // and Debian's own keys do not vouch for the test key
    let err = load_index(
        &fx.fetcher,
        &fx.sources(),
        &Keyring::debian().unwrap(),
        "amd64",
        SystemTime::now(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DebianError::BadSignature { .. }), "{err}");
}

#[tokio::test]
async fn expired_release_is_refused() {
    let past = SystemTime::now() - Duration::from_secs(3600);
    let fx = fixture(|b| b.valid_until("bookworm-security", past));
    let err = fx.load().await.unwrap_err();
    assert!(matches!(err, DebianError::Expired { .. }), "{err}");
    assert!(err.to_string().contains("bookworm-security"), "{err}");
}

#[tokio::test]
async fn missing_architecture_is_named() {
    let fx = fixture(|b| b);
    let err = load_index(
        &fx.fetcher,
        &fx.sources(),
        &fx.keyring(),
        "s390x",
        SystemTime::now(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DebianError::MissingIndex { .. }), "{err}");
    assert!(
        err.to_string().contains("main/binary-s390x/Packages"),
        "{err}"
    );
}
