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
    /// Not `NAME==VERSION` (a range, a URL, no version, not a requirement at all).
    #[error(
        "`{given}` is not a release: grocker builds one pinned release, written NAME==VERSION or \
         NAME[EXTRA,...]==VERSION (e.g. httpie==3.2.4){}",
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

    fn from_str(s: &str) -> Result<Self, ParseReleaseError> {
        let not_pinned = |reason: Option<String>| ParseReleaseError::NotPinned {
            given: s.to_string(),
            reason,
        };
        let requirement =
            Requirement::from_str(s.trim()).map_err(|e| not_pinned(Some(e.to_string())))?;
        let Some(VersionOrUrl::VersionSpecifier(specifiers)) = requirement.version_or_url.as_ref()
        else {
            return Err(not_pinned(None));
        };
        let [specifier] = &specifiers[..] else {
            return Err(not_pinned(None));
        };
        if !matches!(specifier.operator(), Operator::Equal | Operator::ExactEqual) {
            return Err(not_pinned(None));
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
            version: specifier.version().clone(),
            requirement,
        })
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
        }
        let err = "a==1; python_version>'3'".parse::<Release>().unwrap_err();
        assert!(matches!(err, ParseReleaseError::Marker { .. }));
        let r: Release = "Uvicorn[standard,standard]==0.32.1".parse().unwrap();
        assert_eq!(r.to_string(), "uvicorn[standard]==0.32.1");
    }
}
