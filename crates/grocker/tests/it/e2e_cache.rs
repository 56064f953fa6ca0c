//! The shared cache (`--cache-repo`, issue #17) between runners with empty local caches, on a
//! real `docker-registry`: a second runner reuses the first one's compiled wheel and layers
//! without a builder container; a damaged entry is noticed and rebuilt; a read-only runner
//! writes nothing; a registry that goes away or answers 500 never fails a build.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use grocker_testkit::{Reply, ScriptedServer};

use crate::common::*;
use crate::e2e_push::Registry;
use crate::e2e_root::{docker, engine};

const CACHE_REPO: &str = "grocker/cache";

/// `grocker build` of psycopg2 (compiled from its sdist) in `s`, with the local cache `cache`.
fn psycopg2(s: &Scratch, cache: &str, out: &str, extra: &[&str]) -> Command {
    let mut args = vec![
        "build",
        "psycopg2==2.9.10",
        "-e",
        "python",
        "--no-push",
        "-o",
        out,
        "-v",
    ];
    args.extend_from_slice(extra);
    let mut cmd = s.grocker(&args);
    cmd.env("GROCKER_CACHE_DIR", s.path().join(cache));
    cmd
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Containers the engine created from `image` between `since` and `until` (seconds).
fn containers_of(image: &str, since: u64, until: u64) -> usize {
    let out = docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &(until + 1).to_string(),
        "--filter",
        "type=container",
        "--filter",
        "event=create",
        "--format",
        "{{.From}}",
    ]);
    out.lines().filter(|l| l.trim() == image).count()
}

/// The file distribution keeps a blob's bytes in.
fn blob_data(registry: &Registry, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    registry
        .storage()
        .join(format!("blobs/sha256/{}/{hex}/data", &hex[..2]))
}

/// The entries (tags) of the cache repository.
fn entries(registry: &Registry) -> Vec<String> {
    let dir = registry
        .storage()
        .join(format!("repositories/{CACHE_REPO}/_manifests/tags"));
    let mut tags: Vec<String> = fs_err::read_dir(&dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    tags
}

/// The blob digests of the entry `tag`, read from the registry's storage.
fn entry_blobs(registry: &Registry, tag: &str) -> Vec<String> {
    let link = registry.storage().join(format!(
        "repositories/{CACHE_REPO}/_manifests/tags/{tag}/current/link"
    ));
    let manifest = fs_err::read_to_string(link).unwrap();
    let manifest = json(&blob_data(registry, manifest.trim()));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

/// Removes this test's own builder image when the test ends, however it ends.
struct RemoveImage(String);

impl Drop for RemoveImage {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["image", "rm", &self.0])
            .output();
    }
}

fn puts(registry: &Registry) -> usize {
    registry
        .requests()
        .iter()
        .filter(|l| l.contains("\"PUT /v2/") || l.contains("\"PATCH /v2/"))
        .count()
}

