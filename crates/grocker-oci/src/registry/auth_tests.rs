use super::*;

#[test]
fn parses_challenges() {
    assert_eq!(
        parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/app:pull,push""#
        ),
        Some(Challenge::Bearer {
            realm: "https://auth.docker.io/token".into(),
            service: Some("registry.docker.io".into()),
            scope: Some("repository:library/app:pull,push".into()),
        })
    );
    assert_eq!(
        parse_challenge(r#"bearer  Realm=https://ghcr.io/token, service = "gh\"cr" "#),
        Some(Challenge::Bearer {
            realm: "https://ghcr.io/token".into(),
            service: Some("gh\"cr".into()),
            scope: None,
        })
    );
    assert_eq!(
        parse_challenge(r#"Basic realm="Registry Realm""#),
        Some(Challenge::Basic)
    );
    assert_eq!(parse_challenge("Basic"), Some(Challenge::Basic));
    for bad in [
        "",
        "Bearer",
        r#"Bearer service="x""#,
        "Negotiate abc",
        "Bearer realm=",
    ] {
        assert_eq!(parse_challenge(bad), None, "{bad}");
    }
}

#[test]
fn reads_token_or_access_token() {
    let token = |body: &str| token_from_answer(body.as_bytes()).map(|s| s.expose().to_string());
    assert_eq!(
        token(r#"{"token":"a","access_token":"b"}"#).as_deref(),
        Some("a")
    );
    assert_eq!(
        token(r#"{"token":"","access_token":"b"}"#).as_deref(),
        Some("b")
    );
    assert_eq!(
        token(r#"{"access_token":"b","expires_in":300}"#).as_deref(),
        Some("b")
    );
    assert_eq!(token(r#"{"expires_in":300}"#), None);
    assert_eq!(token("<html>"), None);
}

#[test]
fn basic_header_is_sensitive() {
    let value = basic("alice", &Secret::new("secret".into()));
    assert!(value.is_sensitive());
    assert_eq!(value.to_str().unwrap(), "Basic YWxpY2U6c2VjcmV0");
    assert!(!format!("{value:?}").contains("YWxpY2U6c2VjcmV0"));
}
