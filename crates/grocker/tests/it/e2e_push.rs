//! Publishing to a registry (Debian's `docker-registry` on 127.0.0.1) and Grocker's naming,
//! configuration files and result file.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::e2e_root::{docker, engine, real};

/// A registry on a free loopback port, stopped on drop; its log is kept to count requests.
pub(crate) struct Registry {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub(crate) fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("config.yml");
        fs_err::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = dir.path().join("registry.log");
        let child = Command::new("docker-registry")
            .args(["serve", config.to_str().unwrap()])
            .stdout(Stdio::from(
                fs_err::File::create(&log).unwrap().into_parts().0,
            ))
            .stderr(Stdio::from(
                fs_err::File::create(dir.path().join("stderr.log"))
                    .unwrap()
                    .into_parts()
                    .0,
            ))
            .spawn()
            .expect("docker-registry (Debian package docker-registry; run scripts/setup)");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "registry did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's storage (distribution's filesystem driver layout).
    pub(crate) fn storage(&self) -> PathBuf {
        self._dir.path().join("data/docker/registry/v2")
    }

    /// Stops the registry now (tests of a registry that goes away).
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Request lines the registry logged so far (it logs to stderr or stdout by version).
    pub(crate) fn requests(&self) -> Vec<String> {
        let mut text = fs_err::read_to_string(&self.log).unwrap_or_default();
        text.push_str(
            &fs_err::read_to_string(self._dir.path().join("stderr.log")).unwrap_or_default(),
        );
        text.lines()
            .filter(|l| l.contains("/v2/"))
            .map(String::from)
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn blob_uploads(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|l| l.contains("\"PUT /v2/") && l.contains("/blobs/uploads/"))
        .count()
}

/// `skopeo inspect EXTRA... REFERENCE` against a plain-HTTP registry, as JSON.
fn skopeo_inspect(extra: &[&str], reference: &str) -> serde_json::Value {
    let out = Command::new("skopeo")
        .arg("inspect")
        .args(extra)
        .args(["--tls-verify=false", reference])
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn skopeo_digest(reference: &str) -> String {
    skopeo_inspect(&[], reference)["Digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn push_uploads_only_what_the_registry_lacks() {
    let registry = Registry::start();
    let prefix = format!("{}/team", registry.host());
    let s = Scratch::new();
    run(
        real(
            &s,
            &[
                "build",
                "httpie==3.2.3",
                "-e",
                "http",
                "--image-prefix",
                &prefix,
                "--push",
                "--result-file",
                "r.yml",
                "-o",
                "oci:img",
            ],
        ),
        true,
    );
    let result = fs_err::read_to_string(s.path().join("r.yml")).unwrap();
    let reference = format!("docker://{prefix}/httpie:3.2.3");
    let digest = skopeo_digest(&reference);
    assert!(result.contains(&format!("hash: {digest}")), "{result}");
    assert!(
        result.contains(&format!("image: {prefix}/httpie:3.2.3")),
        "{result}"
    );
    assert!(result.contains("release: httpie==3.2.3"), "{result}");

    let before = blob_uploads(&registry.requests());
    assert!(before >= 4, "the first push uploaded {before} blobs");
    run(
        real(
            &s,
            &[
                "build",
                "httpie==3.2.4",
                "-e",
                "http",
                "--image-prefix",
                &prefix,
                "--push",
                "-o",
                "oci:img2",
            ],
        ),
        true,
    );
    let uploads = blob_uploads(&registry.requests()) - before;
    eprintln!("first push uploaded {before} blobs, the second {uploads}");
    assert!(
        (1..=3).contains(&uploads),
        "{uploads} uploads:\n{}",
        registry.requests().join("\n")
    );

    if engine() {
        let name = format!("{prefix}/httpie:3.2.3");
        docker(&["pull", "-q", &name]);
        assert_eq!(docker(&["run", "--rm", &name, "--version"]), "3.2.3");
        docker(&["rmi", &name]);
    }
}

/// `-o docker` compresses nothing the engine would only decompress (as `docker build` pushes
/// what it compresses), and loads the same image an OCI layout holds: its ID is that image's
/// config digest. A push beside the load sends gzip layers, as every push does.
#[test]
fn the_engine_gets_uncompressed_layers_of_the_same_image_and_a_push_gets_gzip() {
    if !engine() {
        return;
    }
    let s = Scratch::new();
    let name = crate::e2e_root::unique("httpie-engine");
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "httpie==3.2.4", "-e", "http"];
        args.extend_from_slice(extra);
        run(real(&s, &args), true)
    };
    build(&["-n", &name, "-o", "docker"]);
    build(&["-o", "oci:img"]);
    let oci = OciImage::read(&s.path().join("img"));
    let id = docker(&["image", "inspect", "--format", "{{.Id}}", &name]);
    assert_eq!(id, oci.manifest["config"]["digest"].as_str().unwrap());
    // Each of the engine's layers is in the layer cache as the uncompressed tar it loaded: a
    // blob named by its diff ID.
    let diff_ids = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        &name,
    ]);
    let diff_ids: Vec<String> = serde_json::from_str(&diff_ids).unwrap();
    for diff_id in &diff_ids {
        let blob = crate::e2e_root::shared_cache()
            .join("layers")
            .join(diff_id.trim_start_matches("sha256:"));
        assert!(blob.is_file(), "no uncompressed blob {}", blob.display());
    }
    assert_eq!(docker(&["run", "--rm", &name, "--version"]), "3.2.4");
    docker(&["rmi", &name]);

    let registry = Registry::start();
    let pushed = format!("{}/team/httpie:3.2.4", registry.host());
    build(&["-n", &pushed, "--push", "-o", "docker"]);
    let manifest = skopeo_inspect(&["--raw"], &format!("docker://{pushed}"));
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(
            layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
            "{manifest}"
        );
    }
    assert_eq!(
        manifest, oci.manifest,
        "the push is not the OCI layout's image"
    );
    let id = docker(&["image", "inspect", "--format", "{{.Id}}", &pushed]);
    assert_eq!(id, oci.manifest["config"]["digest"].as_str().unwrap());
    docker(&["rmi", &pushed]);
}

