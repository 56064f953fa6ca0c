//! Credentials: htpasswd (Basic) and a token service (Bearer), and secrets never shown.

use super::*;

#[test]
fn registry_with_htpasswd_uses_stored_credentials_and_never_shows_them() {
    const PASSWORD: &str = "s3cret-Pw-4711";
    const WRONG: &str = "wr0ng-Pw-0815";
    let registry = TestRegistry::start(Some(("alice", PASSWORD)));
    let host = registry.host();
    let tmp = tempfile::tempdir().unwrap();
    let image = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let config = |file: &str, key: &str, password: &str| {
        let path = tmp.path().join(file);
        let auth = b64(&format!("alice:{password}"));
        fs_err::write(
            &path,
            format!(r#"{{"auths": {{"{key}": {{"auth": "{auth}"}}}}}}"#),
        )
        .unwrap();
        path
    };
    let good = config("good.json", &host, PASSWORD);
    let old_style = config("old.json", &format!("https://{host}/v1/"), PASSWORD);
    let wrong = config("wrong.json", &host, WRONG);

    let captured = grocker_testkit::LogCapture::start();
    let mut shown = String::new();
    {
        // docker's config.json, as `docker login` writes it (and as older clients did).
        for config in [&good, &old_style] {
            let mut sink = new_sink(RegistryOptions {
                docker_config: Some(config.clone()),
                ..no_auth_files()
            });
            let name = registry.name("team/app:1");
            assert_eq!(sink.publish(&image, &name).unwrap().digest, image.digest());
            shown.push_str(&format!("{sink:?}"));
        }
        // podman's auth.json, when docker's config has nothing.
        let mut sink = new_sink(RegistryOptions {
            auth_files: vec![tmp.path().join("absent.json"), good.clone()],
            ..RegistryOptions::default()
        });
        sink.publish(&image, &registry.name("team/app:2")).unwrap();
        shown.push_str(&format!("{sink:?}"));

        let mut sink = new_sink(RegistryOptions {
            docker_config: Some(wrong.clone()),
            ..no_auth_files()
        });
        let err = sink
            .publish(&image, &registry.name("team/app:3"))
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, OciError::RegistryAuthFailed { .. }), "{text}");
        assert!(
            text.contains(&format!("authentication failed for {host} (user alice)"))
                && text.contains(&format!("`docker login {host}`")),
            "{text}"
        );
        shown.push_str(&format!("{text}\n{err:?}\n{sink:?}"));

        let mut sink = new_sink(no_auth_files());
        let err = sink
            .publish(&image, &registry.name("team/app:4"))
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, OciError::RegistryNoCredentials { .. }),
            "{text}"
        );
        assert!(
            text.contains("none were found") && text.contains("docker login"),
            "{text}"
        );
        shown.push_str(&format!("{text}\n{err:?}"));
    }
    assert_eq!(
        skopeo_digest(
            &registry.name("team/app:2"),
            Some(&format!("alice:{PASSWORD}"))
        ),
        image.digest().to_string()
    );

    let logged = captured.text();
    assert!(logged.contains(&host), "the log was captured: {logged}");
    let everything = format!("{logged}\n{shown}");
    for secret in [
        PASSWORD.to_string(),
        WRONG.to_string(),
        b64(&format!("alice:{PASSWORD}")),
        b64(&format!("alice:{WRONG}")),
    ] {
        assert!(
            !everything.contains(&secret),
            "{secret} shown in:\n{everything}"
        );
    }
}

#[test]
fn registry_with_a_token_service_gets_caches_and_scopes_tokens() {
    const PASSWORD: &str = "t0ken-Pw-1";
    let tokens = token::TokenServer::start("alice", PASSWORD);
    let registry = TestRegistry::start_in(tempfile::tempdir().unwrap(), &tokens.registry_auth());
    let host = registry.host();
    let tmp = tempfile::tempdir().unwrap();
    let image = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);
    let config = |password: &str| {
        let path = tmp.path().join(format!("{password}.json"));
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("alice:{password}"));
        fs_err::write(
            &path,
            format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
        )
        .unwrap();
        path
    };
    let options = |docker_config| RegistryOptions {
        docker_config: Some(docker_config),
        ..no_auth_files()
    };
    let push = |s: &str| format!("repository:team/{s}:pull,push");

    let mut sink = new_sink(options(config(PASSWORD)));
    let published = sink.publish(&image, &registry.name("team/app:1")).unwrap();
    assert_eq!(published.digest, image.digest());
    // One token for the whole push (three HEADs, two uploads, the manifest).
    assert_eq!(
        tokens.requests(),
        [("alice".to_string(), vec![push("app")])]
    );

    // Into another repository: mounting asks to pull from the first one as well.
    sink.publish(&image, &registry.name("team/other:1"))
        .unwrap();
    assert_eq!(report(&sink).mounted.len(), 2);
    let mount = vec![push("other"), "repository:team/app:pull".to_string()];
    assert!(
        tokens.requests().contains(&("alice".to_string(), mount)),
        "{:?}",
        tokens.requests()
    );
    assert_eq!(
        skopeo_digest(
            &registry.name("team/other:1"),
            Some(&format!("alice:{PASSWORD}"))
        ),
        image.digest().to_string()
    );

    let err = new_sink(options(config("wrong")))
        .publish(&image, &registry.name("team/app:2"))
        .unwrap_err();
    assert!(matches!(err, OciError::RegistryAuthFailed { .. }), "{err}");
    assert!(err.to_string().contains("(user alice)"), "{err}");

    // Anonymous: the token grants nothing, the registry says 401 again.
    let err = new_sink(no_auth_files())
        .publish(&image, &registry.name("team/app:3"))
        .unwrap_err();
    assert!(
        matches!(err, OciError::RegistryNoCredentials { .. }),
        "{err}"
    );
}
