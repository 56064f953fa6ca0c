//! Error messages are user-facing: their exact text is pinned here.

use std::path::Path;

use grocker_config::{ConfigError, load, parse_pyproject, parse_yaml};

use crate::project;

fn yaml_err(text: &str) -> String {
    parse_yaml(text, Path::new("conf/.grocker.yml"))
        .unwrap_err()
        .to_string()
}

#[test]
fn grocker_runtime_names_map_to_ours_or_fail_clearly() {
    let runtime = |name: &str| parse_yaml(&format!("runtime: {name}\n"), Path::new("g.yml"));
    assert_eq!(
        runtime("python3.11").unwrap().runtime.as_deref(),
        Some("bookworm/3.11")
    );
    assert_eq!(
        runtime("python3.13").unwrap().runtime.as_deref(),
        Some("trixie/3.13")
    );
    assert_eq!(
        runtime("bookworm/3.11").unwrap().runtime.as_deref(),
        Some("bookworm/3.11")
    );
    assert_eq!(
        runtime("python3.6").unwrap_err().to_string(),
        "g.yml:1: `runtime`: unknown runtime `python3.6`: choose one of bookworm/3.11, trixie/3.13 (Debian's Python), or SUITE/3.X with SUITE one of bookworm, trixie (CPython built from source) (Grocker's `pythonX.Y` names work when one of these runtimes ships that Python)"
    );
    assert_eq!(
        runtime("alpine/3").unwrap_err().to_string(),
        "g.yml:1: `runtime`: unknown runtime `alpine/3`: choose one of bookworm/3.11, trixie/3.13 (Debian's Python), or SUITE/3.X with SUITE one of bookworm, trixie (CPython built from source) (grocker builds Debian runtimes only)"
    );
    assert_eq!(
        runtime("buster/3.9").unwrap_err().to_string(),
        "g.yml:1: `runtime`: unknown runtime `buster/3.9`: choose one of bookworm/3.11, trixie/3.13 (Debian's Python), or SUITE/3.X with SUITE one of bookworm, trixie (CPython built from source)"
    );
    let keyed = "runtimes:\n  python3.11: {deprecated: no}\n";
    let cfg = parse_yaml(keyed, Path::new("g.yml")).unwrap();
    assert_eq!(cfg.runtimes["bookworm/3.11"].deprecated, Some(false));
}

#[test]
fn grocker_runtime_table_keys_are_refused_with_a_reason() {
    let text = "runtimes:\n  bookworm/3.11:\n    image: python:3.11-slim-bookworm\n";
    assert_eq!(
        yaml_err(text),
        r#"conf/.grocker.yml:3: `runtimes."bookworm/3.11".image` is not supported: grocker assembles runtimes from Debian packages, not from a base image; remove it"#
    );
}

#[test]
fn an_entry_left_incomplete_by_all_files_is_blamed_on_the_last_one() {
    let dir = project(&[
        (
            "a.yml",
            "repositories:\n  nginx:\n    uri: deb http://x/ bookworm main\n",
        ),
        ("b.yml", "ports: [80]\n"),
    ]);
    let files = [dir.path().join("a.yml"), dir.path().join("b.yml")];
    let err = load(dir.path(), &files).unwrap_err();
    let want = format!(
        "{}:3: `repositories.nginx` has no `key` (the ASCII-armored public key its Release file is signed with)",
        files[0].display()
    );
    assert_eq!(err.to_string(), want);
}

#[test]
fn missing_explicit_file_is_named() {
    let dir = project(&[(".grocker.yml", "")]);
    let missing = dir.path().join("nope.yml");
    let err = load(dir.path(), std::slice::from_ref(&missing)).unwrap_err();
    assert!(matches!(err, ConfigError::MissingFile { ref path } if *path == missing));
    assert_eq!(
        err.to_string(),
        format!("config file {} does not exist", missing.display())
    );
}