#[test]
fn names_without_registry_are_not_pushed_and_say_so() {
    let s = Scratch::new();
    let out = run(
        real(
            &s,
            &[
                "build",
                "httpie==3.2.4",
                "-e",
                "http",
                "-n",
                "httpie-local:x",
                "--push",
                "-o",
                "oci:img",
            ],
        ),
        true,
    );
    assert!(
        stderr(&out).contains("not pushing httpie-local:x"),
        "{}",
        stderr(&out)
    );
    let out = run(
        real(
            &s,
            &[
                "build",
                "httpie==3.2.4",
                "-e",
                "http",
                "-n",
                "httpie-local:x",
                "-o",
                "registry",
            ],
        ),
        false,
    );
    assert!(
        stderr(&out).contains("names no registry"),
        "{}",
        stderr(&out)
    );
}

fn config_of(dir: &Path) -> serde_json::Value {
    OciImage::read(dir).config
}

#[test]
fn grocker_yml_settings_and_cli_precedence() {
    let s = Scratch::new();
    fs_err::write(
        s.path().join(".grocker.yml"),
        "runtime: bookworm/3.11\nentrypoint_name: http\nimage_base_name: web\ndocker_image_prefix: registry.example.com/team\nenvs:\n  MODE: prod\n  WORKERS: 4\nports: [8080]\nvolumes: [/data]\n",
    )
    .unwrap();
    let out = run(
        real(
            &s,
            &["build", "httpie==3.2.4", "--no-push", "-o", "oci:img"],
        ),
        true,
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("registry.example.com/team/web:3.2.4 ")
    );
    let config = config_of(&s.path().join("img"));
    let c = &config["config"];
    assert_eq!(c["Entrypoint"][0], "/opt/venv/bin/http");
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"MODE=prod") && env.contains(&"WORKERS=4"),
        "{env:?}"
    );
    assert!(c["ExposedPorts"]["8080/tcp"].is_object(), "{c}");
    assert!(c["Volumes"]["/data"].is_object(), "{c}");

    // CLI beats the file; a -c file replaces the implicit .grocker.yml entirely.
    let out = run(
        real(
            &s,
            &[
                "build",
                "httpie==3.2.4",
                "--no-push",
                "--env",
                "MODE=dev",
                "--image-base-name",
                "cli",
                "-o",
                "oci:img2",
            ],
        ),
        true,
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("registry.example.com/team/cli:3.2.4 ")
    );
    let c = config_of(&s.path().join("img2"))["config"].clone();
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"MODE=dev") && env.contains(&"WORKERS=4"),
        "{env:?}"
    );

    fs_err::write(s.path().join("empty.yml"), "").unwrap();
    let out = run(
        real(
            &s,
            &[
                "build",
                "httpie==3.2.4",
                "-c",
                "empty.yml",
                "-e",
                "http",
                "--no-push",
                "-o",
                "oci:img3",
            ],
        ),
        true,
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("httpie:3.2.4 "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    fs_err::write(s.path().join("typo.yml"), "entrypoint: http\n").unwrap();
    let out = run(
        real(
            &s,
            &["build", "httpie==3.2.4", "-c", "typo.yml", "-o", "oci:img4"],
        ),
        false,
    );
    assert!(stderr(&out).contains("entrypoint_name"), "{}", stderr(&out));
}

#[test]
fn extra_repositories_are_trusted_with_their_own_key_only() {
    use grocker_testkit::{DebBuilder, RepoBuilder, TestKey};
    let archive = FakeArchive::new();
    let key = TestKey::generate("extra repository <extra@test.invalid>");
    let tool =
        DebBuilder::new("extra-tool", "1.0", "amd64").file("usr/bin/extra-tool", b"tool", 0o755);
    RepoBuilder::new(&key)
        .suite("stable", "stable")
        .add("stable", &tool)
        .write(&archive.root.path().join("extra"))
        .unwrap();
    let config = |key: &TestKey| {
        let armored: String = key
            .public_keyring_armored()
            .lines()
            .map(|l| format!("      {l}\n"))
            .collect();
        format!(
            "dependencies:\n  run: [extra-tool]\nrepositories:\n  extra:\n    uri: deb {}/extra stable main\n    key: |\n{armored}",
            archive.server.url()
        )
    };
    let s = Scratch::new();
    fs_err::write(s.path().join(".grocker.yml"), config(&key)).unwrap();
    let mut args: Vec<String> = [
        "build",
        "six==1.16.0",
        "-e",
        "python",
        "--no-push",
        "-o",
        "oci:img",
    ]
    .map(String::from)
    .to_vec();
    args.extend(archive.args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(real(&s, &args), true);
    let image = OciImage::read(&s.path().join("img"));
    assert_eq!(image.files()["usr/bin/extra-tool"].data, b"tool");
    let lock = fs_err::read_to_string(s.path().join("grocker.lock")).unwrap();
    assert!(lock.contains("archive = \"extra\""), "{lock}");

    // The Debian archive's key does not vouch for the extra repository, nor the other way round.
    let other = TestKey::generate("not the extra repository's key <x@test.invalid>");
    let s = Scratch::new();
    fs_err::write(s.path().join(".grocker.yml"), config(&other)).unwrap();
    let out = run(real(&s, &args), false);
    assert!(
        stderr(&out).contains("repository `extra`"),
        "{}",
        stderr(&out)
    );
    assert!(!s.path().join("img").exists());
}

#[test]
fn no_build_image_resolves_and_locks_only() {
    let s = Scratch::new();
    let out = run(
        real(&s, &["build", "httpie==3.2.4", "--no-build-image"]),
        true,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no image made"));
    assert!(s.path().join("grocker.lock").exists());
    let entries: Vec<_> = fs_err::read_dir(s.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert!(
        entries.iter().all(|n| n == "grocker.lock" || n == "cache"),
        "{entries:?}"
    );
}
