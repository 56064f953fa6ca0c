//! [`Sandbox`]: the builder's run, without an engine, for builds that need no compiler — the
//! user's own pure-Python project (hatchling, uv_build, flit-core, poetry-core, pdm-backend,
//! setuptools without extension modules).
//!
//! The run is the container's, path for path: the runtime's own filesystem (the image's
//! interpreter and standard library, written out by grocker from its verified `.deb`s) is the
//! root, the same mounts appear at the same places (`/src`, the build environment, `/out`, a
//! `/tmp` in memory), and the same driver runs with the same environment, so the wheel is the
//! one the builder container makes, byte for byte. Isolation is what Linux namespaces give
//! without an engine: a new network namespace with no interface but a loopback that is down
//! (offline, as the container), a private mount namespace, `chroot` into the runtime; as root,
//! the build then runs as the runtime's unprivileged user, and otherwise in a user namespace
//! where it is the calling user. A host that allows none of this (no unprivileged user
//! namespaces) is told by [`Sandbox::probe`], and the caller uses the engine instead.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::engine::{RunOutcome, RunSpec};
use crate::error::BuilderError;
use crate::logs::LogBuffer;

/// The script `sh` runs inside the new namespaces (on the host's `sh`, before the chroot): the
/// paths come as positional arguments and the mounts as `SOURCE TARGET ro|rw` triples in the
/// environment, so no path is ever spliced into shell text.
const SETUP: &str = r#"set -eu
root=$1; shift
userspec=$1; shift
mount -t tmpfs -o mode=0755 tmpfs "$root"
for d in usr etc dev tmp; do mkdir -p "$root/$d"; done
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$root/$d"; done
for d in usr etc; do
  mount --bind "$GROCKER_RUNTIME/$d" "$root/$d"
  mount -o remount,bind,ro "$root/$d"
done
for d in null zero random urandom; do
  touch "$root/dev/$d"; mount --bind "/dev/$d" "$root/dev/$d"
done
mkdir -p "$root/dev/shm"; mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
printf '%s\n' "$GROCKER_MOUNTS" | while read -r source target mode; do
  [ -n "$source" ] || continue
  mkdir -p "$root$target"
  mount --bind "$source" "$root$target"
  [ "$mode" = rw ] || mount -o remount,bind,ro "$root$target"
done
if [ -n "$userspec" ]; then
  exec chroot --userspec="$userspec" "$root" "$@"
fi
exec chroot "$root" "$@"
"#;

/// Runs builds on this machine, in namespaces, with the runtime filesystem at `root` as `/`.
#[derive(Clone, Debug)]
pub struct Sandbox {
    runtime: PathBuf,
}

impl Sandbox {
    /// A sandbox whose `/` is the runtime filesystem written out at `runtime` (its `usr/` and
    /// `etc/` are mounted read-only).
    pub fn new(runtime: &Path) -> Sandbox {
        Sandbox {
            runtime: runtime.to_path_buf(),
        }
    }

    /// Whether this machine can make the namespaces: `Err` says why not (for `-v`).
    pub fn probe() -> Result<(), String> {
        let out = Command::new("unshare")
            .args(namespaces())
            .args(["--", "true"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// What isolation a run gets, in words.
    pub fn isolation() -> &'static str {
        if is_root() {
            "network and mount namespaces, chroot into the runtime, uid 10001"
        } else {
            "user, network and mount namespaces, chroot into the runtime"
        }
    }

    /// Runs `spec` to completion as the engine would (see [`crate::Engine::run`]), passing each
    /// line printed to `on_log`; `spec.image` is only named in errors.
    pub(crate) fn run(
        &self,
        spec: &RunSpec,
        on_log: &mut dyn FnMut(&str),
    ) -> Result<RunOutcome, BuilderError> {
        let scratch = tempfile::Builder::new()
            .prefix("grocker-sandbox-")
            .tempdir()
            .map_err(BuilderError::io(std::env::temp_dir()))?;
        let mut mounts = String::new();
        for mount in &spec.mounts {
            let source = mount
                .source
                .to_str()
                .filter(|s| !s.contains(char::is_whitespace));
            let Some(source) = source else {
                return Err(BuilderError::BadMount {
                    path: mount.source.clone(),
                    reason: "a path with white space cannot be mounted in the sandbox".into(),
                });
            };
            let mode = if mount.read_only { "ro" } else { "rw" };
            mounts.push_str(&format!("{source} {} {mode}\n", mount.target));
        }
        // As root, drop to the build user as the container does; in a user namespace the
        // build is the calling user already.
        let userspec = match (&spec.user, is_root()) {
            (Some(user), true) => user.clone(),
            _ => String::new(),
        };
        // The working directory is `/`: the runtime has no tool to change it before the
        // command runs, and the driver uses absolute paths only.
        let mut cmd = Command::new("unshare");
        cmd.args(namespaces())
            .args(["--", "sh", "-c", SETUP, "grocker-sandbox"])
            .arg(scratch.path())
            .arg(&userspec)
            .args(&spec.cmd)
            .env_clear()
            // What the builder image's config says, for the setup here and the build inside.
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("LANG", "C.UTF-8")
            .env("HOME", "/tmp")
            .env("GROCKER_RUNTIME", &self.runtime)
            .env("GROCKER_MOUNTS", &mounts)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for pair in &spec.env {
            if let Some((name, value)) = pair.split_once('=') {
                cmd.env(name, value);
            }
        }
        let what = spec.what.clone();
        let mut child = cmd.spawn().map_err(|e| BuilderError::BadEnv {
            dir: self.runtime.clone(),
            reason: format!("cannot start the sandbox to {what}: {e}"),
        })?;
        let log = follow(&mut child, spec, on_log)?;
        let status = child.wait().map_err(BuilderError::io(&self.runtime))?;
        Ok(RunOutcome {
            exit_code: status.code().map_or(-1, i64::from),
            log,
        })
    }
}

/// The child's stdout and stderr, interleaved line by line as an engine's log, each line passed
/// to `on_log`; the child is killed at `spec.timeout`.
fn follow(
    child: &mut std::process::Child,
    spec: &RunSpec,
    on_log: &mut dyn FnMut(&str),
) -> Result<String, BuilderError> {
    let deadline = spec.timeout.map(|t| Instant::now() + t);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    })
    .collect();
    drop(tx);
    let mut log = LogBuffer::default();
    loop {
        let wait = deadline.map_or(std::time::Duration::from_millis(200), |d| {
            d.saturating_duration_since(Instant::now())
                .min(std::time::Duration::from_millis(200))
        });
        match rx.recv_timeout(wait) {
            Ok(line) => {
                log.push_line(&line);
                on_log(&line);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(BuilderError::Timeout {
                        what: spec.what.clone(),
                        image: spec.image.clone(),
                        seconds: spec.timeout.unwrap_or_default().as_secs(),
                        log: log.into_string(),
                    });
                }
            }
        }
    }
    for reader in readers {
        let _ = reader.join();
    }
    Ok(log.into_string())
}

/// `unshare`'s flags: a user namespace unless already root, then mount and network ones.
fn namespaces() -> Vec<&'static str> {
    let mut flags = Vec::new();
    if !is_root() {
        flags.extend(["--user", "--map-root-user"]);
    }
    // --kill-child: a build stopped at its timeout takes everything it started with it.
    flags.extend(["--mount", "--net", "--fork", "--kill-child"]);
    flags
}

/// Whether grocker runs as root: `/proc/self` belongs to the process's effective uid.
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs_err::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
