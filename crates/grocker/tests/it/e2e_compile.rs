//! The compiler stage end to end: sdists compiled offline in the builder grocker assembles,
//! the runtime image free of compilers.

use crate::common::*;
use crate::e2e_root::{docker, engine, real, unique, unpack_archive};

#[test]
fn grocker_test_project_with_system_dependencies_runs() {
    if !engine() {
        return;
    }
    let s = Scratch::new();
    fs_err::write(
        s.path().join(".grocker.yml"),
        "dependencies:\n  run: [libjpeg62-turbo, zlib1g]\n  build: [libjpeg62-turbo-dev, zlib1g-dev]\n",
    )
    .unwrap();
    let name = unique("grocker-test-project");
    run(
        real(
            &s,
            &[
                "build",
                "grocker-test-project[pep8]==3.0.1",
                "--no-push",
                "-o",
                "docker-archive:app.tar",
                "-n",
                &name,
            ],
        ),
        true,
    );
    docker(&["load", "-i", s.path().join("app.tar").to_str().unwrap()]);
    assert_eq!(docker(&["run", "--rm", &name, "hello"]), "hello");
    docker(&["rmi", &name]);
}

/// Loads the archive, imports psycopg2 in a container of `name`, removes the image.
fn imports_psycopg2(archive: &std::path::Path, name: &str) {
    docker(&["load", "-i", archive.to_str().unwrap()]);
    let script = "import psycopg2; print(psycopg2.__version__.split()[0])";
    assert_eq!(docker(&["run", "--rm", name, "-c", script]), "2.9.10");
    docker(&["rmi", name]);
}

#[test]
fn psycopg2_is_compiled_in_the_builder_and_the_image_has_no_compiler() {
    let s = Scratch::new();
    fs_err::write(
        s.path().join(".grocker.yml"),
        "dependencies:\n  run: [libpq5]\n  build: [libpq-dev]\n",
    )
    .unwrap();
    let name = unique("psycopg2");
    if !engine() {
        return; // the builder needs an engine
    }
    run(
        real(
            &s,
            &[
                "build",
                "psycopg2==2.9.10",
                "-e",
                "python",
                "--no-push",
                "-o",
                "docker-archive:app.tar",
                "-n",
                &name,
            ],
        ),
        true,
    );
    let lock = fs_err::read_to_string(s.path().join("grocker.lock")).unwrap();
    assert!(
        lock.contains("filename = \"psycopg2-2.9.10.tar.gz\""),
        "{lock}"
    );
    assert!(
        lock.contains("[[builder]]") && lock.contains("name = \"gcc\""),
        "the builder is not locked"
    );
    let image = unpack_archive(&s.path().join("app.tar"), &s.path().join("a"));
    let files = image.files();
    for forbidden in [
        "usr/bin/gcc",
        "usr/bin/cc",
        "usr/bin/pip",
        "usr/bin/pip3",
        "usr/bin/pg_config",
        "usr/bin/sh",
        "usr/bin/perl",
    ] {
        assert!(
            !files.contains_key(forbidden),
            "{forbidden} is in the runtime image"
        );
    }
    assert!(files.keys().any(|p| p.starts_with(
        "opt/venv/lib/python3.11/site-packages/psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so"
    )));
    imports_psycopg2(&s.path().join("app.tar"), &name);

    // Without libpq5 in dependencies.run: with --no-auto-packages the build fails and says what
    // to add; by default grocker adds it, says so, and locks it.
    let s2 = Scratch::new();
    fs_err::write(
        s2.path().join(".grocker.yml"),
        "dependencies:\n  build: [libpq-dev]\n",
    )
    .unwrap();
    let out = run(
        real(
            &s2,
            &[
                "build",
                "psycopg2==2.9.10",
                "-e",
                "python",
                "--no-push",
                "--no-auto-packages",
                "-o",
                "oci:img",
            ],
        ),
        false,
    );
    assert!(
        stderr(&out).contains(
            "psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so needs libpq.so.5, which is not in the image: add libpq5 to dependencies.run"
        ) && stderr(&out).contains("--no-auto-packages"),
        "{}",
        stderr(&out)
    );
    assert!(!s2.path().join("img").exists());
    let auto = |s: &Scratch| {
        let args = [
            "build",
            "psycopg2==2.9.10",
            "-e",
            "python",
            "--no-push",
            "-o",
            "docker-archive:auto.tar",
            "-n",
            &name,
        ];
        stderr(&run(real(s, &args), true))
    };
    let err = auto(&s2);
    assert!(
        err.contains("Adding Debian package libpq5: psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so needs libpq.so.5"),
        "{err}"
    );
    let lock = fs_err::read_to_string(s2.path().join("grocker.lock")).unwrap();
    assert!(
        lock.contains("added_packages = [\"libpq5\"]") && lock.contains("name = \"libpq5\""),
        "{lock}"
    );
    let again = auto(&s2);
    assert!(
        !again.contains("Adding"),
        "the lock keeps the added package: {again}"
    );
    imports_psycopg2(&s2.path().join("auto.tar"), &name);

    // Built once: a rebuild takes the wheel from the cache (same sdist, same builder).
    run(
        real(
            &s,
            &[
                "build",
                "psycopg2==2.9.10",
                "-e",
                "python",
                "--no-push",
                "-o",
                "docker-archive:app2.tar",
                "-n",
                &name,
            ],
        ),
        true,
    );
    assert_eq!(
        fs_err::read(s.path().join("app.tar")).unwrap(),
        fs_err::read(s.path().join("app2.tar")).unwrap()
    );
}

