//! Credentials for a registry, where `docker login` and `podman login` leave them.
//!
//! Docker's `config.json` (docs.docker.com, "docker login" and "Credential helpers"):
//! `credHelpers.<host>` names a helper for one registry, `credsStore` one for all, and
//! `auths.<host>.auth` holds `base64(user:password)` inline (keys may also be written
//! `https://host/v1/`, as old clients did). Podman's `auth.json` (containers-auth.json(5)) has the
//! same `auths`, whose keys may narrow to a namespace (`quay.io/team`). A helper is the program
//! `docker-credential-<name>`: `get` with the server URL on stdin prints
//! `{"Username": …, "Secret": …}`; a user of `<token>` means the secret is an identity token.
//!
//! Secrets live in [`Secret`], whose `Debug` never shows them; errors name files, keys, helpers
//! and user names, never a password or token.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::Value;

use crate::OciError;

/// A password or token: shown as `<redacted>` by `Debug`, exposed only to build a header.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(value: String) -> Secret {
        Secret(value)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What a registry (or its token service) is shown to prove who we are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// A user name and password (or personal access token).
    Basic { username: String, password: Secret },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token service.
    IdentityToken { token: Secret },
}

impl Credentials {
    /// The user name, for messages.
    pub(crate) fn user(&self) -> String {
        match self {
            Credentials::Basic { username, .. } => username.clone(),
            Credentials::IdentityToken { .. } => "<identity token>".to_string(),
        }
    }
}

/// The files credentials are read from, in order.
#[derive(Clone, Debug)]
pub(crate) struct CredentialSources {
    pub(crate) docker_config: PathBuf,
    pub(crate) auth_files: Vec<PathBuf>,
    /// `PATH` for credential helpers; the process's own when `None` (tests set it).
    pub(crate) helper_path: Option<OsString>,
}

/// Docker Hub's names; its credentials are stored under `https://index.docker.io/v1/`.
const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

impl CredentialSources {
    /// Credentials for `repository` on `registry` (`host[:port]` as the image name has it), or
    /// `None` when no file has any.
    pub(crate) fn lookup(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<Credentials>, OciError> {
        let files = std::iter::once(&self.docker_config).chain(&self.auth_files);
        for path in files {
            let Some(config) = read_config(path)? else {
                continue;
            };
            if let Some(found) = self.search_config(path, &config, registry, repository)? {
                tracing::debug!(
                    "using credentials for {registry} (user {}) from {}",
                    found.user(),
                    path.display()
                );
                return Ok(Some(found));
            }
        }
        tracing::debug!("no credentials for {registry} in {}", self.searched());
        Ok(None)
    }

    /// The files searched, for the message when nothing was found.
    pub(crate) fn searched(&self) -> String {
        std::iter::once(&self.docker_config)
            .chain(&self.auth_files)
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One file's answer: its helper for the host, else an inline `auths` entry, else
    /// `credsStore`.
    fn search_config(
        &self,
        path: &Path,
        config: &Value,
        registry: &str,
        repository: &str,
    ) -> Result<Option<Credentials>, OciError> {
        let helpers = config.get("credHelpers").and_then(Value::as_object);
        let helper = helpers.and_then(|h| {
            h.iter()
                .find(|(key, _)| key_matches(key, registry, repository).is_some())
                .and_then(|(_, name)| name.as_str())
        });
        if let Some(helper) = helper
            && let Some(found) = self.run_helper(helper, registry)?
        {
            return Ok(Some(found));
        }
        if let Some(auths) = config.get("auths").and_then(Value::as_object) {
            // The most specific key wins (`quay.io/team/app` before `quay.io`).
            let best = auths
                .iter()
                .filter_map(|(key, entry)| {
                    key_matches(key, registry, repository).map(|len| (len, key, entry))
                })
                .max_by_key(|(len, _, _)| *len);
            if let Some((_, key, entry)) = best
                && let Some(found) = from_entry(path, key, entry)?
            {
                return Ok(Some(found));
            }
        }
        match config.get("credsStore").and_then(Value::as_str) {
            Some(store) if !store.is_empty() => self.run_helper(store, registry),
            _ => Ok(None),
        }
    }

    /// Runs `docker-credential-<name> get`; `None` when the helper has nothing for the host.
    fn run_helper(&self, name: &str, registry: &str) -> Result<Option<Credentials>, OciError> {
        let helper = format!("docker-credential-{name}");
        let fail = |reason: String| OciError::CredentialHelper {
            helper: helper.clone(),
            registry: registry.to_string(),
            reason,
        };
        let server = if DOCKER_HUB.contains(&registry) {
            DOCKER_HUB_SERVER
        } else {
            registry
        };
        let mut command = Command::new(&helper);
        command
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(path) = &self.helper_path {
            command.env("PATH", path);
        }
        tracing::debug!("asking {helper} for the credentials of {server}");
        let mut child = command
            .spawn()
            .map_err(|e| fail(format!("cannot run it ({e}); is it installed and on PATH?")))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading its input is judged by its exit status.
            let _ = stdin.write_all(server.as_bytes());
        }
        let output = child
            .wait_with_output()
            .map_err(|e| fail(format!("cannot read its answer ({e})")))?;
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_string();
        if !output.status.success() {
            let said = [text(&output.stdout), text(&output.stderr)].join(" ");
            // docker-credential-helpers' `ErrCredentialsNotFound`.
            if said.contains("credentials not found") {
                return Ok(None);
            }
            return Err(fail(format!("{}: {}", output.status, first_line(&said))));
        }
        let answer: Value = serde_json::from_slice(&output.stdout)
            .map_err(|_| fail("its answer is not JSON".to_string()))?;
        let field = |name: &str| answer.get(name).and_then(Value::as_str).unwrap_or("");
        let (username, secret) = (field("Username"), field("Secret"));
        if secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(if username == "<token>" {
            Credentials::IdentityToken {
                token: Secret::new(secret.to_string()),
            }
        } else {
            Credentials::Basic {
                username: username.to_string(),
                password: Secret::new(secret.to_string()),
            }
        }))
    }
}

