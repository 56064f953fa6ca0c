//! Proves the fixtures against standard implementations: gpgv, dpkg-deb, and hashes
//! recomputed from scratch.

mod apt;
mod deb;
mod key;
mod repo;
mod server;

use std::path::Path;
use std::process::{Command, Output};

/// Runs `gpgv --keyring <keyring> <args>` with a private home so no user keyring is consulted.
pub fn gpgv(keyring: &Path, args: &[&Path]) -> Output {
    let home = tempfile::tempdir().expect("gpg home");
    Command::new("/usr/bin/gpgv")
        .arg("--homedir")
        .arg(home.path())
        .arg("--keyring")
        .arg(keyring)
        .args(args)
        .output()
        .expect("run gpgv")
}

/// Writes `key`'s binary public keyring into `dir` and returns its path.
pub fn keyring_file(dir: &Path, key: &grocker_testkit::TestKey, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    fs_err::write(&path, key.public_keyring_binary()).expect("write keyring");
    path
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
