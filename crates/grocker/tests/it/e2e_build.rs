//! `grocker build RELEASE` end to end: the real PyPI, the real Debian archive, a real engine.

use std::time::Instant;

use crate::common::*;
use crate::e2e_root::{docker, engine, real, unique, unpack_archive};

/// Builds `release` into a docker-archive in `s`, returns the image name.
fn build(s: &Scratch, release: &str, extra: &[&str]) -> String {
    build_as(
        s,
        &release.replace(['[', ']', '=', ','], "-"),
        release,
        extra,
    )
}

/// [`build`], naming the image after `key` (tests running at once need their own names).
fn build_as(s: &Scratch, key: &str, release: &str, extra: &[&str]) -> String {
    let name = unique(key);
    let mut args = vec![
        "build",
        release,
        "-o",
        "docker-archive:app.tar",
        "-n",
        &name,
    ];
    args.extend_from_slice(extra);
    run(real(s, &args), true);
    name
}

fn load(s: &Scratch) {
    docker(&["load", "-i", s.path().join("app.tar").to_str().unwrap()]);
}

#[test]
fn httpie_runs_and_shares_its_os_layer_across_versions() {
    let s = Scratch::new();
    let name = build(&s, "httpie==3.2.4", &["-e", "http"]);
    let image = unpack_archive(&s.path().join("app.tar"), &s.path().join("a"));
    // os, deps, app: nothing in httpie calls iconv, so glibc's gconv modules stay out.
    assert_eq!(image.layers.len(), 3);
    let config = &image.config["config"];
    assert_eq!(config["Entrypoint"][0], "/opt/venv/bin/http");
    assert_eq!(config["Labels"]["grocker.app.name"], "httpie");
    assert_eq!(config["Labels"]["grocker.app.version"], "3.2.4");
    let files = image.files();
    assert!(!files.keys().any(|p| p.contains("/gconv/")));
    // Nothing links the C++ runtime, glibc's vector maths or expat's wide twin: they stay out,
    // and so does libstdc++6's record; Debian's certificates are in the bundle alone.
    for absent in [
        "usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "usr/lib/x86_64-linux-gnu/libmvec.so.1",
        "usr/lib/x86_64-linux-gnu/libexpatw.so.1",
        "var/lib/dpkg/status.d/libstdc++6",
        "usr/share/ca-certificates/",
    ] {
        assert!(!files.keys().any(|p| p.starts_with(absent)), "{absent}");
    }
    assert!(files.contains_key("usr/lib/x86_64-linux-gnu/libexpat.so.1"));
    let venv_file = |p: &str| files.get(&format!("opt/venv/{p}")).cloned();
    let http = venv_file("bin/http").expect("console script");
    assert!(String::from_utf8_lossy(&http.data).starts_with("#!/opt/venv/bin/python\n"));
    assert_eq!((http.uid, http.mode & 0o777), (0, 0o755));
    assert!(venv_file("pyvenv.cfg").is_some());
    assert_eq!(
        venv_file("bin/python").unwrap().link.as_deref(),
        Some("/usr/bin/python3.11")
    );
    assert!(files.keys().any(|p| {
        p.starts_with("opt/venv/lib/python3.11/site-packages/httpie-3.2.4.dist-info/RECORD")
    }));
    // The app's own wheel is the last layer, alone.
    let app = image.layers.last().unwrap();
    assert!(
        app.keys().all(|p| !p.contains("requests/")),
        "dependencies in the app layer"
    );

    // Another version: the os layer is byte-identical (same digest), the app layer is not.
    let s2 = Scratch::new();
    build(&s2, "httpie==3.2.3", &["-e", "http"]);
    let other = unpack_archive(&s2.path().join("app.tar"), &s2.path().join("a"));
    let digests = |img: &OciImage| -> Vec<String> {
        img.manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let (a, b) = (digests(&image), digests(&other));
    assert_eq!(a[0], b[0], "os layers differ between httpie versions");
    assert_ne!(a.last(), b.last());

    if !engine() {
        return;
    }
    load(&s);
    assert_eq!(docker(&["run", "--rm", &name, "--version"]), "3.2.4");
    // Python's codecs are its own; only C's iconv would miss the modules.
    let codecs = "print('€ テ'.encode('cp1252', 'replace'), 'テ'.encode('euc_jp'))";
    let out = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "python3",
        &name,
        "-c",
        codecs,
    ]);
    assert_eq!(out, "b'\\x80 ?' b'\\xa5\\xc6'");
    docker(&["rmi", &name]);
}

