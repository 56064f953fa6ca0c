//! The Contents index: through the chain of trust of a signed repository on 127.0.0.1 (and each
//! link broken), then against the real Debian archive (~12 MB the first time, then cached in
//! Cargo's target directory).

use std::io::Write;
use std::time::{Instant, SystemTime};

use grocker_debian::{DebianError, Keyring, Source, load_contents};
use grocker_fetch::{Cache, FetchOptions, Fetcher};
use grocker_hash::Sha256;
use grocker_testkit::{DebBuilder, FileServer, RepoBuilder, TestKey, tamper};
use url::Url;

const CONTENTS: &str = "\
usr/lib/x86_64-linux-gnu/libfoo.so.1                   libs/libfoo1
usr/lib/x86_64-linux-gnu/libfoo.so                     libdevel/libfoo-dev
usr/share/doc/libfoo1/copyright                        libs/libfoo1
";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

struct Fixture {
    key: TestKey,
    repo: tempfile::TempDir,
    server: FileServer,
    fetcher: Fetcher,
    _cache: tempfile::TempDir,
}

/// A signed repository whose bookworm Release lists `main/Contents-amd64.gz` (RepoBuilder
/// writes no Contents index, so it is added here, with its by-hash copy, and Release signed
/// again).
fn fixture() -> Fixture {
    let key = TestKey::generate("Grocker Test Archive <archive@test.invalid>");
    let libfoo = DebBuilder::new("libfoo1", "1.0-1", "amd64").file(
        "usr/lib/x86_64-linux-gnu/libfoo.so.1",
        b"\x7fELF",
        0o644,
    );
    let repo = tempfile::tempdir().unwrap();
    let layout = RepoBuilder::new(&key)
        .suite("bookworm", "bookworm")
        .add("bookworm", &libfoo)
        .write(repo.path())
        .unwrap();
    let gz = gzip(CONTENTS.as_bytes());
    let sha256 = Sha256::digest(&gz);
    tamper::replace_file(layout.root(), "dists/bookworm/main/Contents-amd64.gz", &gz);
    let by_hash = format!("dists/bookworm/main/by-hash/SHA256/{sha256}");
    tamper::replace_file(layout.root(), &by_hash, &gz);
    tamper::edit_release(layout.root(), "bookworm", &key, |release| {
        format!(
            "{release} {sha256} {:>8} main/Contents-amd64.gz\n",
            gz.len()
        )
    });
    let server = FileServer::serve(layout.root());
    let cache = tempfile::tempdir().unwrap();
    let options = FetchOptions {
        retries: 0,
        ..FetchOptions::default()
    };
    let fetcher = Fetcher::new(Cache::at(cache.path()).unwrap(), options).unwrap();
    Fixture {
        key,
        repo,
        server,
        fetcher,
        _cache: cache,
    }
}

impl Fixture {
    async fn load(&self) -> Result<grocker_debian::ContentsIndex, DebianError> {
        let source = Source::main(Url::parse(&self.server.url()).unwrap(), "bookworm");
        let keyring = Keyring::from_bytes("test", &self.key.public_keyring_binary()).unwrap();
        load_contents(
            &self.fetcher,
            &[source],
            &keyring,
            "amd64",
            SystemTime::now(),
        )
        .await
    }
}

#[tokio::test]
async fn signed_contents_by_hash() {
    let fx = fixture();
    let index = fx.load().await.unwrap();
    assert_eq!(index.packages_providing("libfoo.so.1"), ["libfoo1"]);
    assert_eq!(index.packages_providing("libfoo.so"), ["libfoo-dev"]);
    assert_eq!(index.len(), 2);
    let requests = fx.server.requests().join("\n");
    assert!(requests.contains("/main/by-hash/SHA256/"), "{requests}");
    assert!(!requests.contains("Contents"), "{requests}");
    // A second load reads the parsed index from the cache.
    assert_eq!(fx.load().await.unwrap(), index);
}

#[tokio::test]
async fn tampered_contents_is_refused_naming_the_url() {
    let fx = fixture();
    let evil = gzip(b"usr/lib/x86_64-linux-gnu/libfoo.so.1   libs/evil\n");
    let listed = Sha256::digest(&gzip(CONTENTS.as_bytes()));
    let by_hash = format!("dists/bookworm/main/by-hash/SHA256/{listed}");
    tamper::replace_file(fx.repo.path(), &by_hash, &evil);
    tamper::replace_file(
        fx.repo.path(),
        "dists/bookworm/main/Contents-amd64.gz",
        &evil,
    );
    let err = fx.load().await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, DebianError::Fetch(_)), "{message}");
    assert!(message.contains(&by_hash), "{message}");
}

#[tokio::test]
async fn contents_behind_a_bad_signature_is_refused() {
    let fx = fixture();
    tamper::inrelease_text(fx.repo.path(), "bookworm");
    let err = fx.load().await.unwrap_err();
    assert!(matches!(err, DebianError::BadSignature { .. }), "{err}");
    assert!(!fx.server.requests().join("\n").contains("by-hash"));
}

#[tokio::test]
async fn release_without_contents() {
    let fx = fixture();
    tamper::edit_release(fx.repo.path(), "bookworm", &fx.key, |release| {
        release
            .lines()
            .filter(|line| !line.contains("Contents"))
            .map(|line| format!("{line}\n"))
            .collect()
    });
    let err = fx.load().await.unwrap_err();
    assert!(matches!(err, DebianError::MissingIndex { .. }), "{err}");
    assert!(err.to_string().contains("main/Contents-amd64"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookworm_libraries() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("grocker-debian-cache");
    let fetcher = Fetcher::new(Cache::at(dir).unwrap(), FetchOptions::default()).unwrap();
    let sources = Source::debian_defaults("bookworm").unwrap();
    let keyring = Keyring::debian().unwrap();
    let started = Instant::now();
    let index = load_contents(&fetcher, &sources, &keyring, "amd64", SystemTime::now())
        .await
        .unwrap();
    eprintln!(
        "bookworm Contents-amd64: {} library names in {:?}",
        index.len(),
        started.elapsed()
    );
    assert!(index.len() > 10_000, "{}", index.len());
    assert_eq!(index.packages_providing("libpq.so.5"), ["libpq5"]);
    assert_eq!(
        index.packages_providing("libjpeg.so.62"),
        ["libjpeg62-turbo"]
    );
    assert_eq!(index.packages_providing("libz.so.1"), ["zlib1g"]);
    assert!(
        index
            .packages_providing("libpython3.11.so.1.0")
            .contains(&"libpython3.11".into())
    );
    assert!(index.packages_providing("libdoesnotexist.so.9").is_empty());
}
