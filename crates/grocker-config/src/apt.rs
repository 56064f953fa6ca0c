//! A one-line apt source, `deb [options] URI SUITE [COMPONENT...]` (sources.list(5)), the
//! format of Grocker's `repositories.<name>.uri`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A parsed `deb` line.
///
/// ```
/// use grocker_config::AptSource;
/// let src: AptSource = "deb http://nginx.org/packages/debian/ bookworm nginx".parse()?;
/// assert_eq!(src.suite, "bookworm");
/// assert_eq!(src.components, ["nginx"]);
/// assert_eq!(src.to_string(), "deb http://nginx.org/packages/debian/ bookworm nginx");
/// # Ok::<(), grocker_config::AptSourceError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AptSource {
    /// `[key=value ...]` options, such as `arch=amd64`.
    pub options: BTreeMap<String, String>,
    /// The archive root, `http://` or `https://`.
    pub url: String,
    /// The suite (`bookworm`), or an exact path ending in `/` for a flat repository.
    pub suite: String,
    /// Components (`main`); empty for a flat repository.
    pub components: Vec<String>,
}

/// Why a `deb` line could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{line}` is not a usable apt source: {reason}")]
pub struct AptSourceError {
    /// The line as written.
    pub line: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for AptSource {
    type Err = AptSourceError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let fail = |reason| AptSourceError {
            line: line.trim().to_string(),
            reason,
        };
        let mut words = line.split_whitespace();
        match words.next() {
            Some("deb") => {}
            Some("deb-src") => {
                return Err(fail(
                    "source repositories (`deb-src`) cannot provide packages",
                ));
            }
            _ => {
                return Err(fail(
                    "it must start with `deb`, as in `deb URL SUITE COMPONENT`",
                ));
            }
        }
        let mut words = words.peekable();
        let mut options = BTreeMap::new();
        if words.peek().is_some_and(|w| w.starts_with('[')) {
            let mut closed = false;
            for word in words.by_ref() {
                let (body, last) = match word.strip_suffix(']') {
                    Some(body) => (body, true),
                    None => (word, false),
                };
                let body = body.strip_prefix('[').unwrap_or(body);
                for option in body.split_whitespace() {
                    let (key, value) = option
                        .split_once('=')
                        .ok_or_else(|| fail("options must be written `[key=value]`"))?;
                    options.insert(key.to_string(), value.to_string());
                }
                if last {
                    closed = true;
                    break;
                }
            }
            if !closed {
                return Err(fail("the `[` of the options is never closed"));
            }
        }
        let url = words
            .next()
            .ok_or_else(|| fail("the repository URL is missing"))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(fail("only http:// and https:// repositories are supported"));
        }
        let suite = words
            .next()
            .ok_or_else(|| fail("the suite (such as `bookworm`) is missing"))?;
        let components: Vec<String> = words.map(str::to_string).collect();
        // sources.list(5): "If suite is an exact path, components must be omitted"; otherwise
        // at least one component is required.
        match (suite.ends_with('/'), components.is_empty()) {
            (true, false) => {
                return Err(fail(
                    "a flat repository (suite ending in `/`) takes no components",
                ));
            }
            (false, true) => return Err(fail("the components (such as `main`) are missing")),
            _ => {}
        }
        Ok(AptSource {
            options,
            url: url.to_string(),
            suite: suite.to_string(),
            components,
        })
    }
}

impl fmt::Display for AptSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deb ")?;
        if !self.options.is_empty() {
            let options: Vec<String> = self
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            write!(f, "[{}] ", options.join(" "))?;
        }
        write!(f, "{} {}", self.url, self.suite)?;
        for component in &self.components {
            write!(f, " {component}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_options_and_flat_repositories() {
        for line in [
            "deb http://deb.example.com/debian bookworm main contrib",
            "deb [arch=amd64 signed-by=/k.asc] https://deb.example.com/ bookworm main",
            "deb https://deb.example.com/flat/ ./",
        ] {
            let src: AptSource = line.parse().unwrap();
            assert_eq!(src.to_string(), line);
        }
        let src: AptSource = "deb [ arch=amd64 ] http://x/ s c".parse().unwrap();
        assert_eq!(src.options["arch"], "amd64");
    }

    #[test]
    fn explains_what_is_wrong() {
        let reason = |line: &str| line.parse::<AptSource>().unwrap_err().reason;
        assert_eq!(
            reason("deb-src http://x/ s main"),
            "source repositories (`deb-src`) cannot provide packages"
        );
        assert_eq!(
            reason("http://x/ s main"),
            "it must start with `deb`, as in `deb URL SUITE COMPONENT`"
        );
        assert_eq!(
            reason("deb ftp://x/ s main"),
            "only http:// and https:// repositories are supported"
        );
        assert_eq!(
            reason("deb http://x/"),
            "the suite (such as `bookworm`) is missing"
        );
        assert_eq!(
            reason("deb http://x/ s"),
            "the components (such as `main`) are missing"
        );
        assert_eq!(
            reason("deb http://x/ ./ main"),
            "a flat repository (suite ending in `/`) takes no components"
        );
        assert_eq!(
            reason("deb [arch http://x/ s c"),
            "options must be written `[key=value]`"
        );
        assert_eq!(
            reason("deb [a=b http://x/"),
            "options must be written `[key=value]`"
        );
        let err = "deb [a=b c=d".parse::<AptSource>().unwrap_err();
        assert_eq!(err.reason, "the `[` of the options is never closed");
        assert_eq!(
            err.to_string(),
            "`deb [a=b c=d` is not a usable apt source: the `[` of the options is never closed"
        );
    }
}