/// C's `iconv_open` for a charset glibc does not build in: works when glibc's gconv modules are
/// in the image, returns -1 when they are not.
const ICONV_PROBE: &str = "import ctypes\n\
    libc = ctypes.CDLL('libc.so.6')\n\
    libc.iconv_open.restype = ctypes.c_void_p\n\
    cd = libc.iconv_open(b'UTF-8', b'EUC-JP')\n\
    print('iconv', 'yes' if cd not in (None, 2**64 - 1) else 'no')";

#[test]
fn gconv_modules_ship_only_when_something_calls_iconv() {
    // Debian's libxml2 converts charsets with glibc's iconv: the image gets the iconv layer.
    let s = Scratch::new();
    let args = ["-e", "http", "--package", "libxml2"];
    let name = build_as(&s, "iconv-libxml2", "httpie==3.2.4", &args);
    let image = unpack_archive(&s.path().join("app.tar"), &s.path().join("a"));
    assert_eq!(image.layers.len(), 4);
    let gconv = "usr/lib/x86_64-linux-gnu/gconv";
    for path in image.layers[1].keys() {
        let path = path.trim_end_matches('/');
        assert!(
            path.starts_with(gconv) || gconv.starts_with(path),
            "{path} in the iconv layer"
        );
    }
    assert!(image.layers[1].contains_key("usr/lib/x86_64-linux-gnu/gconv/EUC-JP.so"));
    if !engine() {
        return;
    }
    load(&s);
    let probe = |image: &str| {
        docker(&[
            "run",
            "--rm",
            "--entrypoint",
            "python3",
            image,
            "-c",
            ICONV_PROBE,
        ])
    };
    assert_eq!(probe(&name), "iconv yes");
    docker(&["rmi", &name]);
    // Without it, the same probe shows what the modules are for.
    let s2 = Scratch::new();
    let bare = build_as(&s2, "iconv-bare", "httpie==3.2.4", &["-e", "http"]);
    load(&s2);
    assert_eq!(probe(&bare), "iconv no");
    docker(&["rmi", &bare]);
}

/// greenlet is C++: its image gets, in a layer of its own, libstdc++6 — the package, record
/// included — and nothing else of what the runtime links nowhere.
#[test]
fn the_cpp_runtime_ships_when_a_wheel_links_it() {
    let s = Scratch::new();
    let name = build_as(
        &s,
        "unlinked-greenlet",
        "greenlet==3.1.1",
        &["-e", "python"],
    );
    let image = unpack_archive(&s.path().join("app.tar"), &s.path().join("a"));
    // os, the C++ runtime, deps (none), app.
    assert_eq!(image.layers.len(), 4);
    let unlinked = &image.layers[1];
    assert!(
        unlinked
            .keys()
            .any(|p| p.starts_with("usr/lib/x86_64-linux-gnu/libstdc++.so.6.")),
        "{:?}",
        unlinked.keys().collect::<Vec<_>>()
    );
    assert!(unlinked.contains_key("usr/lib/x86_64-linux-gnu/libstdc++.so.6"));
    assert!(unlinked.contains_key("var/lib/dpkg/status.d/libstdc++6"));
    assert!(!image.files().keys().any(|p| p.contains("libmvec")));
    if !engine() {
        return;
    }
    load(&s);
    let out = docker(&[
        "run",
        "--rm",
        &name,
        "-c",
        "import greenlet; print(greenlet.greenlet(lambda: 6 * 7).switch())",
    ]);
    assert_eq!(out, "42");
    docker(&["rmi", &name]);

    // Asked for by name (for `ctypes`, say), it stays in the os layer of a pure-Python image.
    let s = Scratch::new();
    let args = ["-e", "python", "--package", "libstdc++6"];
    build_as(&s, "unlinked-kept", "six==1.16.0", &args);
    let image = unpack_archive(&s.path().join("app.tar"), &s.path().join("a"));
    assert!(image.layers[0].contains_key("usr/lib/x86_64-linux-gnu/libstdc++.so.6"));
    assert!(image.layers[0].contains_key("var/lib/dpkg/status.d/libstdc++6"));
}

