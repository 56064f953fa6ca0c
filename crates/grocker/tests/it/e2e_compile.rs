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
    std::fs::write(
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

#[test]
fn psycopg2_is_compiled_in_the_builder_and_the_image_has_no_compiler() {
    let s = Scratch::new();
    std::fs::write(
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
    let lock = std::fs::read_to_string(s.path().join("grocker.lock")).unwrap();
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
    docker(&["load", "-i", s.path().join("app.tar").to_str().unwrap()]);
    let out = docker(&[
        "run",
        "--rm",
        &name,
        "-c",
        "import psycopg2; print(psycopg2.__version__.split()[0])",
    ]);
    assert_eq!(out, "2.9.10");
    docker(&["rmi", &name]);

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
        std::fs::read(s.path().join("app.tar")).unwrap(),
        std::fs::read(s.path().join("app2.tar")).unwrap()
    );
}
