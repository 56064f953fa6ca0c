use std::os::unix::fs::PermissionsExt;

use super::*;

fn sources(dir: &Path, docker: &str, podman: Option<&str>) -> CredentialSources {
    let docker_config = dir.join("config.json");
    fs_err::write(&docker_config, docker).unwrap();
    let mut auth_files = vec![dir.join("missing.json")];
    if let Some(podman) = podman {
        let file = dir.join("auth.json");
        fs_err::write(&file, podman).unwrap();
        auth_files.push(file);
    }
    CredentialSources {
        docker_config,
        auth_files,
        helper_path: Some(
            std::env::join_paths(
                std::iter::once(dir.to_path_buf())
                    .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
            )
            .unwrap(),
        ),
    }
}

fn basic(user: &str, password: &str) -> Option<Credentials> {
    Some(Credentials::Basic {
        username: user.into(),
        password: Secret::new(password.into()),
    })
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A credential helper script in `dir` that records its stdin and runs `body`.
fn helper(dir: &Path, name: &str, body: &str) {
    let path = dir.join(format!("docker-credential-{name}"));
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 9\ncat > \"{}/{name}.stdin\"\n{body}\n",
        dir.display()
    );
    fs_err::write(&path, script).unwrap();
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn keys_match_hosts_old_urls_and_namespaces() {
    assert_eq!(
        key_matches("127.0.0.1:5000", "127.0.0.1:5000", "a"),
        Some(0)
    );
    assert_eq!(
        key_matches("https://127.0.0.1:5000/v1/", "127.0.0.1:5000", "a"),
        Some(0)
    );
    assert_eq!(
        key_matches("http://reg.example", "REG.example", "a"),
        Some(0)
    );
    assert_eq!(key_matches("127.0.0.1:5001", "127.0.0.1:5000", "a"), None);
    assert_eq!(key_matches("127.0.0.1", "127.0.0.1:5000", "a"), None);
    assert_eq!(key_matches("quay.io/team", "quay.io", "team/app"), Some(4));
    assert_eq!(key_matches("quay.io/team", "quay.io", "team"), Some(4));
    assert_eq!(key_matches("quay.io/team", "quay.io", "teams/app"), None);
    assert_eq!(
        key_matches("https://index.docker.io/v1/", "docker.io", "library/a"),
        Some(0)
    );
    assert_eq!(key_matches("docker.io", "index.docker.io", "x/y"), Some(0));
}

#[test]
fn inline_auths_from_docker_then_podman() {
    let tmp = tempfile::tempdir().unwrap();
    let docker = format!(
        r#"{{"auths": {{"https://127.0.0.1:5000/v1/": {{"auth": "{}"}},
             "other.example": {{}}}}}}"#,
        b64("alice:s3cret:with:colons")
    );
    let podman = format!(
        r#"{{"auths": {{"quay.io": {{"auth": "{}"}}, "quay.io/team": {{"auth": "{}"}}}}}}"#,
        b64("bob:hunter2"),
        b64("carol:pw")
    );
    let s = sources(tmp.path(), &docker, Some(&podman));
    assert_eq!(
        s.lookup("127.0.0.1:5000", "team/app").unwrap(),
        basic("alice", "s3cret:with:colons")
    );
    assert_eq!(
        s.lookup("quay.io", "team/app").unwrap(),
        basic("carol", "pw")
    );
    assert_eq!(
        s.lookup("quay.io", "other/app").unwrap(),
        basic("bob", "hunter2")
    );
    assert_eq!(
        s.lookup("other.example", "a").unwrap(),
        None,
        "an empty entry is none"
    );
    assert_eq!(s.lookup("nowhere.example", "a").unwrap(), None);
    assert!(s.searched().contains("missing.json"));
}

#[test]
fn identity_tokens_and_user_password_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let docker = r#"{"auths": {"a.example": {"identitytoken": "tok", "auth": ""},
                    "b.example": {"username": "u", "password": "p"}}}"#;
    let s = sources(tmp.path(), docker, None);
    assert_eq!(
        s.lookup("a.example", "x").unwrap(),
        Some(Credentials::IdentityToken {
            token: Secret::new("tok".into())
        })
    );
    assert_eq!(s.lookup("b.example", "x").unwrap(), basic("u", "p"));
}