#[test]
fn a_rebuild_with_everything_cached_gives_the_same_digest() {
    let s = Scratch::new();
    run(
        real(
            &s,
            &["build", "httpie==3.2.4", "-e", "http", "-o", "oci:one"],
        ),
        true,
    );
    let start = Instant::now();
    run(
        real(
            &s,
            &["build", "httpie==3.2.4", "-e", "http", "-o", "oci:two"],
        ),
        true,
    );
    let warm = start.elapsed();
    eprintln!(
        "warm rebuild of httpie==3.2.4 (debug build): {:.2}s",
        warm.as_secs_f64()
    );
    let one = OciImage::read(&s.path().join("one"));
    let two = OciImage::read(&s.path().join("two"));
    assert_eq!(one.manifest_digest, two.manifest_digest);
}

#[test]
fn ipython_uvicorn_and_pandas_run() {
    let s = Scratch::new();
    let ipython = build(&s, "ipython==8.31.0", &["-e", "ipython"]);
    let image = unpack_archive(&s.path().join("app.tar"), &s.path().join("a"));
    let site = "opt/venv/lib/python3.11/site-packages/";
    for absent in ["pip/", "setuptools/", "wheel/"] {
        assert!(
            !image
                .files()
                .keys()
                .any(|p| p.starts_with(&format!("{site}{absent}"))),
            "{absent} installed in ipython's venv"
        );
    }
    let engine = engine();
    if engine {
        load(&s);
        assert_eq!(docker(&["run", "--rm", &ipython, "-c", "print(6*7)"]), "42");
        docker(&["rmi", &ipython]);
    }

    let s = Scratch::new();
    let uvicorn = build(
        &s,
        "uvicorn[standard]==0.32.1",
        &["-e", "python", "--port", "8000"],
    );
    if engine {
        load(&s);
        let out = docker(&[
            "run",
            "--rm",
            &uvicorn,
            "-c",
            "import uvicorn, uvloop, httptools, watchfiles, websockets; print(uvicorn.__version__)",
        ]);
        assert_eq!(out, "0.32.1");
        docker(&["rmi", &uvicorn]);
    }

    let s = Scratch::new();
    let pandas = build(&s, "pandas==2.2.3", &["-e", "python"]);
    if engine {
        load(&s);
        let out = docker(&[
            "run",
            "--rm",
            &pandas,
            "-c",
            "import pandas; print(pandas.DataFrame({'a': [1, 2]}).a.sum())",
        ]);
        assert_eq!(out, "3");
        docker(&["rmi", &pandas]);
    }
}

#[test]
fn bad_releases_and_conflicts_are_explained() {
    let s = Scratch::new();
    let fail = |args: &[&str]| {
        let out = run(real(&s, args), false);
        assert!(
            !s.path().join("x.tar").exists(),
            "failed build left an archive"
        );
        let err = stderr(&out);
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{err}"
        );
        err
    };
    let err = fail(&[
        "build",
        "httpie @ https://example.invalid/httpie-3.2.4-py3-none-any.whl",
        "-o",
        "docker-archive:x.tar",
    ]);
    assert!(
        err.contains("NAME==VERSION") && err.contains("a URL"),
        "{err}"
    );
    let err = fail(&[
        "build",
        "no-such-project-grocker-xyz==1.0",
        "-o",
        "docker-archive:x.tar",
    ]);
    assert!(err.contains("no-such-project-grocker-xyz"), "{err}");
    let err = fail(&["build", "httpie==0.0.42", "-o", "docker-archive:x.tar"]);
    assert!(err.contains("httpie") && err.contains("0.0.42"), "{err}");

    fs_err::write(s.path().join("c.txt"), "requests<2.0\n").unwrap();
    let err = fail(&[
        "build",
        "httpie==3.2.4",
        "-e",
        "http",
        "--pip-constraint",
        "c.txt",
        "-o",
        "docker-archive:x.tar",
    ]);
    assert!(err.contains("requests") && err.contains("httpie"), "{err}");
}

