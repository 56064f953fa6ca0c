//! Grocker's release form, `NAME[EXTRAS]==VERSION`: what to package from an index.

use std::fmt;
use std::str::FromStr;

use grocker_wheel::{ExtraName, Operator, PackageName, Requirement, Version, VersionOrUrl};

/// One pinned release of a project on the index.
#[derive(Clone, Debug)]
pub struct Release {
    /// The project.
    pub name: PackageName,
    /// Its extras, sorted, without duplicates.
    pub extras: Vec<ExtraName>,
    /// The exact version.
    pub version: Version,
    /// The same, as a requirement for the resolver.
    pub requirement: Requirement,
}

/// Why a string is not a release.
#[derive(Debug, thiserror::Error)]
pub enum ParseReleaseError {
    /// Not a release: a URL, or not a requirement at all (and, for a [`Release`], not one
    /// exact `==` pin).
    #[error(
        "`{given}` is not a release: grocker builds a release from an index, written NAME, \
         NAME==VERSION, NAME[EXTRA,...]==VERSION or with version specifiers (e.g. httpie==3.2.4, \
         'httpie>=3.2,<3.3'){}",
        reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
    )]
    NotPinned {
        /// What was given.
        given: String,
        /// The requirement parser's complaint, when there was one.
        reason: Option<String>,
    },
    /// A release with an environment marker.
    #[error("`{given}`: a release cannot have an environment marker (`;`)")]
    Marker {
        /// What was given.
        given: String,
    },
}

impl FromStr for Release {
    type Err = ParseReleaseError;

    /// A spec that pins one exact version (`NAME==VERSION`), and nothing else.
    fn from_str(s: &str) -> Result<Self, ParseReleaseError> {
        let spec: ReleaseSpec = s.parse()?;
        let version = spec
            .pinned()
            .cloned()
            .ok_or_else(|| ParseReleaseError::NotPinned {
                given: s.to_string(),
                reason: None,
            })?;
        Ok(spec.at(version))
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if !self.extras.is_empty() {
            let extras: Vec<String> = self.extras.iter().map(ToString::to_string).collect();
            write!(f, "[{}]", extras.join(","))?;
        }
        write!(f, "=={}", self.version)
    }
}

/// What to package from an index, as typed: a name with its extras and any version specifiers
/// (`httpie`, `httpie>=3.2,<3.3`, `uvicorn[standard]==0.32.1`) — Grocker's "version specifiers
/// can be used". The plan pins it to one [`Release`]: the newest version allowed, kept in
/// `grocker.lock` until `--upgrade`.
#[derive(Clone, Debug)]
pub struct ReleaseSpec {
    /// The project.
    pub name: PackageName,
    /// Its extras, sorted, without duplicates.
    pub extras: Vec<ExtraName>,
    /// The requirement the resolver starts from.
    pub requirement: Requirement,
}

impl FromStr for ReleaseSpec {
    type Err = ParseReleaseError;

    fn from_str(s: &str) -> Result<Self, ParseReleaseError> {
        let not_a_release = |reason: Option<String>| ParseReleaseError::NotPinned {
            given: s.to_string(),
            reason,
        };
        let requirement = grocker_wheel::parse_requirement(s.trim())
            .map_err(|e| not_a_release(Some(e.to_string())))?;
        if matches!(requirement.version_or_url, Some(VersionOrUrl::Url(_))) {
            return Err(not_a_release(Some(
                "a URL is not a release; download the wheel and build the file".to_string(),
            )));
        }
        if !requirement.marker.is_true() {
            return Err(ParseReleaseError::Marker {
                given: s.to_string(),
            });
        }
        let mut extras = requirement.extras.clone();
        extras.sort();
        extras.dedup();
        Ok(Self {
            name: requirement.name.clone(),
            extras,
            requirement,
        })
    }
}

