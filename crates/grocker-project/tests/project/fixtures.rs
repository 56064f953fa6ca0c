//! The readers on real lock files the tools wrote (`tests/fixtures/regenerate`).

use std::str::FromStr;

use grocker_project::{LockKind, LockSource, Project, ProjectError, ProjectKind, content_hash};
use grocker_wheel::{Arch, Target};

use super::{Ask, fixture, kind_of, pins, read, requirement_pins, target, try_read};

#[test]
fn uv_package_selects_what_uv_export_pins_without_dev() {
    let dir = fixture("uv-package");
    let locked = read(&dir, Ask::default());
    assert_eq!(kind_of(&locked), LockKind::Uv);
    let exported =
        requirement_pins(&fs_err::read_to_string(dir.join("export-no-dev.txt")).unwrap());
    assert_eq!(pins(&locked), exported);
    assert_eq!(
        pins(&locked)["fastapi"],
        "0.115.0",
        "the older pin uv add recorded"
    );
    assert!(
        !pins(&locked).contains_key("pytest"),
        "dev group out unless asked"
    );
    assert!(
        !pins(&locked).contains_key("pysocks"),
        "extras out unless asked"
    );
    let [root] = &locked.local[..] else {
        panic!("{:?}", locked.local)
    };
    assert_eq!(root.name.to_string(), "uv-package");
    assert!(root.is_package);
    assert_eq!(root.path, dir.canonicalize().unwrap());
    assert_eq!(locked.stale, None);
    assert_eq!(Project::read(&dir).unwrap().kind(), ProjectKind::Package);
    for package in &locked.packages {
        assert_eq!(package.index.as_deref(), Some("https://pypi.org/simple"));
        assert!(
            package
                .files
                .iter()
                .all(|f| f.url.as_deref().is_some_and(|u| u.ends_with(&f.filename)))
        );
    }
}

#[test]
fn uv_groups_and_extras_when_asked_and_markers_for_linux() {
    let locked = read(
        &fixture("uv-package"),
        Ask {
            groups: &["dev"],
            extras: &["socks"],
            ..Ask::default()
        },
    );
    let pins = pins(&locked);
    assert_eq!(pins["pytest"], "8.3.3");
    assert_eq!(pins["pysocks"], "1.7.1");
    assert!(
        pins.contains_key("iniconfig"),
        "pytest's own dependencies follow"
    );
    // pytest needs colorama only on `sys_platform == 'win32'`.
    assert!(!pins.contains_key("colorama"), "{pins:?}");
}