/// Layer digests of an OCI layout's image.
fn layer_digests(dir: &std::path::Path) -> Vec<String> {
    OciImage::read(dir).manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_local_project_is_built_and_an_edit_changes_only_the_app_layer() {
    if !engine() {
        return; // projects are built in the builder
    }
    let s = Scratch::new();
    let project = s.path().join("hello-app");
    fs_err::create_dir_all(project.join("hello_app")).unwrap();
    fs_err::write(
        project.join("pyproject.toml"),
        "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"hello-app\"\nversion = \"1.0\"\ndependencies = [\"six==1.16.0\"]\n\n[project.scripts]\nhello-app = \"hello_app:main\"\n",
    )
    .unwrap();
    fs_err::write(
        project.join("hello_app/__init__.py"),
        "import six\n\ndef main():\n    print('hello from', six.__name__)\n",
    )
    .unwrap();
    run(
        real(&s, &["build", "./hello-app", "--no-push", "-o", "oci:one"]),
        true,
    );
    let lock = fs_err::read_to_string(project.join("grocker.lock")).unwrap();
    assert!(
        lock.contains("name = \"six\"") && !lock.contains("name = \"hello-app\""),
        "{lock}"
    );
    let one = OciImage::read(&s.path().join("one"));
    assert_eq!(
        one.config["config"]["Entrypoint"][0],
        "/opt/venv/bin/hello-app"
    );

    fs_err::write(
        project.join("hello_app/__init__.py"),
        "import six\n\ndef main():\n    print('hello again from', six.__name__)\n",
    )
    .unwrap();
    run(
        real(&s, &["build", "./hello-app", "--no-push", "-o", "oci:two"]),
        true,
    );
    let (a, b) = (
        layer_digests(&s.path().join("one")),
        layer_digests(&s.path().join("two")),
    );
    assert_eq!(a.len(), b.len());
    let changed: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    assert_eq!(
        changed,
        vec![a.len() - 1],
        "only the app layer may change: {a:?} vs {b:?}"
    );
}

#[test]
fn a_wheel_file_is_installed_as_the_app() {
    let s = Scratch::new();
    // A real wheel from PyPI, installed from the file, not looked up on the index.
    let out = std::process::Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
        ])
        .arg(s.path())
        .arg("httpie==3.2.4")
        .output()
        .expect("pip");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run(
        real(
            &s,
            &[
                "build",
                "httpie-3.2.4-py3-none-any.whl",
                "-e",
                "http",
                "--no-push",
                "-o",
                "oci:img",
            ],
        ),
        true,
    );
    let image = OciImage::read(&s.path().join("img"));
    assert_eq!(
        image.config["config"]["Labels"]["grocker.app.version"],
        "3.2.4"
    );
    assert!(image.files().contains_key("opt/venv/bin/http"));
}

/// The user's own pure-Python project needs no engine: it is built on this machine in a
/// sandbox, and gives the wheel — hence the image — the builder container gives.
#[test]
fn a_pure_python_project_is_built_without_an_engine_into_the_builders_wheel() {
    let s = Scratch::new();
    let project = s.path().join("pure-app");
    fs_err::create_dir_all(project.join("src/pure_app")).unwrap();
    fs_err::write(
        project.join("pyproject.toml"),
        "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n\
         [project]\nname = \"pure-app\"\nversion = \"1.0\"\ndependencies = [\"six==1.16.0\"]\n\n\
         [project.scripts]\npure-app = \"pure_app:main\"\n",
    )
    .unwrap();
    fs_err::write(
        project.join("src/pure_app/__init__.py"),
        "def main():\n    print('pure')\n",
    )
    .unwrap();
    let build = |cache: &str, out: &str, engine: bool| {
        let args = ["build", "./pure-app", "--no-push", "-o", out, "-v"];
        let mut cmd = s.grocker(&args);
        cmd.env("GROCKER_CACHE_DIR", s.path().join(cache));
        if !engine {
            cmd.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
        } else {
            cmd.env("GROCKER_SANDBOX", "0");
        }
        stderr(&run(cmd, true))
    };
    let log = build("cache-a", "oci:sandboxed", false);
    assert!(log.contains("in a sandbox on this machine"), "{log}");
    // A project whose build fails, with no engine to try again: its own error, not the engine's.
    let broken = s.path().join("broken");
    fs_err::create_dir_all(&broken).unwrap();
    fs_err::write(
        broken.join("setup.py"),
        "raise SystemExit('deliberately broken')\n",
    )
    .unwrap();
    let mut cmd = s.grocker(&["build", "./broken", "--no-push", "-o", "oci:broken"]);
    cmd.env("GROCKER_CACHE_DIR", s.path().join("cache-a"))
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let err = stderr(&run(cmd, false));
    assert!(
        err.contains("deliberately broken") && !err.contains("nonexistent"),
        "{err}"
    );
    let sandboxed = OciImage::read(&s.path().join("sandboxed"));
    if !engine() {
        return; // the comparison needs the builder container
    }
    // The same lock, another empty cache, the builder container.
    let log = build("cache-b", "oci:contained", true);
    assert!(
        log.contains("Building") && !log.contains("sandbox on this machine"),
        "{log}"
    );
    let contained = OciImage::read(&s.path().join("contained"));
    assert_eq!(sandboxed.manifest_digest, contained.manifest_digest);
}
