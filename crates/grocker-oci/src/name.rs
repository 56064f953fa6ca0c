//! `ImageName`: `[registry/]repository[:tag]`, by the rules of distribution's `reference` package.

use std::fmt;
use std::str::FromStr;

/// A tagged image name: `127.0.0.1:5000/team/app:1.2`, `app` (tag `latest`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageName {
    registry: Option<String>,
    repository: String,
    tag: String,
}

/// Text that is not a valid image name.
#[derive(Debug, thiserror::Error)]
#[error("invalid image name `{value}`: {reason}")]
pub struct ParseImageNameError {
    /// The rejected text.
    pub value: String,
    /// What rule it breaks.
    pub reason: String,
}

impl ImageName {
    const DEFAULT_TAG: &str = "latest";
    /// distribution/reference: "the total length of a named reference must be <= 255".
    const MAX_NAME_LEN: usize = 255;

    /// The registry host (and port), if the name has one.
    pub fn registry(&self) -> Option<&str> {
        self.registry.as_deref()
    }

    /// The path in the registry: `team/app`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The same name with another tag, checked.
    pub fn with_tag(&self, tag: &str) -> Result<ImageName, ParseImageNameError> {
        check_tag(tag).map_err(|reason| ParseImageNameError {
            value: tag.to_string(),
            reason,
        })?;
        Ok(ImageName {
            tag: tag.to_string(),
            ..self.clone()
        })
    }

    /// `[registry/]repository` without the tag, as written.
    pub fn name(&self) -> String {
        match &self.registry {
            Some(registry) => format!("{registry}/{}", self.repository),
            None => self.repository.clone(),
        }
    }

    /// The fully qualified form Docker and containerd store: `docker.io/library/app:latest`.
    pub fn normalized(&self) -> String {
        let registry = self.registry.as_deref().unwrap_or("docker.io");
        let registry = if registry == "index.docker.io" {
            "docker.io"
        } else {
            registry
        };
        if registry == "docker.io" && !self.repository.contains('/') {
            format!("docker.io/library/{}:{}", self.repository, self.tag)
        } else {
            format!("{registry}/{}:{}", self.repository, self.tag)
        }
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name(), self.tag)
    }
}

impl FromStr for ImageName {
    type Err = ParseImageNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| ParseImageNameError {
            value: s.to_string(),
            reason,
        };
        if s.contains('@') {
            return Err(err(
                "digest references (`@sha256:…`) cannot be a destination; use a tag".into(),
            ));
        }
        // The tag is after the last `:` that follows the last `/` (a `:` before it is a port).
        let last_slash = s.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match s[last_slash..].rfind(':') {
            Some(i) => (&s[..last_slash + i], &s[last_slash + i + 1..]),
            None => (s, Self::DEFAULT_TAG),
        };
        check_tag(tag).map_err(err)?;
        if name.len() > Self::MAX_NAME_LEN {
            return Err(err(format!(
                "the name is {} characters long, at most {} are allowed",
                name.len(),
                Self::MAX_NAME_LEN
            )));
        }
        // The first component is a registry if it looks like a host: it has a `.` or a `:`, is
        // `localhost`, or has upper-case letters (which repositories cannot).
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                check_registry(first).map_err(err)?;
                (Some(first.to_string()), rest)
            }
            _ => (None, name),
        };
        for component in repository.split('/') {
            check_path_component(component).map_err(err)?;
        }
        Ok(ImageName {
            registry,
            repository: repository.to_string(),
            tag: tag.to_string(),
        })
    }
}

/// `[\w][\w.-]{0,127}`
fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag `{tag}` must be 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
        ))
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn check_path_component(component: &str) -> Result<(), String> {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut ok = !bytes.is_empty() && alnum(bytes[0]) && alnum(bytes[bytes.len() - 1]);
    let mut i = 0;
    while ok && i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or any number of `-`.
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
    }
    if ok {
        Ok(())
    } else {
        Err(format!(
            "repository component `{component}` must be lower-case letters and digits, \
             separated by `.`, `_`, `__` or dashes"
        ))
    }
}

/// `host[:port]` where host is dot-separated `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?` labels or a
/// bracketed IPv6 address.
fn check_registry(registry: &str) -> Result<(), String> {
    let bad = || Err(format!("registry `{registry}` is not a valid host[:port]"));
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return bad();
        };
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return bad();
        }
        match after {
            "" => ("", None),
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return bad(),
            },
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        }
    };
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
    };
    if !registry.starts_with('[') && !host.split('.').all(label_ok) {
        return bad();
    }
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return bad();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        for (text, registry, repository, tag, shown) in [
            ("app", None, "app", "latest", "app:latest"),
            ("app:1.2", None, "app", "1.2", "app:1.2"),
            ("team/app:1.2", None, "team/app", "1.2", "team/app:1.2"),
            (
                "127.0.0.1:5000/team/app:1.2",
                Some("127.0.0.1:5000"),
                "team/app",
                "1.2",
                "127.0.0.1:5000/team/app:1.2",
            ),
            (
                "localhost/app",
                Some("localhost"),
                "app",
                "latest",
                "localhost/app:latest",
            ),
            (
                "localhost:5000/a",
                Some("localhost:5000"),
                "a",
                "latest",
                "localhost:5000/a:latest",
            ),
            (
                "[::1]:5000/a:b",
                Some("[::1]:5000"),
                "a",
                "b",
                "[::1]:5000/a:b",
            ),
            (
                "Reg/a__b.c-d---e:_X.y-",
                Some("Reg"),
                "a__b.c-d---e",
                "_X.y-",
                "Reg/a__b.c-d---e:_X.y-",
            ),
        ] {
            let name: ImageName = text.parse().unwrap();
            assert_eq!(name.registry(), registry, "{text}");
            assert_eq!(name.repository(), repository, "{text}");
            assert_eq!(name.tag(), tag, "{text}");
            assert_eq!(name.to_string(), shown);
            assert_eq!(shown.parse::<ImageName>().unwrap(), name);
        }
    }

    #[test]
    fn normalizes_like_docker() {
        let n = |s: &str| s.parse::<ImageName>().unwrap().normalized();
        assert_eq!(n("app"), "docker.io/library/app:latest");
        assert_eq!(n("team/app:1"), "docker.io/team/app:1");
        assert_eq!(n("docker.io/app:1"), "docker.io/library/app:1");
        assert_eq!(n("localhost:5000/app:1"), "localhost:5000/app:1");
    }

    #[test]
    fn rejects_with_the_offending_text() {
        for bad in [
            "",
            "App",
            "app:",
            "app:.x",
            "app:-x",
            &format!("app:{}", "x".repeat(129)),
            "app@sha256:abc",
            "a//b",
            "/app",
            "app/",
            "a..b",
            "a___b",
            "-a",
            "a-",
            "host:port/app",
            "ex ample.com/app",
            "example.com:/app",
            &"a".repeat(256),
            "a:b:c",
        ] {
            let err = bad.parse::<ImageName>().unwrap_err();
            assert!(
                err.to_string().contains(&format!("`{bad}`")),
                "{bad}: {err}"
            );
        }
        assert!(
            &format!("app:{}", "x".repeat(128))
                .parse::<ImageName>()
                .is_ok()
        );
    }

    #[test]
    fn with_tag_checks() {
        let n: ImageName = "app:1".parse().unwrap();
        assert_eq!(n.with_tag("2").unwrap().to_string(), "app:2");
        assert!(n.with_tag("bad tag").is_err());
    }
}
