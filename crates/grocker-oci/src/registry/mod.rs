//! `RegistrySink`: `--push`, straight to any OCI registry through the distribution API, with
//! no engine in between (ko's and Jib's way).
//!
//! A push follows the OCI distribution spec v1.1, "Push": every layer, then the config, is
//! checked with `HEAD` and only what the registry lacks goes up — mounted from another
//! repository of the same registry when this sink put it there, else uploaded from the blob file
//! (`upload.rs`); then the manifest is `PUT` under the tag with the exact bytes of
//! [`Image::manifest_bytes`], so the registry's digest is [`Image::digest`]. A 401 is answered
//! with the password or a token (`auth.rs`) from docker's or podman's credential files
//! (`credentials.rs`); 5xx, 429 and dropped connections are retried with backoff (`client.rs`).
//! Where a name points (Docker Hub included) is `target.rs`. The same conversation also serves
//! the shared cache (`cache.rs`, `--cache-repo`), with no retries and short timeouts.
//!
//! HTTPS always, trusting the platform's store and `SSL_CERT_FILE`/`SSL_CERT_DIR` (`tls.rs`);
//! plain HTTP only for loopback registries (`localhost`, `127.0.0.0/8`, `::1`) and those the
//! user lists as insecure, as Docker does.

mod auth;
mod cache;
mod client;
mod credentials;
#[cfg(feature = "fuzz")]
pub mod fuzz;
mod referrers;
mod target;
mod upload;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use reqwest::blocking::Client;

use self::auth::AuthState;
pub use self::cache::{CacheKey, CachedEntry, RemoteCache};
use self::client::{Context, Session};
use self::credentials::CredentialSources;
pub(crate) use self::target::{Target, plain_http_allowed};
use self::upload::{Blob, Outcome};
use crate::{Digest, Image, ImageIndex, ImageName, MediaType, OciError, Published, Sink};

/// How to reach registries and where credentials are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryOptions {
    /// `host[:port]` of registries that may be reached over plain HTTP, besides the loopback
    /// ones (`localhost`, `127.0.0.0/8`, `::1`), which always may.
    pub insecure_registries: Vec<String>,
    /// How many times a request that failed transiently (408, 429, 5xx, a dropped connection)
    /// is tried again, waiting as the shared policy says ([`grocker_fetch::retry`]: 0.2 s,
    /// 0.4 s, 0.8 s… up to 5 s, longer if the registry's `Retry-After` asks).
    pub retries: u32,
    /// Docker's `config.json`; `None` means `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
    /// Podman's `auth.json` files, searched after docker's config, in order.
    pub auth_files: Vec<PathBuf>,
}

impl Default for RegistryOptions {
    /// No insecure registry, 4 retries, docker's config where docker looks, and podman's
    /// `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json` and
    /// `~/.config/containers/auth.json`.
    fn default() -> Self {
        RegistryOptions {
            insecure_registries: Vec::new(),
            retries: 4,
            docker_config: None,
            auth_files: credentials::default_auth_files(
                |name| std::env::var_os(name),
                dirs::home_dir(),
            ),
        }
    }
}

/// What a push did with each blob of the image (the config included).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Blobs sent to the registry.
    pub uploaded: Vec<Digest>,
    /// Blobs mounted from another repository of the same registry.
    pub mounted: Vec<Digest>,
    /// Blobs the repository already had.
    pub existing: Vec<Digest>,
}

/// Pushes images to registries. Keeps, for its lifetime, the tokens it obtained and where it put
/// each blob (to mount rather than upload it into another repository).
///
/// It blocks on its requests (reqwest's blocking client), as every [`Sink`] does: call it from
/// synchronous code — grocker publishes after its async build has returned — or, from async
/// code, through `tokio::task::spawn_blocking`.
///
/// ```no_run
/// use grocker_oci::{Image, ImageName, RegistryOptions, RegistrySink, Sink};
///
/// # fn push(image: &Image) -> Result<(), Box<dyn std::error::Error>> {
/// let mut sink = RegistrySink::new(RegistryOptions::default())?;
/// let name: ImageName = "ghcr.io/team/app:1.0".parse()?;
/// let published = sink.publish(image, &name)?;
/// assert_eq!(published.digest, image.digest());
/// if let Some(report) = sink.last_report() {
///     println!("{} uploaded, {} already there", report.uploaded.len(), report.existing.len());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RegistrySink {
    options: RegistryOptions,
    sources: CredentialSources,
    auth: AuthState,
    clients: Clients,
    /// Per registry: the repository each blob went into.
    placed: HashMap<String, HashMap<Digest, String>>,
    last_report: Option<PushReport>,
}

impl RegistrySink {
    /// A sink with `options`; checks them, contacts nobody.
    pub fn new(options: RegistryOptions) -> Result<RegistrySink, OciError> {
        for entry in &options.insecure_registries {
            let bad = entry.is_empty()
                || entry.contains("://")
                || entry.contains(['/', ' ', '\t'])
                || entry.chars().any(char::is_control);
            if bad {
                return Err(OciError::InvalidRegistryOption {
                    value: entry.clone(),
                    reason: "an insecure registry is written `host[:port]`, without a scheme"
                        .into(),
                });
            }
        }
        let docker_config = options.docker_config.clone().unwrap_or_else(|| {
            credentials::default_docker_config(|name| std::env::var_os(name), dirs::home_dir())
        });
        Ok(RegistrySink {
            sources: CredentialSources {
                docker_config,
                auth_files: options.auth_files.clone(),
                helper_path: None,
            },
            options,
            auth: AuthState::default(),
            clients: Clients::default(),
            placed: HashMap::new(),
            last_report: None,
        })
    }

