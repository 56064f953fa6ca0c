//! Integration tests of grocker-pypi: a local index on 127.0.0.1 serving real wheels in both
//! simple-API formats, and the real PyPI.

mod local_index;
mod real_index;
mod server;

use std::path::{Path, PathBuf};

use grocker_fetch::{Cache, FetchOptions, Fetcher};

/// A fetcher with its own empty cache, and fast retries.
pub fn fetcher(cache_dir: &Path) -> Fetcher {
    let options = FetchOptions {
        retries: 1,
        ..FetchOptions::default()
    };
    Fetcher::new(Cache::at(cache_dir).unwrap(), options).unwrap()
}

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn read_data(name: &str) -> Vec<u8> {
    fs_err::read(data(name)).unwrap()
}
