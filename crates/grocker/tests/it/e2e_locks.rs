//! A project built from the lock its team made, end to end: projects made now by the real uv,
//! Poetry and pip-tools (`scripts/pytools`), pinned to releases older than the newest, built by
//! grocker and run by a real engine; what the container's `importlib.metadata` reports must be
//! exactly what the tool's own export pins.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use grocker_testkit::pytools::{self, requirement_pins};
use grocker_wheel::{Arch, MarkerEnvironment, Target};

use crate::common::*;
use crate::e2e_root::{Loaded, docker, engine, real, unique};

/// The image's interpreter: bookworm's CPython 3.11 on x86-64.
fn image_markers() -> MarkerEnvironment {
    Target {
        python: (3, 11),
        python_full: "3.11.2".parse().unwrap(),
        glibc: (2, 36),
        arch: Arch::X86_64,
    }
    .marker_environment()
}

/// PEP 503 normalization, as both sides are compared.
fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Every distribution installed in `image`'s venv, by normalized name.
fn installed(image: &str) -> BTreeMap<String, String> {
    let script = "import importlib.metadata as m\n\
                  for d in m.distributions(): print(d.metadata['Name'], d.version)";
    let out = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "/opt/venv/bin/python",
        image,
        "-c",
        script,
    ]);
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, v)| (normalize(n), v.trim().to_string()))
        .collect()
}

/// What an export pins, by normalized name.
fn exported(text: &str) -> BTreeMap<String, String> {
    requirement_pins(text, &image_markers())
        .into_iter()
        .map(|(n, v)| (normalize(&n), v))
        .collect()
}

/// `grocker build DIR -o docker -n NAME EXTRA...` in `s` (the shared cache); the image name,
/// removed from the engine when dropped.
fn build(s: &Scratch, dir: &Path, key: &str, extra: &[&str]) -> Loaded {
    let name = unique(key);
    let mut args = vec![
        "build",
        dir.to_str().unwrap(),
        "--no-push",
        "-o",
        "docker",
        "-n",
        &name,
    ];
    args.extend_from_slice(extra);
    run(real(s, &args), true);
    Loaded(name)
}

/// The installed packages less the project itself must be the export's pins, exactly.
fn assert_exactly(image: &str, project: &str, export: &str) {
    let mut got = installed(image);
    got.remove(&normalize(project));
    let want = exported(export);
    assert!(!want.is_empty(), "the export pins nothing:\n{export}");
    assert_eq!(got, want, "{image} holds other versions than the lock");
}

fn write(path: &Path, text: &str) {
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = fs_err::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no `{from}`", path.display());
    fs_err::write(path, text.replacen(from, to, 1)).unwrap();
}