/// The parsed file, `None` if it does not exist.
fn read_config(path: &Path) -> Result<Option<Value>, OciError> {
    let bytes = match fs_err::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(OciError::io(path)(e)),
    };
    // Parsed to a `Value` only: its syntax errors give a position, never the text around it.
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| OciError::BadJson {
        path: path.to_path_buf(),
        what: "credentials file",
        reason: format!("not JSON (line {}, column {})", e.line(), e.column()),
    })?;
    Ok(Some(value))
}

/// Credentials in one `auths` entry: `identitytoken`, `auth` (base64 `user:password`), or
/// `username` and `password`. An empty entry (`{}`, left when a helper stores the secret) is none.
fn from_entry(path: &Path, key: &str, entry: &Value) -> Result<Option<Credentials>, OciError> {
    let field = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or("");
    if !field("identitytoken").is_empty() {
        return Ok(Some(Credentials::IdentityToken {
            token: Secret::new(field("identitytoken").to_string()),
        }));
    }
    let bad = || OciError::BadJson {
        path: path.to_path_buf(),
        what: "credentials file",
        reason: format!("`auths.{key}.auth` is not the base64 of `user:password`"),
    };
    let (username, password) = if !field("auth").is_empty() {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(field("auth").trim())
            .map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (user, password) = decoded.split_once(':').ok_or_else(bad)?;
        (user.to_string(), password.to_string())
    } else {
        (field("username").to_string(), field("password").to_string())
    };
    if username.is_empty() && password.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials::Basic {
        username,
        password: Secret::new(password),
    }))
}

/// Whether a `auths`/`credHelpers` key is for `repository` on `registry`; if so, how specific
/// it is (the length of its namespace part).
///
/// `https://host/v1/` and `http://host` name a host (docker's old keys); `host/ns` names a
/// namespace on it (podman). Docker Hub's three names are one host.
fn key_matches(key: &str, registry: &str, repository: &str) -> Option<usize> {
    let (host, namespace) = match key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
    {
        Some(rest) => (rest.split('/').next().unwrap_or(rest), ""),
        None => match key.split_once('/') {
            Some((host, ns)) => (host, ns.trim_end_matches('/')),
            None => (key, ""),
        },
    };
    if canonical_host(host) != canonical_host(registry) {
        return None;
    }
    let in_namespace = namespace.is_empty()
        || repository == namespace
        || repository
            .strip_prefix(namespace)
            .is_some_and(|rest| rest.starts_with('/'));
    in_namespace.then_some(namespace.len())
}

fn canonical_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    if DOCKER_HUB.contains(&host.as_str()) {
        DOCKER_HUB[0].to_string()
    } else {
        host
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(300).collect()
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub(crate) fn default_docker_config(
    env: impl Fn(&str) -> Option<OsString>,
    home: Option<PathBuf>,
) -> PathBuf {
    match env("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => home.unwrap_or_default().join(".docker/config.json"),
    }
}

/// Podman's: `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
/// `$XDG_CONFIG_HOME/containers/auth.json` (default `~/.config`).
pub(crate) fn default_auth_files(
    env: impl Fn(&str) -> Option<OsString>,
    home: Option<PathBuf>,
) -> Vec<PathBuf> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut files = Vec::new();
    files.extend(var("REGISTRY_AUTH_FILE"));
    files.extend(var("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
    let config = var("XDG_CONFIG_HOME").or_else(|| home.map(|h| h.join(".config")));
    files.extend(config.map(|d| d.join("containers/auth.json")));
    files
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
