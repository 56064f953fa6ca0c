use std::collections::HashMap;

use super::*;

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(&path, text).unwrap();
    path
}

fn strs(urls: &IndexUrls) -> (String, Vec<String>) {
    (
        urls.index.to_string(),
        urls.extra.iter().map(Url::to_string).collect(),
    )
}

#[test]
fn default_is_pypi() {
    let urls = IndexUrls::resolve_with_files(None, &[], &env_of(&[]), &[]).unwrap();
    assert_eq!(strs(&urls), ("https://pypi.org/simple".into(), vec![]));
}

#[test]
fn cli_beats_env_beats_files() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "pip.conf",
        "[global]\nindex-url = https://conf.example/simple\nextra-index-url = https://conf-extra.example/simple\n",
    );
    let files = [conf];
    let env = env_of(&[
        ("PIP_INDEX_URL", "https://env.example/simple"),
        (
            "PIP_EXTRA_INDEX_URL",
            "https://e1.example/simple  https://e2.example/simple",
        ),
    ]);
    let cli_extra = ["https://cli-extra.example/simple".to_string()];

    let urls =
        IndexUrls::resolve_with_files(Some("https://cli.example/simple"), &cli_extra, &env, &files)
            .unwrap();
    assert_eq!(
        strs(&urls),
        (
            "https://cli.example/simple".into(),
            vec!["https://cli-extra.example/simple".into()]
        )
    );

    let urls = IndexUrls::resolve_with_files(None, &[], &env, &files).unwrap();
    assert_eq!(
        strs(&urls),
        (
            "https://env.example/simple".into(),
            vec![
                "https://e1.example/simple".into(),
                "https://e2.example/simple".into()
            ]
        )
    );

    let urls = IndexUrls::resolve_with_files(None, &[], &env_of(&[]), &files).unwrap();
    assert_eq!(
        strs(&urls),
        (
            "https://conf.example/simple".into(),
            vec!["https://conf-extra.example/simple".into()]
        )
    );
}

#[test]
fn later_files_win_and_install_beats_global() {
    let dir = tempfile::tempdir().unwrap();
    let first = write(
        dir.path(),
        "a.conf",
        "[install]\nextra_index_url = https://first-install.example/simple\n\
         [global]\nindex-url = https://first.example/simple\n",
    );
    let second = write(
        dir.path(),
        "b.conf",
        "# comment\n[global]\nindex-url: https://second.example/simple\n\
         extra-index-url = https://second-global.example/simple\n",
    );
    let missing = dir.path().join("missing.conf");
    let urls = IndexUrls::resolve_with_files(
        None,
        &[],
        &env_of(&[]),
        &[first.clone(), missing.clone(), second.clone()],
    )
    .unwrap();
    // index-url: the later file wins; extra-index-url: [install] beats [global] in any file.
    assert_eq!(
        strs(&urls),
        (
            "https://second.example/simple".into(),
            vec!["https://first-install.example/simple".into()]
        )
    );
    let urls = IndexUrls::resolve_with_files(None, &[], &env_of(&[]), &[second, first]).unwrap();
    assert_eq!(urls.index.as_str(), "https://first.example/simple");
}

#[test]
fn multi_line_values() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "pip.conf",
        "[global]\nextra-index-url =\n    https://a.example/simple\n    ; a comment\n\
         \thttps://b.example/simple\ntimeout = 60\n[install]\nno-compile = true\n\
         extra-index-url =\n",
    );
    let urls = IndexUrls::resolve_with_files(None, &[], &env_of(&[]), &[conf]).unwrap();
    assert_eq!(
        strs(&urls).1,
        vec![
            "https://a.example/simple".to_string(),
            "https://b.example/simple".to_string()
        ]
    );
}

#[test]
fn config_file_locations_follow_pip() {
    let home = Path::new("/home/u");
    let files = pip_config_files(&env_of(&[]), Some(home));
    let files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(
        files,
        [
            "/etc/xdg/pip/pip.conf",
            "/etc/pip.conf",
            "/home/u/.pip/pip.conf",
            "/home/u/.config/pip/pip.conf"
        ]
    );
    let env = env_of(&[
        ("XDG_CONFIG_DIRS", "/a:/b"),
        ("XDG_CONFIG_HOME", "/xdg"),
        ("PIP_CONFIG_FILE", "/nonexistent/pip.conf"),
    ]);
    let files: Vec<String> = pip_config_files(&env, Some(home))
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(
        files,
        [
            "/a/pip/pip.conf",
            "/b/pip/pip.conf",
            "/etc/pip.conf",
            "/home/u/.pip/pip.conf",
            "/xdg/pip/pip.conf",
            "/nonexistent/pip.conf"
        ]
    );
    let off = env_of(&[("PIP_CONFIG_FILE", "/dev/null")]);
    assert!(pip_config_files(&off, Some(home)).is_empty());
}

#[test]
fn resolve_reads_the_files_under_home() {
    let home = tempfile::tempdir().unwrap();
    write(
        home.path(),
        ".pip/pip.conf",
        "[global]\nindex-url = https://legacy.example/simple\n",
    );
    write(
        home.path(),
        ".config/pip/pip.conf",
        "[global]\nindex-url = https://user.example/simple\n",
    );
    // Keep the machine's own /etc out of it.
    let env = env_of(&[("XDG_CONFIG_DIRS", "/nonexistent")]);
    let urls = IndexUrls::resolve(None, &[], &env, Some(home.path())).unwrap();
    if !Path::new("/etc/pip.conf").exists() {
        assert_eq!(urls.index.as_str(), "https://user.example/simple");
    }
}

#[test]
fn credentials_never_show() {
    let e = IndexUrls::resolve_with_files(
        Some("ftp://alice:s3cret@host.example/simple"),
        &[],
        &env_of(&[]),
        &[],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid index URL `ftp://alice:****@host.example/simple` (from --index-url): only \
         http:// and https:// index URLs are supported"
    );
    assert!(!format!("{e:?}").contains("s3cret"));
    let e = IndexUrls::resolve_with_files(
        None,
        &[],
        &env_of(&[("PIP_EXTRA_INDEX_URL", "https://tok:s3cret@[bad/simple")]),
        &[],
    )
    .unwrap_err();
    assert!(!e.to_string().contains("s3cret"), "{e}");
    assert!(e.to_string().contains("PIP_EXTRA_INDEX_URL"), "{e}");
    assert!(!format!("{e:?}").contains("s3cret"));

    let urls = IndexUrls::resolve_with_files(
        Some("https://alice:s3cret@host.example/simple"),
        &["https://TOKEN@other.example/simple".into()],
        &env_of(&[]),
        &[],
    )
    .unwrap();
    let debug = format!("{urls:?}");
    assert!(
        !debug.contains("s3cret") && !debug.contains("TOKEN"),
        "{debug}"
    );
}

#[test]
fn broken_config_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(dir.path(), "pip.conf", "[global]\nthis is not ini\n");
    let e = IndexUrls::resolve_with_files(None, &[], &env_of(&[]), std::slice::from_ref(&conf))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot read {}: line 2: expected `key = value`, found `this is not ini`",
            conf.display()
        )
    );
}
