//! `grocker root` against a signed Debian repository on 127.0.0.1: what a good build contains,
//! the lock, determinism, and every way a bad archive or a bad request must fail cleanly.

use grocker_testkit::{DebBuilder, RawKind, tamper};

use crate::common::*;

fn build_ok(scratch: &Scratch, archive: &FakeArchive, out: &str, extra: &[&str]) -> OciImage {
    let oci = format!("oci:{out}");
    let mut args = vec!["-o", oci.as_str()];
    args.extend_from_slice(extra);
    run(root_cmd(scratch, archive, &args), true);
    OciImage::read(&scratch.path().join(out))
}

/// Runs a build expected to fail; returns stderr and checks nothing was written at `out`.
fn build_fails(scratch: &Scratch, archive: &FakeArchive, extra: &[&str]) -> String {
    let out = run(
        root_cmd(scratch, archive, &[&["-o", "oci:img"], extra].concat()),
        false,
    );
    assert!(
        !scratch.path().join("img").exists(),
        "a failed build left its destination behind"
    );
    assert!(
        !scratch.path().join("grocker.lock").exists(),
        "a failed build wrote a lock"
    );
    let err = stderr(&out);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "want one error line:\n{err}"
    );
    err
}

#[test]
fn builds_a_runtime_with_what_maintainer_scripts_would_have_written() {
    let archive = FakeArchive::new();
    let scratch = Scratch::new();
    let image = build_ok(&scratch, &archive, "img", &[]);
    let files = image.files();
    let f = |p: &str| files.get(p).unwrap_or_else(|| panic!("{p} missing"));

    // Merged /usr: lib/… moved under usr/, top-level links.
    assert_eq!(
        f("usr/lib/x86_64-linux-gnu/libc.so.6").data,
        b"\x7fELF libc"
    );
    assert_eq!(f("lib").link.as_deref(), Some("usr/lib"));
    assert_eq!(f("lib64").link.as_deref(), Some("usr/lib64"));
    assert_eq!(f("usr/bin/python3").link.as_deref(), Some("python3.11"));
    // Newest version wins: libc6 from bookworm-security.
    let status = String::from_utf8(f("var/lib/dpkg/status.d/libc6").data.clone()).unwrap();
    assert!(status.contains("Version: 2.36-9+deb12u1"), "{status}");
    assert!(status.contains("Status: install ok installed"), "{status}");
    // Script-only and unrelated packages are not there.
    for absent in [
        "usr/bin/dpkg",
        "usr/bin/perl",
        "usr/bin/debconf",
        "usr/bin/openssl",
        "usr/bin/bash",
        "usr/bin/mawk",
    ] {
        assert!(
            !files.contains_key(absent),
            "{absent} should not be installed"
        );
    }
    // Synthesized files.
    assert!(String::from_utf8_lossy(&f("etc/passwd").data).contains(":10001:10001:"));
    assert_eq!(
        f("etc/ssl/certs/ca-certificates.crt").data,
        b"-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
    );
    assert_eq!(f("tmp").mode & 0o7777, 0o1777);
    // Group 0 may write the home, for arbitrary uids (OpenShift).
    let home = f("home/app");
    assert_eq!((home.uid, home.gid, home.mode & 0o7777), (10001, 0, 0o775));
    // Of libc-bin, the C.UTF-8 locale alone.
    assert_eq!(f("usr/lib/locale/C.utf8/LC_CTYPE").data, b"ctype");
    assert!(!files.contains_key("usr/bin/locale"));
    assert_eq!(
        f("etc/os-release").link.as_deref(),
        Some("../usr/lib/os-release")
    );
    // Docs dropped but copyright kept.
    assert!(files.contains_key("usr/share/doc/libc6/copyright"));
    assert!(!files.contains_key("usr/share/doc/libc6/changelog.Debian.gz"));
    // Everything else root-owned.
    for (path, info) in &files {
        if path != "home/app" {
            assert_eq!((info.uid, info.gid), (0, 0), "{path}");
        }
        assert_eq!(info.mode & 0o6000, 0, "{path} has setuid/setgid");
    }

    let config = &image.config["config"];
    assert_eq!(config["User"], "10001:10001");
    assert_eq!(config["Entrypoint"][0], "python3");
    assert_eq!(config["WorkingDir"], "/home/app");
    assert!(
        config["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "LANG=C.UTF-8")
    );
    assert_eq!(config["Labels"]["grocker.runtime"], "bookworm/3.11");

    // The lock pins every package, relative to its archive.
    let lock = fs_err::read_to_string(scratch.path().join("grocker.lock")).unwrap();
    assert!(lock.contains("name = \"libc6\""), "{lock}");
    assert!(lock.contains("archive = \"debian-security\""), "{lock}");
    assert!(
        !lock.contains("127.0.0.1"),
        "the lock must not depend on the mirror:\n{lock}"
    );
}

#[test]
fn same_lock_same_digest_and_no_index_fetch() {
    let archive = FakeArchive::new();
    let a = Scratch::new();
    let first = build_ok(&a, &archive, "img", &[]);

    // Another machine: an empty cache, the same lock, the index never consulted.
    let b = Scratch::new();
    fs_err::copy(a.path().join("grocker.lock"), b.path().join("grocker.lock")).unwrap();
    archive.server.clear_requests();
    let second = build_ok(&b, &archive, "img", &[]);
    assert_eq!(first.manifest_digest, second.manifest_digest);
    let requests = archive.server.requests();
    assert!(
        requests.iter().all(|r| r.ends_with(".deb")),
        "a locked build should fetch only .deb files: {requests:?}"
    );

    // A warm rebuild fetches nothing at all.
    archive.server.clear_requests();
    let third = build_ok(&b, &archive, "img2", &[]);
    assert_eq!(first.manifest_digest, third.manifest_digest);
    assert_eq!(archive.server.requests(), Vec::<String>::new());

    // SOURCE_DATE_EPOCH changes the image, and only through the dates.
    let mut cmd = root_cmd(&b, &archive, &["-o", "oci:img3"]);
    cmd.env("SOURCE_DATE_EPOCH", "1700000000");
    run(cmd, true);
    let dated = OciImage::read(&b.path().join("img3"));
    assert_ne!(dated.manifest_digest, first.manifest_digest);
    assert_eq!(dated.config["created"], "2023-11-14T22:13:20Z");
}

#[test]
fn locked_and_upgrade() {
    let archive = FakeArchive::new();
    let s = Scratch::new();
    let err = build_fails(&s, &archive, &["--locked"]);
    assert!(err.contains("grocker.lock does not exist"), "{err}");

    build_ok(&s, &archive, "img", &[]);
    let before = fs_err::read_to_string(s.path().join("grocker.lock")).unwrap();
    // A different request with --locked is refused and the lock is kept.
    let out = run(
        root_cmd(
            &s,
            &archive,
            &["-o", "oci:img2", "--locked", "--package", "libpq5"],
        ),
        false,
    );
    assert!(
        stderr(&out).contains("different request"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fs_err::read_to_string(s.path().join("grocker.lock")).unwrap(),
        before
    );
    // Without --locked the lock follows the request: resolved again, from the InRelease fetched
    // minutes ago (index TTL) — the mirror is asked only for the new .deb.
    archive.server.clear_requests();
    let image = build_ok(&s, &archive, "img3", &["--package", "libpq5"]);
    let asked = archive.server.requests();
    assert!(
        !asked
            .iter()
            .any(|r| r.contains("InRelease") || r.contains("Packages")),
        "{asked:?}"
    );
    assert!(
        image
            .files()
            .contains_key("usr/lib/x86_64-linux-gnu/libpq.so.5")
    );
    let after = fs_err::read_to_string(s.path().join("grocker.lock")).unwrap();
    assert!(after.contains("name = \"libpq5\""));
    // --upgrade re-resolves even when the request matches.
    archive.server.clear_requests();
    build_ok(&s, &archive, "img4", &["--package", "libpq5", "--upgrade"]);
    assert!(
        archive
            .server
            .requests()
            .iter()
            .any(|r| r.ends_with("InRelease"))
    );
}

#[test]
fn tampered_inrelease_is_refused() {
    let archive = FakeArchive::new();
    tamper::inrelease_text(archive.debian.root(), "bookworm");
    let err = build_fails(&Scratch::new(), &archive, &[]);
    assert!(
        err.contains("InRelease") && err.contains("bookworm"),
        "{err}"
    );
}

#[test]
fn untrusted_signature_is_refused() {
    let archive = FakeArchive::new();
    let other = grocker_testkit::TestKey::generate("someone else <x@test.invalid>");
    tamper::resign_with(archive.security.root(), "bookworm-security", &other);
    let err = build_fails(&Scratch::new(), &archive, &[]);
    assert!(err.contains("bookworm-security"), "{err}");
}

#[test]
fn tampered_packages_is_refused() {
    let archive = FakeArchive::new();
    tamper::packages(archive.debian.root(), "bookworm");
    let err = build_fails(&Scratch::new(), &archive, &[]);
    assert!(
        err.to_lowercase().contains("hash") || err.contains("sha256"),
        "{err}"
    );
}

#[test]
fn tampered_deb_is_refused() {
    let archive = FakeArchive::new();
    let rel = archive
        .debian
        .deb_relative("python3.11-minimal")
        .to_string();
    tamper::deb(archive.debian.root(), &rel);
    let err = build_fails(&Scratch::new(), &archive, &[]);
    assert!(err.contains("python3.11-minimal"), "{err}");
}

#[test]
fn expired_release_is_refused() {
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    let archive = FakeArchive::with(runtime_packages(), |r| r.valid_until("bookworm", past));
    let err = build_fails(&Scratch::new(), &archive, &[]);
    assert!(
        err.contains("Valid-Until") || err.contains("expired"),
        "{err}"
    );
}

#[test]
fn unreachable_mirror_fails_after_retries() {
    let archive = FakeArchive::new();
    archive.server.stop();
    let err = build_fails(&Scratch::new(), &archive, &[]);
    assert!(err.contains("127.0.0.1"), "{err}");
}

#[test]
fn unknown_package_and_runtime_are_explained() {
    let archive = FakeArchive::new();
    let err = build_fails(&Scratch::new(), &archive, &["--package", "libpq"]);
    assert!(err.contains("libpq"), "{err}");

    let err = build_fails(&Scratch::new(), &archive, &["-r", "buster/3.7"]);
    assert!(err.contains("bookworm/3.11, trixie/3.13"), "{err}");
}

#[test]
fn unsatisfiable_dependency_names_the_package() {
    let mut packages = runtime_packages();
    packages.push(DebBuilder::new("needy", "1.0", "amd64").depends("libc6 (>= 9.0)"));
    let archive = FakeArchive::with(packages, |r| r);
    let err = build_fails(&Scratch::new(), &archive, &["--package", "needy"]);
    assert!(err.contains("needy") && err.contains("libc6"), "{err}");
}

#[test]
fn hostile_debs_are_refused() {
    let cases: Vec<(&str, DebBuilder)> = vec![
        (
            "..",
            DebBuilder::new("evil", "1", "amd64").raw_data_entry(
                "./../../etc/evil",
                RawKind::File,
                b"x",
            ),
        ),
        (
            "absolute",
            DebBuilder::new("evil", "1", "amd64").raw_data_entry("/etc/evil", RawKind::File, b"x"),
        ),
        (
            "outside",
            DebBuilder::new("evil", "1", "amd64").raw_data_entry(
                "./usr/lib/escape",
                RawKind::Symlink,
                b"../../../etc/shadow",
            ),
        ),
    ];
    for (what, deb) in cases {
        let mut packages = runtime_packages();
        packages.push(deb);
        let archive = FakeArchive::with(packages, |r| r);
        let err = build_fails(&Scratch::new(), &archive, &["--package", "evil"]);
        assert!(err.contains("evil"), "{what}: {err}");
    }
}

#[test]
fn destination_that_is_not_ours_is_left_alone() {
    let archive = FakeArchive::new();
    let s = Scratch::new();
    fs_err::create_dir(s.path().join("notes")).unwrap();
    fs_err::write(s.path().join("notes/todo.txt"), "keep me").unwrap();
    let out = run(root_cmd(&s, &archive, &["-o", "oci:notes"]), false);
    assert!(stderr(&out).contains("notes"), "{}", stderr(&out));
    assert_eq!(
        fs_err::read_to_string(s.path().join("notes/todo.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(fs_err::read_dir(s.path().join("notes")).unwrap().count(), 1);

    fs_err::write(s.path().join("thesis.tar"), "not an archive").unwrap();
    let out = run(
        root_cmd(&s, &archive, &["-o", "docker-archive:thesis.tar"]),
        false,
    );
    assert!(stderr(&out).contains("thesis.tar"), "{}", stderr(&out));
    assert_eq!(
        fs_err::read_to_string(s.path().join("thesis.tar")).unwrap(),
        "not an archive"
    );
}

#[test]
fn bad_output_spec_is_one_clear_error() {
    let archive = FakeArchive::new();
    let out = run(
        root_cmd(&Scratch::new(), &archive, &["-o", "tarball:x"]),
        false,
    );
    let err = stderr(&out);
    assert!(err.contains("docker-archive:FILE"), "{err}");
}

/// `grocker purge` empties the cache with no engine; Grocker's `-a`/`-f` need one and say so.
#[test]
fn purge_takes_grockers_flags_and_needs_an_engine_only_for_them() {
    let s = Scratch::new();
    fs_err::create_dir_all(s.cache.join("blobs")).unwrap();
    fs_err::write(s.cache.join("blobs/x"), vec![0u8; 1000]).unwrap();
    let mut plain = s.grocker(&["purge"]);
    plain.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let out = run(plain, true);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Removed"));
    assert!(!s.cache.join("blobs/x").exists());
    for flags in [
        &["-a"][..],
        &["-f"],
        &["--all-versions", "--including-final-images"],
    ] {
        let mut args = vec!["purge"];
        args.extend_from_slice(flags);
        let mut cmd = s.grocker(&args);
        cmd.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
        let err = stderr(&run(cmd, false));
        assert!(err.contains("nonexistent"), "{flags:?}: {err}");
    }
}

/// Values an OCI runtime refuses at `docker run` are refused by the build, with nothing
/// fetched or written.
#[test]
fn config_values_a_runtime_refuses_fail_the_build() {
    for (config, want) in [
        ("envs: {A: \"x\\0y\"}\n", "NUL"),
        ("volumes: [\"/data/../etc\"]\n", "`..`"),
        ("volumes: [\"/data\\nx\"]\n", "line break"),
    ] {
        let s = Scratch::new();
        fs_err::write(s.path().join(".grocker.yml"), config).unwrap();
        let mut cmd = s.grocker(&["build", "httpie==3.2.4", "-o", "oci:out", "--no-push"]);
        cmd.env("PIP_INDEX_URL", "http://127.0.0.1:9/simple");
        let err = stderr(&run(cmd, false));
        assert!(err.contains(want), "{config}: {err}");
        assert!(!s.path().join("out").exists() && !s.path().join("grocker.lock").exists());
    }
}

/// Each error is one line that names the file at fault once, and says what it is.
#[test]
fn errors_name_the_file_and_what_it_is_for() {
    let archive = FakeArchive::new();
    let s = Scratch::new();
    fs_err::write(s.path().join("bad-1.0-py3-none-any.whl"), "not a zip").unwrap();
    let mut args = vec!["build", "./bad-1.0-py3-none-any.whl", "-o", "oci:out"];
    let mirror = archive.args();
    args.extend(mirror.iter().map(String::as_str));
    let err = stderr(&run(s.grocker(&args), false));
    assert!(
        err.contains("./bad-1.0-py3-none-any.whl is not a readable wheel (a zip archive)"),
        "{err}"
    );

    let err = stderr(&run(
        s.grocker(&["build", "httpie==3.2.4", "--pip-constraint", "nope.txt"]),
        false,
    ));
    assert!(
        err.contains("pip constraints file") && err.contains("nope.txt"),
        "{err}"
    );

    fs_err::write(s.path().join(".grocker.yml"), b"envs: {A: \"caf\xe9\"}\n").unwrap();
    let err = stderr(&run(s.grocker(&["build", "httpie==3.2.4"]), false));
    assert_eq!(err.matches(".grocker.yml").count(), 1, "{err}");
    assert!(err.contains("not UTF-8"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
}