impl ReleaseSpec {
    /// The version an exact `==` pin names, if that is what was given.
    pub fn pinned(&self) -> Option<&Version> {
        match self.requirement.version_or_url.as_ref() {
            Some(VersionOrUrl::VersionSpecifier(specifiers)) => match &specifiers[..] {
                [one] if matches!(one.operator(), Operator::Equal | Operator::ExactEqual) => {
                    Some(one.version())
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The release this spec was pinned to.
    pub fn at(&self, version: Version) -> Release {
        Release {
            name: self.name.clone(),
            extras: self.extras.clone(),
            version,
            requirement: self.requirement.clone(),
        }
    }
}

impl fmt::Display for ReleaseSpec {
    /// An exact pin is written as its [`Release`] is (`uvicorn[standard]==0.32.1`, the form
    /// `grocker.lock` has always recorded); anything else with its specifiers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(version) = self.pinned() {
            return self.at(version.clone()).fmt(f);
        }
        write!(f, "{}", self.name)?;
        if !self.extras.is_empty() {
            let extras: Vec<String> = self.extras.iter().map(ToString::to_string).collect();
            write!(f, "[{}]", extras.join(","))?;
        }
        if let Some(VersionOrUrl::VersionSpecifier(specifiers)) = &self.requirement.version_or_url {
            write!(f, "{specifiers}")?;
        }
        Ok(())
    }
}

/// Grocker's default image name: `[<prefix>/]<base name, or project[-<extra>…]>:<version>`, with
/// `+` (local versions) made `-` since tags cannot hold it.
pub fn default_image_name(release: &Release, prefix: Option<&str>, base: Option<&str>) -> String {
    let name = match base {
        Some(base) => base.to_string(),
        None => {
            let mut name = release.name.to_string();
            for extra in &release.extras {
                name.push('-');
                name.push_str(extra.as_ref());
            }
            name
        }
    };
    let tag = release.version.to_string().replace('+', "-");
    match prefix.map(|p| p.trim_end_matches('/')) {
        Some(prefix) if !prefix.is_empty() => format!("{prefix}/{name}:{tag}"),
        _ => format!("{name}:{tag}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_follow_grocker() {
        let name = |release: &str, prefix, base| {
            default_image_name(&release.parse().unwrap(), prefix, base)
        };
        assert_eq!(name("httpie==3.2.4", None, None), "httpie:3.2.4");
        assert_eq!(
            name("uvicorn[standard,foo]==0.32.1", None, None),
            "uvicorn-foo-standard:0.32.1"
        );
        assert_eq!(
            name("app==1.0+local.2", Some("registry.example.com/team/"), None),
            "registry.example.com/team/app:1.0-local.2"
        );
        assert_eq!(
            name("app[x]==2", Some("127.0.0.1:5000/t"), Some("svc")),
            "127.0.0.1:5000/t/svc:2"
        );
    }

    #[test]
    fn specs_take_names_and_specifiers() {
        let spec: ReleaseSpec = "httpie".parse().unwrap();
        assert_eq!(
            (spec.to_string(), spec.pinned()),
            ("httpie".to_string(), None)
        );
        let spec: ReleaseSpec = "HTTPie >=3.2, <3.3".parse().unwrap();
        assert_eq!(spec.to_string(), "httpie>=3.2, <3.3");
        assert_eq!(spec.pinned(), None);
        let spec: ReleaseSpec = "Uvicorn[standard]==0.32.1".parse().unwrap();
        assert_eq!(spec.to_string(), "uvicorn[standard]==0.32.1");
        assert_eq!(
            spec.pinned().map(ToString::to_string).as_deref(),
            Some("0.32.1")
        );
        let release = spec.at("0.32.1".parse().unwrap());
        assert_eq!(release.to_string(), "uvicorn[standard]==0.32.1");
        let err = "httpie @ https://x/y.whl"
            .parse::<ReleaseSpec>()
            .unwrap_err();
        assert!(err.to_string().contains("a URL is not a release"), "{err}");
        assert!(matches!(
            "a>1; python_version>'3'"
                .parse::<ReleaseSpec>()
                .unwrap_err(),
            ParseReleaseError::Marker { .. }
        ));
        assert!("not a requirement!".parse::<ReleaseSpec>().is_err());
    }

    #[test]
    fn only_pinned_releases_parse() {
        for bad in [
            "httpie",
            "httpie>=3",
            "httpie==3,<4",
            "httpie @ https://x/y.whl",
        ] {
            let err = bad.parse::<Release>().unwrap_err();
            assert!(matches!(err, ParseReleaseError::NotPinned { .. }), "{bad}");
            assert!(err.to_string().contains("NAME==VERSION"), "{err}");
            assert!(err.to_string().contains("specifiers"), "{err}");
        }
        let err = "a==1; python_version>'3'".parse::<Release>().unwrap_err();
        assert!(matches!(err, ParseReleaseError::Marker { .. }));
        let r: Release = "Uvicorn[standard,standard]==0.32.1".parse().unwrap();
        assert_eq!(r.to_string(), "uvicorn[standard]==0.32.1");
    }
}