#[test]
fn best_file_is_the_best_tag_else_the_sdist() {
    let locked = read(&fixture("uv-package"), Ask::default());
    let markupsafe = locked
        .packages
        .iter()
        .find(|p| p.name.as_ref() == "markupsafe")
        .unwrap();
    let best = markupsafe.best_file(&target().tags()).unwrap();
    assert_eq!(
        best.filename,
        "MarkupSafe-2.1.5-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    );
    assert!(best.size.is_some());
    // MarkupSafe 2.1.5 has no CPython 3.13 wheel: the sdist is what a 3.13 image builds.
    let py313 = Target {
        python: (3, 13),
        python_full: "3.13.5".parse().unwrap(),
        glibc: (2, 41),
        arch: Arch::X86_64,
    };
    let sdist = markupsafe.best_file(&py313.tags()).unwrap();
    assert_eq!(sdist.filename, "MarkupSafe-2.1.5.tar.gz");
    assert!(sdist.is_sdist());
    let fastapi = locked
        .packages
        .iter()
        .find(|p| p.name.as_ref() == "fastapi")
        .unwrap();
    assert_eq!(
        fastapi.best_file(&target().tags()).unwrap().filename,
        "fastapi-0.115.0-py3-none-any.whl"
    );
}

#[test]
fn uv_app_is_not_a_package() {
    let dir = fixture("uv-app");
    assert_eq!(Project::read(&dir).unwrap().kind(), ProjectKind::App);
    let locked = read(&dir, Ask::default());
    assert_eq!(
        pins(&locked),
        [("idna".to_string(), "3.7".to_string())].into()
    );
    let [root] = &locked.local[..] else { panic!() };
    assert!(!root.is_package, "uv locks it as `virtual`");
}

#[test]
fn uv_workspace_root_and_member() {
    let dir = fixture("uv-workspace");
    let root = read(&dir, Ask::default());
    assert_eq!(
        pins(&root),
        [
            ("attrs".into(), "23.2.0".into()),
            ("six".into(), "1.16.0".into())
        ]
        .into()
    );
    let local: Vec<String> = root.local.iter().map(|l| l.name.to_string()).collect();
    assert_eq!(local, ["uv-workspace", "wlib"], "the selected member first");
    assert_eq!(
        root.local[1].path,
        dir.join("packages/wlib").canonicalize().unwrap()
    );

    let member = read(
        &dir,
        Ask {
            member: Some("wlib"),
            ..Ask::default()
        },
    );
    assert_eq!(pins(&member), [("six".into(), "1.16.0".into())].into());
    assert_eq!(member.local.len(), 1);

    let err = try_read(
        &dir,
        Ask {
            member: Some("nope"),
            ..Ask::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, ProjectError::UnknownMember { .. }));
    assert!(err.to_string().contains("uv-workspace, wlib"), "{err}");
}

#[test]
fn pylock_from_uv_export_matches_uv_lock_with_dev() {
    let dir = fixture("uv-package");
    let pylock = read(
        &dir,
        Ask {
            file: Some("pylock.toml"),
            ..Ask::default()
        },
    );
    assert_eq!(kind_of(&pylock), LockKind::Pylock);
    // `uv export` includes the dev group unless told otherwise.
    let uv = read(
        &dir,
        Ask {
            groups: &["dev"],
            ..Ask::default()
        },
    );
    assert_eq!(pins(&pylock), pins(&uv));
    for (a, b) in pylock.packages.iter().zip(&uv.packages) {
        assert!(a == b, "{} differs between pylock.toml and uv.lock", a.name);
    }
    assert_eq!(pylock.local[0].name.to_string(), "uv-package");
}

#[test]
fn poetry_tool_style() {
    let dir = fixture("poetry-tool");
    let locked = read(&dir, Ask::default());
    assert_eq!(kind_of(&locked), LockKind::Poetry);
    let pins = pins(&locked);
    assert_eq!(pins["flask"], "2.3.3");
    for name in [
        "blinker",
        "click",
        "itsdangerous",
        "jinja2",
        "markupsafe",
        "werkzeug",
    ] {
        assert!(pins.contains_key(name), "{name} in {pins:?}");
    }
    assert_eq!(
        pins.len(),
        7,
        "flask and its six dependencies only: {pins:?}"
    );
    assert_eq!(locked.stale, None, "Poetry's content-hash recomputed");
    let flask = locked
        .packages
        .iter()
        .find(|p| p.name.as_ref() == "flask")
        .unwrap();
    assert!(
        flask.files.iter().all(|f| f.url.is_none()),
        "Poetry records names, not URLs"
    );
    assert!(
        flask
            .best_file(&target().tags())
            .is_some_and(|f| f.filename == "flask-2.3.3-py3-none-any.whl")
    );

    let more = super::pins(&read(
        &dir,
        Ask {
            extras: &["net"],
            groups: &["dev"],
            ..Ask::default()
        },
    ));
    for name in [
        "requests",
        "pysocks",
        "certifi",
        "urllib3",
        "pytest",
        "iniconfig",
    ] {
        assert!(more.contains_key(name), "{name} in {more:?}");
    }
    assert!(!more.contains_key("colorama"), "win32 only");
}

#[test]
fn poetry_project_style() {
    let dir = fixture("poetry-project");
    let locked = read(&dir, Ask::default());
    assert_eq!(pins(&locked)["flask"], "2.3.3");
    assert!(!pins(&locked).contains_key("pytest"));
    assert_eq!(
        locked.stale, None,
        "Poetry 2's content-hash over [project] recomputed"
    );
    let with_dev = read(
        &dir,
        Ask {
            groups: &["dev"],
            ..Ask::default()
        },
    );
    assert_eq!(pins(&with_dev)["pytest"], "8.3.3");
    let project = Project::read(&dir).unwrap();
    let recorded = fs_err::read_to_string(dir.join("poetry.lock")).unwrap();
    assert!(recorded.contains(&content_hash(project.pyproject.as_ref().unwrap(), true)));
}

#[test]
fn pip_compile_with_hashes() {
    let dir = fixture("pip-compile");
    let locked = read(&dir, Ask::default());
    assert_eq!(kind_of(&locked), LockKind::Requirements);
    let text = fs_err::read_to_string(dir.join("requirements.txt")).unwrap();
    assert_eq!(pins(&locked), requirement_pins(&text));
    assert_eq!(Project::read(&dir).unwrap().kind(), ProjectKind::App);
    for package in &locked.packages {
        assert!(
            !package.hashes.is_empty(),
            "{} has its --hash values",
            package.name
        );
    }
    let hashes: usize = locked.packages.iter().map(|p| p.hashes.len()).sum();
    assert_eq!(hashes, text.matches("--hash=sha256:").count());
}

#[test]
fn lock_order_and_hash_of_the_file() {
    let dir = fixture("uv-package");
    let found = LockSource::find(&dir, None).unwrap();
    assert_eq!(found.kind, LockKind::Uv, "uv.lock before pylock.toml");
    let bytes = fs_err::read(dir.join("uv.lock")).unwrap();
    assert_eq!(found.sha256, grocker_hash::Sha256::digest(&bytes));
    let explicit = LockSource::find(&dir, Some("pylock.toml".as_ref())).unwrap();
    assert_eq!(explicit.kind, LockKind::Pylock);
    let empty = tempfile::tempdir().unwrap();
    let err = LockSource::find(empty.path(), None).unwrap_err();
    assert!(err.to_string().contains("uv lock"), "{err}");
}

/// A copy of a fixture to edit.
fn copy(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture(name), tmp.path());
    tmp
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs_err::create_dir_all(&dest).unwrap();
            copy_dir(&entry.path(), &dest);
        } else {
            fs_err::copy(entry.path(), dest).unwrap();
        }
    }
}

fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = fs_err::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no `{from}`", path.display());
    fs_err::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn malformed_locks_name_file_and_line() {
    let tmp = copy("uv-package");
    let lock = tmp.path().join("uv.lock");
    let text = fs_err::read_to_string(&lock).unwrap();
    let line = text
        .lines()
        .position(|l| l == "version = \"0.115.0\"")
        .unwrap()
        + 1;
    edit(&lock, "version = \"0.115.0\"", "version = 0.115.0");
    let err = try_read(tmp.path(), Ask::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("uv.lock:{line}")), "{err}");

    let tmp = copy("uv-package");
    let lock = tmp.path().join("uv.lock");
    edit(&lock, "version = \"0.115.0\"", "version = \"zero\"");
    let err = try_read(tmp.path(), Ask::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("uv.lock:{}", line - 1)) && err.contains("`fastapi`"),
        "{err}"
    );

    let tmp = tempfile::tempdir().unwrap();
    fs_err::write(
        tmp.path().join("requirements.txt"),
        "# pinned\nsix==1.16.0\nflask>=2\n",
    )
    .unwrap();
    let err = try_read(tmp.path(), Ask::default()).unwrap_err();
    assert!(
        matches!(err, ProjectError::NotPinned { line: 3, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("requirements.txt:3") && err.to_string().contains("pip-compile"),
        "{err}"
    );
}

/// fuzz/ project_lock crash-a4110a07: `idna.=3.10` made pep508_rs panic; a uv.lock marker
/// with a non-ASCII character would too. Both are errors naming the file and line.
#[test]
fn fuzz_crash_requirement_pep508_panics_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    fs_err::write(
        tmp.path().join("requirements.txt"),
        "six==1.16.0\nidna.=3.10 ; python_version >= \"3.8\"\n",
    )
    .unwrap();
    let err = try_read(tmp.path(), Ask::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("requirements.txt:2") && err.contains("must end with a letter or digit"),
        "{err}"
    );

    let tmp = copy("uv-package");
    let lock = tmp.path().join("uv.lock");
    let text = fs_err::read_to_string(&lock).unwrap();
    let marker = text
        .lines()
        .find_map(|l| {
            l.split_once("marker = \"")
                .map(|(_, m)| m.split('"').next().unwrap())
        })
        .expect("uv-package's lock has a marker")
        .to_string();
    edit(
        &lock,
        &marker,
        &format!("{marker} and extra == 'caf\u{e9}'"),
    );
    let err = try_read(tmp.path(), Ask::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("uv.lock:") && err.contains("is not ASCII"),
        "{err}"
    );
}