#[test]
fn unknown_keys_name_the_key_the_file_and_the_valid_keys() {
    assert_eq!(
        yaml_err("runtime: bookworm/3.11\nentrypoint: app\n"),
        "conf/.grocker.yml:2: unknown key `entrypoint` (did you mean `entrypoint_name`?); valid keys are runtime, runtimes, dependencies, pip_constraint, volumes, ports, envs, repositories, docker_image_prefix, image_base_name, entrypoint_name, cmd, auto_packages, platforms, cache_repo, python, manifest"
    );
    assert_eq!(
        yaml_err("dependencies:\n  run: []\n  buld: [gcc]\n"),
        "conf/.grocker.yml:3: unknown key `dependencies.buld` (did you mean `build`?); valid keys are run, build"
    );
    assert_eq!(
        yaml_err("repositories:\n  x:\n    url: deb http://x/ s main\n"),
        "conf/.grocker.yml:3: unknown key `repositories.x.url` (did you mean `uri`?); valid keys are uri, key"
    );
    let err = parse_pyproject(
        "[tool.grocker]\nvolume = ['/data']\n",
        Path::new("pyproject.toml"),
    );
    assert_eq!(
        err.unwrap_err().to_string(),
        "pyproject.toml:2: unknown key `tool.grocker.volume` (did you mean `volumes`?); valid keys are runtime, runtimes, dependencies, pip_constraint, volumes, ports, envs, repositories, docker_image_prefix, image_base_name, entrypoint_name, cmd, auto_packages, platforms, cache_repo, python, manifest"
    );
}

#[test]
fn wrong_types_name_the_key_the_line_and_what_is_expected() {
    assert_eq!(
        yaml_err("# deps\ndependencies:\n  run: libpq5\n"),
        r#"conf/.grocker.yml:3: `dependencies.run` must be a list of Debian package names, found a string ("libpq5")"#
    );
    // Grocker 5's list form of `dependencies`.
    assert_eq!(
        yaml_err("dependencies:\n  - python: python-dev\n"),
        "conf/.grocker.yml:2: `dependencies` must be a mapping with `run` and `build` lists of Debian packages, found a list"
    );
    assert_eq!(
        yaml_err("ports:\n  - 8080\n  - [1]\n"),
        r#"conf/.grocker.yml:3: `ports[1]` must be a port number or a string such as "8080/udp", found a list"#
    );
    assert_eq!(
        yaml_err("ports: [70000]\n"),
        "conf/.grocker.yml:1: `ports[0]`: `70000` is not a port: expected a number from 1 to 65535, optionally followed by /tcp, /udp or /sctp"
    );
    assert_eq!(
        yaml_err("envs:\n  A:\n"),
        "conf/.grocker.yml:2: `envs.A` must be a string, number or boolean, found nothing (null)"
    );
    assert_eq!(
        yaml_err("runtime: 3.11\n"),
        r#"conf/.grocker.yml:1: `runtime` must be a runtime name such as "bookworm/3.11", found a number (3.11)"#
    );
    assert_eq!(
        yaml_err("- runtime\n"),
        "conf/.grocker.yml:1: `(top level)` must be a mapping of Grocker settings, found a list"
    );
    assert_eq!(
        yaml_err("repositories: {x: {uri: 'deb http://x/ bookworm'}}\n"),
        "conf/.grocker.yml:1: `repositories.x.uri`: `deb http://x/ bookworm` is not a usable apt source: the components (such as `main`) are missing"
    );
    let err = parse_pyproject(
        "[tool.grocker.dependencies]\nrun = 'x'\n",
        Path::new("p.toml"),
    );
    assert_eq!(
        err.unwrap_err().to_string(),
        r#"p.toml:2: `tool.grocker.dependencies.run` must be a list of Debian package names, found a string ("x")"#
    );
}

#[test]
fn syntax_errors_say_where() {
    assert_eq!(
        yaml_err("ports: [80\n"),
        "conf/.grocker.yml:2: invalid YAML: did not find expected ',' or ']', while parsing a flow sequence at line 1 column 8"
    );
    let err = parse_pyproject("[tool.grocker\n", Path::new("pyproject.toml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pyproject.toml:1: invalid TOML: unclosed table, expected `]`"
    );
}

#[test]
fn platforms_are_a_list_or_a_comma_separated_string_of_known_ones() {
    for text in [
        "platforms: [linux/amd64, linux/arm64]\n",
        "platforms: linux/amd64,linux/arm64\n",
    ] {
        let dir = project(&[(".grocker.yml", text)]);
        let config = load(dir.path(), &[]).unwrap().config;
        assert_eq!(
            config.platforms,
            Some(vec!["linux/amd64".to_string(), "linux/arm64".to_string()]),
            "{text}"
        );
    }
    assert_eq!(
        yaml_err("platforms: [linux/amd64, linux/s390x]\n"),
        "conf/.grocker.yml:1: `platforms[1]`: `linux/s390x` is not a platform grocker builds for: use linux/amd64 or linux/arm64"
    );
}

#[test]
fn python_is_debian_or_source() {
    let err = yaml_err("python: conda\n");
    assert!(
        err.starts_with("conf/.grocker.yml:1: `python`") && err.contains("`debian` or `source`"),
        "{err}"
    );
}
