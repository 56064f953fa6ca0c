//! The software bill of materials of an image (DESIGN §1.6): what is inside it, as CycloneDX
//! 1.6 JSON or SPDX 2.3 JSON, so that scanners, auditors and policy engines need not unpack it.
//!
//! The build stage gathers an [`Sbom`] — every Debian package of the `os` layer (with its
//! source package, the `.deb`'s SHA-256 and the licenses of its machine-readable copyright
//! file), every Python distribution of the venv (with its file's SHA-256, its declared license
//! and whether it was compiled from an sdist), the application, the image's digests and
//! grocker as the tool; this crate writes it. Nothing here reads a clock or a random source:
//! the document's date is the image's (`SOURCE_DATE_EPOCH`), its serial number is derived from
//! its content, and components are sorted, so the same lock gives the same bytes.
//!
//! ```
//! use grocker_sbom::{DebianComponent, Format, ImageRef, PythonComponent, Sbom};
//! let sbom = Sbom {
//!     image: ImageRef { name: "team/httpie:3.2.4".into(), digests: vec![("linux/amd64".into(), format!("sha256:{}", "0".repeat(64)))], index: None },
//!     tool_version: "0.1.0".into(),
//!     created: 0,
//!     debian: vec![DebianComponent {
//!         name: "libssl3".into(), version: "3.0.22-1~deb12u2".into(), architecture: "amd64".into(),
//!         distro: "debian-12".into(), source: "openssl".into(), source_version: "3.0.22-1~deb12u2".into(),
//!         sha256: grocker_hash::Sha256::digest(b"deb"), licenses: Some(vec!["Apache-2.0".into()]),
//!     }],
//!     python: vec![PythonComponent {
//!         name: "httpie".into(), version: "3.2.4".into(), filename: "httpie-3.2.4-py3-none-any.whl".into(),
//!         sha256: Some(grocker_hash::Sha256::digest(b"whl")), license: grocker_sbom::License::Expression("BSD-3-Clause".into()),
//!         built_from_sdist: None, application: true, vendored_by: None,
//!     }],
//! };
//! let json = sbom.to_json(Format::CycloneDx);
//! assert!(String::from_utf8(json)?.contains("pkg:deb/debian/libssl3@3.0.22-1~deb12u2?arch=amd64&distro=debian-12"));
//! # Ok::<(), std::string::FromUtf8Error>(())
//! ```
#![deny(missing_docs)]

mod cyclonedx;
mod purl;
mod spdx;

pub use purl::{debian_purl, pypi_purl};

/// Which document format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// CycloneDX 1.6, JSON.
    CycloneDx,
    /// SPDX 2.3, JSON.
    Spdx,
}

impl Format {
    /// The media type of the document, as an OCI artifact's `artifactType` names it.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::CycloneDx => "application/vnd.cyclonedx+json",
            Format::Spdx => "application/spdx+json",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cyclonedx" => Ok(Format::CycloneDx),
            "spdx" => Ok(Format::Spdx),
            other => Err(format!(
                "unknown SBOM format `{other}`: use `cyclonedx` (CycloneDX 1.6 JSON) or `spdx` \
                 (SPDX 2.3 JSON)"
            )),
        }
    }
}

/// The image the document describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// Its name (`registry/repository:tag`).
    pub name: String,
    /// Each platform's manifest digest (`linux/amd64`, `sha256:…`).
    pub digests: Vec<(String, String)>,
    /// The index's digest, for a multi-platform image.
    pub index: Option<String>,
}

/// One Debian package of the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebianComponent {
    /// Binary package name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `amd64`, `arm64` or `all`.
    pub architecture: String,
    /// The purl `distro` qualifier, `debian-12`.
    pub distro: String,
    /// Its source package.
    pub source: String,
    /// The source package's version.
    pub source_version: String,
    /// The `.deb`'s SHA-256.
    pub sha256: grocker_hash::Sha256,
    /// The licenses its copyright file names; `None` when that file is not machine-readable.
    pub licenses: Option<Vec<String>>,
}

/// What a distribution says its license is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum License {
    /// An SPDX expression.
    Expression(String),
    /// Names (not SPDX identifiers); none when it declares nothing.
    Names(Vec<String>),
}

/// One Python distribution installed in the venv.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PythonComponent {
    /// Normalized name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The file installed (a wheel), or the sdist it was compiled from; for a vendored
    /// distribution, its metadata's path in the wheel that carries it.
    pub filename: String,
    /// That file's SHA-256 (the lock's); `None` for a vendored distribution, which is no file
    /// of its own.
    pub sha256: Option<grocker_hash::Sha256>,
    /// Its declared license.
    pub license: License,
    /// For a wheel compiled from an sdist: the built wheel's name and SHA-256.
    pub built_from_sdist: Option<(String, grocker_hash::Sha256)>,
    /// Whether this is the application itself.
    pub application: bool,
    /// For a distribution vendored inside another's wheel (pip's and setuptools' `_vendor`
    /// directories keep their `.dist-info`), the name of that distribution: it is in the
    /// image, and scanners count it.
    pub vendored_by: Option<String>,
}