    /// What the last push did (also after a failed one: what it had done so far).
    pub fn last_report(&self) -> Option<&PushReport> {
        self.last_report.as_ref()
    }

    fn push(
        &mut self,
        images: &[Image],
        index: Option<&ImageIndex>,
        name: &ImageName,
    ) -> Result<Published, OciError> {
        let target = Target::new(name, &self.options.insecure_registries)?;
        let mut report = PushReport::default();
        let result = self.push_to(images, index, &target, &mut report);
        self.last_report = Some(report);
        let reported = result?;
        let expected = match (index, images) {
            (Some(index), _) => index.digest(),
            (None, [image]) => image.digest(),
            (None, _) => {
                return Err(OciError::InvalidConfig {
                    reason: "several images without an index".into(),
                });
            }
        };
        let digest = match reported {
            Some(text) => match text.parse::<Digest>() {
                Ok(digest) if digest == expected => digest,
                _ => {
                    return Err(OciError::RegistryDigestMismatch {
                        registry: target.registry,
                        repository: target.repository,
                        expected,
                        reported: text,
                    });
                }
            },
            None => expected,
        };
        tracing::info!("pushed {} to {}", digest, target.location());
        Ok(Published {
            digest,
            location: target.location(),
        })
    }

    /// Blobs (each once, whichever images share it), then the manifests — by digest when an
    /// index lists them, then the index under the tag; else the one manifest under the tag.
    /// Returns the registry's `Docker-Content-Digest` for what the tag names, if any.
    fn push_to(
        &mut self,
        images: &[Image],
        index: Option<&ImageIndex>,
        target: &Target,
        report: &mut PushReport,
    ) -> Result<Option<String>, OciError> {
        let http = self.clients.get(target)?;
        let mut session = Session {
            cx: Context {
                http,
                target,
                sources: &self.sources,
                insecure: &self.options.insecure_registries,
            },
            auth: &mut self.auth,
            retries: self.options.retries,
            timeout: client::REQUEST_TIMEOUT,
        };
        let placed = self.placed.entry(target.registry.clone()).or_default();
        let blobs = images.iter().flat_map(|image| {
            image
                .layers()
                .iter()
                .map(Blob::Layer)
                .chain([Blob::Config(image)])
        });
        let mut seen = HashSet::new();
        for blob in blobs {
            let digest = blob.digest();
            if !seen.insert(digest) {
                continue;
            }
            let from = placed
                .get(&digest)
                .filter(|repository| **repository != target.repository)
                .cloned();
            let outcome = session.push_blob(&blob, from.as_deref())?;
            tracing::debug!("{digest}: {outcome:?}");
            match outcome {
                Outcome::Existing => report.existing.push(digest),
                Outcome::Mounted => report.mounted.push(digest),
                Outcome::Uploaded => report.uploaded.push(digest),
            }
            placed.insert(digest, target.repository.clone());
        }
        let manifest = |image: &Image| {
            (
                image.descriptor().media_type,
                image.manifest_bytes().to_vec(),
            )
        };
        match index {
            None => {
                let (media_type, bytes) = manifest(&images[0]);
                session.put_manifest(&target.tag, media_type.as_str(), &bytes)
            }
            Some(index) => {
                for image in images {
                    let (media_type, bytes) = manifest(image);
                    session.put_manifest(
                        &image.digest().to_string(),
                        media_type.as_str(),
                        &bytes,
                    )?;
                }
                session.put_manifest(&target.tag, MediaType::OciIndex.as_str(), index.bytes())
            }
        }
    }
}

impl Sink for RegistrySink {
    fn publish(&mut self, image: &Image, name: &ImageName) -> Result<Published, OciError> {
        self.push(std::slice::from_ref(image), None, name)
    }

    fn publish_index(
        &mut self,
        index: &ImageIndex,
        name: &ImageName,
    ) -> Result<Published, OciError> {
        self.push(index.images(), Some(index), name)
    }

    fn attach(
        &mut self,
        referrer: &crate::Referrer,
        name: &ImageName,
    ) -> Result<Option<String>, OciError> {
        self.push_referrer(referrer, name).map(Some)
    }

    /// Every push is complete when `publish` returns.
    fn finish(self: Box<Self>) -> Result<(), OciError> {
        Ok(())
    }
}

/// HTTP clients, built on first use: one for loopback registries, which never go through a
/// proxy, one for the rest.
#[derive(Debug, Default)]
struct Clients {
    direct: Option<Client>,
    proxied: Option<Client>,
}

impl Clients {
    fn get(&mut self, target: &Target) -> Result<&Client, OciError> {
        let slot = if target.direct {
            &mut self.direct
        } else {
            &mut self.proxied
        };
        let client = match slot.take() {
            Some(client) => client,
            None => build_client(target)?,
        };
        Ok(slot.insert(client))
    }
}

fn build_client(target: &Target) -> Result<Client, OciError> {
    // Another crate may have installed a provider already; either way one is in place.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = Client::builder()
        .user_agent(concat!("grocker/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        // Per request instead (client.rs): an upload's time grows with its size.
        .timeout(None)
        .tcp_keepalive(Duration::from_secs(30))
        .tls_certs_merge(grocker_fetch::system_roots_besides_env());
    if target.direct {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|e| OciError::Registry {
        registry: target.registry.clone(),
        repository: target.repository.clone(),
        action: "set up an HTTP client".into(),
        message: client::reason(&e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_entries_are_checked() {
        for bad in ["http://reg:5000", "reg/x", ""] {
            let options = RegistryOptions {
                insecure_registries: vec![bad.into()],
                ..RegistryOptions::default()
            };
            let err = RegistrySink::new(options).unwrap_err();
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }
}
