//! Transient failures are retried, final ones are not, and errors say what to do.

use grocker_fetch::{FetchError, redact_url};
use grocker_hash::Sha256;
use url::Url;

use grocker_testkit::{LogCapture, Reply, ScriptedServer};

use crate::support::url;
use crate::{assert_cache_empty, content, entries, fetcher, fetcher_with};

#[tokio::test]
async fn transient_failures_are_retried_until_success() {
    let server = ScriptedServer::start(|r| match r.nth {
        1 => Reply::Status(503),
        2 => Reply::Drop,
        _ => Reply::Ok(b"Origin: Debian".to_vec()),
    });
    let (_dir, fetcher) = fetcher();
    let bytes = fetcher
        .get_bytes(&url(&server, "/inrelease"))
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"Origin: Debian");
    assert_eq!(server.requests().len(), 3);
    let ua = server.requests()[0]
        .header("user-agent")
        .unwrap()
        .to_string();
    assert!(ua.starts_with("grocker/"), "{ua}");
}

/// A server that closes a kept-alive connection as the next request goes out (Apache does
/// after 5 idle seconds) is asked again at once, without a warning; a server that keeps
/// closing gets the warnings and the error of any other unreachable one.
#[tokio::test]
async fn a_connection_closed_without_an_answer_is_retried_quietly_once() {
    let logs = LogCapture::start();
    let server = ScriptedServer::start(|r| match r.nth {
        1 => Reply::Drop,
        _ => Reply::Ok(b"Origin: Debian".to_vec()),
    });
    let (_dir, fetcher) = fetcher();
    let bytes = fetcher.get_bytes(&url(&server, "/a")).await.unwrap();
    assert_eq!(&bytes[..], b"Origin: Debian");
    assert_eq!(server.requests().len(), 2);
    let said = |warnings| logs.lines_with(&server.url(), warnings);
    assert_eq!(said(true), Vec::<String>::new(), "{}", logs.text());
    assert!(
        said(false)
            .iter()
            .any(|l| l.contains("closed the connection")),
        "{}",
        logs.text()
    );

    let server = ScriptedServer::start(|_| Reply::Drop);
    let (_dir, fetcher) = fetcher_with(2);
    let err = fetcher.get_bytes(&url(&server, "/b")).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Unreachable { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 3);
    // The quiet first retry, then one warning before the last attempt.
    let warnings = logs.lines_with(&server.url(), true);
    assert_eq!(warnings.len(), 1, "{}", logs.text());
}

#[tokio::test]
async fn not_found_is_one_clear_error_without_retries() {
    let server = ScriptedServer::start(|_| Reply::Status(404));
    let (_dir, fetcher) = fetcher();
    let url = url(&server, "/simple/nope/");
    let err = fetcher.get_bytes(&url).await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.to_string(),
        format!(
            "{url} answered HTTP 404 — not found: check the URL, the package name and version, \
             or that the mirror carries this suite"
        )
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn server_errors_are_reported_after_the_last_retry() {
    let server = ScriptedServer::start(|_| Reply::Status(500));
    let (_dir, fetcher) = fetcher_with(2);
    let err = fetcher.get_bytes(&url(&server, "/x")).await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Status {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("(after 3 attempts)"), "{err}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn unreachable_server_names_url_attempts_and_proxy_settings() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // closed again: nothing listens there
    let (_dir, fetcher) = fetcher_with(1);
    let url = Url::parse(&format!("http://127.0.0.1:{port}/debian/")).unwrap();
    let err = fetcher.get_bytes(&url).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, FetchError::Unreachable { attempts: 2, .. }),
        "{err:?}"
    );
    assert!(
        msg.starts_with(&format!("could not reach {url} after 2 attempts: ")),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("connection refused"), "{msg}");
    assert!(msg.contains("HTTPS_PROXY"), "{msg}");
}

#[tokio::test]
async fn connection_dropped_mid_body_is_retried() {
    let data = content(100_000);
    let served = data.clone();
    let server = ScriptedServer::start(move |r| match r.nth {
        1 => Reply::Truncated(served.clone(), 10_000),
        // Without a Content-Length, only the expected size reveals the cut.
        2 => Reply::CloseDelimited(served[..50_000].to_vec()),
        _ => Reply::Ok(served.clone()),
    });
    let (_dir, fetcher) = fetcher();
    let sha = Sha256::digest(&data);
    let path = fetcher
        .get_verified(&url(&server, "/big.whl"), &sha, Some(data.len() as u64))
        .await
        .unwrap();
    assert_eq!(fs_err::read(path).unwrap(), data);
    assert_eq!(server.requests().len(), 3);
    assert_eq!(entries(&fetcher.cache().root().join("tmp")), 0);
}

#[tokio::test]
async fn body_always_cut_short_fails_and_stores_nothing() {
    let server = ScriptedServer::start(|_| Reply::Truncated(content(5000), 100));
    let (_dir, fetcher) = fetcher_with(1);
    let sha = Sha256::digest(&content(5000));
    let err = fetcher
        .get_verified(&url(&server, "/f"), &sha, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Unreachable { attempts: 2, .. }),
        "{err:?}"
    );
    assert_cache_empty(&fetcher);
    // Small documents too.
    let err = fetcher.get_bytes(&url(&server, "/g")).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Unreachable { attempts: 2, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn credentials_in_the_url_are_sent_but_never_printed() {
    let server = ScriptedServer::start(|_| Reply::Status(401));
    let (_dir, fetcher) = fetcher();
    let mut url = url(&server, "/private/simple/");
    url.set_username("user").unwrap();
    url.set_password(Some("s3cret")).unwrap();
    let err = fetcher.get_bytes(&url).await.unwrap_err();
    let auth = server.requests()[0]
        .header("authorization")
        .map(str::to_owned);
    // base64("user:s3cret")
    assert_eq!(auth.as_deref(), Some("Basic dXNlcjpzM2NyZXQ="));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("user:****@127.0.0.1"), "{shown}");
    assert_eq!(redact_url(&url), url.as_str().replace("s3cret", "****"));
}
