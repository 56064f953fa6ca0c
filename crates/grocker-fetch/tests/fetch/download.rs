//! Verified downloads, the cache, batches, ranges and documents.

use std::time::{Duration, Instant};

use grocker_fetch::{ByteRange, Cache, Download, FetchError, FetchOptions, Fetcher, Progress};
use grocker_hash::Sha256;
use url::Url;

use grocker_testkit::{Reply, ScriptedServer};

use crate::support::url;
use crate::{assert_cache_empty, content, entries, fetcher};

#[tokio::test]
async fn verified_download_is_cached_and_a_hit_makes_no_request() {
    let data = content(300_000);
    let served = data.clone();
    let server = ScriptedServer::start(move |_| Reply::Ok(served.clone()));
    let (_dir, fetcher) = fetcher();
    let sha = Sha256::digest(&data);
    let url = url(&server, "/pool/a.deb");
    let path = fetcher
        .get_verified(&url, &sha, Some(data.len() as u64))
        .await
        .unwrap();
    assert_eq!(fs_err::read(&path).unwrap(), data);
    assert_eq!(fetcher.cache().get(&sha), Some(path.clone()));
    assert_eq!(fetcher.get_verified(&url, &sha, None).await.unwrap(), path);
    assert_eq!(
        server.requests().len(),
        1,
        "the second call must be a cache hit"
    );
    assert_eq!(entries(&fetcher.cache().root().join("tmp")), 0);

    // A blob put there by someone else is a hit too, even for a URL that cannot answer.
    let (other, _) = fetcher.cache().put_bytes(b"elsewhere").unwrap();
    let dead = Url::parse("http://127.0.0.1:1/never").unwrap();
    assert!(fetcher.get_verified(&dead, &other, Some(9)).await.is_ok());
}

