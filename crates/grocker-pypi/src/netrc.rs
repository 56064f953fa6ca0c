//! Credentials for index hosts: from the index URLs themselves, else from `~/.netrc`, as pip
//! (through requests) finds them. They are put into request URLs only at the last moment and
//! never into anything shown: [`grocker_fetch::redact_url`] masks them in every message.

use std::path::{Path, PathBuf};

use url::Url;

use crate::PypiError;

/// A parsed `.netrc` file: `machine HOST login USER password PASS` entries and an optional
/// `default` entry (`macdef` macros are skipped).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Netrc {
    machines: Vec<(Option<String>, Login)>,
}

#[derive(Clone, Default, PartialEq, Eq)]
struct Login {
    login: String,
    password: String,
}

impl std::fmt::Debug for Netrc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hosts: Vec<&str> = self
            .machines
            .iter()
            .map(|(m, _)| m.as_deref().unwrap_or("default"))
            .collect();
        f.debug_struct("Netrc").field("machines", &hosts).finish()
    }
}

impl Netrc {
    /// Parses netrc text. Tokens are separated by any whitespace; `"quoted tokens"` are allowed.
    pub fn parse(text: &str) -> Netrc {
        let tokens = tokenize(text);
        let mut machines: Vec<(Option<String>, Login)> = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            match tokens[i].as_str() {
                "machine" => {
                    let host = tokens.get(i + 1).cloned().unwrap_or_default();
                    machines.push((Some(host), Login::default()));
                    i += 2;
                }
                "default" => {
                    machines.push((None, Login::default()));
                    i += 1;
                }
                key @ ("login" | "password" | "account") => {
                    let value = tokens.get(i + 1).cloned().unwrap_or_default();
                    if let Some((_, entry)) = machines.last_mut() {
                        match key {
                            "login" => entry.login = value,
                            "password" => entry.password = value,
                            _ => {}
                        }
                    }
                    i += 2;
                }
                _ => i += 1,
            }
        }
        Netrc { machines }
    }

    /// Reads `$NETRC`, else `~/.netrc`. A missing file is no credentials; an unreadable one is
    /// an error naming it.
    pub fn load(
        env: &dyn Fn(&str) -> Option<String>,
        home: Option<&Path>,
    ) -> Result<Netrc, PypiError> {
        let path: Option<PathBuf> = env("NETRC")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".netrc")));
        let Some(path) = path else {
            return Ok(Netrc::default());
        };
        match fs_err::read_to_string(&path) {
            Ok(text) => Ok(Netrc::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Netrc::default()),
            Err(e) => Err(PypiError::Config {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// (login, password) for `host`: its `machine` entry, else the `default` entry.
    pub fn get(&self, host: &str) -> Option<(&str, &str)> {
        let exact = self
            .machines
            .iter()
            .find(|(m, _)| m.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(host)));
        let (_, login) = exact.or_else(|| self.machines.iter().find(|(m, _)| m.is_none()))?;
        Some((login.login.as_str(), login.password.as_str()))
    }
}

/// Splits netrc text into tokens, dropping `macdef` bodies (which run to the next blank line).
fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut in_macdef = false;
    for line in text.lines() {
        if in_macdef {
            if line.trim().is_empty() {
                in_macdef = false;
            }
            continue;
        }
        let mut chars = line.chars().peekable();
        let mut line_tokens = Vec::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
            } else if c == '#' && line_tokens.is_empty() {
                break; // a comment line
            } else if c == '"' {
                chars.next();
                let mut token = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => token.extend(chars.next()),
                        c => token.push(c),
                    }
                }
                line_tokens.push(token);
            } else {
                let mut token = String::new();
                while let Some(&c) = chars.peek().filter(|c| !c.is_whitespace()) {
                    token.push(c);
                    chars.next();
                }
                line_tokens.push(token);
            }
        }
        if let Some(pos) = line_tokens.iter().position(|t| t == "macdef") {
            line_tokens.truncate(pos);
            in_macdef = true;
        }
        tokens.extend(line_tokens);
    }
    tokens
}

/// Who to authenticate as, per host: credentials written in an index URL apply to every URL on
/// the same host and port (pip does the same), then netrc.
#[derive(Clone, Default)]
pub(crate) struct Credentials {
    from_urls: Vec<(String, Option<u16>, String, Option<String>)>,
    netrc: Netrc,
}

impl Credentials {
    pub(crate) fn new<'a>(index_urls: impl Iterator<Item = &'a Url>, netrc: Netrc) -> Self {
        let from_urls = index_urls
            .filter(|u| !u.username().is_empty())
            .filter_map(|u| {
                Some((
                    u.host_str()?.to_ascii_lowercase(),
                    u.port_or_known_default(),
                    u.username().to_string(),
                    u.password().map(str::to_string),
                ))
            })
            .collect();
        Credentials { from_urls, netrc }
    }

    pub(crate) fn set_netrc(&mut self, netrc: Netrc) {
        self.netrc = netrc;
    }

    /// `url` with credentials to send, if any are known for its host and it has none.
    pub(crate) fn apply(&self, url: &Url) -> Url {
        let mut out = url.clone();
        if !url.username().is_empty() {
            return out;
        }
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return out;
        };
        let port = url.port_or_known_default();
        let found = self
            .from_urls
            .iter()
            .find(|(h, p, _, _)| *h == host && *p == port)
            .map(|(_, _, user, pass)| (user.as_str(), pass.as_deref()))
            .or_else(|| self.netrc.get(&host).map(|(user, pass)| (user, Some(pass))));
        if let Some((user, pass)) = found {
            // Only fails for URLs that cannot carry credentials (not http/https).
            if out.set_username(user).is_err() || out.set_password(pass).is_err() {
                return url.clone();
            }
        }
        out
    }
}

/// `url` without credentials (what is stored in caches and shown in [`crate::DistFile`]).
pub(crate) fn strip_credentials(url: &Url) -> Url {
    let mut out = url.clone();
    let _ = out.set_username("");
    let _ = out.set_password(None);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_netrc() {
        let netrc = Netrc::parse(
            "# company index\nmachine pypi.corp.example login alice password \"s3 cret\"\n\
             macdef init\ncd /pub\n\ndefault\n  login anonymous password guest\n",
        );
        assert_eq!(netrc.get("PYPI.corp.example"), Some(("alice", "s3 cret")));
        assert_eq!(netrc.get("other.example"), Some(("anonymous", "guest")));
        assert!(!format!("{netrc:?}").contains("s3"));
    }

    #[test]
    fn index_credentials_then_netrc() {
        let index: Url = "https://bob:pw@index.example/simple".parse().unwrap();
        let creds = Credentials::new(
            [&index].into_iter(),
            Netrc::parse("machine files.example login n password p"),
        );
        let u = |s: &str| creds.apply(&s.parse().unwrap()).to_string();
        assert_eq!(
            u("https://index.example/packages/a.whl"),
            "https://bob:pw@index.example/packages/a.whl"
        );
        assert_eq!(
            u("https://files.example/a.whl"),
            "https://n:p@files.example/a.whl"
        );
        assert_eq!(
            u("https://elsewhere.example/a.whl"),
            "https://elsewhere.example/a.whl"
        );
        assert_eq!(
            u("http://index.example:8080/a.whl"),
            "http://index.example:8080/a.whl"
        );
        assert_eq!(
            strip_credentials(&index).to_string(),
            "https://index.example/simple"
        );
    }
}