/// fuzz/ project_lock crash (pylock.toml): a file name decoded from the URL held a `/`
/// (`%2F`); lock file names become paths in the download cache and the builder's work
/// directory, so each format refuses names that are not one plain component.
#[test]
fn fuzz_crash_lock_file_names_with_slashes_are_refused() {
    let tmp = copy("uv-package");
    let lock = tmp.path().join("pylock.toml");
    edit(
        &lock,
        "/annotated_types-0.8.0-py3-none-any.whl\"",
        "/..%2F..%2Fannotated_types-0.8.0-py3-none-any.whl\"",
    );
    let ask = Ask {
        file: Some("pylock.toml"),
        ..Ask::default()
    };
    let err = try_read(tmp.path(), ask).unwrap_err().to_string();
    assert!(
        err.contains("pylock.toml:")
            && err.contains(
                "`../../annotated_types-0.8.0-py3-none-any.whl` is not a plain file name"
            ),
        "{err}"
    );

    let tmp = copy("poetry-project");
    let lock = tmp.path().join("poetry.lock");
    edit(
        &lock,
        "{file = \"blinker-1.9.0.tar.gz\"",
        "{file = \"/tmp/blinker-1.9.0.tar.gz\"",
    );
    let err = try_read(tmp.path(), Ask::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("poetry.lock") && err.contains("`/tmp/blinker-1.9.0.tar.gz` is not a plain"),
        "{err}"
    );
}

#[test]
fn an_edited_hash_is_what_the_crate_returns() {
    // Verification happens at fetch time against the hash the lock gives: an edited hash in the
    // lock must come out as is, so the download of the real file then fails its check.
    let tmp = copy("uv-app");
    let lock = tmp.path().join("uv.lock");
    let real = "82fee1fc78add43492d3a1898bfa6d8a904cc97d8427f683ed8e798d07761aa0";
    let forged = "00".repeat(32);
    edit(&lock, real, &forged);
    let locked = read(tmp.path(), Ask::default());
    let wheel = locked.packages[0].best_file(&target().tags()).unwrap();
    assert_eq!(
        wheel.sha256,
        grocker_hash::Sha256::from_str(&forged).unwrap()
    );
    assert_ne!(wheel.sha256.to_string(), real);
}