/// `GET /` on 127.0.0.1:`port`, retried while the server starts; the body.
fn http_get(port: u16) -> String {
    for _ in 0..50 {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
            let mut response = String::new();
            if stream.read_to_string(&mut response).is_ok() && response.contains("\r\n\r\n") {
                return response.split_once("\r\n\r\n").unwrap().1.to_string();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("nothing answered HTTP on 127.0.0.1:{port}");
}

/// `uv init --package NAME` in `dir` with hatchling (uv_build's newest release may not be on
/// the index yet); its directory.
fn uv_package(dir: &Path, name: &str) -> std::path::PathBuf {
    let args = [
        "init",
        "-q",
        "--package",
        "--build-backend",
        "hatch",
        "--python",
        "3.11",
        name,
    ];
    pytools::run(dir, "uv", &args);
    dir.join(name)
}

/// `uv init --app --no-package NAME` in `dir`: an app that is not a package; its directory.
fn uv_app(dir: &Path, name: &str) -> std::path::PathBuf {
    let args = [
        "init",
        "-q",
        "--app",
        "--no-package",
        "--python",
        "3.11",
        name,
    ];
    pytools::run(dir, "uv", &args);
    dir.join(name)
}

const SERVICE: &str = "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n\
@app.get(\"/\")\ndef hello():\n    return {\"hello\": \"from the lock\"}\n\n\n\
def main() -> None:\n    import uvicorn\n    uvicorn.run(app, host=\"0.0.0.0\", port=8000)\n";

/// A uv package (FastAPI, older than the newest) with a dev group: exactly its pins, no dev
/// package, HTTP answered on a published port; the same from its `uv export --format
/// pylock.toml`; the lock next to the project; no index page fetched; one digest from two
/// empty caches.
#[test]
fn uv_service_installs_exactly_its_lock_and_answers_http() {
    if !engine() {
        return; // the image is loaded into the engine and run
    }
    let s = Scratch::new();
    let dir = uv_package(s.path(), "svc");
    pytools::run(
        &dir,
        "uv",
        &["add", "-q", "fastapi==0.115.0", "uvicorn==0.30.6"],
    );
    pytools::run(&dir, "uv", &["add", "-q", "--dev", "pytest"]);
    write(&dir.join("src/svc/__init__.py"), SERVICE);
    let export = pytools::run(
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

    let image = build(&s, &dir, "uv-svc", &["--port", "8000"]);
    assert!(
        dir.join("grocker.lock").is_file(),
        "grocker.lock is not next to the project"
    );
    assert!(!s.path().join("grocker.lock").exists());
    assert_exactly(&image, "svc", &export);
    assert_eq!(installed(&image)["fastapi"], "0.115.0");
    assert!(
        !installed(&image).contains_key("pytest"),
        "a dev package is in the image"
    );

    let container = docker(&["run", "-d", "--rm", "-p", "127.0.0.1::8000", &image]);
    let container = container.trim();
    let port = docker(&["port", container, "8000/tcp"]);
    let port: u16 = port.trim().rsplit(':').next().unwrap().parse().unwrap();
    let body = http_get(port);
    docker(&["stop", container]);
    assert!(body.contains("from the lock"), "{body}");

    // PEP 751: the same pins from `uv export --format pylock.toml`.
    pytools::run(
        &dir,
        "uv",
        &[
            "export",
            "-q",
            "--format",
            "pylock.toml",
            "--no-dev",
            "-o",
            "pylock.toml",
        ],
    );
    let from_pylock = build(&s, &dir, "uv-svc-pylock", &["--lock-from", "pylock.toml"]);
    assert_exactly(&from_pylock, "svc", &export);

    // Two empty caches, the same team lock (grocker.lock made anew each time): the same
    // digest, and no index page fetched for a package the lock names (-vv logs every request;
    // the builder still looks up the project's build backend).
    let locked_names: Vec<String> = exported(&export).into_keys().collect();
    let digest = |cache: &Path| {
        fs_err::remove_file(dir.join("grocker.lock")).unwrap();
        let args = [
            "build",
            "svc",
            "--no-push",
            "-o",
            "oci:out",
            "-n",
            "svc:1",
            "-vv",
        ];
        let mut cmd = s.grocker(&args);
        cmd.env("GROCKER_CACHE_DIR", cache);
        let out = run(cmd, true);
        let log = stderr(&out);
        let pages: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("GET ") && l.contains("/simple/"))
            .filter(|l| {
                locked_names
                    .iter()
                    .any(|n| normalize(l).contains(&format!("/simple/{n}/")))
            })
            .collect();
        assert!(
            pages.is_empty(),
            "a lock-driven build fetched index pages: {pages:?}"
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    let one = digest(&s.path().join("cache-one"));
    fs_err::remove_dir_all(s.path().join("out")).unwrap();
    let two = digest(&s.path().join("cache-two"));
    assert_eq!(one, two, "the same team lock gave two digests");

    // Locking makes no image: no layer is written ahead of a build stage that never comes
    // (a build writes the deps layer while the project builds).
    let fresh = s.path().join("cache-lock");
    let mut lock = s.grocker(&["lock", "svc"]);
    lock.env("GROCKER_CACHE_DIR", &fresh);
    run(lock, true);
    let layers = fresh.join("layers");
    let written = fs_err::read_dir(&layers).map_or(0, |d| d.count());
    assert_eq!(written, 0, "`grocker lock` wrote into {}", layers.display());
}

/// A uv app that is not a package ships as a source tree in /app and runs with --cmd; a
/// two-member uv workspace builds the member --member names.
#[test]
fn uv_app_and_workspace_member() {
    if !engine() {
        return;
    }
    let s = Scratch::new();
    let site = uv_app(s.path(), "site");
    pytools::run(&site, "uv", &["add", "-q", "flask==2.3.3"]);
    pytools::run(&site, "uv", &["add", "-q", "--dev", "pytest"]);
    write(
        &site.join("main.py"),
        "import os, flask\nprint('flask', flask.__version__, 'in', os.getcwd())\n",
    );
    write(&site.join(".dockerignore"), "secrets.txt\n");
    write(&site.join("secrets.txt"), "do not ship\n");
    let export = pytools::run(&site, "uv", &["export", "-q", "--no-dev", "--no-hashes"]);
    let image = build(&s, &site, "uv-site", &["--cmd", "main.py"]);
    assert_eq!(
        docker(&["run", "--rm", &image]).trim(),
        "flask 2.3.3 in /app"
    );
    assert_exactly(&image, "site", &export);
    let listing = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "/opt/venv/bin/python",
        &image,
        "-c",
        "import os; print(sorted(os.listdir('/app'))); print(os.access('/app/main.py', os.W_OK))",
    ]);
    assert!(
        listing.contains("'main.py'") && !listing.contains("secrets.txt"),
        "{listing}"
    );
    assert!(
        !listing.contains(".venv") && listing.trim().ends_with("False"),
        "{listing}"
    );

    let ws = uv_package(s.path(), "ws");
    pytools::run(
        &ws,
        "uv",
        &[
            "init",
            "-q",
            "--package",
            "--build-backend",
            "hatch",
            "packages/lib",
        ],
    );
    pytools::run(&ws, "uv", &["add", "-q", "--package", "lib", "six==1.16.0"]);
    pytools::run(&ws, "uv", &["add", "-q", "lib", "attrs==23.2.0"]);
    let export = pytools::run(
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
    let image = build(&s, &ws, "uv-ws-lib", &["--member", "lib", "-e", "python"]);
    let mut got = installed(&image);
    assert_eq!(
        got.remove("lib").as_deref(),
        Some("0.1.0"),
        "the member is not installed"
    );
    assert!(
        !got.contains_key("ws"),
        "the root project came with --member lib"
    );
    assert_eq!(got, exported(&export));
    let root = build(&s, &ws, "uv-ws-root", &["-e", "python"]);
    let got = installed(&root);
    assert!(got.contains_key("ws") && got.contains_key("lib") && got["attrs"] == "23.2.0");
}

/// Poetry (2.x, `[tool.poetry]` style) and pip-compile with hashes: a Django site with no build
/// system runs `manage.py check`.
#[test]
fn poetry_project_and_django_site_from_requirements() {
    if !engine() {
        return;
    }
    let s = Scratch::new();
    let poetry = s.path().join("flaskapp");
    write(
        &poetry.join("pyproject.toml"),
        "[tool.poetry]\nname = \"flaskapp\"\nversion = \"0.1.0\"\ndescription = \"\"\n\
         authors = [\"A <a@example.com>\"]\npackage-mode = false\n\n\
         [tool.poetry.dependencies]\npython = \"^3.11\"\nflask = \"2.3.3\"\n\n\
         [tool.poetry.group.dev.dependencies]\npytest = \"*\"\n",
    );
    write(
        &poetry.join("app.py"),
        "import flask\nprint(flask.__version__)\n",
    );
    pytools::run(&poetry, "poetry", &["lock", "-q"]);
    let export = pytools::run(
        &poetry,
        "poetry",
        &["export", "--without-hashes", "-f", "requirements.txt"],
    );
    let image = build(&s, &poetry, "poetry-app", &["--cmd", "app.py"]);
    assert_eq!(docker(&["run", "--rm", &image]).trim(), "2.3.3");
    assert_exactly(&image, "flaskapp", &export);
    assert!(!installed(&image).contains_key("pytest"));

    let site = s.path().join("djsite");
    fs_err::create_dir_all(&site).unwrap();
    write(&site.join("requirements.in"), "django==4.2.16\n");
    pytools::run(
        &site,
        "pip-compile",
        &[
            "-q",
            "--generate-hashes",
            "--strip-extras",
            "requirements.in",
            "-o",
            "requirements.txt",
        ],
    );
    pytools::run(
        &site,
        "uvx",
        &[
            "-q",
            "--from",
            "django==4.2.16",
            "django-admin",
            "startproject",
            "mysite",
            ".",
        ],
    );
    let image = build(&s, &site, "django", &["--cmd", "manage.py check"]);
    let out = docker(&["run", "--rm", &image]);
    assert!(out.contains("System check identified no issues"), "{out}");
    assert_exactly(
        &image,
        "djsite",
        &fs_err::read_to_string(site.join("requirements.txt")).unwrap(),
    );
    // No version of its own: tagged latest by default.
    let out = run(
        real(&s, &["build", "djsite", "--no-push", "-o", "oci:dj"]),
        true,
    );
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(line.starts_with("djsite:latest "), "{line}");
    let out = run(real(&s, &["lock", "djsite"]), true);
    assert!(String::from_utf8_lossy(&out.stdout).contains("djsite/grocker.lock"));
}

/// A lock with an edited hash is refused naming the file and both hashes; a `pyproject.toml`
/// that gained a dependency is reported stale, and `--locked` fails on it.
#[test]
fn tampered_and_stale_locks_are_refused() {
    let s = Scratch::new();
    let site = uv_app(s.path(), "site");
    pytools::run(&site, "uv", &["add", "-q", "six==1.16.0"]);
    let lock = fs_err::read_to_string(site.join("uv.lock")).unwrap();
    let wheel_line = lock
        .lines()
        .find(|l| l.contains("six-1.16.0-py2.py3-none-any.whl"))
        .expect("six's wheel in uv.lock");
    let hash = wheel_line.split("sha256:").nth(1).unwrap()[..64].to_string();
    let forged = format!(
        "{}{}",
        &hash[..63],
        if hash.ends_with('0') { '1' } else { '0' }
    );
    edit(&site.join("uv.lock"), &hash, &forged);
    let out = run(
        real(
            &s,
            &[
                "build",
                "site",
                "--no-push",
                "-o",
                "oci:out",
                "-n",
                "site:1",
            ],
        ),
        false,
    );
    let err = stderr(&out);
    assert!(
        err.contains("six-1.16.0-py2.py3-none-any.whl")
            && err.contains(&hash)
            && err.contains(&forged),
        "{err}"
    );
    assert!(
        !s.path().join("out").exists(),
        "a refused build wrote its destination"
    );
    edit(&site.join("uv.lock"), &forged, &hash);

    edit(
        &site.join("pyproject.toml"),
        "\"six==1.16.0\",",
        "\"six==1.16.0\",\n    \"idna==3.7\",",
    );
    let out = run(real(&s, &["lock", "site", "--locked"]), false);
    let err = stderr(&out);
    assert!(err.contains("--locked") && err.contains("uv lock"), "{err}");
    let out = run(real(&s, &["lock", "site"]), true);
    let err = stderr(&out);
    assert!(err.contains("warning") && err.contains("uv lock"), "{err}");
    // Refusing to resolve for a project without a build system and without a lock.
    fs_err::remove_file(site.join("uv.lock")).unwrap();
    let out = run(real(&s, &["lock", "site"]), false);
    assert!(stderr(&out).contains("not a package"), "{}", stderr(&out));
}
