//! Against the real Debian archive (deb.debian.org): the shipped keys, the real indexes, the
//! real dependency graph. Downloads ~10 MB the first time; later runs hit the cache kept in
//! Cargo's target directory.

use std::time::SystemTime;

use grocker_debian::{DebOptions, Keyring, Source, load_index, read_deb_file, resolve};
use grocker_fetch::{Cache, FetchOptions, Fetcher};

fn fetcher() -> Fetcher {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("grocker-debian-cache");
    Fetcher::new(Cache::at(dir).unwrap(), FetchOptions::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookworm_python_closure() {
    let fetcher = fetcher();
    let sources = Source::debian_defaults("bookworm").unwrap();
    let keyring = Keyring::debian().unwrap();
    let index = load_index(&fetcher, &sources, &keyring, "amd64", SystemTime::now())
        .await
        .unwrap();
    assert!(index.len() > 60_000, "{}", index.len());
    // the security archive's libssl3 is at least the point release's
    let ssl = index.get("libssl3").unwrap();
    assert!(
        ssl.version.to_string().contains("deb12u"),
        "{}",
        ssl.version
    );

    let roots = ["python3.11".to_string(), "ca-certificates".to_string()];
    let packages = resolve(&index, &roots, "amd64").unwrap();
    let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    for wanted in [
        "python3.11",
        "libpython3.11-stdlib",
        "ca-certificates",
        "libc6",
        "libssl3",
        "libsqlite3-0",
        "zlib1g",
    ] {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }
    for unwanted in [
        "dpkg",
        "debconf",
        "perl-base",
        "bash",
        "dash",
        "coreutils",
        "openssl",
        "tzdata",
    ] {
        assert!(!names.contains(&unwanted), "{unwanted} in {names:?}");
    }
    // bookworm's python3.11 does not depend on tzdata (zoneinfo falls back to it when
    // present): a runtime that wants time zones names it as a root.
    let roots = [roots[0].clone(), roots[1].clone(), "tzdata".to_string()];
    let with_tz = resolve(&index, &roots, "amd64").unwrap();
    let names: Vec<&str> = with_tz.iter().map(|p| p.name.as_str()).collect();
    assert!(
        names.contains(&"tzdata") && !names.contains(&"debconf"),
        "{names:?}"
    );
    assert_eq!(with_tz.len(), packages.len() + 1);
    let kib: u64 = with_tz.iter().map(|p| p.installed_size_kib).sum();
    eprintln!("{} packages, {kib} KiB installed: {names:?}", with_tz.len());

    // a real .deb of the closure, verified and read
    let bz2 = with_tz.iter().find(|p| p.name == "libbz2-1.0").unwrap();
    let path = fetcher
        .get_verified(&bz2.deb_url().unwrap(), &bz2.sha256, Some(bz2.size))
        .await
        .unwrap();
    let deb = read_deb_file(&path, &DebOptions::default()).unwrap();
    assert!(
        deb.files
            .iter()
            .any(|(p, _)| p.as_str() == "usr/lib/x86_64-linux-gnu/libbz2.so.1.0.4")
    );
}
