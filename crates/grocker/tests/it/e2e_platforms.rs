//! Multi-platform images end to end (issue #15): one build, an image per platform under an OCI
//! index, each from its own platform's Debian packages and wheels — checked with skopeo, umoci,
//! an ELF reader, the arm64 interpreter run under Debian's qemu-user, a real registry and the
//! real engine. The builds share the e2e cache, so only the first run of the suite downloads
//! the arm64 packages; the long cold two-platform timing is in bench/run.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::*;
use crate::e2e_push::Registry;
use crate::e2e_root::{docker, engine, real};

/// `skopeo ARGS`'s standard output, checked.
fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo").args(args).output().expect("skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The platform's image of the layout `dir` (tag `tag`), copied out by skopeo and unpacked by
/// umoci into `into`; returns the root filesystem.
fn unpack_platform(dir: &Path, tag: &str, arch: &str, into: &Path) -> std::path::PathBuf {
    let single = into.with_extension("layout");
    skopeo(&[
        "--override-arch",
        arch,
        "copy",
        "-q",
        &format!("oci:{}:{tag}", dir.display()),
        &format!("oci:{}:x", single.display()),
    ]);
    let out = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:x", single.display()))
        .arg(into)
        .output()
        .expect("umoci");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    into.join("rootfs")
}

/// `(path, e_machine)` of every regular file with the ELF magic under `root`.
fn elf_machines(root: &Path) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs_err::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                let mut head = [0u8; 20];
                let mut file = fs_err::File::open(entry.path()).unwrap();
                if std::io::Read::read_exact(&mut file, &mut head).is_ok()
                    && head.starts_with(b"\x7fELF")
                {
                    let machine = u16::from_le_bytes([head[18], head[19]]);
                    out.push((entry.path().display().to_string(), machine));
                }
            }
        }
    }
    out
}

/// Runs `script` with the arm64 image's own interpreter under qemu-user (no binfmt needed),
/// the venv's site-packages first on the path; returns what it printed.
fn arm64_python(rootfs: &Path, script: &str) -> String {
    let site = rootfs.join("opt/venv/lib/python3.11/site-packages");
    let out = Command::new("qemu-aarch64")
        .arg("-L")
        .arg(rootfs)
        .arg(rootfs.join("usr/bin/python3.11"))
        .args(["-c", script])
        .env("PYTHONPATH", &site)
        .output()
        .expect("qemu-aarch64 (Debian package qemu-user; run scripts/setup)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Layer digests of each manifest of the index in layout `dir`, by architecture.
fn layers_by_arch(dir: &Path) -> Vec<(String, Vec<String>)> {
    let top = json(&dir.join("index.json"));
    let index = json(&blob(dir, top["manifests"][0]["digest"].as_str().unwrap()));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let manifest = json(&blob(dir, m["digest"].as_str().unwrap()));
            let layers = manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_string())
                .collect();
            (
                m["platform"]["architecture"].as_str().unwrap().to_string(),
                layers,
            )
        })
        .collect()
}

#[test]
fn httpie_for_amd64_and_arm64_is_one_index_and_the_arm64_image_runs() {
    let s = Scratch::new();
    let build = |dir: &str, extra: &[&str]| {
        let mut args = vec![
            "build",
            "httpie==3.2.4",
            "-e",
            "http",
            "--no-push",
            "--platform",
            "linux/amd64,linux/arm64",
            "-o",
        ];
        args.push(dir);
        args.extend(extra);
        run(real(&s, &args), true)
    };
    build("oci:both", &["--result-file", "r.yml"]);
    let layout = s.path().join("both");

    let raw: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        &format!("oci:{}", layout.display()),
    ]))
    .unwrap();
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let manifests = raw["manifests"].as_array().unwrap();
    let archs: Vec<&str> = manifests
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    let arm: Value = serde_json::from_str(&skopeo(&[
        "--override-arch",
        "arm64",
        "inspect",
        &format!("oci:{}", layout.display()),
    ]))
    .unwrap();
    assert_eq!(arm["Architecture"], "arm64");

    // The result file names the index and each platform's manifest.
    let result = fs_err::read_to_string(s.path().join("r.yml")).unwrap();
    let index_digest = skopeo(&["inspect", "--raw", &format!("oci:{}", layout.display())]);
    let index_digest = format!("sha256:{}", sha256_hex(index_digest.as_bytes()));
    assert!(
        result.contains(&format!("hash: {index_digest}")),
        "{result}"
    );
    for m in manifests {
        let line = format!(
            "linux/{}: {}",
            m["platform"]["architecture"].as_str().unwrap(),
            m["digest"].as_str().unwrap()
        );
        assert!(result.contains(&line), "{line} not in\n{result}");
    }

    // The pure-Python layers (the shared deps and the app) are the same blobs.
    let layers = layers_by_arch(&layout);
    let (amd, arm) = (&layers[0].1, &layers[1].1);
    assert_ne!(amd[0], arm[0], "each platform has its own os layer");
    let shared: Vec<&String> = amd.iter().filter(|d| arm.contains(d)).collect();
    assert_eq!(shared.len(), 2, "deps and app shared: {amd:?} {arm:?}");
    assert_eq!(amd.last(), arm.last(), "the app layer");

    // One lock for both, and from it the same index again.
    let lock = fs_err::read_to_string(s.path().join("grocker.lock")).unwrap();
    assert!(
        lock.contains("version = 2") && lock.contains("[[platform]]"),
        "{lock}"
    );
    assert!(
        lock.contains("manylinux_2_17_aarch64"),
        "arm64 wheels pinned"
    );
    let again = build("oci:again", &["--locked"]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(&index_digest),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );

    // The arm64 tree, unpacked by umoci: every ELF file is aarch64, and its Python runs httpie.
    let rootfs = unpack_platform(&layout, "3.2.4", "arm64", &s.path().join("arm64"));
    let elves = elf_machines(&rootfs);
    assert!(elves.len() > 50, "{} ELF files", elves.len());
    let foreign: Vec<_> = elves.iter().filter(|(_, m)| *m != 183).collect();
    assert!(foreign.is_empty(), "not EM_AARCH64: {foreign:?}");
    let version = arm64_python(
        &rootfs,
        "import sys; sys.argv = ['http', '--version']\n\
         from httpie.__main__ import main; sys.exit(main())",
    );
    assert_eq!(version, "3.2.4");
}

