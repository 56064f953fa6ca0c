//! The `Sources` index and an upstream tarball through the chain of trust of a signed
//! repository on 127.0.0.1 — InRelease → `Sources` → SHA-256 — and each link broken.

use std::time::{Duration, SystemTime};

use grocker_debian::{DebianError, Keyring, Source, fetch_source_file, load_sources};
use grocker_fetch::{Cache, FetchOptions, Fetcher};
use grocker_hash::Sha256;
use grocker_testkit::{DebBuilder, FileServer, RepoBuilder, TestKey, tamper};
use url::Url;

const TARBALL: &[u8] = b"CPython 3.99.1 sources, as python.org ships them";
const POOL: &str = "pool/main/p/python3.99";
const ORIG: &str = "python3.99_3.99.1.orig.tar.xz";

struct Fixture {
    key: TestKey,
    repo: tempfile::TempDir,
    server: FileServer,
    fetcher: Fetcher,
    _cache: tempfile::TempDir,
}

fn sources_text() -> String {
    format!(
        "Package: python3.99\nVersion: 3.99.1-1\nDirectory: {POOL}\nChecksums-Sha256:\n \
         {} {} {ORIG}\n\nPackage: hello\nVersion: 1-1\nDirectory: pool/main/h/hello\n\
         Checksums-Sha256:\n {} 1 hello_1.orig.tar.gz\n",
        Sha256::digest(TARBALL),
        TARBALL.len(),
        Sha256::digest(b"x"),
    )
}

/// A signed repository whose trixie Release lists `main/source/Sources` (RepoBuilder writes
/// none, so it is added here with its by-hash copy and the Release signed again), and the
/// tarball in the pool; `edit` may change the repository first (an expiry date).
fn fixture(edit: impl FnOnce(RepoBuilder) -> RepoBuilder) -> Fixture {
    let key = TestKey::generate("Grocker Test Archive <archive@test.invalid>");
    let repo = tempfile::tempdir().unwrap();
    let builder = RepoBuilder::new(&key)
        .suite("trixie", "trixie")
        .add("trixie", &DebBuilder::new("base-files", "13", "amd64"));
    let layout = edit(builder).write(repo.path()).unwrap();
    let text = sources_text();
    let sha256 = Sha256::digest(text.as_bytes());
    tamper::replace_file(
        layout.root(),
        "dists/trixie/main/source/Sources",
        text.as_bytes(),
    );
    let by_hash = format!("dists/trixie/main/source/by-hash/SHA256/{sha256}");
    tamper::replace_file(layout.root(), &by_hash, text.as_bytes());
    tamper::edit_release(layout.root(), "trixie", &key, |release| {
        format!("{release} {sha256} {:>8} main/source/Sources\n", text.len())
    });
    tamper::replace_file(layout.root(), &format!("{POOL}/{ORIG}"), TARBALL);
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
    async fn pythons(&self) -> Result<Vec<grocker_debian::SourcePackage>, DebianError> {
        let source = Source::main(Url::parse(&self.server.url()).unwrap(), "trixie");
        let keyring = Keyring::from_bytes("test", &self.key.public_keyring_binary()).unwrap();
        let wanted = |name: &str| name.starts_with("python3.");
        load_sources(&self.fetcher, &source, &keyring, SystemTime::now(), &wanted).await
    }
}

#[tokio::test]
async fn the_upstream_tarball_comes_verified_through_the_signed_index() {
    let fx = fixture(|r| r);
    let found = fx.pythons().await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let package = &found[0];
    assert_eq!(
        (package.name.as_str(), package.suite.as_str()),
        ("python3.99", "trixie")
    );
    let orig = package.orig_tarball().unwrap();
    assert_eq!(orig.name, ORIG);
    let path = fetch_source_file(&fx.fetcher, package, orig).await.unwrap();
    assert_eq!(fs_err::read(path).unwrap(), TARBALL);
    let requests = fx.server.requests().join("\n");
    assert!(
        requests.contains("/main/source/by-hash/SHA256/"),
        "{requests}"
    );
}

#[tokio::test]
async fn a_tampered_tarball_is_refused_naming_its_url() {
    let fx = fixture(|r| r);
    tamper::replace_file(
        fx.repo.path(),
        &format!("{POOL}/{ORIG}"),
        b"CPython with a backdoor",
    );
    let found = fx.pythons().await.unwrap();
    let err = fetch_source_file(&fx.fetcher, &found[0], found[0].orig_tarball().unwrap())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, DebianError::Fetch(_)), "{message}");
    assert!(message.contains(ORIG), "{message}");
}

#[tokio::test]
async fn a_tampered_sources_index_is_refused() {
    let fx = fixture(|r| r);
    let listed = Sha256::digest(sources_text().as_bytes());
    let evil = sources_text().replace("3.99.1-1", "3.99.1-2");
    let by_hash = format!("dists/trixie/main/source/by-hash/SHA256/{listed}");
    tamper::replace_file(fx.repo.path(), &by_hash, evil.as_bytes());
    let err = fx.pythons().await.unwrap_err();
    assert!(err.to_string().contains(&by_hash), "{err}");
}

#[tokio::test]
async fn an_expired_release_says_so() {
    let past = SystemTime::now() - Duration::from_secs(86_400);
    let fx = fixture(|r| r.valid_until("trixie", past));
    let err = fx.pythons().await.unwrap_err();
    assert!(matches!(err, DebianError::Expired { .. }), "{err}");
}