#[test]
fn a_second_runner_takes_compiled_wheels_and_layers_from_the_shared_cache() {
    if !engine() {
        return; // runner A compiles in the builder
    }
    let registry = Registry::start();
    let repo = format!("{}/{CACHE_REPO}", registry.host());
    let s = Scratch::new();
    fs_err::write(
        s.path().join(".grocker.yml"),
        // libyaml-dev makes this test's builder its own, so that it can remove its image.
        "dependencies:\n  run: [libpq5]\n  build: [libpq-dev, libyaml-dev]\n",
    )
    .unwrap();

    // Runner A: empty cache, compiles psycopg2 in a builder container, fills the shared cache.
    let since = now();
    let a = psycopg2(
        &s,
        "cache-a",
        "oci:a",
        &["--cache-repo", &repo, "--result-file", "a.yml"],
    );
    let log_a = stderr(&run(a, true));
    let result = fs_err::read_to_string(s.path().join("a.yml")).unwrap();
    let builder = result
        .lines()
        .find_map(|l| l.strip_prefix("compiler_image: "))
        .unwrap_or_else(|| panic!("no builder in {result}"))
        .to_string();
    let _remove = RemoveImage(builder.clone());
    assert!(
        containers_of(&builder, since, now()) >= 1,
        "runner A compiled without a container of {builder}?\n{log_a}"
    );
    assert!(log_a.contains(": uploaded ("), "{log_a}");
    assert!(
        log_a.contains("Loading the builder image") && log_a.contains("Writing the builder layer"),
        "runner A did not make the builder (left by an interrupted run? docker image rm {builder}):\n{log_a}"
    );
    let tags = entries(&registry);
    assert!(
        tags.iter().any(|t| t.starts_with("wheel-"))
            && tags.iter().any(|t| t.starts_with("layer-")),
        "{tags:?}"
    );

    // Runner B: another empty cache, the same lock: no builder container, the same image.
    let since = now();
    let log_b = stderr(&run(
        psycopg2(&s, "cache-b", "oci:b", &["--cache-repo", &repo]),
        true,
    ));
    assert_eq!(
        containers_of(&builder, since, now()),
        0,
        "runner B started a builder container:\n{log_b}"
    );
    assert!(!log_b.contains("Building psycopg2"), "{log_b}");
    assert!(log_b.contains(": hit ("), "{log_b}");
    let (image_a, image_b) = (
        OciImage::read(&s.path().join("a")),
        OciImage::read(&s.path().join("b")),
    );
    assert_eq!(image_a.manifest_digest, image_b.manifest_digest);

    // The wheel's blob altered in the registry (same size): runner C notices, names the
    // entry, compiles the wheel itself and gives the same image; read-only, it uploads nothing.
    let wheel_tag = tags.iter().find(|t| t.starts_with("wheel-")).unwrap();
    let [wheel_blob] = &entry_blobs(&registry, wheel_tag)[..] else {
        panic!("the wheel entry holds one blob");
    };
    let data = blob_data(&registry, wheel_blob);
    let mut bytes = fs_err::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs_err::write(&data, &bytes).unwrap();
    let before = puts(&registry);
    // Without the builder image, C loads the builder's layer from the shared cache rather than
    // assembling it from .debs.
    docker(&["image", "rm", &builder]);
    let c = psycopg2(
        &s,
        "cache-c",
        "oci:c",
        &["--cache-repo", &repo, "--cache-repo-read-only"],
    );
    let log_c = stderr(&run(c, true));
    assert!(
        log_c.contains(&format!("shared cache entry {wheel_tag}"))
            && log_c.contains("is damaged")
            && log_c.contains("building locally"),
        "{log_c}"
    );
    assert!(log_c.contains("Building psycopg2"), "{log_c}");
    assert!(
        log_c.contains("Loading the builder image")
            && !log_c.contains("Writing the builder layer")
            && !log_c.contains("Assembling the runtime filesystem"),
        "{log_c}"
    );
    assert!(log_c.contains("skipped (read-only)"), "{log_c}");
    assert_eq!(
        puts(&registry),
        before,
        "a read-only runner wrote to the registry"
    );
    let image_c = OciImage::read(&s.path().join("c"));
    assert_eq!(image_a.manifest_digest, image_c.manifest_digest);
}

/// A small image built from wheels only, with the local cache `cache`.
fn wheels_only(s: &Scratch, cache: &str, out: &str, repo: &str) -> Command {
    let args = [
        "build",
        "six==1.16.0",
        "-e",
        "python",
        "--no-push",
        "-o",
        out,
        "--cache-repo",
        repo,
    ];
    let mut cmd = s.grocker(&args);
    cmd.env("GROCKER_CACHE_DIR", s.path().join(cache));
    cmd
}

