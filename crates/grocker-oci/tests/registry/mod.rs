//! `RegistrySink` against a real registry: Debian's `docker-registry` (distribution 2.8) on
//! 127.0.0.1, read back with skopeo and docker, its own request log checked for what went up.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use grocker_oci::{
    Compression, Image, ImageConfig, ImageName, Layer, OciError, PushReport, RegistryOptions,
    RegistrySink, Sink,
};

use super::{GREETING, docker_rmi, docker_run, image, json, run};

/// A `docker-registry` process with its storage, config and log in a temp dir; killed on drop.
struct TestRegistry {
    dir: tempfile::TempDir,
    ip: String,
    port: u16,
    child: Option<Child>,
}

impl TestRegistry {
    /// Starts a registry on a free port; with `user` = (name, password), behind htpasswd.
    fn start(user: Option<(&str, &str)>) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let auth = match user {
            Some((name, password)) => {
                let file = dir.path().join("htpasswd");
                fs_err::write(&file, run("htpasswd", &["-Bbn", name, password])).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: grocker-test\n    path: {}\n",
                    file.display()
                )
            }
            None => String::new(),
        };
        Self::start_in(dir, &auth)
    }

    /// Starts a registry on a free port of 127.0.0.1 with `auth`, the YAML of its `auth:`
    /// section.
    fn start_in(dir: tempfile::TempDir, auth: &str) -> TestRegistry {
        Self::start_on(dir, "127.0.0.1", "", auth)
    }

    /// Starts a registry on a free port of `ip`, with `http` added to its `http:` section (TLS)
    /// and `auth` as its `auth:` section.
    fn start_on(dir: tempfile::TempDir, ip: &str, http: &str, auth: &str) -> TestRegistry {
        let port = free_port(ip);
        let config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {ip}:{port}\n{http}{auth}",
            dir.path().join("storage").display()
        );
        fs_err::write(dir.path().join("config.yml"), config).unwrap();
        let mut registry = TestRegistry {
            dir,
            ip: ip.to_string(),
            port,
            child: None,
        };
        registry.spawn();
        registry
    }

    /// (Re)starts the process on the same port and storage; its stderr is appended to the log.
    fn spawn(&mut self) {
        let log = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap()
            .into_parts()
            .0;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("docker-registry must be installed (apt-get install docker-registry)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((self.ip.as_str(), self.port)).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the registry as soon as it has taken one chunk of a chunked upload.
    fn kill_at_first_patch<T>(&mut self, pushing: &std::thread::JoinHandle<T>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.requests().iter().any(|(m, _)| m == "PATCH") {
            assert!(Instant::now() < deadline, "the push did not start");
            assert!(!pushing.is_finished(), "the push ended early");
            std::thread::sleep(Duration::from_millis(2));
        }
        self.kill();
    }

    fn host(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    fn name(&self, repository_and_tag: &str) -> ImageName {
        format!("{}/{repository_and_tag}", self.host())
            .parse()
            .unwrap()
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// `(method, uri)` of every request the registry logged (`msg="response completed…"`).
    fn requests(&self) -> Vec<(String, String)> {
        let log = fs_err::read_to_string(self.log()).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("msg=\"response completed"))
            .filter_map(|l| {
                Some((
                    field(l, "http.request.method")?,
                    field(l, "http.request.uri")?,
                ))
            })
            .collect()
    }
}

fn free_port(ip: &str) -> u16 {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A logrus `key=value` or `key="quoted value"` field.
fn field(line: &str, key: &str) -> Option<String> {
    let rest = &line[line.find(&format!(" {key}="))? + key.len() + 2..];
    Some(match rest.strip_prefix('"') {
        Some(quoted) => quoted[..quoted.find('"')?].to_string(),
        None => rest.split(' ').next()?.to_string(),
    })
}

/// Requests that put data in: blob `POST`s, `PATCH`es and `PUT`s, manifest `PUT`s.
fn writes(requests: &[(String, String)]) -> Vec<(String, String)> {
    requests
        .iter()
        .filter(|(method, _)| method != "GET" && method != "HEAD")
        .cloned()
        .collect()
}

fn new_sink(options: RegistryOptions) -> RegistrySink {
    RegistrySink::new(RegistryOptions {
        // Never the credentials of whoever runs the tests.
        docker_config: options
            .docker_config
            .or_else(|| Some(PathBuf::from("/nonexistent/config.json"))),
        ..options
    })
    .unwrap()
}

fn no_auth_files() -> RegistryOptions {
    RegistryOptions {
        auth_files: Vec::new(),
        ..RegistryOptions::default()
    }
}

fn skopeo_digest(name: &ImageName, creds: Option<&str>) -> String {
    let reference = format!("docker://{name}");
    let mut args = vec!["inspect", "--tls-verify=false", &reference];
    if let Some(creds) = creds {
        args.extend(["--creds", creds]);
    }
    json(&run("skopeo", &args))["Digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A layer holding one file.
fn file_layer(dir: &Path, compression: Compression, path: &str, data: &[u8]) -> Layer {
    Layer::build(dir, compression, path, |w| {
        let mut tar = tar::Builder::new(w);
        let mut header = tar::Header::new_ustar();
        header.set_path(path)?;
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_size(data.len() as u64);
        header.set_cksum();
        tar.append(&header, data)?;
        tar.finish()
    })
    .unwrap()
}

fn image_of(layers: Vec<Layer>) -> Image {
    let config = ImageConfig {
        entrypoint: vec!["/hello".into()],
        created: 1_700_000_000,
        ..ImageConfig::default()
    };
    Image::new(&config, layers, Default::default()).unwrap()
}

fn report(sink: &RegistrySink) -> PushReport {
    sink.last_report().cloned().unwrap()
}

/// Incompressible bytes from xorshift64, different for each seed, generated as they are read.
struct Random {
    state: u64,
    left: u64,
}

impl std::io::Read for Random {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left as usize) / 8 * 8;
        for word in buf[..n].chunks_exact_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            word.copy_from_slice(&self.state.to_le_bytes());
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// An uncompressed layer holding `size` (a multiple of 8) random bytes.
fn random_layer(dir: &Path, size: u64, seed: u64) -> Layer {
    Layer::build(dir, Compression::None, "random", |w| {
        let mut tar = tar::Builder::new(w);
        let mut header = tar::Header::new_ustar();
        header.set_path("random.bin")?;
        header.set_mode(0o644);
        header.set_size(size);
        header.set_cksum();
        let random = Random {
            state: seed | 1,
            left: size,
        };
        tar.append(&header, random)?;
        tar.finish()
    })
    .unwrap()
}

mod auth;
mod failures;
mod push;
mod tls;
mod token;