/// Everything the document says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sbom {
    /// The image.
    pub image: ImageRef,
    /// grocker's version.
    pub tool_version: String,
    /// The image's creation date, seconds since the epoch (`SOURCE_DATE_EPOCH`).
    pub created: u64,
    /// Debian packages (any order: written sorted).
    pub debian: Vec<DebianComponent>,
    /// Python distributions (any order: written sorted).
    pub python: Vec<PythonComponent>,
}

impl Sbom {
    /// The document in `format`: pretty-printed JSON, ending in a newline, the same bytes for
    /// the same content.
    pub fn to_json(&self, format: Format) -> Vec<u8> {
        let mut sorted = self.clone();
        sorted.debian.sort_by(|a, b| {
            (&a.name, &a.architecture, &a.version).cmp(&(&b.name, &b.architecture, &b.version))
        });
        sorted.debian.dedup();
        sorted
            .python
            .sort_by(|a, b| (&a.name, &a.filename).cmp(&(&b.name, &b.filename)));
        sorted.python.dedup();
        let value = match format {
            Format::CycloneDx => cyclonedx::document(&sorted),
            Format::Spdx => spdx::document(&sorted),
        };
        // Serializing a `Value` cannot fail.
        let mut bytes = serde_json::to_vec_pretty(&value).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

/// An RFC 3339 UTC date (`1970-01-01T00:00:00Z`) for `seconds` since the epoch.
fn rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A digest's hex part (`sha256:abc…` → `abc…`).
fn hex_of(digest: &str) -> &str {
    digest.split_once(':').map_or(digest, |(_, hex)| hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sbom {
        let deb = |name: &str| DebianComponent {
            name: name.into(),
            version: "1:1.0-1+deb12u1".into(),
            architecture: "amd64".into(),
            distro: "debian-12".into(),
            source: "src".into(),
            source_version: "1.0-1".into(),
            sha256: grocker_hash::Sha256::digest(name.as_bytes()),
            licenses: None,
        };
        let py = |name: &str, vendored: bool| PythonComponent {
            name: name.into(),
            version: "2.0".into(),
            filename: format!("{name}-2.0-py3-none-any.whl"),
            sha256: (!vendored).then(|| grocker_hash::Sha256::digest(name.as_bytes())),
            license: License::Names(vec!["MIT License".into()]),
            built_from_sdist: None,
            application: false,
            vendored_by: vendored.then(|| "pip".to_string()),
        };
        Sbom {
            image: ImageRef {
                name: "registry.example/team/app:1.0".into(),
                digests: vec![("linux/amd64".into(), format!("sha256:{}", "ab".repeat(32)))],
                index: None,
            },
            tool_version: "0.1.0".into(),
            created: 0,
            debian: vec![deb("zlib1g"), deb("libc6")],
            python: vec![py("requests", false), py("certifi", true)],
        }
    }

    #[test]
    fn the_same_content_in_any_order_gives_the_same_bytes() {
        let a = sample();
        let mut b = sample();
        b.debian.reverse();
        b.python.reverse();
        for format in [Format::CycloneDx, Format::Spdx] {
            assert_eq!(a.to_json(format), b.to_json(format));
        }
        let mut c = sample();
        c.debian[0].version = "1:1.0-1+deb12u2".into();
        assert_ne!(a.to_json(Format::CycloneDx), c.to_json(Format::CycloneDx));
    }

    #[test]
    fn documents_name_every_package_by_purl() {
        let sbom = sample();
        let cdx: serde_json::Value =
            serde_json::from_slice(&sbom.to_json(Format::CycloneDx)).unwrap();
        let purls: Vec<&str> = cdx["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["purl"].as_str().unwrap())
            .collect();
        assert_eq!(
            purls,
            [
                "pkg:deb/debian/libc6@1%3A1.0-1%2Bdeb12u1?arch=amd64&distro=debian-12",
                "pkg:deb/debian/zlib1g@1%3A1.0-1%2Bdeb12u1?arch=amd64&distro=debian-12",
                "pkg:pypi/certifi@2.0",
                "pkg:pypi/requests@2.0",
            ]
        );
        assert!(
            cdx["components"][2].get("hashes").is_none(),
            "a vendored package has no file"
        );
        let spdx: serde_json::Value = serde_json::from_slice(&sbom.to_json(Format::Spdx)).unwrap();
        assert_eq!(spdx["packages"].as_array().unwrap().len(), 5);
        assert_eq!(spdx["relationships"].as_array().unwrap().len(), 5);
        assert_eq!(spdx["creationInfo"]["created"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
