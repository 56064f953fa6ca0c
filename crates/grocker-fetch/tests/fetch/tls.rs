//! Which certificate authorities are trusted.

use std::process::Command;

use grocker_fetch::FetchError;
use url::Url;

use grocker_testkit::Reply;

use crate::support::{start_tls, url};
use crate::{fetcher, fetcher_with};

/// The platform trust store (and SSL_CERT_FILE, set on these machines, which reach the internet
/// through a TLS-inspecting proxy) must let us through to the real Debian archive and PyPI.
#[tokio::test]
async fn platform_trust_store_reaches_debian_and_pypi() {
    let (_dir, fetcher) = fetcher();
    let release = Url::parse("https://deb.debian.org/debian/dists/bookworm/Release").unwrap();
    let bytes = fetcher.get_bytes(&release).await.unwrap();
    assert!(
        bytes.starts_with(b"Origin: Debian"),
        "{:?}",
        &bytes[..40.min(bytes.len())]
    );
    let simple = Url::parse("https://pypi.org/simple/grocker/").unwrap();
    let doc = fetcher.get_document(&simple, "text/html").await.unwrap();
    assert!(String::from_utf8_lossy(&doc.bytes).contains("grocker"));
}

#[tokio::test]
async fn untrusted_certificate_is_a_tls_error_without_retries() {
    let server = start_tls(|_| Reply::Ok(b"hello".to_vec()));
    let (_dir, fetcher) = fetcher();
    let url = url(&server, "/simple/");
    let err = fetcher.get_bytes(&url).await.unwrap_err();
    assert!(matches!(err, FetchError::Tls { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("the TLS certificate of {url} is not trusted: ")),
        "{msg}"
    );
    assert!(msg.contains("SSL_CERT_FILE"), "{msg}");
    assert_eq!(server.connections(), 1, "not retried");
    assert!(server.requests().is_empty());
}

/// A CA given only through `SSL_CERT_FILE` (the TLS-inspecting proxy case) is trusted, and the
/// system store still is too. The variable is read when the client is built, so this runs the
/// check below in a child process with its own environment.
#[test]
fn ca_from_ssl_cert_file_is_trusted_alongside_the_system_store() {
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/test-ca.pem");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tls::ssl_cert_file_child",
            "--include-ignored",
            "--nocapture",
        ])
        .env("SSL_CERT_FILE", ca)
        .env_remove("SSL_CERT_DIR")
        .env("GROCKER_FETCH_TLS_CHILD", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

#[tokio::test]
#[ignore = "run by ca_from_ssl_cert_file_is_trusted_alongside_the_system_store"]
async fn ssl_cert_file_child() {
    if std::env::var_os("GROCKER_FETCH_TLS_CHILD").is_none() {
        return;
    }
    let server = start_tls(|_| Reply::Ok(b"hello over tls".to_vec()));
    let (_dir, fetcher) = fetcher_with(0);
    let bytes = fetcher.get_bytes(&url(&server, "/x")).await.unwrap();
    assert_eq!(&bytes[..], b"hello over tls");
    let release = Url::parse("https://deb.debian.org/debian/dists/bookworm/Release").unwrap();
    assert!(
        fetcher
            .get_bytes(&release)
            .await
            .unwrap()
            .starts_with(b"Origin: Debian")
    );
}
