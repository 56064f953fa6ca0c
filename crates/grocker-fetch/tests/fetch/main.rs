//! The fetcher against real HTTP servers: scripted ones on 127.0.0.1, and (for the trust store)
//! the real Debian archive and PyPI.

mod download;
mod retries;
mod support;
mod tls;

use std::path::Path;

use grocker_fetch::{Cache, FetchOptions, Fetcher};

pub fn fetcher_with(retries: u32) -> (tempfile::TempDir, Fetcher) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::at(dir.path().join("cache")).unwrap();
    let options = FetchOptions {
        retries,
        ..FetchOptions::default()
    };
    (dir, Fetcher::new(cache, options).unwrap())
}

pub fn fetcher() -> (tempfile::TempDir, Fetcher) {
    fetcher_with(4)
}

pub fn entries(dir: &Path) -> usize {
    fs_err::read_dir(dir).unwrap().count()
}

/// Nothing in the cache: no blob, no temp file.
pub fn assert_cache_empty(fetcher: &Fetcher) {
    let root = fetcher.cache().root();
    assert_eq!(
        entries(&root.join("blobs/sha256")),
        0,
        "no blob may be stored"
    );
    assert_eq!(entries(&root.join("tmp")), 0, "no temp file may be left");
}

pub fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}