#[test]
fn staleness_after_a_dependency_is_added() {
    let tmp = copy("uv-package");
    edit(
        &tmp.path().join("pyproject.toml"),
        "\"fastapi==0.115.0\",",
        "\"fastapi==0.115.0\",\n    \"httpx>=0.27\",",
    );
    let stale = read(tmp.path(), Ask::default()).stale.expect("stale");
    assert_eq!(stale.command, "uv lock");
    assert!(stale.reason.contains("httpx"), "{stale}");

    let tmp = copy("uv-package");
    edit(
        &tmp.path().join("pyproject.toml"),
        "\"pytest==8.3.3\"",
        "\"pytest==8.3.4\"",
    );
    let stale = read(tmp.path(), Ask::default())
        .stale
        .expect("stale dev group");
    assert!(stale.reason.contains("dependency group `dev`"), "{stale}");

    for fixture in ["poetry-tool", "poetry-project"] {
        let tmp = copy(fixture);
        let pyproject = tmp.path().join("pyproject.toml");
        match fixture {
            "poetry-tool" => edit(
                &pyproject,
                "flask = \"2.3.3\"",
                "flask = \"2.3.3\"\nhttpx = \"*\"",
            ),
            _ => edit(
                &pyproject,
                "[\"flask==2.3.3\"]",
                "[\"flask==2.3.3\", \"httpx\"]",
            ),
        }
        let stale = read(tmp.path(), Ask::default()).stale.expect("stale");
        assert_eq!(stale.command, "poetry lock", "{fixture}");
    }
}

#[test]
fn requirements_files_options_includes_and_markers() {
    let tmp = tempfile::tempdir().unwrap();
    fs_err::write(
        tmp.path().join("requirements.txt"),
        "--index-url https://example.org/simple\n--extra-index-url https://extra.example/simple\n\
         -r base.txt  # shared\n-c constraints.txt\n\
         colorama==0.4.6 ; sys_platform == 'win32'\n\
         six==1.16.0 \\\n    --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254 \\\n    --hash=sha256:1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926\n",
    )
    .unwrap();
    fs_err::write(tmp.path().join("base.txt"), "idna==3.7\n").unwrap();
    fs_err::write(tmp.path().join("constraints.txt"), "idna<4\n").unwrap();
    let locked = read(tmp.path(), Ask::default());
    assert_eq!(
        pins(&locked),
        [
            ("idna".into(), "3.7".into()),
            ("six".into(), "1.16.0".into())
        ]
        .into()
    );
    assert_eq!(
        locked.indexes.index_url.as_deref(),
        Some("https://example.org/simple")
    );
    assert_eq!(
        locked.indexes.extra_index_urls,
        ["https://extra.example/simple"]
    );
    let six = locked
        .packages
        .iter()
        .find(|p| p.name.as_ref() == "six")
        .unwrap();
    assert_eq!(six.hashes.len(), 2);
}

#[test]
fn a_directory_without_pyproject_is_an_app() {
    let tmp = tempfile::tempdir().unwrap();
    fs_err::write(tmp.path().join("manage.py"), "").unwrap();
    assert_eq!(Project::read(tmp.path()).unwrap().kind(), ProjectKind::App);
}

#[test]
fn poetry_1_lock_walks_the_graph_like_poetry_2_selects() {
    // Poetry 1.8's lock (lock-version 2.0) has no groups or markers per package: the same
    // project must come out as Poetry 2.5 locked it.
    let old = fixture("poetry1-tool");
    let new = fixture("poetry-tool");
    for ask in [
        Ask::default(),
        Ask {
            groups: &["dev"],
            ..Ask::default()
        },
        Ask {
            extras: &["net"],
            ..Ask::default()
        },
    ] {
        let (groups, extras) = (ask.groups, ask.extras);
        let a = pins(&read(
            &old,
            Ask {
                groups,
                extras,
                ..Ask::default()
            },
        ));
        let b = pins(&read(&new, ask));
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "groups {groups:?} extras {extras:?}"
        );
    }
    let locked = read(&old, Ask::default());
    assert_eq!(pins(&locked)["flask"], "2.3.3");
    assert_eq!(locked.stale, None, "Poetry 1.x's content-hash recomputed");
}

