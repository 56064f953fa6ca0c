//! `grocker build` against the signed Debian repository on 127.0.0.1: what is refused before
//! anything is built.

use crate::common::*;

/// Issue #13 item 5: a wheel named on the command line is checked against the runtime's tags,
/// as pip does ("not a supported wheel on this platform") and as wheels from an index are.
#[test]
fn a_wheel_for_another_platform_is_refused() {
    let archive = FakeArchive::new();
    let s = Scratch::new();
    // A real wheel under a Windows name: its metadata (name, version) still matches.
    let six = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../grocker-wheel/tests/data/six-1.16.0-py2.py3-none-any.whl"
    );
    let windows = "six-1.16.0-py3-none-win_amd64.whl";
    fs_err::copy(six, s.path().join(windows)).unwrap();
    let mut args: Vec<String> = vec!["build".into(), windows.into()];
    args.extend(archive.args());
    // `-e python`: six has no console script, and the wheel must be refused for its tags,
    // not for that.
    args.extend(["-e".into(), "python".into(), "-o".into(), "oci:img".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = stderr(&run(s.grocker(&refs), false));
    assert!(
        err.contains(
            "six-1.16.0-py3-none-win_amd64.whl is not a supported wheel on this platform \
             (cp311, manylinux_2_36_x86_64): its tags are py3-none-win_amd64"
        ),
        "{err}"
    );
    assert!(
        !s.path().join("img").exists(),
        "a refused build wrote its image"
    );
}

/// A wheel built here (`dist` is `name-version`): `files`, METADATA with `requires`, WHEEL,
/// a console script `<name>-cli` plus `scripts`, and a RECORD listing every file (without
/// hashes, which installers accept: the index's sha256 covers the wheel).
fn wheel(dist: &str, requires: &[&str], scripts: &[&str], files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write as _;
    let (name, version) = dist.split_once('-').unwrap();
    let info = format!("{dist}.dist-info");
    let mut metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    for r in requires {
        metadata.push_str(&format!("Requires-Dist: {r}\n"));
    }
    let mut entry_points = format!("[console_scripts]\n{name}-cli = {name}:main\n");
    for s in scripts {
        entry_points.push_str(&format!("{s} = {name}:main\n"));
    }
    let mut all: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(p, d)| (p.to_string(), d.to_vec()))
        .collect();
    all.push((format!("{info}/METADATA"), metadata.into_bytes()));
    all.push((
        format!("{info}/WHEEL"),
        b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
    ));
    all.push((
        format!("{info}/entry_points.txt"),
        entry_points.into_bytes(),
    ));
    let mut record: String = all.iter().map(|(p, _)| format!("{p},,\n")).collect();
    record.push_str(&format!("{info}/RECORD,,\n"));
    all.push((format!("{info}/RECORD"), record.into_bytes()));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, data) in all {
        zip.start_file(path, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A PEP 503 index on 127.0.0.1 whose projects each have one wheel.
struct LocalIndex {
    _dir: tempfile::TempDir,
    server: grocker_testkit::FileServer,
}

impl LocalIndex {
    fn new(wheels: &[(&str, Vec<u8>)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("files")).unwrap();
        for (dist, bytes) in wheels {
            let file = format!("{dist}-py3-none-any.whl");
            fs_err::write(dir.path().join("files").join(&file), bytes).unwrap();
            let project = dir
                .path()
                .join("simple")
                .join(dist.split('-').next().unwrap());
            fs_err::create_dir_all(&project).unwrap();
            let sha = grocker_hash::Sha256::digest(bytes);
            let html = format!("<a href=\"../../files/{file}#sha256={sha}\">{file}</a>\n");
            fs_err::write(project.join("index.html"), html).unwrap();
        }
        let server = grocker_testkit::FileServer::serve(dir.path());
        Self { _dir: dir, server }
    }

    fn url(&self) -> String {
        format!("{}/simple", self.server.url())
    }
}

/// Issue #12 item 1 and #13 item 1: file conflicts between the app and its dependencies get
/// one verdict, from a cold cache or a warm one — the deps layer and the native check come
/// from the cache after the first build, and the app layer after its own first build.
#[test]
fn file_conflicts_get_the_same_verdict_from_the_cache() {
    let archive = FakeArchive::new();
    let site = "/opt/venv/lib/python3.11/site-packages";
    let dep = wheel(
        "dep-1.0",
        &[],
        &[],
        &[
            ("dep/__init__.py", b"# dep\n"),
            ("dep/config", b"dep's\n"),
            ("shared/__init__.py", b""),
        ],
    );
    let index = LocalIndex::new(&[("dep-1.0", dep)]);
    let cache = tempfile::tempdir().unwrap();
    // Builds `dist`'s wheel twice, each time in a fresh directory with the one cache.
    let build_twice = |dist: &str, scripts: &[&str], files: &[(&str, &[u8])], ok: bool| {
        let file = format!("{dist}-py3-none-any.whl");
        let bytes = wheel(dist, &["dep==1.0"], scripts, files);
        [0, 1].map(|_| {
            let s = Scratch::new();
            fs_err::write(s.path().join(&file), &bytes).unwrap();
            let mut args: Vec<String> = vec!["build".into(), file.clone()];
            args.extend(archive.args());
            args.extend([
                "--index-url".into(),
                index.url(),
                "--no-push".into(),
                "-o".into(),
                "oci:img".into(),
            ]);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut cmd = s.grocker(&refs);
            cmd.env("GROCKER_CACHE_DIR", cache.path());
            let out = run(cmd, ok);
            let image = ok.then(|| OciImage::read(&s.path().join("img")));
            (stderr(&out), image)
        })
    };

    // The same empty namespace `__init__.py` in both: no conflict, no warning.
    for (err, _) in build_twice(
        "app-1.0",
        &[],
        &[("app/__init__.py", b""), ("shared/__init__.py", b"")],
        true,
    ) {
        assert!(!err.contains("warning"), "{err}");
    }

    // A file of the dependency with other content: the app, installed later, wins; one
    // warning names both, cold and warm.
    for (err, image) in build_twice("app-2.0", &[], &[("dep/config", b"app's\n")], true) {
        let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning:")).collect();
        assert_eq!(warnings.len(), 1, "{err}");
        assert!(
            warnings[0].contains(&format!(
                "app 2.0 and dep 1.0 both install `{site}/dep/config` with different content"
            )),
            "{err}"
        );
        let image = image.unwrap();
        let top = image.layers.last().unwrap();
        assert_eq!(top[&format!("{}/dep/config", &site[1..])].data, b"app's\n");
    }

    // A directory where the dependency has a file: an error both times (on main the second
    // build, with every layer cached, succeeded).
    for (err, _) in build_twice("app-3.0", &[], &[("dep/config/defaults.toml", b"")], false) {
        assert!(
            err.contains(&format!(
                "app-3.0-py3-none-any.whl: `{site}/dep/config` is already installed by dep 1.0"
            )),
            "{err}"
        );
    }

    // A console script named `python` would replace the venv's interpreter link.
    for (err, _) in build_twice("app-4.0", &["python"], &[("app/__init__.py", b"")], false) {
        assert!(
            err.contains("app-4.0-py3-none-any.whl: refusing to install `/opt/venv/bin/python`"),
            "{err}"
        );
    }
}

/// Grocker's result file: `hash` only once the image is pushed, as Grocker wrote it.
#[test]
fn the_result_file_has_a_hash_only_after_a_push() {
    let archive = FakeArchive::new();
    let index = LocalIndex::new(&[]);
    let s = Scratch::new();
    let file = "solo-1.0-py3-none-any.whl";
    fs_err::write(
        s.path().join(file),
        wheel("solo-1.0", &[], &[], &[("solo.py", b"")]),
    )
    .unwrap();
    let mut args: Vec<String> = vec!["build".into(), file.into(), "-e".into(), "python".into()];
    args.extend(archive.args());
    args.extend(
        [
            "--index-url",
            &index.url(),
            "--no-push",
            "--result-file",
            "r.yml",
            "-o",
            "oci:img",
        ]
        .map(String::from),
    );
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(s.grocker(&refs), true);
    let result = fs_err::read_to_string(s.path().join("r.yml")).unwrap();
    assert!(result.contains("release: solo==1.0"), "{result}");
    assert!(result.contains("image: solo:1.0"), "{result}");
    assert!(result.contains("runtime: bookworm/3.11"), "{result}");
    assert!(!result.contains("hash:"), "not pushed, no hash: {result}");
}
