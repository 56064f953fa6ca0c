//! Tampering helpers, applied to a repository written by [`RepoBuilder::write`](crate::RepoBuilder::write).
//!
//! Each one breaks exactly one link of the chain of trust (key → InRelease → Packages → .deb),
//! leaving the others intact, so a test can check that grocker names the right failure.

use std::path::{Path, PathBuf};

use grocker_hash::Sha256;

use crate::repo::{write_file, write_release};
use crate::{TestKey, tarball::xz};

/// Flips the case of one letter of the signed text of `dists/<suite>/InRelease` (in the
/// `Origin` line), keeping the signature: it no longer verifies.
pub fn inrelease_text(repo_dir: &Path, suite: &str) {
    let path = suite_dir(repo_dir, suite).join("InRelease");
    let mut bytes = fs_err::read(&path).expect("read InRelease");
    let start = find(&bytes, b"\n\n").expect("InRelease has a header block") + 2;
    let end = find(&bytes, b"-----BEGIN PGP SIGNATURE-----").expect("InRelease is signed");
    let origin = find(&bytes[start..end], b"Origin: ").map(|i| start + i + 8);
    // Any letter of the signed text will do; prefer one a reader of the test recognises.
    let at = origin
        .or_else(|| (start..end).find(|&i| bytes[i].is_ascii_alphabetic()))
        .expect("a letter in the signed text");
    bytes[at] ^= 0x20;
    fs_err::write(&path, bytes).expect("write InRelease");
}

/// Changes every `Packages` of `suite` (and its `Packages.xz` and by-hash copies, which keep
/// their old names) after Release was signed: the signature still verifies, the hashes do
/// not match. The uncompressed `Packages` keeps its size (one `Version` digit changes), so
/// a client checking only sizes is caught too.
pub fn packages(repo_dir: &Path, suite: &str) {
    for arch_dir in arch_dirs(repo_dir, suite) {
        let plain = arch_dir.join("Packages");
        let old = fs_err::read(&plain).expect("read Packages");
        let old_xz = fs_err::read(arch_dir.join("Packages.xz")).expect("read Packages.xz");
        // A plausible edit that keeps the size, so only the SHA256 check can catch it: bump
        // the first digit of the first Version (an attacker offering another build).
        let mut new = old.clone();
        match find(&new, b"\nVersion: ").map(|i| i + 10) {
            Some(at) if new[at].is_ascii_digit() => new[at] = b'0' + (new[at] - b'0' + 1) % 10,
            _ => new.extend_from_slice(b"Package: injected\nVersion: 6.6.6\nArchitecture: all\n\n"),
        }
        let new_xz = xz(&new);
        fs_err::write(&plain, &new).expect("write Packages");
        fs_err::write(arch_dir.join("Packages.xz"), &new_xz).expect("write Packages.xz");
        let by_hash = arch_dir.join("by-hash/SHA256");
        for (old, new) in [(&old, &new), (&old_xz, &new_xz)] {
            let copy = by_hash.join(Sha256::digest(old).to_string());
            if copy.exists() {
                fs_err::write(&copy, new).expect("write by-hash copy");
            }
        }
    }
}

/// Changes one byte in the middle of a `.deb` (size unchanged): its SHA256 no longer matches
/// the `Packages` stanza.
pub fn deb(repo_dir: &Path, pool_relative_path: &str) {
    let path = repo_dir.join(pool_relative_path);
    let mut bytes = fs_err::read(&path).expect("read .deb");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs_err::write(&path, bytes).expect("write .deb");
}

/// Re-signs `dists/<suite>/Release` with `other` (InRelease and Release.gpg): a valid
/// signature by a key the verifier does not trust.
pub fn resign_with(repo_dir: &Path, suite: &str, other: &TestKey) {
    let dir = suite_dir(repo_dir, suite);
    let release = fs_err::read_to_string(dir.join("Release")).expect("read Release");
    write_release(&dir, &release, other).expect("write re-signed Release");
}

/// Replaces `dists/<suite>/Release` with `edit(text)` and signs it again with `key`: for
/// tests of well-signed but unusual Release files (missing hashes, expired `Valid-Until`).
pub fn edit_release(
    repo_dir: &Path,
    suite: &str,
    key: &TestKey,
    edit: impl FnOnce(&str) -> String,
) {
    let dir = suite_dir(repo_dir, suite);
    let release = fs_err::read_to_string(dir.join("Release")).expect("read Release");
    write_release(&dir, &edit(&release), key).expect("write edited Release");
}

/// Overwrites a file of the repository (relative to its root), creating it if needed.
pub fn replace_file(repo_dir: &Path, relative: &str, contents: &[u8]) {
    write_file(&repo_dir.join(relative), contents).expect("replace repository file");
}

fn suite_dir(repo_dir: &Path, suite: &str) -> PathBuf {
    repo_dir.join("dists").join(suite)
}

fn arch_dirs(repo_dir: &Path, suite: &str) -> Vec<PathBuf> {
    let main = suite_dir(repo_dir, suite).join("main");
    let mut dirs: Vec<PathBuf> = fs_err::read_dir(&main)
        .expect("list main/")
        .map(|e| e.expect("read main/ entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("binary-"))
        })
        .collect();
    dirs.sort();
    dirs
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
