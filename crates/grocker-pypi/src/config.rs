//! Which indexes to ask, read the way pip reads them (Grocker ran pip, so its users configured
//! indexes for pip): command line, then `PIP_*` environment variables, then pip's
//! configuration files, then PyPI.

use std::fmt;
use std::path::{Path, PathBuf};

use grocker_fetch::redact_url;
use url::Url;

use crate::PypiError;

/// PyPI's simple API, pip's default `index-url`.
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple";

/// The indexes to look projects up in: the main one and the extra ones (pip's `--index-url`
/// and `--extra-index-url`). A project's files are the union over all of them, as with pip.
///
/// URLs may carry credentials (`https://user:token@host/simple`); `Debug` masks them.
#[derive(Clone, PartialEq, Eq)]
pub struct IndexUrls {
    /// `--index-url`.
    pub index: Url,
    /// `--extra-index-url`, in the order given.
    pub extra: Vec<Url>,
}

impl fmt::Debug for IndexUrls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extra: Vec<String> = self.extra.iter().map(redact_url).collect();
        f.debug_struct("IndexUrls")
            .field("index", &redact_url(&self.index))
            .field("extra", &extra)
            .finish()
    }
}

/// One value and where it came from, for error messages.
#[derive(Clone)]
struct Found {
    value: String,
    origin: String,
}

impl IndexUrls {
    /// One index, no extras.
    pub fn new(index: Url) -> IndexUrls {
        IndexUrls {
            index,
            extra: Vec::new(),
        }
    }

    /// Where to look, as pip users expect. Each of `index-url` and `extra-index-url` is taken
    /// from the first place that sets it:
    ///
    /// 1. the command line (`cli_index`, `cli_extra`);
    /// 2. `PIP_INDEX_URL` / `PIP_EXTRA_INDEX_URL` (a whitespace-separated list);
    /// 3. pip's configuration files ([`pip_config_files`]; a later file wins, and an `[install]`
    ///    section beats a `[global]` one in any file, as in pip); values may span several
    ///    indented lines;
    /// 4. <https://pypi.org/simple> for the index, nothing for the extras.
    ///
    /// `env` looks up environment variables and `home` is the user's home directory, so that
    /// this is testable without touching the real environment.
    pub fn resolve(
        cli_index: Option<&str>,
        cli_extra: &[String],
        env: &dyn Fn(&str) -> Option<String>,
        home: Option<&Path>,
    ) -> Result<IndexUrls, PypiError> {
        let files = pip_config_files(env, home);
        IndexUrls::resolve_with_files(cli_index, cli_extra, env, &files)
    }

    /// [`IndexUrls::resolve`] with an explicit list of configuration files (missing ones are
    /// skipped), lowest precedence first.
    pub fn resolve_with_files(
        cli_index: Option<&str>,
        cli_extra: &[String],
        env: &dyn Fn(&str) -> Option<String>,
        files: &[PathBuf],
    ) -> Result<IndexUrls, PypiError> {
        let mut config = ConfigValues::default();
        for path in files {
            config.load(path)?;
        }
        let non_empty = |name: &str| env(name).filter(|v| !v.trim().is_empty());

        let index = if let Some(value) = cli_index {
            Found {
                value: value.to_string(),
                origin: "--index-url".into(),
            }
        } else if let Some(value) = non_empty("PIP_INDEX_URL") {
            Found {
                value,
                origin: "PIP_INDEX_URL".into(),
            }
        } else if let Some(found) = config.get("index-url") {
            found
        } else {
            Found {
                value: PYPI_SIMPLE.into(),
                origin: "the default".into(),
            }
        };
        let index = parse_index_url(index.value.trim(), &index.origin)?;

        let extra = if !cli_extra.is_empty() {
            cli_extra
                .iter()
                .map(|v| parse_index_url(v.trim(), "--extra-index-url"))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            let found = non_empty("PIP_EXTRA_INDEX_URL")
                .map(|value| Found {
                    value,
                    origin: "PIP_EXTRA_INDEX_URL".into(),
                })
                .or_else(|| config.get("extra-index-url"));
            match found {
                Some(found) => found
                    .value
                    .split_whitespace()
                    .map(|v| parse_index_url(v, &found.origin))
                    .collect::<Result<Vec<_>, _>>()?,
                None => Vec::new(),
            }
        };
        Ok(IndexUrls { index, extra })
    }

    /// The index, then the extra indexes.
    pub fn all(&self) -> impl Iterator<Item = &Url> {
        std::iter::once(&self.index).chain(&self.extra)
    }
}