#[test]
fn git_and_url_sources_are_one_clear_error() {
    let tmp = copy("uv-app");
    let lock = tmp.path().join("uv.lock");
    edit(
        &lock,
        "source = { registry = \"https://pypi.org/simple\" }",
        "source = { git = \"https://github.com/kjd/idna?tag=v3.7#0123456789abcdef0123456789abcdef01234567\" }",
    );
    let err = try_read(tmp.path(), Ask::default()).unwrap_err();
    assert!(
        matches!(&err, ProjectError::Unsupported { package, .. } if package == "idna"),
        "{err}"
    );
    assert!(err.to_string().contains("not supported yet"), "{err}");

    let tmp = tempfile::tempdir().unwrap();
    fs_err::write(
        tmp.path().join("requirements.txt"),
        "idna @ https://example.org/idna-3.7-py3-none-any.whl\n",
    )
    .unwrap();
    let err = try_read(tmp.path(), Ask::default()).unwrap_err();
    assert!(
        matches!(&err, ProjectError::Unsupported { package, .. } if package == "idna"),
        "{err}"
    );
}

#[test]
fn a_lock_for_another_python_is_refused() {
    let tmp = copy("uv-app");
    edit(
        &tmp.path().join("uv.lock"),
        "requires-python = \">=3.11\"",
        "requires-python = \">=3.12\"",
    );
    let err = try_read(tmp.path(), Ask::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("3.11.2") && err.contains(">=3.12"), "{err}");
}

/// The message for a copy of `fixture` with `from` replaced by `to` in `file`, the temporary
/// directory written `DIR`.
fn message_after_edit(fixture: &str, file: &str, from: &str, to: &str, ask: Ask<'_>) -> String {
    let tmp = copy(fixture);
    edit(&tmp.path().join(file), from, to);
    let err = try_read(tmp.path(), ask).unwrap_err().to_string();
    let dir = tmp.path().canonicalize().unwrap();
    err.replace(&dir.display().to_string(), "DIR")
}

#[test]
fn error_messages_say_what_where_and_what_to_do() {
    let ask = Ask::default;
    assert_eq!(
        message_after_edit(
            "uv-package",
            "uv.lock",
            "version = \"0.115.0\"",
            "version = 0.115.0",
            ask()
        ),
        "DIR/uv.lock:38: not valid TOML for this file: invalid float, expected nothing"
    );
    assert_eq!(
        message_after_edit(
            "uv-package",
            "uv.lock",
            "version = \"0.115.0\"",
            "version = \"zero\"",
            ask()
        ),
        "DIR/uv.lock:37: package `fastapi`: `zero` is not a PEP 440 version: expected version to \
         start with a number, but no leading ASCII digits were found"
    );
    assert_eq!(
        message_after_edit(
            "poetry-tool",
            "poetry.lock",
            "hash = \"sha256:",
            "hash = \"md5:",
            ask()
        ),
        "DIR/poetry.lock:4: package `blinker`: hash \
         `md5:ba0efaa9080b619ff2f3459d1d500c57bddea4a6b424b60a91141db6fd2f08bc` is not a sha256: \
         grocker verifies every file by its SHA-256; lock again with sha256 hashes"
    );
    assert_eq!(
        message_after_edit(
            "uv-app",
            "uv.lock",
            "source = { registry = \"https://pypi.org/simple\" }",
            "source = { url = \"https://example.org/idna-3.7.tar.gz\" }",
            ask()
        ),
        "DIR/uv.lock: package `idna` comes from a direct URL (https://example.org/idna-3.7.tar.gz): \
         not supported yet; publish it to an index (or vendor it as a path dependency inside the \
         project) and lock again"
    );
    assert_eq!(
        message_after_edit(
            "uv-workspace",
            "uv.lock",
            "",
            "",
            Ask {
                member: Some("x"),
                ..ask()
            }
        ),
        "DIR/uv.lock: no workspace member `x` in this lock (members: uv-workspace, wlib); pick one of them"
    );
    let tmp = copy("uv-package");
    edit(
        &tmp.path().join("pyproject.toml"),
        "\"fastapi==0.115.0\",",
        "",
    );
    assert_eq!(
        read(tmp.path(), ask()).stale.unwrap().to_string(),
        "the lock was made with `fastapi ==0.115.0` in the dependencies of `uv-package`, which \
         pyproject.toml no longer has; run `uv lock`"
    );
}