fn sha256_hex(bytes: &[u8]) -> String {
    grocker_hash::Sha256::digest(bytes).to_string()
}

#[test]
fn numpy_arm64_wheel_computes_an_inverse_under_qemu() {
    let s = Scratch::new();
    run(
        real(
            &s,
            &[
                "build",
                "numpy==2.1.3",
                "-e",
                "python",
                "--no-push",
                "--platform",
                "linux/arm64",
                "-o",
                "oci:img",
            ],
        ),
        true,
    );
    let lock = fs_err::read_to_string(s.path().join("grocker.lock")).unwrap();
    assert!(lock.contains("manylinux_2_17_aarch64"), "{lock}");
    let rootfs = unpack_platform(
        &s.path().join("img"),
        "2.1.3",
        "arm64",
        &s.path().join("fs"),
    );
    let printed = arm64_python(
        &rootfs,
        "import numpy, platform\n\
         a = numpy.array([[4.0, 7.0], [2.0, 6.0]])\n\
         print(platform.machine(), (numpy.round(numpy.linalg.inv(a) @ a, 6) + 0.0).tolist())",
    );
    assert_eq!(printed, "aarch64 [[1.0, 0.0], [0.0, 1.0]]");
}

#[test]
fn pushed_index_pulls_as_arm64_and_shared_layers_are_uploaded_once() {
    let registry = Registry::start();
    let prefix = format!("{}/team", registry.host());
    let s = Scratch::new();
    run(
        real(
            &s,
            &[
                "build",
                "httpie==3.2.4",
                "-e",
                "http",
                "--platform",
                "linux/amd64,linux/arm64",
                "--image-prefix",
                &prefix,
                "-o",
                "registry",
            ],
        ),
        true,
    );
    // Each blob went up once, whichever images hold it: the shared deps and app layers too.
    let uploads: Vec<String> = registry
        .requests()
        .into_iter()
        .filter(|l| l.contains("\"PUT /v2/") && l.contains("/blobs/uploads/"))
        .collect();
    let digest_of = |line: &str| {
        let at = line.find("sha256").expect("digest in the upload");
        line[at + 6..]
            .trim_start_matches(['%', '3', 'A', 'a', ':'])
            .chars()
            .take(64)
            .collect::<String>()
    };
    let mut digests: Vec<String> = uploads.iter().map(|l| digest_of(l)).collect();
    let total = digests.len();
    digests.sort();
    digests.dedup();
    assert_eq!(
        total,
        digests.len(),
        "a blob uploaded twice:\n{}",
        uploads.join("\n")
    );
    // Two os layers, two configs, one platform deps layer each, shared deps and app: 8 blobs
    // (an image needing glibc's iconv modules would add its own).
    assert!(
        (7..=10).contains(&total),
        "{total} uploads:\n{}",
        uploads.join("\n")
    );

    if engine() {
        let name = format!("{prefix}/httpie:3.2.4");
        docker(&["pull", "-q", "--platform", "linux/arm64", &name]);
        assert_eq!(
            docker(&["image", "inspect", "--format", "{{.Architecture}}", &name]),
            "arm64"
        );
        docker(&["rmi", &name]);
    }
}

