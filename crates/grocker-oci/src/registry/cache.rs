//! `RemoteCache`: grocker's cache shared through an OCI registry (`--cache-repo`), so that
//! ephemeral CI runners reuse each other's built wheels and finished layers.
//!
//! An entry is an OCI artifact: an image manifest (image spec v1.1, "Guidelines for Artifact
//! Usage") whose `artifactType` and config media type are grocker's cache record, whose config
//! blob is the record (the key it answers and the caller's document), and whose layers are the
//! entry's blobs, tagged `<kind>-<hex>` by the key's digest. Keys name inputs (a wheel's source
//! hash and builder, a layer's package hashes), so an entry is only ever used for the inputs
//! that name it; what it holds is checked against the digests the manifest names while it
//! streams in, and the record must name the key asked for.
//!
//! The cache is an accelerator, never a reason to fail: a registry that is down, slow or
//! refuses is a miss with one warning, after which it is not asked again during the run (no
//! retries with backoff, short timeouts). A read answered 5xx is asked once more after 100 ms,
//! since one that meets another runner's write of the same tag or blob gets a 500
//! (`client::LINK_REWRITE`): a registry answering 500 to everything costs two requests. Uploads
//! put every blob first and the tag last, so a failed one leaves no tag without its blobs, and
//! two writers of one key write the same content-addressed blobs.
//!
//! The registry client is reqwest's blocking one, which must not live on an async runtime's
//! threads: one worker thread owns it, and each call hands it a job and waits for the answer.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::ACCEPT;
use serde_json::{Value, json};

use super::auth::AuthState;
use super::client::{Context, Failure, Session, error_message};
use super::credentials::CredentialSources;
use super::upload::Blob;
use super::{RegistryOptions, Target, credentials};
use crate::{Digest, ImageName, MediaType, OciError};

/// The media type of an entry's record (its config blob), and of the artifact.
const RECORD: &str = "application/vnd.grocker.cache.record.v1+json";
/// The media type of an entry's blobs: grocker's bytes, whatever they are (a wheel, a layer).
const BLOB: &str = "application/vnd.grocker.cache.blob.v1";
/// Small requests (a manifest, a record, a `HEAD`): a healthy registry answers in
/// milliseconds, and the cache is not worth waiting for.
const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The slowest download rate tolerated for a blob before the entry is given up.
const MIN_RATE: u64 = 1 << 20;

/// What names an entry: its kind (`wheel`, `layer`) and the digest of its inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheKey {
    kind: &'static str,
    digest: Digest,
}

impl CacheKey {
    /// The entry of `kind` whose inputs hash to `digest`.
    pub fn new(kind: &'static str, digest: Digest) -> CacheKey {
        CacheKey { kind, digest }
    }

    /// The tag it is stored under: `<kind>-<64 hex digits>` (tags allow 128 characters).
    pub fn tag(&self) -> String {
        format!("{}-{}", self.kind, self.digest.hex())
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.tag())
    }
}

/// An entry found in the shared cache: the caller's document, and the blobs to fetch with
/// [`RemoteCache::fetch`].
#[derive(Clone, Debug)]
pub struct CachedEntry {
    /// The document stored with the entry.
    pub record: Value,
    /// The entry's blobs, in the order they were stored: digest and size.
    pub blobs: Vec<(Digest, u64)>,
}

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// A shared cache in one repository of a registry. Cheap to call from any thread, including a
/// runtime's: the work happens on its own thread.
///
/// ```no_run
/// use grocker_oci::{CacheKey, Digest, RegistryOptions, RemoteCache};
///
/// # fn demo(wheel: &std::path::Path, dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
/// let cache = RemoteCache::new("registry.example.com/team/cache", &RegistryOptions::default(), false)?;
/// let key = CacheKey::new("wheel", Digest::of(b"the sdist's sha256 and the builder's id"));
/// match cache.lookup(&key) {
///     Some(entry) => {
///         let (digest, size) = entry.blobs[0];
///         assert!(cache.fetch(&key, digest, size, &dir.join(digest.hex())));
///     }
///     None => {
///         let bytes = std::fs::read(wheel)?;
///         let blob = (Digest::of(&bytes), bytes.len() as u64, wheel.to_path_buf());
///         cache.store(&key, &serde_json::json!({"filename": "x.whl"}), &[blob]);
///     }
/// }
/// # Ok(()) }
/// ```
pub struct RemoteCache {
    jobs: Mutex<Option<Sender<Job>>>,
    worker: Option<std::thread::JoinHandle<()>>,
    location: String,
    read_only: bool,
}

