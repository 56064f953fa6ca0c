//! Builds in the offline builder container.

use std::process::Command;
use std::time::{Duration, Instant};

use grocker_builder::{
    BuildEnv, BuildSystem, BuilderError, Built, Engine, Mount, Prepared, RunSpec,
};

use crate::common::*;

const PURE_PYPROJECT: &str = r#"
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "tiny"
version = "0.1"
"#;

#[test]
fn builds_a_pure_python_setuptools_project() {
    let Some(builder) = builder() else { return };
    let tmp = scratch();
    let src = tiny_project(tmp.path());
    let mut log = Log::default();
    assert_eq!(
        BuildSystem::read(&src).unwrap().requires,
        ["setuptools>=61"]
    );
    let out = scratch();
    let _ = env(&builder, &[]);
    let start = Instant::now();
    let wheel = wheel(&builder, &src, out.path(), &mut log.sink());
    eprintln!("built {} in {:.1?}", wheel.display(), start.elapsed());
    assert_eq!(wheel, out.path().join("tiny-0.1-py3-none-any.whl"));
    assert!(wheel_names(&wheel).contains(&"tiny.py".to_string()));
    // Only the wheel is left in out_dir, owned by us; the source was not written to.
    let left: Vec<_> = fs_err::read_dir(out.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(!src.join("tiny.egg-info").exists() && !src.join("build").exists());
    assert!(
        log.0
            .iter()
            .any(|l| l.contains("building the wheel with setuptools.build_meta")),
        "{:#?}",
        log.0
    );
}

#[test]
fn compiles_a_c_extension_with_the_legacy_backend() {
    let Some(builder) = builder() else { return };
    let tmp = scratch();
    // No pyproject.toml: PEP 517's fallback, setuptools' legacy backend.
    let src = project(
        tmp.path(),
        &[
            (
                "setup.py",
                "from setuptools import setup, Extension\n\
                 setup(name='cadd', version='1.0', ext_modules=[Extension('cadd', ['cadd.c'])])\n",
            ),
            (
                "cadd.c",
                "#include <Python.h>\n\
                 static PyObject *add(PyObject *s, PyObject *a) { long x, y;\n\
                 if (!PyArg_ParseTuple(a, \"ll\", &x, &y)) return NULL; return PyLong_FromLong(x + y); }\n\
                 static PyMethodDef m[] = {{\"add\", add, METH_VARARGS, NULL}, {NULL}};\n\
                 static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, \"cadd\", NULL, -1, m};\n\
                 PyMODINIT_FUNC PyInit_cadd(void) { return PyModule_Create(&d); }\n",
            ),
        ],
    );
    let system = BuildSystem::read(&src).unwrap();
    assert_eq!(system.requires, ["setuptools>=40.8.0"]);
    assert_eq!(system.backend, "setuptools.build_meta:__legacy__");

    let out = scratch();
    let start = Instant::now();
    let mut log = Log::default();
    let wheel = wheel(&builder, &src, out.path(), &mut log.sink());
    eprintln!("compiled {} in {:.1?}", wheel.display(), start.elapsed());
    let name = wheel.file_name().unwrap().to_str().unwrap();
    assert_eq!(name, "cadd-1.0-cp311-cp311-linux_x86_64.whl");
    assert!(
        wheel_names(&wheel)
            .iter()
            .any(|n| n.starts_with("cadd.cpython-311-x86_64-linux-gnu") && n.ends_with(".so")),
        "{:?}",
        wheel_names(&wheel)
    );
    assert!(
        log.0.iter().any(|l| l.contains("x86_64-linux-gnu-gcc")),
        "{:#?}",
        log.0
    );

    // The extension loads in the image's Python: unpack the wheel and import it there.
    let unpacked = scratch();
    let mut zip = zip::ZipArchive::new(fs_err::File::open(&wheel).unwrap()).unwrap();
    zip.extract(unpacked.path()).unwrap();
    let spec = RunSpec {
        image: IMAGE.into(),
        cmd: vec![
            "python3".into(),
            "-c".into(),
            "import cadd; print('sum', cadd.add(2, 40))".into(),
        ],
        working_dir: Some("/wheel".into()),
        user: Some("10001:10001".into()),
        mounts: vec![Mount {
            source: unpacked.path().to_path_buf(),
            target: "/wheel".into(),
            read_only: true,
        }],
        what: "import the built extension".into(),
        ..RunSpec::default()
    };
    let outcome = Engine::from_env().unwrap().run(&spec, &mut |_| {}).unwrap();
    assert_eq!((outcome.exit_code, outcome.log.as_str()), (0, "sum 42\n"));
}

#[test]
fn builds_have_no_network() {
    let Some(builder) = builder() else { return };
    let tmp = scratch();
    let src = project(
        tmp.path(),
        &[(
            "setup.py",
            "import socket, urllib.request\n\
             try:\n    urllib.request.urlopen('https://pypi.org', timeout=5)\n\
             except OSError as e:\n    print('urlopen failed:', e)\n\
             socket.create_connection(('1.1.1.1', 80), timeout=5)\n\
             from setuptools import setup\nsetup(name='phone-home', version='1')\n",
        )],
    );
    let out = scratch();
    let start = Instant::now();
    let err = build(&builder, &src, &[], out.path(), &mut |_| {}).unwrap_err();
    eprintln!("network probe failed in {:.1?}", start.elapsed());
    let BuilderError::BuildFailed { log, exit_code, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*exit_code, 1);
    assert!(log.contains("urlopen failed: <urlopen error"), "{log}");
    assert!(log.contains("Network is unreachable"), "{log}");
    // Nothing but the failed build is left.
    assert_eq!(fs_err::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn a_failed_build_carries_its_whole_log() {
    let Some(builder) = builder() else { return };
    let tmp = scratch();
    let src = project(
        tmp.path(),
        &[(
            "setup.py",
            "print('configuring broken')\nfrom setuptools import setup\nsetup(name='broken' version='1')\n",
        )],
    );
    let out = scratch();
    let err = build(&builder, &src, &[], out.path(), &mut |_| {}).unwrap_err();
    let text = err.to_string();
    let BuilderError::BuildFailed {
        log,
        exit_code,
        image,
        ..
    } = &err
    else {
        panic!("{text}")
    };
    assert_eq!((*exit_code, image.as_str()), (1, IMAGE));
    assert!(log.contains("SyntaxError"), "{log}");
    assert!(
        log.contains(
            "grocker-driver: error: failed to run the backend's hooks \
             (setuptools.build_meta:__legacy__)"
        ),
        "{log}"
    );
    assert!(
        text.starts_with(&format!(
            "failed to build a wheel from {} in `{IMAGE}` (exit code 1); the build log follows:\n",
            src.display()
        )),
        "{text}"
    );
    assert!(text.ends_with(log.as_str()), "{text}");
}

#[test]
fn builds_black_from_its_sdist_with_hatchling_and_hatch_vcs() {
    let Some(builder) = builder() else { return };
    let work = scratch();
    let source = builder
        .prepare_source(&black_sdist(), &work.path().join("src"))
        .unwrap();
    assert!(source.ends_with("black-24.10.0") && source.join("PKG-INFO").is_file());
    assert_eq!(
        BuildSystem::read(&source).unwrap().requires,
        ["hatchling>=1.20.0", "hatch-vcs", "hatch-fancy-pypi-readme"]
    );

    let out = scratch();
    let _ = env(&builder, &[]);
    let start = Instant::now();
    let mut log = Log::default();
    let wheel = wheel(&builder, &source, out.path(), &mut log.sink());
    // hatchling's get_requires_for_build_wheel and build_wheel, in one container.
    eprintln!("built {} in {:.1?}", wheel.display(), start.elapsed());
    assert_eq!(wheel, out.path().join("black-24.10.0-py3-none-any.whl"));
    let names = wheel_names(&wheel);
    assert!(
        names.contains(&"black/__init__.py".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"black-24.10.0.dist-info/METADATA".to_string()));
    // hatch-vcs took the version from PKG-INFO: there is no .git in an sdist.
    let mut zip = zip::ZipArchive::new(fs_err::File::open(&wheel).unwrap()).unwrap();
    let mut version = String::new();
    let mut file = zip.by_name("_black_version.py").unwrap();
    std::io::Read::read_to_string(&mut file, &mut version).unwrap();
    assert!(version.contains("24.10.0"), "{version}");
}

#[test]
fn a_backend_missing_from_the_environment_fails_offline() {
    let Some(builder) = builder() else { return };
    let tmp = scratch();
    let src = project(
        tmp.path(),
        &[(
            "pyproject.toml",
            "[build-system]\nrequires = [\"flit_core>=3.9\"]\nbuild-backend = \"flit_core.buildapi\"\n",
        )],
    );
    let out = scratch();
    let err = build(&builder, &src, &[], out.path(), &mut |_| {}).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("cannot import the build backend flit_core.buildapi"),
        "{text}"
    );
}

#[test]
fn a_missing_image_is_named() {
    let Some(good) = builder() else { return };
    let env = env(&good, &[]);
    let engine = Engine::from_env().unwrap();
    let builder = grocker_builder::Builder::new(engine, "grocker-builder-test:no-such-tag");
    let tmp = scratch();
    let src = project(tmp.path(), &[("setup.py", "")]);
    let out = scratch();
    let system = BuildSystem::read(&src).unwrap();
    let err = builder
        .build_wheel(&src, &system, &env, out.path(), &mut |_| {})
        .unwrap_err();
    assert!(
        matches!(&err, BuilderError::ImageMissing { image, .. } if image == "grocker-builder-test:no-such-tag"),
        "{err}"
    );
}

#[test]
fn a_container_that_runs_too_long_is_stopped_and_removed() {
    let Some(_) = builder() else { return };
    let engine = Engine::from_env().unwrap();
    let marker = format!("import time; time.sleep(300.{})", std::process::id());
    let spec = RunSpec {
        image: IMAGE.into(),
        cmd: vec![
            "python3".into(),
            "-c".into(),
            format!("print('start', flush=True); {marker}"),
        ],
        timeout: Some(Duration::from_secs(3)),
        what: "sleep".into(),
        ..RunSpec::default()
    };
    let start = Instant::now();
    let mut lines = Vec::new();
    let err = engine
        .run(&spec, &mut |l| lines.push(l.to_string()))
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    assert!(
        matches!(&err, BuilderError::Timeout { seconds: 3, log, .. } if log == "start\n"),
        "{err}"
    );
    assert_eq!(lines, ["start"]);
    let ps = Command::new("docker")
        .args(["ps", "-a", "--no-trunc", "--format", "{{.Command}}"])
        .output()
        .unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(!ps.contains(&marker), "container left behind: {ps}");
}

#[test]
fn unreadable_sources_are_refused_before_running() {
    use std::os::unix::fs::PermissionsExt;
    let Some(builder) = builder() else { return };
    let tmp = scratch();
    let src = project(tmp.path(), &[("setup.py", "")]);
    fs_err::set_permissions(&src, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = scratch();
    let err = build(&builder, &src, &[], out.path(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, BuilderError::BadMount { .. }), "{err}");
    assert!(err.to_string().contains("chmod -R o+rX"), "{err}");
}

/// An in-tree backend (`backend-path`), no static requirements, one dynamic one.
const IN_TREE_BACKEND: &str = r#"
import os, zipfile

def get_requires_for_build_wheel(config_settings=None):
    return ["wheel"]

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    import wheel  # the dynamic requirement is installed by now
    name = "intree-2.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        z.writestr("intree.py", "VALUE = 2\n")
        z.writestr("intree-2.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: intree\nVersion: 2.0\n")
        z.writestr("intree-2.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("intree-2.0.dist-info/RECORD", "")
    return name
"#;

#[test]
fn honours_backend_path_and_dynamic_requirements() {
    let Some(builder) = builder() else { return };
    let tmp = scratch();
    let src = project(
        tmp.path(),
        &[
            (
                "pyproject.toml",
                "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\"_build\"]\n",
            ),
            ("_build/backend.py", IN_TREE_BACKEND),
        ],
    );
    assert_eq!(
        BuildSystem::read(&src).unwrap().requires,
        Vec::<String>::new()
    );
    let out = scratch();
    // An environment made without the dynamic requirement: the backend is asked, nothing built.
    let first =
        build(&builder, &src, &[], out.path(), &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first, Built::NeedsRequirements(vec!["wheel".into()]));
    assert_eq!(fs_err::read_dir(out.path()).unwrap().count(), 0);
    // One made with it builds.
    let second = build(&builder, &src, &["wheel"], out.path(), &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        second,
        Built::Wheel(out.path().join("intree-2.0-py3-none-any.whl"))
    );
}

/// setuptools' `build_py --compile` (python-ldap's setup.cfg asks for it) byte-compiles what the
/// build writes, explicitly: the bytecode directory of the build's own files must be writable
/// while the environment's stays read-only.
#[test]
fn a_backend_that_byte_compiles_its_files_builds() {
    let Some(builder) = builder() else { return };
    let tmp = scratch();
    let src = project(
        tmp.path(),
        &[
            ("pyproject.toml", PURE_PYPROJECT),
            ("setup.cfg", "[build_py]\ncompile = 1\n"),
            ("tiny.py", "def hello():\n    return 'hi'\n"),
        ],
    );
    let out = scratch();
    let _ = env(&builder, &[]);
    let mut log = Log::default();
    let wheel = wheel(&builder, &src, out.path(), &mut log.sink());
    assert!(wheel_names(&wheel).contains(&"tiny.py".to_string()));
}

#[test]
fn environments_share_the_standard_librarys_bytecode() {
    use std::os::unix::fs::MetadataExt;
    let Some(builder) = builder() else { return };
    let full = env(&builder, &[]);
    // Another environment, with one requirement only, for the same builder.
    let tmp = scratch();
    let setuptools = setuptools_wheel();
    let small = BuildEnv::prepare(
        &builder,
        &tmp.path().join("env"),
        &stdlib(&builder),
        &target(),
        &setuptools,
        vec![],
    )
    .and_then(|env| env.whole(&builder))
    .unwrap();
    let os_pyc = "usr/lib/python3.11/os.cpython-311.pyc";
    let shared = fs_err::metadata(stdlib(&builder).join(os_pyc)).unwrap();
    for env in [&full, &small] {
        let linked = fs_err::metadata(env.pycache().join(os_pyc)).unwrap();
        assert_eq!((linked.dev(), linked.ino()), (shared.dev(), shared.ino()));
    }
    // Each environment's own packages are compiled in it, and only there.
    let site = "opt/grocker-build-env/lib/python3.11/site-packages";
    let has = |env: &BuildEnv, package: &str| env.pycache().join(site).join(package).is_dir();
    assert!(has(&small, "setuptools") && has(&full, "setuptools"));
    assert!(has(&full, "hatchling") && !has(&small, "hatchling"));
}

/// A new environment's first build runs while the environment's own bytecode compiles: it
/// builds the same wheel as a build in the finished environment, and the environment is put in
/// place whole, its packages compiled.
#[test]
fn a_new_environment_builds_while_its_bytecode_compiles() {
    let Some(builder) = builder() else { return };
    // Without it setuptools stamps the wheel with the time of the build, and two builds a
    // second apart differ.
    let builder = builder.with_env("SOURCE_DATE_EPOCH", "1700000000");
    let tmp = scratch();
    let src = tiny_project(tmp.path());
    let system = BuildSystem::read(&src).unwrap();
    let setuptools = setuptools_wheel();
    let dir = tmp.path().join("env");
    let prepare = || {
        BuildEnv::prepare(
            &builder,
            &dir,
            &stdlib(&builder),
            &target(),
            &setuptools,
            vec![],
        )
    };
    let Prepared::Fresh(fresh) = prepare().unwrap() else {
        panic!("a new environment came back ready")
    };
    let site = "opt/grocker-build-env/lib/python3.11/site-packages/setuptools";
    assert!(
        !dir.exists(),
        "the environment is in place before it is whole"
    );
    assert!(!fresh.env().pycache().join(site).exists());

    let first = scratch();
    let (built, compiled) = std::thread::scope(|scope| {
        let compiling = scope.spawn(|| fresh.compile(&builder));
        let built = builder.build_wheel(&src, &system, fresh.env(), first.path(), &mut |_| {});
        (built, compiling.join().unwrap())
    });
    compiled.unwrap();
    let Built::Wheel(first) = built.unwrap() else {
        panic!("the build asked for other requirements")
    };
    let env = fresh.finish().unwrap();
    assert_eq!(env.dir, dir);
    assert!(
        env.pycache().join(site).is_dir(),
        "setuptools was not compiled"
    );
    let partial: Vec<_> = walk(&env.pycache())
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(partial.is_empty(), "{partial:?}");
    assert!(matches!(prepare().unwrap(), Prepared::Ready(_)));

    let second = scratch();
    let Built::Wheel(again) = builder
        .build_wheel(&src, &system, &env, second.path(), &mut |_| {})
        .unwrap()
    else {
        panic!("the build asked for other requirements")
    };
    assert_eq!(fs_err::read(&first).unwrap(), fs_err::read(&again).unwrap());
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        match path.is_dir() {
            true => files.extend(walk(&path)),
            false => files.push(path),
        }
    }
    files
}

/// The wheelhouse's setuptools wheel, as an environment's one requirement.
fn setuptools_wheel() -> Vec<(String, std::path::PathBuf)> {
    let wheels: Vec<(String, std::path::PathBuf)> = fs_err::read_dir(wheelhouse())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("setuptools-")
        })
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    assert_eq!(wheels.len(), 1, "{wheels:?}");
    wheels
}

/// A pure-Python setuptools project, `tiny`.
fn tiny_project(dir: &std::path::Path) -> std::path::PathBuf {
    project(
        dir,
        &[
            ("pyproject.toml", PURE_PYPROJECT),
            ("tiny.py", "def hello():\n    return 'hi'\n"),
        ],
    )
}
