//! The real uv, Poetry and pip-tools, as `scripts/pytools` installs them, for tests that make
//! real lock files; and reading what their exports pin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use grocker_wheel::{MarkerEnvironment, Requirement};

/// The tools' `bin` directory: `$GROCKER_PYTOOLS/bin`, else `~/.cache/grocker-dev/pytools/bin`.
/// Panics (the tests fail, not skip) when a tool is missing.
pub fn bin() -> PathBuf {
    let dir = std::env::var_os("GROCKER_PYTOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME");
            Path::new(&home).join(".cache/grocker-dev/pytools")
        });
    for tool in ["uv", "uvx", "poetry", "pip-compile"] {
        assert!(
            dir.join("bin").join(tool).is_file(),
            "{} has no {tool}: run scripts/setup (or scripts/pytools) to install uv, Poetry and pip-tools",
            dir.display()
        );
    }
    dir.join("bin")
}

/// Runs `tool` in `dir` with no user configuration; its stdout, or a panic with its stderr.
pub fn run(dir: &Path, tool: &str, args: &[&str]) -> String {
    let bin = bin();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(bin.join(tool))
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("UV_NO_CONFIG", "1")
        .env("POETRY_VIRTUALENVS_CREATE", "false")
        .env_remove("VIRTUAL_ENV")
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `name==version` lines of a requirements file (as `uv export`, `poetry export` and
/// pip-compile write them) whose marker holds in `env`, names normalized: exports are
/// universal, so `colorama ; sys_platform == 'win32'` is in them and out of a Linux image.
pub fn requirement_pins(text: &str, env: &MarkerEnvironment) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with([' ', '#', '-']) && !l.trim().is_empty())
        .filter_map(|l| {
            let spec = l.split(" \\").next()?.split(" --hash").next()?;
            let requirement: Requirement = spec.trim().parse().ok()?;
            if !requirement.marker.evaluate(env, &[]) {
                return None;
            }
            let (_, version) = spec.split(';').next()?.split_once("==")?;
            Some((requirement.name.to_string(), version.trim().to_string()))
        })
        .collect()
}