impl std::fmt::Debug for RemoteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCache")
            .field("location", &self.location)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl RemoteCache {
    /// The cache in `repo` (`REGISTRY/REPOSITORY`, no tag), reached as pushes reach registries
    /// (`options`); `read_only` never writes. Checks the name, contacts nobody.
    pub fn new(
        repo: &str,
        options: &RegistryOptions,
        read_only: bool,
    ) -> Result<RemoteCache, OciError> {
        let bad = |reason: &str| OciError::InvalidRegistryOption {
            value: repo.to_string(),
            reason: format!("--cache-repo takes REGISTRY/REPOSITORY ({reason})"),
        };
        if repo.contains(['@', ' ']) || repo.rsplit('/').next().is_some_and(|r| r.contains(':')) {
            return Err(bad("no tag or digest: grocker tags each entry itself"));
        }
        let name: ImageName = format!("{repo}:cache")
            .parse()
            .map_err(|e: crate::ParseImageNameError| bad(&e.to_string()))?;
        if name.registry().is_none() {
            return Err(bad(
                "the registry part is missing, e.g. registry.example.com/team/cache",
            ));
        }
        let target = Target::new(&name, &options.insecure_registries)?;
        let location = format!("{}/{}", target.registry, target.repository);
        let docker_config = options.docker_config.clone().unwrap_or_else(|| {
            credentials::default_docker_config(|name| std::env::var_os(name), dirs::home_dir())
        });
        let mut worker = Worker {
            sources: CredentialSources {
                docker_config,
                auth_files: options.auth_files.clone(),
                helper_path: None,
            },
            insecure: options.insecure_registries.clone(),
            target,
            auth: AuthState::default(),
            http: None,
            given_up: false,
            missing: std::collections::HashSet::new(),
        };
        let (tx, rx) = channel::<Job>();
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let handle = std::thread::Builder::new()
            .name("grocker-cache".into())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for job in rx {
                        job(&mut worker);
                    }
                });
            })
            .map_err(|e| OciError::Io {
                path: PathBuf::from("grocker-cache thread"),
                source: e,
            })?;
        Ok(RemoteCache {
            jobs: Mutex::new(Some(tx)),
            worker: Some(handle),
            location,
            read_only,
        })
    }

    /// `registry/repository`, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether this cache only reads (`--cache-repo-read-only`).
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Runs `job` on the worker thread and waits for its answer; `None` if the worker is gone.
    fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = channel();
        let sent = {
            let jobs = self
                .jobs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            jobs.as_ref()?.send(Box::new(move |w: &mut Worker| {
                let _ = tx.send(job(w));
            }))
        };
        sent.ok()?;
        rx.recv().ok()
    }

    /// The entry under `key`, if the registry has a well-formed one whose record names `key`;
    /// `None` for a miss, a damaged entry (with a warning naming the key) or a registry that
    /// failed (one warning for the run).
    pub fn lookup(&self, key: &CacheKey) -> Option<CachedEntry> {
        let key = key.clone();
        self.call(move |w| w.lookup(&key)).flatten()
    }

    /// Downloads the blob `digest` (`size` bytes) of the entry `key` to `dest`, checking it on
    /// the way; `dest` only appears once the bytes are right. `false` (with a warning naming the
    /// key) when they are not or the download failed.
    pub fn fetch(&self, key: &CacheKey, digest: Digest, size: u64, dest: &Path) -> bool {
        let (key, dest) = (key.clone(), dest.to_path_buf());
        self.call(move |w| w.fetch(&key, digest, size, &dest))
            .unwrap_or(false)
    }

    /// Stores the entry `key`: `blobs` (digest, size, file) first, then the record, then the
    /// tag. Nothing with a read-only cache or after a failure; a failure is one warning.
    pub fn store(&self, key: &CacheKey, record: &Value, blobs: &[(Digest, u64, PathBuf)]) {
        if self.read_only {
            tracing::info!("shared cache {key}: skipped (read-only)");
            return;
        }
        let (key, record, blobs) = (key.clone(), record.clone(), blobs.to_vec());
        self.call(move |w| w.store(&key, &record, &blobs));
    }
}

