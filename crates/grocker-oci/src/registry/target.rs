//! `Target`: where an image name points — the registry's API root, over HTTPS or (loopback and
//! insecure registries only) plain HTTP, and the repository in it.

use std::net::IpAddr;

use reqwest::Url;

use crate::{ImageName, OciError};

/// Where an image goes: the registry's API root and the repository in it.
#[derive(Debug)]
pub(crate) struct Target {
    /// `host[:port]` as the image name has it: for messages and credentials.
    pub(crate) registry: String,
    /// The repository, `library/` prefixed for Docker Hub's official images.
    pub(crate) repository: String,
    pub(crate) tag: String,
    /// `https://host[:port]/` (Docker Hub: `registry-1.docker.io`), or `http://` when allowed.
    pub(crate) base: Url,
    /// Loopback: never through a proxy (as Go's `ProxyFromEnvironment`, hence Docker, does).
    pub(crate) direct: bool,
}

impl Target {
    pub(crate) fn new(name: &ImageName, insecure: &[String]) -> Result<Target, OciError> {
        let registry = name.registry().ok_or_else(|| OciError::NotPushable {
            name: name.to_string(),
        })?;
        let hub = ["docker.io", "index.docker.io", "registry-1.docker.io"]
            .contains(&registry.to_ascii_lowercase().as_str());
        let (host, repository) = match (hub, name.repository()) {
            (true, repo) if !repo.contains('/') => {
                ("registry-1.docker.io", format!("library/{repo}"))
            }
            (true, repo) => ("registry-1.docker.io", repo.to_string()),
            (false, repo) => (registry, repo.to_string()),
        };
        let scheme = if plain_http_allowed(registry, insecure) {
            "http"
        } else {
            "https"
        };
        let base = Url::parse(&format!("{scheme}://{host}/")).map_err(|e| {
            OciError::InvalidRegistryOption {
                value: registry.to_string(),
                reason: format!("not a usable registry host: {e}"),
            }
        })?;
        Ok(Target {
            registry: registry.to_string(),
            repository,
            tag: name.tag().to_string(),
            direct: is_loopback(registry),
            base,
        })
    }

    /// `<base>/v2/<repository>/<path>`.
    pub(crate) fn api(&self, path: &str) -> Result<Url, OciError> {
        let relative = format!("v2/{}/{path}", self.repository);
        self.base.join(&relative).map_err(|e| OciError::Registry {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            action: format!("make the URL of {relative}"),
            message: e.to_string(),
        })
    }

    /// distribution's resource scope for pushing here.
    pub(crate) fn push_scope(&self) -> String {
        format!("repository:{}:pull,push", self.repository)
    }

    pub(crate) fn location(&self) -> String {
        format!(
            "docker://{}/{}:{}",
            self.registry, self.repository, self.tag
        )
    }
}

/// Whether `authority` (`host[:port]`) may be spoken to over plain HTTP.
pub(crate) fn plain_http_allowed(authority: &str, insecure: &[String]) -> bool {
    is_loopback(authority) || insecure.iter().any(|i| i.eq_ignore_ascii_case(authority))
}

/// `localhost`, `127.0.0.0/8` or `::1`, with or without a port.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => authority.split(':').next().unwrap_or(authority),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, insecure: &[&str]) -> Target {
        let insecure: Vec<String> = insecure.iter().map(|s| s.to_string()).collect();
        Target::new(&name.parse().unwrap(), &insecure).unwrap()
    }

    #[test]
    fn targets_schemes_and_docker_hub() {
        let t = target("127.0.0.1:5000/team/app:1", &[]);
        assert_eq!(t.base.as_str(), "http://127.0.0.1:5000/");
        assert_eq!(
            t.api("blobs/uploads/").unwrap().as_str(),
            "http://127.0.0.1:5000/v2/team/app/blobs/uploads/"
        );
        assert_eq!(t.location(), "docker://127.0.0.1:5000/team/app:1");
        assert_eq!(t.push_scope(), "repository:team/app:pull,push");
        assert!(t.direct);
        assert_eq!(
            target("localhost/app", &[]).base.as_str(),
            "http://localhost/"
        );
        assert_eq!(
            target("[::1]:5000/app", &[]).base.as_str(),
            "http://[::1]:5000/"
        );
        assert_eq!(target("127.1.2.3:80/app", &[]).base.scheme(), "http");
        let remote = target("reg.example:5000/app", &[]);
        assert_eq!(remote.base.as_str(), "https://reg.example:5000/");
        assert!(!remote.direct);
        assert_eq!(
            target("reg.example:5000/app", &["REG.example:5000"])
                .base
                .scheme(),
            "http"
        );
        assert_eq!(
            target("reg.example/app", &["reg.example:5000"])
                .base
                .scheme(),
            "https"
        );
        assert_eq!(target("localhost.example/app", &[]).base.scheme(), "https");

        let hub = target("docker.io/app:2", &[]);
        assert_eq!(hub.base.as_str(), "https://registry-1.docker.io/");
        assert_eq!(hub.repository, "library/app");
        assert_eq!(hub.location(), "docker://docker.io/library/app:2");
        assert_eq!(target("docker.io/team/app", &[]).repository, "team/app");
    }

    #[test]
    fn names_without_a_registry_are_refused() {
        let err = Target::new(&"team/app:1".parse().unwrap(), &[]).unwrap_err();
        assert!(err.to_string().contains("`team/app:1`"), "{err}");
        assert!(matches!(err, OciError::NotPushable { .. }));
    }
}
