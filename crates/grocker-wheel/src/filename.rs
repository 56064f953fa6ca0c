//! PEP 427 wheel file names.

use std::fmt;
use std::str::FromStr;

use crate::{PackageName, Version, WheelFilenameError};

/// A parsed wheel file name (PEP 427, "File name convention"):
///
/// > `{distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl`
///
/// Tags may be compressed tag sets (`py2.py3`, `manylinux_2_17_x86_64.manylinux2014_x86_64`),
/// kept here as their dot-separated parts. `Display` writes the canonical spelling (the name as
/// in `.dist-info` directories, `charset_normalizer`), which parses back to an equal value and
/// is byte-identical for every name built by a current tool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WheelFilename {
    /// The distribution, normalized.
    pub name: PackageName,
    /// Its version.
    pub version: Version,
    /// The optional build tag, which breaks ties between wheels of one version.
    pub build: Option<BuildTag>,
    /// Python tags (`cp311`, `py3`).
    pub python: Vec<String>,
    /// ABI tags (`cp311`, `abi3`, `none`).
    pub abi: Vec<String>,
    /// Platform tags (`manylinux_2_17_x86_64`, `any`).
    pub platform: Vec<String>,
}

/// A wheel's build tag. PEP 427: "Must start with a digit. Acts as a tie-breaker if two wheel
/// file names are the same in all other respects (i.e. name, version, and other tags). Sort as an
/// empty tuple if unspecified, else sort as a two-item tuple with the first item being the
/// initial digits as an `int`, and the second item being the remainder of the tag as a `str`."
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BuildTag {
    /// The leading digits.
    pub number: u64,
    /// What follows them.
    pub suffix: String,
}

impl fmt::Display for BuildTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.number, self.suffix)
    }
}

impl WheelFilename {
    /// Every `(python, abi, platform)` triple the compressed tag sets expand to.
    pub fn tag_triples(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.python.iter().flat_map(move |py| {
            self.abi.iter().flat_map(move |abi| {
                self.platform
                    .iter()
                    .map(move |plat| (py.as_str(), abi.as_str(), plat.as_str()))
            })
        })
    }

    /// The `.dist-info` directory name a wheel of this name must contain, canonical spelling.
    pub fn dist_info_dir(&self) -> String {
        format!(
            "{}-{}.dist-info",
            self.name.as_dist_info_name(),
            self.version
        )
    }
}

impl FromStr for WheelFilename {
    type Err = WheelFilenameError;

    fn from_str(file: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| WheelFilenameError {
            file: file.to_string(),
            reason: reason.to_string(),
        };
        let stem = file
            .strip_suffix(".whl")
            .ok_or_else(|| err("it does not end with `.whl`"))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, python, abi, platform) = match parts[..] {
            [n, v, py, abi, plat] => (n, v, None, py, abi, plat),
            [n, v, b, py, abi, plat] => (n, v, Some(b), py, abi, plat),
            _ => {
                return Err(err(
                    "expected NAME-VERSION(-BUILD)?-PYTHON-ABI-PLATFORM.whl (5 or 6 parts \
                     separated by `-`)",
                ));
            }
        };
        let name =
            package_name(name).map_err(|e| err(&format!("invalid distribution name: {e}")))?;
        let version =
            Version::from_str(version).map_err(|e| err(&format!("invalid version: {e}")))?;
        let build = build
            .map(parse_build_tag)
            .transpose()
            .map_err(|r| err(&r))?;
        let tags = |set: &str, what: &str| -> Result<Vec<String>, WheelFilenameError> {
            let tags: Vec<String> = set.split('.').map(str::to_string).collect();
            if tags.iter().any(|t| t.is_empty()) {
                return Err(err(&format!("empty {what} tag")));
            }
            Ok(tags)
        };
        Ok(Self {
            name,
            version,
            build,
            python: tags(python, "python")?,
            abi: tags(abi, "ABI")?,
            platform: tags(platform, "platform")?,
        })
    }
}

/// A distribution name; unlike `PackageName::from_str`, refuses the empty string.
pub(crate) fn package_name(name: &str) -> Result<PackageName, String> {
    if name.is_empty() {
        return Err("empty name".to_string());
    }
    PackageName::from_str(name).map_err(|e| e.to_string())
}

fn parse_build_tag(tag: &str) -> Result<BuildTag, String> {
    let digits = tag.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("build tag `{tag}` does not start with a digit"));
    }
    let number = tag[..digits]
        .parse()
        .map_err(|_| format!("build tag `{tag}` is out of range"))?;
    Ok(BuildTag {
        number,
        suffix: tag[digits..].to_string(),
    })
}

impl fmt::Display for WheelFilename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.name.as_dist_info_name(), self.version)?;
        if let Some(build) = &self.build {
            write!(f, "-{build}")?;
        }
        write!(
            f,
            "-{}-{}-{}.whl",
            self.python.join("."),
            self.abi.join("."),
            self.platform.join(".")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        for name in [
            "six-1.16.0-py2.py3-none-any.whl",
            "numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "charset_normalizer-3.4.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "foo-1.0-1local-py3-none-any.whl",
        ] {
            let parsed: WheelFilename = name.parse().unwrap();
            assert_eq!(parsed.to_string(), name);
            assert_eq!(parsed.to_string().parse::<WheelFilename>().unwrap(), parsed);
        }
        let w: WheelFilename = "Django-4.2-py3-none-any.whl".parse().unwrap();
        assert_eq!(w.name.as_ref(), "django");
        assert_eq!(w.to_string(), "django-4.2-py3-none-any.whl");
        let w: WheelFilename = "foo-1.0-12b-py3-none-any.whl".parse().unwrap();
        let build = w.build.clone().unwrap();
        assert_eq!((build.number, build.suffix.as_str()), (12, "b"));
        assert_eq!(w.tag_triples().count(), 1);
        let six: WheelFilename = "six-1.16.0-py2.py3-none-any.whl".parse().unwrap();
        assert_eq!(
            six.tag_triples().collect::<Vec<_>>(),
            [("py2", "none", "any"), ("py3", "none", "any")]
        );
        assert_eq!(six.dist_info_dir(), "six-1.16.0.dist-info");
    }

    #[test]
    fn rejects_bad_names_naming_the_file() {
        for bad in [
            "six-1.16.0-py2.py3-none-any.zip",
            "six-1.16.0-none-any.whl",
            "six-1.16.0-x-y-py3-none-any.whl",
            "six-notaversion!!-py3-none-any.whl",
            "-1.0-py3-none-any.whl",
            "six-1.0-b1-py3-none-any.whl",
            "six-1.0-py3..py2-none-any.whl",
        ] {
            let err = bad.parse::<WheelFilename>().unwrap_err();
            assert_eq!(err.file, bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn build_tags_sort_numerically() {
        let a = parse_build_tag("9").unwrap();
        let b = parse_build_tag("10").unwrap();
        assert!(a < b);
        // Option's order is PEP 427's: no build tag sorts first.
        assert!(None < Some(&a));
    }
}
