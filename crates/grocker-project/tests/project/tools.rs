//! Lock files made now by the real uv, Poetry and pip-tools (`scripts/pytools` installs them;
//! these tests fail, not skip, without them), read back and compared with what the tool itself
//! exports for the same selection.

use std::path::Path;

use grocker_project::{LockKind, Project, ProjectKind};

use super::{Ask, pins, read, requirement_pins};

use grocker_testkit::pytools::run;

fn edit(path: &Path, from: &str, to: &str) {
    let text = fs_err::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no `{from}`", path.display());
    fs_err::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn uv_package_with_an_older_pin_and_a_dev_group() {
    let tmp = tempfile::tempdir().unwrap();
    run(
        tmp.path(),
        "uv",
        &["init", "-q", "--package", "--python", "3.11", "svc"],
    );
    let dir = tmp.path().join("svc");
    run(&dir, "uv", &["add", "-q", "fastapi==0.115.0"]);
    run(&dir, "uv", &["add", "-q", "--dev", "pytest"]);

    let locked = read(&dir, Ask::default());
    let export = run(
        &dir,
        "uv",
        &[
            "export",
            "-q",
            "--no-dev",
            "--no-hashes",
            "--no-emit-project",
        ],
    );
    assert_eq!(pins(&locked), requirement_pins(&export));
    assert_eq!(pins(&locked)["fastapi"], "0.115.0");
    assert!(!pins(&locked).contains_key("pytest"));
    assert_eq!(locked.stale, None);

    let with_dev = read(
        &dir,
        Ask {
            groups: &["dev"],
            ..Ask::default()
        },
    );
    let export = run(
        &dir,
        "uv",
        &["export", "-q", "--no-hashes", "--no-emit-project"],
    );
    assert_eq!(
        pins(&with_dev),
        requirement_pins(&export),
        "colorama is win32-only, out for Linux"
    );

    run(
        &dir,
        "uv",
        &[
            "export",
            "-q",
            "--format",
            "pylock.toml",
            "-o",
            "pylock.toml",
        ],
    );
    let pylock = read(
        &dir,
        Ask {
            file: Some("pylock.toml"),
            ..Ask::default()
        },
    );
    assert_eq!(pylock.source.kind, LockKind::Pylock);
    assert_eq!(pins(&pylock), pins(&with_dev));

    edit(
        &dir.join("pyproject.toml"),
        "\"fastapi==0.115.0\",",
        "\"fastapi==0.115.0\",\n    \"idna>=3\",",
    );
    let stale = read(&dir, Ask::default())
        .stale
        .expect("stale after adding idna");
    assert_eq!(stale.command, "uv lock");
    run(&dir, "uv", &["lock", "-q"]);
    assert_eq!(
        read(&dir, Ask::default()).stale,
        None,
        "fresh after `uv lock`"
    );
}

#[test]
fn uv_app_and_workspace() {
    let tmp = tempfile::tempdir().unwrap();
    run(
        tmp.path(),
        "uv",
        &[
            "init",
            "-q",
            "--app",
            "--no-package",
            "--python",
            "3.11",
            "site",
        ],
    );
    let app = tmp.path().join("site");
    run(&app, "uv", &["add", "-q", "idna==3.7"]);
    assert_eq!(Project::read(&app).unwrap().kind(), ProjectKind::App);
    let locked = read(&app, Ask::default());
    assert_eq!(
        pins(&locked),
        requirement_pins(&run(
            &app,
            "uv",
            &["export", "-q", "--no-hashes", "--no-emit-project"]
        ))
    );
    assert!(!locked.local[0].is_package);

    run(
        tmp.path(),
        "uv",
        &["init", "-q", "--package", "--python", "3.11", "ws"],
    );
    let ws = tmp.path().join("ws");
    run(&ws, "uv", &["init", "-q", "--package", "packages/lib"]);
    run(&ws, "uv", &["add", "-q", "--package", "lib", "six==1.16.0"]);
    run(&ws, "uv", &["add", "-q", "lib", "attrs==23.2.0"]);
    let root = read(&ws, Ask::default());
    let export = run(
        &ws,
        "uv",
        &[
            "export",
            "-q",
            "--no-dev",
            "--no-hashes",
            "--no-emit-workspace",
        ],
    );
    assert_eq!(pins(&root), requirement_pins(&export));
    assert_eq!(root.local.len(), 2);
    let lib = read(
        &ws,
        Ask {
            member: Some("lib"),
            ..Ask::default()
        },
    );
    let export = run(
        &ws,
        "uv",
        &[
            "export",
            "-q",
            "--package",
            "lib",
            "--no-dev",
            "--no-hashes",
            "--no-emit-workspace",
        ],
    );
    assert_eq!(pins(&lib), requirement_pins(&export));
}

const POETRY_TOOL: &str = r#"[tool.poetry]
name = "flaskapp"
version = "0.1.0"
description = ""
authors = ["A <a@example.com>"]

[tool.poetry.dependencies]
python = "^3.11"
flask = "2.3.3"

[tool.poetry.group.dev.dependencies]
pytest = "*"

[build-system]
requires = ["poetry-core"]
build-backend = "poetry.core.masonry.api"
"#;

const POETRY_PROJECT: &str = r#"[project]
name = "flaskapp"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["flask==2.3.3"]

[tool.poetry.group.dev.dependencies]
pytest = "*"

[build-system]
requires = ["poetry-core>=2.0"]
build-backend = "poetry.core.masonry.api"
"#;

#[test]
fn poetry_both_styles_match_poetry_export() {
    for (style, pyproject, anchor, added) in [
        (
            "[tool.poetry]",
            POETRY_TOOL,
            "flask = \"2.3.3\"",
            "flask = \"2.3.3\"\nidna = \"*\"",
        ),
        (
            "[project]",
            POETRY_PROJECT,
            "[\"flask==2.3.3\"]",
            "[\"flask==2.3.3\", \"idna\"]",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs_err::write(dir.join("pyproject.toml"), pyproject).unwrap();
        run(dir, "poetry", &["lock", "-q"]);
        let locked = read(dir, Ask::default());
        assert_eq!(locked.source.kind, LockKind::Poetry);
        let export = run(
            dir,
            "poetry",
            &["export", "--without-hashes", "-f", "requirements.txt"],
        );
        assert_eq!(pins(&locked), requirement_pins(&export), "{style}");
        assert_eq!(pins(&locked)["flask"], "2.3.3");
        assert!(!pins(&locked).contains_key("pytest"), "{style}: dev out");
        let with_dev = read(
            dir,
            Ask {
                groups: &["dev"],
                ..Ask::default()
            },
        );
        let export = run(
            dir,
            "poetry",
            &[
                "export",
                "--without-hashes",
                "--with",
                "dev",
                "-f",
                "requirements.txt",
            ],
        );
        assert_eq!(
            pins(&with_dev),
            requirement_pins(&export),
            "{style} with dev"
        );
        assert_eq!(locked.stale, None, "{style}: content-hash recomputed");

        edit(&dir.join("pyproject.toml"), anchor, added);
        let stale = read(dir, Ask::default())
            .stale
            .expect("stale after adding idna");
        assert_eq!(stale.command, "poetry lock", "{style}");
        run(dir, "poetry", &["lock", "-q"]);
        assert_eq!(
            read(dir, Ask::default()).stale,
            None,
            "{style}: fresh after `poetry lock`"
        );
    }
}

#[test]
fn pip_compile_generate_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs_err::write(dir.join("requirements.in"), "flask==2.3.3\nrequests\n").unwrap();
    run(
        dir,
        "pip-compile",
        &[
            "-q",
            "--strip-extras",
            "--generate-hashes",
            "requirements.in",
        ],
    );
    let text = fs_err::read_to_string(dir.join("requirements.txt")).unwrap();
    let locked = read(dir, Ask::default());
    assert_eq!(pins(&locked), requirement_pins(&text));
    assert!(pins(&locked).contains_key("urllib3"));
    assert!(locked.packages.iter().all(|p| !p.hashes.is_empty()));
    assert_eq!(
        Project::read(dir).unwrap().kind(),
        ProjectKind::App,
        "a requirements-only directory"
    );
}