impl Drop for RemoteCache {
    fn drop(&mut self) {
        // Closing the channel ends the worker, which drops the blocking client on its thread.
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The worker thread's state: the client, credentials, tokens, and whether the registry
/// failed already.
struct Worker {
    target: Target,
    sources: CredentialSources,
    insecure: Vec<String>,
    auth: AuthState,
    http: Option<Client>,
    given_up: bool,
    /// Tags found missing or damaged during this run, asked once: an entry another runner
    /// adds or mends meanwhile is not worth a request per lookup.
    missing: std::collections::HashSet<String>,
}

impl Worker {
    fn location(&self) -> String {
        format!("{}/{}", self.target.registry, self.target.repository)
    }

    /// A session with no retries and short timeouts, unless the registry failed already.
    fn session(&mut self) -> Option<Session<'_>> {
        if self.given_up {
            return None;
        }
        if self.http.is_none() {
            match client(&self.target) {
                Ok(client) => self.http = Some(client),
                Err(e) => {
                    self.give_up(&e);
                    return None;
                }
            }
        }
        let http = self.http.as_ref()?;
        Some(Session {
            cx: Context {
                http,
                target: &self.target,
                sources: &self.sources,
                insecure: &self.insecure,
            },
            auth: &mut self.auth,
            retries: 0,
            timeout: TIMEOUT,
        })
    }

    /// A registry that failed is not asked again during this run: each request would cost a
    /// timeout or an error, and the build does not need it.
    fn give_up(&mut self, error: &OciError) {
        if !self.given_up {
            let reason = one_line(error);
            tracing::warn!(
                "the shared cache {} failed ({reason}); building without it for the rest of \
                 this run",
                self.location()
            );
        }
        self.given_up = true;
    }

    /// [`RemoteCache::lookup`]; a miss or a damaged entry is not asked for again.
    fn lookup(&mut self, key: &CacheKey) -> Option<CachedEntry> {
        if self.missing.contains(&key.tag()) {
            return None;
        }
        let found = self.lookup_entry(key);
        if found.is_none() {
            self.missing.insert(key.tag());
        }
        found
    }

    fn lookup_entry(&mut self, key: &CacheKey) -> Option<CachedEntry> {
        let tag = key.tag();
        let manifest = match self.get(&format!("manifests/{tag}"), MediaType::OciManifest.as_str())
        {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                tracing::info!("shared cache {key}: miss");
                return None;
            }
            Err(e) => {
                self.give_up(&e);
                return None;
            }
        };
        let location = self.location();
        let damaged = |why: &str| {
            tracing::warn!(
                "shared cache entry {key} in {location} is damaged ({why}); ignoring it"
            );
        };
        let Some((config, blobs)) = parse_manifest(&manifest) else {
            damaged("not a grocker cache manifest");
            return None;
        };
        let record = match self.get(&format!("blobs/{}", config.0), "*/*") {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                damaged("its record is missing");
                return None;
            }
            Err(e) => {
                self.give_up(&e);
                return None;
            }
        };
        if record.len() as u64 != config.1 || Digest::of(&record) != config.0 {
            damaged(&format!("its record is not {}", config.0));
            return None;
        }
        // A manifest copied under another key's tag names that key: keys name inputs, so it
        // would be another build's output.
        let parsed: Option<Value> = serde_json::from_slice(&record).ok();
        let Some(document) = parsed
            .filter(|r| r["key"].as_str() == Some(tag.as_str()))
            .map(|r| r["record"].clone())
        else {
            damaged("its record names another key");
            return None;
        };
        let bytes: u64 = blobs.iter().map(|b| b.1).sum();
        tracing::info!(
            "shared cache {key}: hit ({} blobs, {bytes} bytes)",
            blobs.len()
        );
        Some(CachedEntry {
            record: document,
            blobs,
        })
    }

    /// `GET` of a small document: `Ok(None)` for 404.
    fn get(&mut self, path: &str, accept: &str) -> Result<Option<Vec<u8>>, OciError> {
        let Some(mut s) = self.session() else {
            return Err(OciError::Registry {
                registry: String::new(),
                repository: String::new(),
                action: "reach the registry".into(),
                message: "gave up".into(),
            });
        };
        let url = s.cx.target.api(path)?;
        let scopes = [pull_scope(s.cx.target)];
        let response = s
            .send_lookup(&scopes, |http| {
                Ok(http.get(url.clone()).header(ACCEPT, accept))
            })
            .map_err(Failure::into_error)?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => {
                let mut body = Vec::new();
                // Manifests and records are small; a registry sending more is not ours to store.
                response
                    .take(4 << 20)
                    .read_to_end(&mut body)
                    .map_err(|e| s.cx.protocol(&format!("read {path}"), e.to_string()))?;
                Ok(Some(body))
            }
            _ => Err(s.unexpected(&format!("get {path}"), response)),
        }
    }

    fn fetch(&mut self, key: &CacheKey, digest: Digest, size: u64, dest: &Path) -> bool {
        match self.download(digest, size, dest) {
            Ok(Ok(())) => {
                tracing::info!("shared cache {key}: fetched {digest} ({size} bytes)");
                true
            }
            Ok(Err(problem)) => {
                self.missing.insert(key.tag());
                tracing::warn!(
                    "shared cache entry {key} in {} is damaged: blob {digest} {problem}; \
                     ignoring it and building locally",
                    self.location()
                );
                false
            }
            Err(e) => {
                self.give_up(&e);
                false
            }
        }
    }

    /// Streams the blob into a temp file beside `dest`, hashing it, and renames it into place if
    /// it is `digest`. The outer error is the registry's; the inner one, the bytes'.
    fn download(
        &mut self,
        digest: Digest,
        size: u64,
        dest: &Path,
    ) -> Result<Result<(), String>, OciError> {
        let Some(mut s) = self.session() else {
            return Ok(Err("was not fetched: the registry failed".into()));
        };
        let url = s.cx.target.api(&format!("blobs/{digest}"))?;
        let scopes = [pull_scope(s.cx.target)];
        let timeout = TIMEOUT + Duration::from_secs(size / MIN_RATE);
        let response = s
            .send_lookup(&scopes, |http| Ok(http.get(url.clone()).timeout(timeout)))
            .map_err(Failure::into_error)?;
        if !response.status().is_success() {
            if response.status() == StatusCode::NOT_FOUND {
                return Ok(Err(format!("is missing ({})", error_message(response))));
            }
            return Err(s.unexpected(&format!("get blob {digest}"), response));
        }
        let dir = dest.parent().unwrap_or(Path::new("."));
        fs_err::create_dir_all(dir).map_err(OciError::io(dir))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".cache-part-")
            .tempfile_in(dir)
            .map_err(OciError::io(dir))?;
        let mut hasher = grocker_hash::Hasher::new();
        let mut reader = response.take(size + 1);
        let mut buf = vec![0; 1 << 17];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => return Err(s.cx.protocol(&format!("read blob {digest}"), e.to_string())),
            };
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n]).map_err(OciError::io(tmp.path()))?;
        }
        let (len, actual) = (hasher.len(), Digest::from(hasher.finish()));
        if len != size || actual != digest {
            return Ok(Err(format!("holds {len} bytes hashing to {actual}")));
        }
        tmp.persist(dest).map_err(|e| OciError::io(dest)(e.error))?;
        Ok(Ok(()))
    }

    fn store(&mut self, key: &CacheKey, record: &Value, blobs: &[(Digest, u64, PathBuf)]) {
        let tag = key.tag();
        self.missing.remove(&tag);
        let config = crate::json::to_vec(&json!({ "key": tag, "record": record }));
        let config_digest = Digest::of(&config);
        let layers: Vec<Value> = blobs
            .iter()
            .map(|(digest, size, _)| {
                json!({ "mediaType": BLOB, "digest": digest.to_string(), "size": size })
            })
            .collect();
        let manifest = crate::json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MediaType::OciManifest.as_str(),
            "artifactType": RECORD,
            "config": { "mediaType": RECORD, "digest": config_digest.to_string(), "size": config.len() },
            "layers": layers,
        }));
        let Some(mut s) = self.session() else {
            return;
        };
        let mut sent = 0;
        let mut pushed = || -> Result<(), OciError> {
            for (digest, size, path) in blobs {
                let blob = Blob::File {
                    digest: *digest,
                    size: *size,
                    path,
                };
                if s.push_blob(&blob, None)? == super::Outcome::Uploaded {
                    sent += size;
                }
            }
            let record = Blob::Bytes(config_digest, &config);
            if s.push_blob(&record, None)? == super::Outcome::Uploaded {
                sent += config.len() as u64;
            }
            // The tag last: an entry is visible only once everything it names is there.
            s.put_manifest(&tag, MediaType::OciManifest.as_str(), &manifest)?;
            Ok(())
        };
        match pushed() {
            Ok(()) => tracing::info!(
                "shared cache {key}: uploaded ({} blobs, {sent} bytes sent)",
                blobs.len()
            ),
            Err(e) => self.give_up(&e),
        }
    }
}

