//! A registry that stops, restarts, or is not there.

use super::*;

/// The big layer's content size; its blob (with the tar headers) goes up in 16 MiB PATCHes.
const BIG: u64 = 160 << 20;
const CHUNK: u64 = 16 << 20;

#[test]
fn registry_stopped_mid_push_fails_clearly_and_a_second_push_completes() {
    let mut registry = TestRegistry::start(None);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layers");
    let small = file_layer(&dir, Compression::Gzip, "small.txt", b"small\n");
    // Above the monolithic limit: uploaded in 16 MiB chunks, which leaves time to stop the
    // registry in the middle of it.
    let big = random_layer(&dir, BIG, std::process::id().into());
    let image = image_of(vec![small.clone(), big.clone()]);
    let name = registry.name("team/big:1");

    let options = RegistryOptions {
        retries: 1,
        ..no_auth_files()
    };
    let pushing = {
        let (image, name) = (image.clone(), name.clone());
        let mut sink = new_sink(options.clone());
        std::thread::spawn(move || {
            let result = sink.publish(&image, &name);
            (sink, result)
        })
    };
    // Stop the registry once the first blob is in and the big one is on its way.
    registry.kill_at_first_patch(&pushing);
    let (sink, result) = pushing.join().unwrap();
    let err = result.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, OciError::RegistryUnreachable { .. }),
        "{text}"
    );
    assert!(
        text.contains(&registry.host()) && text.contains("running"),
        "{text}"
    );
    assert_eq!(sink.last_report().unwrap().uploaded, [small.digest()]);

    registry.spawn();
    let before = registry.requests().len();
    let mut sink = sink;
    let published = sink.publish(&image, &name).unwrap();
    assert_eq!(published.digest, image.digest());
    let pushed = report(&sink);
    assert_eq!(pushed.existing, [small.digest()]);
    assert_eq!(pushed.uploaded, [big.digest(), image.config_digest()]);
    let wrote = writes(&registry.requests()[before..]);
    let patches = wrote.iter().filter(|(m, _)| m == "PATCH").count() as u64;
    assert_eq!(patches, big.descriptor.size.div_ceil(CHUNK), "{wrote:#?}");
    assert_eq!(skopeo_digest(&name, None), image.digest().to_string());
}

#[test]
fn registry_that_is_not_there_or_a_name_without_one() {
    let port = free_port("127.0.0.1");
    let tmp = tempfile::tempdir().unwrap();
    let image = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);
    let mut sink = new_sink(RegistryOptions {
        retries: 1,
        ..no_auth_files()
    });
    let name: ImageName = format!("127.0.0.1:{port}/team/app:1").parse().unwrap();
    let err = sink.publish(&image, &name).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("cannot reach the registry 127.0.0.1:{port}"))
            && text.contains("hint: check that the registry is running"),
        "{text}"
    );

    let err = sink
        .publish(&image, &"team/app:1".parse().unwrap())
        .unwrap_err();
    assert!(matches!(err, OciError::NotPushable { .. }), "{err}");
    assert!(err.to_string().contains("no registry host"), "{err}");
}

#[test]
fn registry_restarted_during_a_push_is_retried_with_a_new_upload_session() {
    let mut registry = TestRegistry::start(None);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layers");
    let small = file_layer(&dir, Compression::Gzip, "small.txt", b"small, again\n");
    let big = random_layer(&dir, BIG, u64::from(std::process::id()) << 1);
    let image = image_of(vec![small.clone(), big.clone()]);
    let name = registry.name("team/restarted:1");

    // The default 4 retries wait 0.5 + 1 + 2 + 4 s: time for the registry to come back.
    let pushing = {
        let (image, name) = (image.clone(), name.clone());
        let mut sink = new_sink(no_auth_files());
        std::thread::spawn(move || {
            let result = sink.publish(&image, &name);
            (sink, result)
        })
    };
    registry.kill_at_first_patch(&pushing);
    registry.spawn();
    let (sink, result) = pushing.join().unwrap();
    assert_eq!(result.unwrap().digest, image.digest());
    let pushed = report(&sink);
    assert_eq!(
        pushed.uploaded,
        [small.digest(), big.digest(), image.config_digest()]
    );
    // The broken session was not resumed: a new one was opened for the big blob.
    let posts = writes(&registry.requests())
        .iter()
        .filter(|(m, _)| m == "POST")
        .count();
    assert_eq!(posts, 4, "small, big (broken), big again, config");
    assert_eq!(skopeo_digest(&name, None), image.digest().to_string());
}