#[tokio::test]
async fn wrong_bytes_are_a_hash_mismatch_and_nothing_is_stored() {
    let server = ScriptedServer::start(|_| Reply::Ok(b"tampered".to_vec()));
    let (_dir, fetcher) = fetcher();
    let expected = Sha256::digest(b"original");
    let url = url(&server, "/pool/a.deb");
    let err = fetcher
        .get_verified(&url, &expected, None)
        .await
        .unwrap_err();
    match &err {
        FetchError::HashMismatch {
            url: u,
            expected: e,
            actual,
        } => {
            assert_eq!(
                (u.as_str(), e, actual),
                (url.as_str(), &expected, &Sha256::digest(b"tampered"))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("nothing was cached"));
    assert_eq!(server.requests().len(), 1, "a mismatch is not retried");
    assert_cache_empty(&fetcher);
}

#[tokio::test]
async fn announced_size_mismatch_fails_before_downloading() {
    let server = ScriptedServer::start(|_| Reply::Ok(content(1000)));
    let (_dir, fetcher) = fetcher();
    let sha = Sha256::digest(&content(1000));
    let err = fetcher
        .get_verified(&url(&server, "/f"), &sha, Some(999))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::SizeMismatch {
                expected: 999,
                actual: 1000,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
    assert_cache_empty(&fetcher);
}

#[tokio::test]
async fn many_downloads_come_back_in_input_order_within_the_concurrency_limit() {
    let server = ScriptedServer::start(|r| {
        let i: u64 = r.path.trim_start_matches("/f").parse().unwrap();
        // Later files answer sooner, so completion order differs from input order.
        let delay = Duration::from_millis(20 * (10 - i));
        Reply::Delayed(delay, Box::new(Reply::Ok(format!("file {i}").into_bytes())))
    });
    let dir = tempfile::tempdir().unwrap();
    let options = FetchOptions {
        retries: 0,
        concurrency: 3,
        progress: Progress::Bars(indicatif::MultiProgress::new()), // stderr is not a terminal under `cargo test`: drawn nowhere
        ..FetchOptions::default()
    };
    let fetcher = Fetcher::new(Cache::at(dir.path()).unwrap(), options).unwrap();
    let items: Vec<Download> = (0..10)
        .map(|i| {
            let data = format!("file {i}");
            Download {
                url: url(&server, &format!("/f{i}")),
                sha256: Sha256::digest(data.as_bytes()),
                size: Some(data.len() as u64),
                label: format!("f{i}"),
            }
        })
        .collect();
    let paths = fetcher.get_all_verified(items).await.unwrap();
    assert_eq!(paths.len(), 10);
    for (i, path) in paths.iter().enumerate() {
        assert_eq!(fs_err::read_to_string(path).unwrap(), format!("file {i}"));
    }
    let max = server.max_active();
    assert_eq!(
        max, 3,
        "downloads run in parallel, at most `concurrency` at once"
    );
    assert!(
        fetcher
            .get_all_verified(Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn first_error_wins_and_cancels_the_rest() {
    let server = ScriptedServer::start(|r| match r.path.as_str() {
        "/slow" => Reply::Delayed(Duration::from_secs(30), Box::new(Reply::Ok(b"x".to_vec()))),
        _ => Reply::Status(404),
    });
    let (_dir, fetcher) = fetcher();
    // Two files: one hash asked twice is downloaded once (the second waits for the first).
    let item = |path: &str, content: &[u8]| Download {
        url: url(&server, path),
        sha256: Sha256::digest(content),
        size: None,
        label: path.into(),
    };
    let started = Instant::now();
    let err = fetcher
        .get_all_verified(vec![item("/slow", b"x"), item("/missing", b"y")])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "did not wait for the slow one"
    );
    assert_cache_empty(&fetcher);
}

#[tokio::test]
async fn range_requests_and_documents() {
    let data = content(1000);
    let served = data.clone();
    let server = ScriptedServer::start(move |r| match r.path.as_str() {
        "/ranged.whl" => Reply::Ranged(None, served.clone()),
        "/plain.whl" => Reply::Ok(served.clone()),
        "/old/simple/" => Reply::Redirect(302, "/simple/".into()),
        _ => Reply::Typed("application/vnd.pypi.simple.v1+json".into(), b"{}".to_vec()),
    });
    let (_dir, fetcher) = fetcher();
    let part = fetcher
        .get_range(&url(&server, "/ranged.whl"), ByteRange::Bounded(10..20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (part.start, part.total, &part.bytes[..]),
        (10, Some(1000), &data[10..20])
    );
    let tail = fetcher
        .get_range(&url(&server, "/ranged.whl"), ByteRange::Suffix(22))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (tail.start, tail.total, &tail.bytes[..]),
        (978, Some(1000), &data[978..])
    );
    let none = fetcher
        .get_range(&url(&server, "/plain.whl"), ByteRange::Suffix(22))
        .await;
    assert!(
        none.unwrap().is_none(),
        "a server ignoring ranges gives None"
    );

    let accept = "application/vnd.pypi.simple.v1+json";
    let doc = fetcher
        .get_document(&url(&server, "/old/simple/"), accept)
        .await
        .unwrap();
    assert_eq!(doc.url, url(&server, "/simple/"));
    assert_eq!(doc.content_type.as_deref(), Some(accept));
    assert_eq!(
        server.requests().last().unwrap().header("accept"),
        Some(accept)
    );
}

#[tokio::test]
async fn one_file_asked_twice_at_once_is_downloaded_once() {
    // The platforms of one build fetch the wheels they share at the same moment.
    let server = ScriptedServer::start(|_| {
        Reply::Delayed(
            Duration::from_millis(200),
            Box::new(Reply::Ok(b"shared".to_vec())),
        )
    });
    let (_dir, fetcher) = fetcher();
    let item = || Download {
        url: url(&server, "/shared.whl"),
        sha256: Sha256::digest(b"shared"),
        size: None,
        label: "shared.whl".into(),
    };
    let (a, b) = tokio::join!(
        fetcher.get_all_verified(vec![item()]),
        fetcher.get_all_verified(vec![item()])
    );
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(server.requests().len(), 1);
}