/// What went wrong, in one line, without `OciError`'s words about pushing.
fn one_line(error: &OciError) -> String {
    match error {
        OciError::Registry {
            action, message, ..
        } => format!("{action}: {message}"),
        OciError::RegistryUnreachable { reason, .. } => format!("unreachable: {reason}"),
        OciError::RegistryDenied { message, .. } => format!("permission denied: {message}"),
        OciError::RegistryTls { reason, .. } => format!("TLS: {reason}"),
        OciError::RegistryAuthFailed { registry, .. } => {
            format!("authentication failed: check `docker login {registry}`")
        }
        OciError::RegistryNoCredentials { registry, .. } => {
            format!("it asks for credentials: run `docker login {registry}`")
        }
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// The record's and the blobs' digests and sizes, if `bytes` is a manifest grocker wrote.
#[allow(clippy::type_complexity)]
fn parse_manifest(bytes: &[u8]) -> Option<((Digest, u64), Vec<(Digest, u64)>)> {
    let manifest: Value = serde_json::from_slice(bytes).ok()?;
    let descriptor = |d: &Value, media_type: &str| -> Option<(Digest, u64)> {
        if d["mediaType"].as_str()? != media_type {
            return None;
        }
        Some((d["digest"].as_str()?.parse().ok()?, d["size"].as_u64()?))
    };
    let config = descriptor(&manifest["config"], RECORD)?;
    let blobs = manifest["layers"]
        .as_array()?
        .iter()
        .map(|d| descriptor(d, BLOB))
        .collect::<Option<Vec<_>>>()?;
    Some((config, blobs))
}

fn pull_scope(target: &Target) -> String {
    format!("repository:{}:pull", target.repository)
}

fn client(target: &Target) -> Result<Client, OciError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = Client::builder()
        .user_agent(concat!("grocker/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(None)
        .tls_certs_merge(grocker_fetch::system_roots_besides_env());
    if target.direct {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|e| OciError::Registry {
        registry: target.registry.clone(),
        repository: target.repository.clone(),
        action: "set up an HTTP client".into(),
        message: super::client::reason(&e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_keys_make_tags() {
        let options = RegistryOptions::default();
        for bad in [
            "cache",
            "reg.example.com/cache:tag",
            "reg.example.com/c@sha256:00",
        ] {
            let err = RemoteCache::new(bad, &options, false).unwrap_err();
            assert!(err.to_string().contains("--cache-repo"), "{err}");
        }
        let cache = RemoteCache::new("127.0.0.1:5000/team/cache", &options, true).unwrap();
        assert_eq!(cache.location(), "127.0.0.1:5000/team/cache");
        let key = CacheKey::new("wheel", Digest::of(b""));
        assert_eq!(
            key.tag(),
            "wheel-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn only_grocker_manifests_are_entries() {
        let d = Digest::of(b"x").to_string();
        let ours = json!({"config": {"mediaType": RECORD, "digest": d, "size": 1},
                          "layers": [{"mediaType": BLOB, "digest": d, "size": 1}]});
        assert!(parse_manifest(&serde_json::to_vec(&ours).unwrap()).is_some());
        let image = json!({"config": {"mediaType": MediaType::OciConfig.as_str(), "digest": d, "size": 1},
                           "layers": []});
        assert!(parse_manifest(&serde_json::to_vec(&image).unwrap()).is_none());
        assert!(parse_manifest(b"not json").is_none());
    }
}