/// Pushes a one-layer image to `registry` with retries off: the image, and what the push gave.
fn push_one_layer_without_retries(
    registry: &grocker_testkit::ScriptedServer,
) -> (Image, Result<grocker_oci::Published, grocker_oci::OciError>) {
    let dir = tempfile::tempdir().unwrap();
    let image = image_of(vec![file_layer(dir.path(), Compression::Gzip, "a", b"a")]);
    let host = registry.url().trim_start_matches("http://").to_string();
    let name: ImageName = format!("{host}/team/app:1").parse().unwrap();
    let mut sink = new_sink(RegistryOptions {
        retries: 0,
        ..no_auth_files()
    });
    let result = sink.publish(&image, &name);
    (image, result)
}

/// A registry that calls a blob unknown right after it was found there is catching up (two
/// clients committing the same blob at once on distribution's filesystem driver): the manifest
/// is put once more, even with retries off, and only then is a 400 final.
#[test]
fn a_manifest_put_refused_for_a_blob_just_found_is_put_once_more() {
    use grocker_testkit::{Reply, ScriptedServer};
    for (refusals, pushed) in [(1, true), (2, false)] {
        let registry = ScriptedServer::start(move |request| {
            match (request.method.as_str(), request.path.contains("/manifests/")) {
                ("PUT", true) if request.nth <= refusals => Reply::Full {
                    status: 400,
                    headers: vec![("Content-Type".into(), "application/json".into())],
                    body: br#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#.to_vec(),
                },
                ("PUT", true) => Reply::Full {
                    status: 201,
                    headers: Vec::new(),
                    body: Vec::new(),
                },
                // Every blob is there already.
                ("HEAD", false) => Reply::Ok(Vec::new()),
                _ => Reply::Status(500),
            }
        });
        let (image, result) = push_one_layer_without_retries(&registry);
        let puts = registry
            .requests()
            .iter()
            .filter(|r| r.method == "PUT")
            .count();
        assert_eq!(puts, 2, "{:?}", registry.requests());
        match pushed {
            true => assert_eq!(result.unwrap().digest, image.digest()),
            false => {
                let err = result.unwrap_err().to_string();
                assert!(err.contains("MANIFEST_BLOB_UNKNOWN"), "{err}");
            }
        }
    }
}

/// A `HEAD` of a blob answered 500 while another client commits the same blob: asked once
/// more, even with retries off; a second 500 fails the push, naming the check.
#[test]
fn a_blob_check_answered_500_once_is_asked_once_more() {
    use grocker_testkit::{Reply, ScriptedServer};
    for (failures, pushed) in [(1, true), (2, false)] {
        let registry = ScriptedServer::start(move |request| {
            match (request.method.as_str(), request.path.contains("/blobs/")) {
                ("HEAD", true) if request.nth <= failures => Reply::Status(500),
                ("HEAD", true) => Reply::Ok(Vec::new()),
                ("PUT", false) => Reply::Full {
                    status: 201,
                    headers: Vec::new(),
                    body: Vec::new(),
                },
                _ => Reply::Status(500),
            }
        });
        let (image, result) = push_one_layer_without_retries(&registry);
        let requests = registry.requests();
        let heads = |path: &str| {
            requests
                .iter()
                .filter(|r| r.method == "HEAD" && r.path == path)
                .count()
        };
        let first = requests.iter().find(|r| r.method == "HEAD").unwrap();
        assert_eq!(heads(&first.path), 2, "{requests:?}");
        match pushed {
            true => assert_eq!(result.unwrap().digest, image.digest()),
            false => {
                let err = result.unwrap_err().to_string();
                assert!(err.contains("HEAD") && err.contains("500"), "{err}");
            }
        }
    }
}