/// A project whose wheel has native code: for a platform the engine cannot run, one error
/// naming the package, the platform and the ways out — before any image is written.
#[test]
fn native_project_for_a_platform_the_engine_cannot_run_fails_clearly_before_any_image() {
    if !engine() {
        return;
    }
    if Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists() {
        eprintln!("SKIPPING: this machine's kernel runs arm64 binaries (binfmt_misc)");
        return;
    }
    let s = Scratch::new();
    let project = s.path().join("fastmod");
    fs_err::create_dir_all(&project).unwrap();
    fs_err::write(
        project.join("setup.py"),
        "from setuptools import setup, Extension\n\
         setup(name='fastmod', version='1.0', ext_modules=[Extension('fastmod', ['fastmod.c'])])\n",
    )
    .unwrap();
    fs_err::write(
        project.join("fastmod.c"),
        "#include <Python.h>\nstatic struct PyModuleDef m = {PyModuleDef_HEAD_INIT, \"fastmod\"};\n\
         PyMODINIT_FUNC PyInit_fastmod(void) { return PyModule_Create(&m); }\n",
    )
    .unwrap();
    let out = run(
        real(
            &s,
            &[
                "build",
                "fastmod",
                "-e",
                "python",
                "--no-push",
                "--platform",
                "linux/arm64",
                "-o",
                "oci:img",
            ],
        ),
        false,
    );
    let err = stderr(&out);
    for want in [
        "has native code",
        "linux/arm64",
        "cannot run linux/arm64 containers",
        "manylinux_*_aarch64",
        "--platform",
        "DOCKER_HOST",
    ] {
        assert!(err.contains(want), "`{want}` not in: {err}");
    }
    assert!(!s.path().join("img").exists(), "an image was written");
    assert!(!project.join("grocker.lock").exists(), "a lock was written");
}

/// `.pyc` files for arm64 come from this machine's interpreter of the same Python: the venv's
/// shared layer, bytecode included, is one blob for both platforms.
#[test]
fn arm64_bytecode_is_compiled_here_and_its_layers_are_the_amd64_ones() {
    let s = Scratch::new();
    run(
        real(
            &s,
            &[
                "build",
                "httpie==3.2.4",
                "-e",
                "http",
                "--no-push",
                "--compile-bytecode",
                "--platform",
                "linux/amd64,linux/arm64",
                "-o",
                "oci:img",
            ],
        ),
        true,
    );
    let layers = layers_by_arch(&s.path().join("img"));
    let (amd, arm) = (&layers[0].1, &layers[1].1);
    assert_eq!(amd[1..].len(), arm[1..].len());
    let shared: Vec<&String> = amd.iter().filter(|d| arm.contains(d)).collect();
    assert_eq!(
        shared.len(),
        2,
        "deps and app, with their .pyc: {amd:?} {arm:?}"
    );
    let rootfs = unpack_platform(
        &s.path().join("img"),
        "3.2.4",
        "arm64",
        &s.path().join("fs"),
    );
    let pyc = rootfs
        .join("opt/venv/lib/python3.11/site-packages/httpie/__pycache__/core.cpython-311.pyc");
    assert!(pyc.is_file(), "no {}", pyc.display());
    let stdlib = rootfs.join("usr/lib/python3.11/__pycache__/os.cpython-311.pyc");
    assert!(stdlib.is_file(), "no {}", stdlib.display());
}

#[test]
fn root_for_two_platforms_and_one_platform_outputs_refuse_several() {
    let s = Scratch::new();
    run(
        real(
            &s,
            &[
                "root",
                "--platform",
                "linux/arm64,linux/amd64",
                "-o",
                "oci:root",
            ],
        ),
        true,
    );
    let layers = layers_by_arch(&s.path().join("root"));
    let archs: Vec<&str> = layers.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        archs,
        ["amd64", "arm64"],
        "sorted, whatever the order given"
    );

    let out = run(
        s.grocker(&[
            "build",
            "httpie==3.2.4",
            "--platform",
            "linux/amd64,linux/arm64",
            "-o",
            "docker-archive:x.tar",
        ]),
        false,
    );
    let err = stderr(&out);
    assert!(
        err.contains("-o docker-archive:x.tar holds one platform's image"),
        "{err}"
    );
    assert!(err.contains("-o oci:DIR"), "{err}");
    assert!(!s.path().join("x.tar").exists());
    let out = run(s.grocker(&["root", "--platform", "linux/s390x"]), false);
    assert!(
        stderr(&out).contains("linux/amd64 or linux/arm64"),
        "{}",
        stderr(&out)
    );
}