#[test]
fn a_registry_stopped_mid_build_costs_one_warning() {
    let mut registry = Registry::start();
    let repo = format!("{}/{CACHE_REPO}", registry.host());
    let s = Scratch::new();
    let mut cmd = wheels_only(&s, "cache", "oci:img", &repo);
    cmd.arg("-v").stderr(Stdio::piped()).stdout(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut log = String::new();
    let mut stopped = false;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        // The first lookup answered: the registry goes away before anything is uploaded.
        if !stopped && line.contains("shared cache layer-") {
            registry.stop();
            stopped = true;
        }
        log.push_str(&line);
        log.push('\n');
    }
    assert!(child.wait().unwrap().success(), "{log}");
    assert!(stopped, "the build never asked the shared cache:\n{log}");
    let warnings = log
        .lines()
        .filter(|l| l.contains("building without it for the rest of this run"))
        .count();
    assert_eq!(warnings, 1, "{log}");
    assert!(Path::new(&s.path().join("img/index.json")).is_file());
}

#[test]
fn a_registry_answering_500_to_everything_is_asked_once_more_then_not_again() {
    let server = ScriptedServer::start(|_| Reply::Status(500));
    let repo = format!("{}/{CACHE_REPO}", server.addr());
    let s = Scratch::new();
    let out = run(wheels_only(&s, "cache", "oci:img", &repo), true);
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains(&repo) && warnings[0].contains("500"),
        "{err}"
    );
    // No retries with backoff, and not asked again once it failed: the fault costs the
    // lookup and the one more ask a registry rewriting the tag at that instant would need.
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].path, requests[1].path, "{requests:?}");
    assert!(s.path().join("img/index.json").is_file());
}

/// A read that meets another runner's write of the same tag gets a 500 from distribution's
/// filesystem driver for an instant: asked once more, it is a miss like any other, not the end
/// of the shared cache for the run.
#[test]
fn a_lookup_answered_500_once_is_asked_again_without_a_warning() {
    let server = ScriptedServer::start(|request| match request.nth {
        1 => Reply::Status(500),
        _ => Reply::Status(404),
    });
    let repo = format!("{}/{CACHE_REPO}", server.addr());
    let s = Scratch::new();
    let mut cmd = wheels_only(&s, "cache", "oci:img", &repo);
    cmd.arg("--cache-repo-read-only");
    let err = stderr(&run(cmd, true));
    assert!(!err.contains("warning:"), "{err}");
    let requests = server.requests();
    assert!(requests.len() >= 4, "{requests:?}");
    for request in &requests {
        let asked = requests.iter().filter(|r| r.path == request.path).count();
        assert_eq!(asked, 2, "{} {requests:?}", request.path);
    }
}

#[test]
fn two_runners_writing_the_same_entries_at_once_agree() {
    let registry = Registry::start();
    let repo = format!("{}/{CACHE_REPO}", registry.host());
    let s = Scratch::new();
    // The lock first, so that both runners build the same pins.
    run(s.grocker(&["lock", "six==1.16.0"]), true);
    let mut runners: Vec<_> = ["one", "two"]
        .iter()
        .map(|name| {
            let mut cmd = wheels_only(&s, name, &format!("oci:img-{name}"), &repo);
            cmd.arg("-v").stdout(Stdio::null()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in runners.drain(..) {
        let out = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        // The debug log is long and CI keeps only so much of it: what went wrong first.
        let problems: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("error") || l.contains("once more"))
            .collect();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let why = format!("{problems:#?}\n... the log ends:\n{tail:#?}");
        assert!(out.status.success(), "{why}");
        assert!(!log.contains("building without it"), "{why}");
    }
    let (one, two) = (
        OciImage::read(&s.path().join("img-one")),
        OciImage::read(&s.path().join("img-two")),
    );
    assert_eq!(one.manifest_digest, two.manifest_digest);
    // What they wrote is whole: a third runner takes every layer from it.
    let third = stderr(&run(
        {
            let mut cmd = wheels_only(&s, "three", "oci:img-three", &repo);
            cmd.arg("-v");
            cmd
        },
        true,
    ));
    assert!(
        !third.contains(": miss") && third.contains(": hit ("),
        "{third}"
    );
    let three = OciImage::read(&s.path().join("img-three"));
    assert_eq!(one.manifest_digest, three.manifest_digest);
}