#[test]
fn bad_files_are_named_without_their_content() {
    let tmp = tempfile::tempdir().unwrap();
    let s = sources(
        tmp.path(),
        r#"{"auths": {"h": {"auth": "topsecret"}}}"#,
        None,
    );
    let err = s.lookup("h", "x").unwrap_err().to_string();
    assert!(
        err.contains("config.json") && err.contains("auths.h.auth"),
        "{err}"
    );
    assert!(!err.contains("topsecret"), "{err}");

    let s = sources(tmp.path(), r#"{"auths": {"h": "topsecret""#, None);
    let err = s.lookup("h", "x").unwrap_err().to_string();
    assert!(
        err.contains("not JSON") && !err.contains("topsecret"),
        "{err}"
    );
}

#[test]
fn helpers_per_host_and_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    helper(
        dir,
        "one",
        r#"echo '{"ServerURL":"x","Username":"helper-user","Secret":"helper-pw"}'"#,
    );
    helper(
        dir,
        "store",
        r#"echo '{"Username":"<token>","Secret":"refresh"}'"#,
    );
    helper(
        dir,
        "empty",
        "echo 'credentials not found in native keychain'; exit 1",
    );
    let docker = format!(
        r#"{{"credHelpers": {{"reg.example": "one", "empty.example": "empty"}},
             "credsStore": "store",
             "auths": {{"empty.example": {{"auth": "{}"}}}}}}"#,
        b64("inline:pw")
    );
    let s = sources(dir, &docker, None);
    assert_eq!(
        s.lookup("reg.example", "a").unwrap(),
        basic("helper-user", "helper-pw")
    );
    assert_eq!(
        fs_err::read_to_string(dir.join("one.stdin")).unwrap(),
        "reg.example"
    );
    // A helper with nothing for the host falls back to the inline entry.
    assert_eq!(
        s.lookup("empty.example", "a").unwrap(),
        basic("inline", "pw")
    );
    assert_eq!(
        s.lookup("docker.io", "library/a").unwrap(),
        Some(Credentials::IdentityToken {
            token: Secret::new("refresh".into())
        })
    );
    assert_eq!(
        fs_err::read_to_string(dir.join("store.stdin")).unwrap(),
        "https://index.docker.io/v1/"
    );
}

#[test]
fn failing_or_missing_helpers_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    helper(dir, "broken", "echo 'gpg: decryption failed' >&2; exit 1");
    let s = sources(dir, r#"{"credHelpers": {"reg.example": "broken"}}"#, None);
    let err = s.lookup("reg.example", "a").unwrap_err().to_string();
    assert!(
        err.contains("docker-credential-broken")
            && err.contains("reg.example")
            && err.contains("gpg: decryption failed"),
        "{err}"
    );
    let s = sources(dir, r#"{"credsStore": "absent"}"#, None);
    let err = s.lookup("reg.example", "a").unwrap_err().to_string();
    assert!(
        err.contains("docker-credential-absent") && err.contains("PATH"),
        "{err}"
    );
}

#[test]
fn debug_never_shows_secrets() {
    let creds = basic("alice", "s3cret").unwrap();
    let shown = format!("{creds:?} {:?}", Secret::new("tok".into()));
    assert!(shown.contains("alice") && !shown.contains("s3cret") && !shown.contains("tok"));
}

#[test]
fn default_locations() {
    let home = Some(PathBuf::from("/home/u"));
    let none = |_: &str| None;
    assert_eq!(
        default_docker_config(none, home.clone()),
        Path::new("/home/u/.docker/config.json")
    );
    let env = |name: &str| match name {
        "DOCKER_CONFIG" => Some("/etc/dc".into()),
        "REGISTRY_AUTH_FILE" => Some("/a.json".into()),
        "XDG_RUNTIME_DIR" => Some("/run/user/1".into()),
        _ => None,
    };
    assert_eq!(
        default_docker_config(env, home.clone()),
        Path::new("/etc/dc/config.json")
    );
    assert_eq!(
        default_auth_files(env, home.clone()),
        [
            PathBuf::from("/a.json"),
            "/run/user/1/containers/auth.json".into(),
            "/home/u/.config/containers/auth.json".into()
        ]
    );
    assert_eq!(
        default_auth_files(none, home),
        [PathBuf::from("/home/u/.config/containers/auth.json")]
    );
}
