//! Fixtures: the builder image, the wheelhouse, projects written on the fly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use grocker_builder::{BuildEnv, BuildSystem, Builder, BuilderError, Built, Engine};

pub const IMAGE: &str = "grocker-builder-test:bookworm-3.11";

/// Debian packages of the test builder image, on top of grocker's bookworm/3.11 runtime.
const PACKAGES: &[&str] = &["build-essential", "python3.11-dev", "dash"];

/// Wheels for every build requirement the tests use, with their dependencies.
const WHEELHOUSE: &[&str] = &[
    "setuptools",
    "wheel",
    "hatchling",
    "hatch-vcs",
    "hatch-fancy-pypi-readme",
    "setuptools-scm",
];

/// Files kept between runs (downloads, the builder image's lock file).
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("grocker-builder-it")
}

/// `None` (with a loud message) when GROCKER_TEST_NO_ENGINE=1; panics if no engine answers.
pub fn builder() -> Option<Builder> {
    if std::env::var_os("GROCKER_TEST_NO_ENGINE").is_some_and(|v| v == "1") {
        eprintln!("GROCKER_TEST_NO_ENGINE=1: SKIPPING this builder test");
        return None;
    }
    let engine = Engine::from_env()
        .unwrap_or_else(|e| panic!("{e}\n(set GROCKER_TEST_NO_ENGINE=1 to skip the engine tests)"));
    ensure_image(&engine);
    Some(Builder::new(engine, IMAGE))
}

/// Makes the builder image with grocker once, unless the engine already has it.
fn ensure_image(engine: &Engine) {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if *done || engine.has_image(IMAGE).unwrap() {
        *done = true;
        return;
    }
    let dir = cache_dir();
    fs_err::create_dir_all(&dir).unwrap();
    let lock = dir.join("builder-image.lock");
    let mut cmd = Command::new(grocker_bin());
    cmd.args([
        "root",
        "-q",
        "-r",
        "bookworm/3.11",
        "-o",
        "docker",
        "-n",
        IMAGE,
    ]);
    cmd.arg("--lock-file").arg(&lock).current_dir(&dir);
    for p in PACKAGES {
        cmd.args(["--package", p]);
    }
    let start = Instant::now();
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("made {IMAGE} in {:.1?}", start.elapsed());
    *done = true;
}

/// `GROCKER_BIN`, else the grocker binary next to this test's (`cargo test --workspace` builds
/// it with the tests: `target/debug/deps/it-…` → `target/debug/grocker`).
fn grocker_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("GROCKER_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("grocker");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo test --workspace` or set GROCKER_BIN",
        bin.display()
    );
    bin
}

/// Runs the host's pip (PyPI is reachable from the host, never from the builder).
fn pip(args: &[&str]) {
    let out = Command::new("python3")
        .args(["-m", "pip", "--disable-pip-version-check", "-q"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pip {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The wheelhouse of build requirements, downloaded once per run.
pub fn wheelhouse() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = cache_dir().join("wheelhouse");
        fs_err::create_dir_all(&dir).unwrap();
        let mut args = vec![
            "download",
            "--only-binary=:all:",
            "--python-version",
            "3.11",
        ];
        args.extend(["--platform", "manylinux2014_x86_64", "--dest"]);
        let dest = dir.to_str().unwrap().to_string();
        args.push(&dest);
        args.extend(WHEELHOUSE);
        pip(&args);
        dir
    })
}

/// black 24.10.0's sdist, downloaded once.
pub fn black_sdist() -> PathBuf {
    let dir = cache_dir().join("sdists");
    let sdist = dir.join("black-24.10.0.tar.gz");
    if !sdist.is_file() {
        let dest = dir.to_str().unwrap().to_string();
        pip(&[
            "download",
            "--no-binary=:all:",
            "--no-deps",
            "black==24.10.0",
            "-d",
            &dest,
        ]);
    }
    sdist
}

/// A project directory with these files.
pub fn project(root: &Path, files: &[(&str, &str)]) -> PathBuf {
    let dir = root.join("project");
    for (name, text) in files {
        let path = dir.join(name);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }
    dir
}

/// A scratch directory the build uid can read (tempfile's are 0700).
pub fn scratch() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    fs_err::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Collects the build's log lines (and echoes them when the test fails).
#[derive(Default)]
pub struct Log(pub Vec<String>);

impl Log {
    pub fn sink(&mut self) -> impl FnMut(&str) + '_ {
        |line| self.0.push(line.to_string())
    }
}

/// The names in a wheel.
pub fn wheel_names(wheel: &Path) -> Vec<String> {
    let zip = zip::ZipArchive::new(fs_err::File::open(wheel).unwrap()).unwrap();
    zip.file_names().map(|n| n.unwrap().into_owned()).collect()
}

/// Where the standard library's bytecode of `builder` is kept for the tests' environments.
pub fn stdlib(builder: &Builder) -> PathBuf {
    let mut key = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(builder.image(), &mut key);
    cache_dir().join(format!("stdlib-{:016x}", std::hash::Hasher::finish(&key)))
}

/// The build environment with every wheel of the wheelhouse, made once per run (its bytecode
/// compiled by `builder`), and said to hold the dynamic requirements `dynamic`.
pub fn env(builder: &Builder, dynamic: &[&str]) -> BuildEnv {
    static DIR: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut made = DIR.lock().unwrap_or_else(|e| e.into_inner());
    let dir = made.get_or_insert_with(|| {
        let mut wheels: Vec<(String, PathBuf)> = fs_err::read_dir(wheelhouse())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "whl"))
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
            .collect();
        wheels.sort();
        // Named after its wheels and the builder image, so later runs reuse it.
        let mut key = std::collections::hash_map::DefaultHasher::new();
        // v2: the standard library's bytecode linked from `stdlib`, not compiled in the
        // environment (an environment an older test run left would not be).
        std::hash::Hash::hash(&(&wheels, builder.image(), "v2"), &mut key);
        let dir = cache_dir().join(format!("env-{:016x}", std::hash::Hasher::finish(&key)));
        let start = Instant::now();
        BuildEnv::prepare(builder, &dir, &stdlib(builder), &target(), &wheels, vec![])
            .and_then(|env| env.whole(builder))
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!("build environment ready in {:.1?}", start.elapsed());
        dir
    });
    BuildEnv {
        dir: dir.clone(),
        dynamic: dynamic.iter().map(|s| s.to_string()).collect(),
    }
}

/// The test builder's interpreter (Debian bookworm's CPython).
pub fn target() -> grocker_wheel::Target {
    grocker_wheel::Target {
        python: (3, 11),
        python_full: "3.11.2".parse().unwrap(),
        glibc: (2, 36),
        arch: grocker_wheel::Arch::X86_64,
    }
}

/// Builds `src` in the shared environment said to hold `dynamic`.
pub fn build(
    builder: &Builder,
    src: &Path,
    dynamic: &[&str],
    out: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<Built, BuilderError> {
    let system = BuildSystem::read(src)?;
    builder.build_wheel(src, &system, &env(builder, dynamic), out, log)
}

/// [`build`], which must give a wheel.
pub fn wheel(builder: &Builder, src: &Path, out: &Path, log: &mut dyn FnMut(&str)) -> PathBuf {
    match build(builder, src, &[], out, log) {
        Ok(Built::Wheel(wheel)) => wheel,
        other => panic!("{other:?}"),
    }
}
