//! What goes up: the image read back by skopeo and docker; only missing blobs; mounts.

use super::*;

#[test]
fn registry_push_reads_back_with_skopeo_and_docker_runs_it() {
    let registry = TestRegistry::start(None);
    let tmp = tempfile::tempdir().unwrap();
    let image = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);
    let name = registry.name(&format!("team/app:{}", std::process::id()));

    let mut sink = Box::new(new_sink(no_auth_files()));
    let published = sink.publish(&image, &name).unwrap();
    assert_eq!(published.digest, image.digest());
    assert_eq!(published.location, format!("docker://{name}"));
    let pushed = report(&sink);
    assert_eq!(
        pushed.uploaded,
        [image.layers()[0].digest(), image.config_digest()]
    );
    assert!(pushed.existing.is_empty() && pushed.mounted.is_empty());
    sink.finish().unwrap();

    assert_eq!(skopeo_digest(&name, None), image.digest().to_string());
    // The engine pulls from a loopback registry over HTTP without configuration.
    run("docker", &["pull", "--quiet", &name.to_string()]);
    assert_eq!(docker_run(&name), GREETING);
    docker_rmi(&name);
}

#[test]
fn registry_second_push_uploads_only_what_changed_and_mounts_across_repositories() {
    let registry = TestRegistry::start(None);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layers");
    let base = file_layer(&dir, Compression::Gzip, "base.txt", b"base\n");
    let deps = file_layer(&dir, Compression::Zstd, "deps.txt", b"deps\n");
    let app = |v: &str| file_layer(&dir, Compression::Gzip, "app.txt", v.as_bytes());
    let first = image_of(vec![base.clone(), deps.clone(), app("1")]);
    let second = image_of(vec![base.clone(), deps.clone(), app("2")]);
    let changed = [second.layers()[2].digest(), second.config_digest()];

    let mut sink = new_sink(no_auth_files());
    sink.publish(&first, &registry.name("team/app:1")).unwrap();
    assert_eq!(report(&sink).uploaded.len(), 4);
    let before = registry.requests().len();

    sink.publish(&second, &registry.name("team/app:2")).unwrap();
    let pushed = report(&sink);
    assert_eq!(pushed.existing, [base.digest(), deps.digest()]);
    assert_eq!(pushed.uploaded, changed);
    assert!(pushed.mounted.is_empty());
    // The registry saw one upload session and one PUT for each changed blob, then the
    // manifest: nothing for the shared layers.
    let wrote = writes(&registry.requests()[before..]);
    let posts = wrote.iter().filter(|(m, _)| m == "POST").count();
    let blob_puts: Vec<&String> = wrote
        .iter()
        .filter(|(m, u)| m == "PUT" && u.contains("/blobs/uploads/"))
        .map(|(_, u)| u)
        .collect();
    assert_eq!(posts, 2, "{wrote:#?}");
    assert_eq!(blob_puts.len(), 2, "{wrote:#?}");
    for digest in changed {
        assert!(
            blob_puts.iter().any(|u| u.contains(&digest.hex())),
            "{digest} {wrote:#?}"
        );
    }
    assert!(
        wrote.contains(&("PUT".into(), "/v2/team/app/manifests/2".into())),
        "{wrote:#?}"
    );
    assert_eq!(wrote.len(), 5, "2 POST + 2 PUT + the manifest: {wrote:#?}");
    assert_eq!(
        skopeo_digest(&registry.name("team/app:2"), None),
        second.digest().to_string()
    );

    // Another repository of the same registry: every blob is mounted, none uploaded.
    let before = registry.requests().len();
    sink.publish(&second, &registry.name("team/other:1"))
        .unwrap();
    let pushed = report(&sink);
    assert_eq!(pushed.mounted.len(), 4, "{pushed:?}");
    assert!(pushed.uploaded.is_empty() && pushed.existing.is_empty());
    let wrote = writes(&registry.requests()[before..]);
    assert!(
        wrote.iter().all(
            |(m, u)| m == "POST" && u.contains("mount=") && u.contains("from=team")
                || u == "/v2/team/other/manifests/1"
        ),
        "{wrote:#?}"
    );
    assert_eq!(
        skopeo_digest(&registry.name("team/other:1"), None),
        second.digest().to_string()
    );

    // A new sink pushing the same again finds everything there.
    let mut fresh = new_sink(no_auth_files());
    fresh
        .publish(&second, &registry.name("team/app:2"))
        .unwrap();
    assert_eq!(report(&fresh).existing.len(), 4);
}

#[test]
fn registry_push_from_inside_an_async_runtime() {
    // grocker's CLI publishes from async code; reqwest's blocking client must not run there.
    let registry = TestRegistry::start(None);
    let tmp = tempfile::tempdir().unwrap();
    let image = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);
    let name = registry.name("team/async:1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut sink: Box<dyn Sink> = Box::new(new_sink(no_auth_files()));
    let published = runtime.block_on(async {
        let published = sink.publish(&image, &name).unwrap();
        sink.finish().unwrap();
        published
    });
    assert_eq!(published.digest, image.digest());
}
