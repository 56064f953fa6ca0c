//! CPython itself, compiled in the builder: an upstream source tarball (verified by the caller)
//! becomes a tar of `/opt/python/3.X`, ready to be a layer of its own.
//!
//! Like a wheel build, it runs offline as the build user, in a container of an image that
//! has the compilers and the `-dev` packages of the libraries CPython's modules link. It is
//! built in `/tmp/cpython` (a fixed path: the debug information and `sysconfig` record it),
//! with `SOURCE_DATE_EPOCH` (GCC's `__DATE__`, `getbuildinfo.c`) and `PYTHONHASHSEED=0`, so
//! the same tarball, image and flags give the same binaries. What an application image has no
//! use for is removed: the test suite, IDLE, tkinter, turtledemo, `ensurepip` (there is no pip),
//! the static library, manual pages; binaries are stripped. The standard library's bytecode
//! is compiled as "unchecked hash" `.pyc` files (PEP 552): no timestamp in them, in one
//! process, in compileall's sorted order — and with `-B`: without it, the modules compileall
//! itself imports (`argparse`, `enum`, `functools`… 41 of them) were written by the import
//! system first, as timestamp-based files holding the install time, which compileall then kept
//! as up to date. That is not enough for the same bytes: marshal flags
//! for back-reference every object another reference keeps alive, and which are depends on the
//! interpreter's state (two builds from empty caches differed in 13 of 534 files, 74 with
//! worker processes). The caller makes each `.pyc` canonical (`grocker_pyc`) when the tar
//! becomes a layer, which is what makes two builds give the same layer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fs_err as fs;

use crate::BuilderError;
use crate::engine::{Engine, Mount, RunSpec};
use crate::unpack::set_mode;

/// A build of CPython: the verified tarball and how to configure it.
#[derive(Clone, Debug)]
pub struct CPythonBuild<'a> {
    /// The upstream tarball (`Python-3.13.5.tar.xz`, Debian's `python3.13_3.13.5.orig.tar.xz`).
    pub tarball: &'a Path,
    /// `(3, 13)`: the prefix is `/opt/python/3.13`.
    pub python: (u8, u8),
    /// `configure` flags beyond grocker's own (`--enable-optimizations --with-lto`).
    pub flags: &'a [String],
    /// `SOURCE_DATE_EPOCH`.
    pub epoch: u64,
    /// The uid:gid the build runs as.
    pub user: &'a str,
}

/// The build script. `$1` is the tarball's name under `/src`, `$2` `major.minor`, the rest
/// extra `configure` flags. Stops at the first failing command.
const SCRIPT: &str = r#"set -eu
umask 022
tarball=$1; v=$2; shift 2
prefix=/opt/python/$v
mkdir /tmp/cpython && cd /tmp/cpython
tar -xf "/src/$tarball" --strip-components=1 --no-same-owner
./configure --prefix="$prefix" --with-ensurepip=no --disable-test-modules \
    --without-static-libpython --enable-ipv6 --with-system-expat=no "$@"
make -j"$(nproc)"
make install DESTDIR=/tmp/out
root=/tmp/out$prefix
lib=$root/lib/python$v
rm -rf "$lib/test" "$lib/idlelib" "$lib/tkinter" "$lib/turtledemo" "$lib/ensurepip" \
    "$lib/lib2to3" "$lib/turtle.py" "$root/share" "$root/bin/idle3" "$root/bin/idle$v"
rm -f "$lib"/lib-dynload/_tkinter*.so "$lib"/config-*/libpython*.a
find "$root" -name __pycache__ -prune -exec rm -rf {} +
find "$root" -type f \( -name '*.so' -o -name "python$v" \) -exec strip --strip-unneeded {} +
PYTHONHOME=$root "$root/bin/python$v" -E -B -m compileall -q -j1 \
    --invalidation-mode unchecked-hash -s /tmp/out -p / "$lib"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    --format=gnu -C /tmp/out -cf /out/python.tar opt
"#;

/// Builds `build` with `image` through `engine` into `work` (an empty directory), passing each
/// line of the log to `log`; returns the tar of `opt/python/3.X` (owned by root, sorted).
pub fn build_cpython(
    engine: &Engine,
    image: &str,
    build: &CPythonBuild<'_>,
    work: &Path,
    timeout: Option<Duration>,
    log: &mut dyn FnMut(&str),
) -> Result<PathBuf, BuilderError> {
    let name = build
        .tarball
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cpython.tar.xz".into());
    // The cache's own file may be private to this user: the build user reads a copy.
    let src = work.join("src");
    let out = work.join("out");
    for dir in [&src, &out] {
        fs::create_dir_all(dir).map_err(BuilderError::io(dir))?;
    }
    set_mode(&src, 0o755)?;
    set_mode(&out, 0o777)?;
    let copy = src.join(&name);
    fs::copy(build.tarball, &copy).map_err(BuilderError::io(build.tarball))?;
    set_mode(&copy, 0o644)?;
    let (major, minor) = build.python;
    let mut cmd = vec![
        "sh".to_string(),
        "-c".into(),
        SCRIPT.into(),
        "cpython-build".into(),
        name,
        format!("{major}.{minor}"),
    ];
    cmd.extend(build.flags.iter().cloned());
    let spec = RunSpec {
        image: image.to_string(),
        cmd,
        env: vec![
            "HOME=/tmp".into(),
            "TMPDIR=/tmp".into(),
            "LANG=C.UTF-8".into(),
            "PYTHONHASHSEED=0".into(),
            format!("SOURCE_DATE_EPOCH={}", build.epoch),
        ],
        working_dir: Some("/tmp".into()),
        user: Some(build.user.to_string()),
        mounts: vec![
            Mount {
                source: fs::canonicalize(&src).map_err(BuilderError::io(&src))?,
                target: "/src".into(),
                read_only: true,
            },
            Mount {
                source: fs::canonicalize(&out).map_err(BuilderError::io(&out))?,
                target: "/out".into(),
                read_only: false,
            },
        ],
        timeout,
        what: format!(
            "build CPython {major}.{minor} from {}",
            build.tarball.display()
        ),
    };
    let outcome = engine.run(&spec, log)?;
    if outcome.exit_code != 0 {
        return Err(BuilderError::BuildFailed {
            what: spec.what,
            image: image.to_string(),
            exit_code: outcome.exit_code,
            log: outcome.log,
        });
    }
    let tar = out.join("python.tar");
    if !tar.is_file() {
        return Err(BuilderError::BadResult {
            what: spec.what,
            image: image.to_string(),
            reason: "the build wrote no /out/python.tar".into(),
            log: outcome.log,
        });
    }
    Ok(tar)
}
