//! Staying up to date (#16): an OS-only upgrade of a lock whose Debian side is behind the
//! security archive changes the `os` layer alone, and its push uploads that layer, the config
//! and the manifest.

use std::path::Path;
use std::time::SystemTime;

use grocker_debian::{DEBIAN_MIRROR, Keyring, Source, load_index};
use grocker_fetch::{Cache, FetchOptions, Fetcher};
use grocker_lock::Lock;

use crate::common::*;
use crate::e2e_push::Registry;
use crate::e2e_root::{real, shared_cache};

/// Locks httpie==3.2.4 in `s`, then pins its `libssl3` to the version in bookworm's main
/// archive, older than the one bookworm-security has (the state a lock is in when a security
/// update came out after it was made). Returns the (old, new) versions.
pub(crate) fn lock_behind_security(s: &Scratch) -> (String, String) {
    run(real(s, &["lock", "httpie==3.2.4"]), true);
    let path = s.path().join("grocker.lock");
    let mut lock = Lock::read(&path)
        .unwrap()
        .expect("grocker lock wrote no lock");
    let main = bookworm_main("libssl3");
    let entry = lock
        .debian
        .iter_mut()
        .find(|p| p.name == "libssl3")
        .expect("libssl3 in the lock of httpie");
    let fresh = entry.version.clone();
    assert_eq!(
        entry.archive, "debian-security",
        "this test needs a libssl3 security update newer than bookworm's main archive has; \
         the lock pins {} from {}",
        entry.version, entry.archive
    );
    assert_ne!(main.version.to_string(), fresh);
    entry.version = main.version.to_string();
    entry.archive = "debian".to_string();
    entry.path = main.filename.clone();
    entry.size = main.size;
    entry.sha256 = main.sha256;
    lock.write(&path).unwrap();
    (main.version.to_string(), fresh)
}

/// `name` as bookworm's main archive (without -updates and -security) has it, read through
/// grocker's own verified archive client.
fn bookworm_main(name: &str) -> grocker_debian::BinaryPackage {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let fetcher =
            Fetcher::new(Cache::at(shared_cache()).unwrap(), FetchOptions::default()).unwrap();
        let source = Source::main(DEBIAN_MIRROR.parse().unwrap(), "bookworm");
        let index = load_index(
            &fetcher,
            &[source],
            &Keyring::debian().unwrap(),
            "amd64",
            SystemTime::now(),
        )
        .await
        .unwrap();
        index.get(name).unwrap().clone()
    })
}

/// The layer digests of the one image in an OCI layout.
fn layer_digests(dir: &Path) -> Vec<String> {
    let index = json(&dir.join("index.json"));
    let manifest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest = json(&blob(dir, manifest));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

fn count(lines: &[String], what: &str) -> usize {
    lines
        .iter()
        .filter(|l| {
            l.contains("response completed")
                && l.contains("http.request.method=PUT")
                && l.contains(what)
        })
        .count()
}

#[test]
fn upgrade_os_changes_and_pushes_only_the_os_layer() {
    let registry = Registry::start();
    let prefix = format!("{}/team", registry.host());
    let s = Scratch::new();
    let (old, new) = lock_behind_security(&s);
    let before_lock = Lock::read(&s.path().join("grocker.lock")).unwrap().unwrap();
    let build = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "build",
            "httpie==3.2.4",
            "-e",
            "http",
            "--image-prefix",
            &prefix,
            "--push",
            "-o",
            out,
        ];
        args.extend_from_slice(extra);
        run(real(&s, &args), true)
    };
    build("oci:old", &["--locked"]);
    let pushed = registry.requests();
    let (blobs_before, manifests_before) = (
        count(&pushed, "/blobs/uploads/"),
        count(&pushed, "/manifests/"),
    );
    assert!(
        blobs_before >= 4,
        "the first push uploaded {blobs_before} blobs"
    );

    let out = build("oci:new", &["--upgrade-os"]);
    let after_lock = Lock::read(&s.path().join("grocker.lock")).unwrap().unwrap();
    let libssl = |l: &Lock| {
        l.debian
            .iter()
            .find(|p| p.name == "libssl3")
            .map(|p| p.version.clone())
    };
    assert_eq!(libssl(&before_lock).as_deref(), Some(old.as_str()));
    assert_eq!(
        libssl(&after_lock).as_deref(),
        Some(new.as_str()),
        "{}",
        stderr(&out)
    );
    assert_eq!(after_lock.python, before_lock.python, "Python pins kept");
    assert_eq!(after_lock.request, before_lock.request);

    let (old_layers, new_layers) = (
        layer_digests(&s.path().join("old")),
        layer_digests(&s.path().join("new")),
    );
    assert_eq!(old_layers.len(), new_layers.len());
    assert_ne!(old_layers[0], new_layers[0], "the os layer is new");
    assert_eq!(old_layers[1..], new_layers[1..], "deps and app layers kept");

    let requests = registry.requests();
    let blobs = count(&requests, "/blobs/uploads/") - blobs_before;
    let manifests = count(&requests, "/manifests/") - manifests_before;
    eprintln!("the upgrade's push uploaded {blobs} blobs and {manifests} manifest(s)");
    assert_eq!(
        (blobs, manifests),
        (2, 1),
        "the os layer and the config, and the manifest:\n{}",
        requests.join("\n")
    );
}

#[test]
fn outdated_names_the_security_update_and_its_cves() {
    let s = Scratch::new();
    run(real(&s, &["lock", "httpie==3.2.4"]), true);
    let fresh = run(
        real(
            &s,
            &["outdated", "--fail-on", "security", "--format", "json"],
        ),
        true,
    );
    let report: serde_json::Value = serde_json::from_slice(&fresh.stdout).unwrap();
    assert!(
        report["debian"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["security"] == false),
        "a fresh lock has no pending security update: {report}"
    );

    let (old, new) = lock_behind_security(&s);
    // A Python pin behind the index, too.
    let path = s.path().join("grocker.lock");
    let mut lock = Lock::read(&path).unwrap().unwrap();
    let requests = lock
        .python
        .iter_mut()
        .find(|p| p.name == "requests")
        .expect("requests in httpie's lock");
    requests.version = "2.0.0".to_string();
    lock.write(&path).unwrap();

    let out = run(real(&s, &["outdated", "--fail-on", "security"]), false);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stderr(&out).contains("security update"), "{}", stderr(&out));
    let line = table
        .lines()
        .find(|l| l.starts_with("libssl3 "))
        .unwrap_or_else(|| panic!("no libssl3 line:\n{table}"));
    assert!(line.contains(&old) && line.contains(&new), "{line}");
    assert!(
        line.contains("bookworm-security") && line.contains("CVE-"),
        "{line}"
    );

    let out = run(real(&s, &["outdated", "--format", "json"]), true);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let libssl = report["debian"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "libssl3")
        .unwrap();
    assert_eq!(libssl["security"], true);
    let cves = libssl["cves"].as_array().unwrap();
    assert!(
        cves.iter().all(|c| c.as_str().unwrap().starts_with("CVE-")),
        "{cves:?}"
    );
    assert!(!cves.is_empty(), "{libssl}");
    let requests = report["python"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "requests")
        .unwrap_or_else(|| panic!("requests is behind: {report}"));
    assert_eq!(requests["locked"], "2.0.0");
    assert_ne!(requests["newest"], "2.0.0");
    eprintln!("libssl3 {old} -> {new}: {} CVEs", cves.len());
}