/// Grocker's "version specifiers can be used": the newest release allowed, named after the
/// version chosen, kept by the lock.
#[test]
fn version_specifiers_build_the_newest_allowed_release() {
    let s = Scratch::new();
    let out = run(
        real(
            &s,
            &[
                "build",
                "httpie>=3.2,<3.3",
                "-e",
                "http",
                "--no-push",
                "-o",
                "docker-archive:app.tar",
            ],
        ),
        true,
    );
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(line.starts_with("httpie:3.2.4 "), "{line}");
    let lock = fs_err::read_to_string(s.path().join("grocker.lock")).unwrap();
    assert!(
        lock.contains("application = \"httpie>=3.2, <3.3\""),
        "{lock}"
    );
    assert!(lock.contains("version = \"3.2.4\""), "{lock}");
    // Bare names too; with --locked the lock's pin is reused without asking the index.
    let out = run(
        real(
            &s,
            &[
                "build",
                "httpie>=3.2,<3.3",
                "-e",
                "http",
                "--no-push",
                "--locked",
                "-o",
                "oci:o",
            ],
        ),
        true,
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("httpie:3.2.4 "));
    if engine() {
        docker(&["load", "-i", s.path().join("app.tar").to_str().unwrap()]);
        assert_eq!(
            docker(&["run", "--rm", "httpie:3.2.4", "--version"]).trim(),
            "3.2.4"
        );
    }
}

#[test]
fn compile_bytecode_puts_deterministic_pyc_files_in_the_image() {
    // Two machines, so to speak: two empty caches, the same request.
    let (s, s2) = (Scratch::new(), Scratch::new());
    let args = ["-e", "http", "--compile-bytecode"];
    let name = build_as(&s, "pyc", "httpie==3.2.4", &args);
    build_as(&s2, "pyc2", "httpie==3.2.4", &args);
    let image = unpack_archive(&s.path().join("app.tar"), &s.path().join("a"));
    let other = unpack_archive(&s2.path().join("app.tar"), &s2.path().join("a"));
    let layer_digests = |img: &OciImage| img.manifest["layers"].to_string();
    assert_eq!(layer_digests(&image), layer_digests(&other));
    let files = image.files();
    for pyc in [
        "usr/lib/python3.11/__pycache__/os.cpython-311.pyc",
        "opt/venv/lib/python3.11/site-packages/httpie/__pycache__/__init__.cpython-311.pyc",
    ] {
        let file = files.get(pyc).unwrap_or_else(|| panic!("{pyc} missing"));
        assert_eq!((file.uid, file.mode & 0o777), (0, 0o644), "{pyc}");
        // PEP 552: flags 0b01, a hash-based pyc Python loads without looking at the source.
        assert_eq!(&file.data[4..8], &[1, 0, 0, 0], "{pyc}");
    }
    if !engine() {
        return;
    }
    load(&s);
    // The interpreter takes the files as its own: same magic number, and the name they carry.
    let check = "import importlib.util, httpie\n\
        data = open(httpie.__cached__, 'rb').read()\n\
        print(data[:4] == importlib.util.MAGIC_NUMBER, httpie.__spec__.cached)";
    let out = docker(&["run", "--rm", "--entrypoint", "python3", &name, "-c", check]);
    assert_eq!(
        out,
        "True /opt/venv/lib/python3.11/site-packages/httpie/__pycache__/__init__.cpython-311.pyc"
    );
    assert_eq!(docker(&["run", "--rm", &name, "--version"]), "3.2.4");
    docker(&["rmi", &name]);
}
