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
fn registry_push_from_async_code_through_spawn_blocking() {
    // The sink blocks on its requests; async callers hand it to tokio's blocking pool, where
    // reqwest's blocking client may run.
    let registry = TestRegistry::start(None);
    let tmp = tempfile::tempdir().unwrap();
    let image = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);
    let name = registry.name("team/async:1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let digest = image.digest();
    let published = runtime.block_on(async move {
        tokio::task::spawn_blocking(move || {
            let mut sink: Box<dyn Sink> = Box::new(new_sink(no_auth_files()));
            let published = sink.publish(&image, &name).unwrap();
            sink.finish().unwrap();
            published
        })
        .await
        .unwrap()
    });
    assert_eq!(published.digest, digest);
}

/// Two platforms' images sharing a layer: every blob goes up once, the manifests by digest,
/// the index under the tag; skopeo reads the index and picks each platform's manifest.
#[test]
fn registry_index_push_uploads_shared_blobs_once() {
    let registry = TestRegistry::start(None);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let shared = file_layer(dir, Compression::Gzip, "shared.txt", b"the same for both");
    let platform_image = |arch: &str, variant: Option<&str>| {
        let own = file_layer(dir, Compression::Gzip, "arch.txt", arch.as_bytes());
        let config = ImageConfig {
            architecture: arch.into(),
            variant: variant.map(str::to_string),
            created: 1_700_000_000,
            ..ImageConfig::default()
        };
        Image::new(&config, vec![own, shared.clone()], Default::default()).unwrap()
    };
    let (amd, arm) = (
        platform_image("amd64", None),
        platform_image("arm64", Some("v8")),
    );
    let index =
        grocker_oci::ImageIndex::new(vec![amd.clone(), arm.clone()], Default::default()).unwrap();
    let name = registry.name(&format!("team/multi:{}", std::process::id()));
    let mut sink = Box::new(new_sink(no_auth_files()));
    let published = sink.publish_index(&index, &name).unwrap();
    assert_eq!(published.digest, index.digest());
    let pushed = report(&sink);
    let mut uploaded = pushed.uploaded.clone();
    uploaded.sort();
    uploaded.dedup();
    assert_eq!(
        uploaded.len(),
        pushed.uploaded.len(),
        "a blob went up twice"
    );
    // Two own layers, the shared one, two configs.
    assert_eq!(pushed.uploaded.len(), 5, "{pushed:?}");
    sink.finish().unwrap();

    let reference = format!("docker://{name}");
    assert_eq!(
        run(
            "skopeo",
            &["inspect", "--tls-verify=false", "--raw", &reference]
        ),
        index.bytes()
    );
    for (arch, image) in [("amd64", &amd), ("arm64", &arm)] {
        let inspect: serde_json::Value = serde_json::from_slice(&run(
            "skopeo",
            &[
                "--override-arch",
                arch,
                "inspect",
                "--tls-verify=false",
                &reference,
            ],
        ))
        .unwrap();
        assert_eq!(inspect["Architecture"], arch);
        assert_eq!(inspect["Layers"][0], image.layers()[0].digest().to_string());
    }
}