/// pip's configuration files on Linux, lowest precedence first (pip's `iter_config_files`):
///
/// - site-wide: `$XDG_CONFIG_DIRS/pip/pip.conf` (default `/etc/xdg/pip/pip.conf`), then
///   `/etc/pip.conf`;
/// - per user, unless `$PIP_CONFIG_FILE` names an existing file: `~/.pip/pip.conf` (legacy),
///   then `$XDG_CONFIG_HOME/pip/pip.conf` (default `~/.config/pip/pip.conf`);
/// - `$PIP_CONFIG_FILE`, last, so it wins.
///
/// `PIP_CONFIG_FILE=/dev/null` turns all of them off, as in pip.
pub fn pip_config_files(env: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> Vec<PathBuf> {
    let pip_config_file = env("PIP_CONFIG_FILE").filter(|v| !v.is_empty());
    if pip_config_file.as_deref() == Some("/dev/null") {
        return Vec::new();
    }
    let mut files = Vec::new();
    let xdg_dirs = env("XDG_CONFIG_DIRS").filter(|v| !v.is_empty());
    for dir in xdg_dirs.as_deref().unwrap_or("/etc/xdg").split(':') {
        if !dir.is_empty() {
            files.push(Path::new(dir).join("pip").join("pip.conf"));
        }
    }
    files.push(PathBuf::from("/etc/pip.conf"));
    let env_file_exists = pip_config_file
        .as_deref()
        .is_some_and(|p| Path::new(p).exists());
    if !env_file_exists {
        if let Some(home) = home {
            files.push(home.join(".pip").join("pip.conf"));
        }
        let config_home = env("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".config")));
        if let Some(dir) = config_home {
            files.push(dir.join("pip").join("pip.conf"));
        }
    }
    if let Some(file) = pip_config_file {
        files.push(PathBuf::from(file));
    }
    files
}

/// `index-url` / `extra-index-url` from the `[global]` and `[install]` sections of every file
/// read so far (later files overwrite earlier ones, key by key and section by section).
#[derive(Default)]
struct ConfigValues {
    global: Vec<(String, Found)>,
    install: Vec<(String, Found)>,
}

impl ConfigValues {
    fn get(&self, key: &str) -> Option<Found> {
        let last = |list: &[(String, Found)]| {
            list.iter()
                .rev()
                // pip ignores keys with an empty value.
                .find(|(k, found)| k == key && !found.value.trim().is_empty())
                .map(|(_, found)| found.clone())
        };
        last(&self.install).or_else(|| last(&self.global))
    }

    fn load(&mut self, path: &Path) -> Result<(), PypiError> {
        let text = match fs_err::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(PypiError::Config {
                    path: path.into(),
                    reason: e.to_string(),
                });
            }
        };
        for (section, key, value) in parse_ini(&text).map_err(|reason| PypiError::Config {
            path: path.into(),
            reason,
        })? {
            let list = match section.as_str() {
                "global" => &mut self.global,
                "install" => &mut self.install,
                _ => continue,
            };
            let origin = format!("{} [{section}]", path.display());
            list.push((key, Found { value, origin }));
        }
        Ok(())
    }
}

/// The subset of Python's `configparser` that pip.conf files use: `[section]` headers,
/// `key = value` or `key: value`, values continued on indented lines, `#`/`;` comment lines.
/// Keys are normalized as pip does (`index_url` → `index-url`). Returns (section, key, value).
fn parse_ini(text: &str) -> Result<Vec<(String, String, String)>, String> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut section: Option<String> = None;
    // Whether the last line read belongs to a value that indented lines may continue.
    let mut in_value = false;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        if indented && in_value {
            if let Some((_, _, value)) = out.last_mut() {
                value.push('\n');
                value.push_str(trimmed);
            }
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(format!("line {}: unterminated section header", n + 1));
            };
            section = Some(name.trim().to_string());
            in_value = false;
            continue;
        }
        let Some(at) = trimmed.find(['=', ':']) else {
            return Err(format!(
                "line {}: expected `key = value`, found `{trimmed}`",
                n + 1
            ));
        };
        let Some(section) = &section else {
            return Err(format!(
                "line {}: `{trimmed}` is outside any [section]",
                n + 1
            ));
        };
        let key = trimmed[..at].trim().to_ascii_lowercase().replace('_', "-");
        let value = trimmed[at + 1..].trim().to_string();
        out.push((section.clone(), key, value));
        in_value = true;
    }
    Ok(out)
}

fn parse_index_url(value: &str, origin: &str) -> Result<Url, PypiError> {
    let invalid = |reason: String| PypiError::InvalidIndexUrl {
        url: redact_str(value),
        origin: origin.to_string(),
        reason,
    };
    let url = Url::parse(value).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(
            "only http:// and https:// index URLs are supported".into(),
        ));
    }
    Ok(url)
}

/// Masks credentials in text that may not even parse as a URL (for error messages).
pub(crate) fn redact_str(value: &str) -> String {
    if let Ok(url) = Url::parse(value) {
        return redact_url(&url);
    }
    let Some(scheme_end) = value.find("://") else {
        return value.to_string();
    };
    let rest = &value[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}****{}", &value[..scheme_end + 3], &rest[at..]),
        None => value.to_string(),
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
