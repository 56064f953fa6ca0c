//! `Packages` indexes: what binary packages a suite has, and where their `.deb`s are.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use grocker_hash::Sha256;
use url::Url;

use crate::{DebianError, DebianVersion};

/// A package's `Multi-Arch:` field (see the Multi-Arch spec on wiki.ubuntu.com, adopted by
/// Debian Policy §5.6.31).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MultiArch {
    /// No field: only satisfies dependencies of its own architecture.
    #[default]
    No,
    /// `same`: co-installable across architectures (libraries).
    Same,
    /// `foreign`: satisfies dependencies of any architecture (tools, data).
    Foreign,
    /// `allowed`: satisfies `name:any` dependencies (interpreters such as python3.11).
    Allowed,
}

/// One binary package as the `Packages` index describes it.
#[derive(Debug, Clone)]
pub struct BinaryPackage {
    /// `Package:`.
    pub name: String,
    /// `Version:`.
    pub version: DebianVersion,
    /// `Architecture:` (`amd64`, `all`, …).
    pub architecture: String,
    /// `Multi-Arch:`.
    pub multi_arch: MultiArch,
    /// `Pre-Depends:` as written (parse with [`crate::parse_relations`]).
    pub pre_depends: String,
    /// `Depends:` as written.
    pub depends: String,
    /// `Provides:` as written.
    pub provides: String,
    /// The source package name (`Source:`, or the package name when absent).
    pub source_name: String,
    /// The source version (`Source: name (version)` for binNMUs, else the package version).
    pub source_version: String,
    /// `Filename:`: the `.deb` path relative to [`BinaryPackage::base_url`].
    pub filename: String,
    /// `Size:` of the `.deb` in bytes.
    pub size: u64,
    /// `SHA256:` of the `.deb`.
    pub sha256: Sha256,
    /// `Installed-Size:` in KiB (0 when absent).
    pub installed_size_kib: u64,
    /// The archive root this package comes from (e.g. `https://deb.debian.org/debian-security`).
    pub base_url: Url,
    /// The whole `Packages` text this package was read from, and its paragraph's byte range.
    text: Arc<str>,
    range: Range<usize>,
}

impl BinaryPackage {
    /// The package's paragraph exactly as in the `Packages` file.
    pub fn paragraph(&self) -> &str {
        &self.text[self.range.clone()]
    }

    /// The full URL of the `.deb`.
    pub fn deb_url(&self) -> Result<Url, DebianError> {
        crate::error::join_url(&self.base_url, &self.filename)
    }
}

/// All binary packages of one architecture across the loaded suites, one version per name:
/// the highest (so a security update in `bookworm-security` wins over `bookworm`).
#[derive(Debug, Clone, Default)]
pub struct PackageIndex {
    packages: BTreeMap<String, BinaryPackage>,
}

impl PackageIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every package of a `Packages` file's text, keeping per name the highest version
    /// seen so far. `base_url` is the archive root its `Filename:` paths are relative to;
    /// `url` names the file in errors. One pass over the text; only the winners are copied.
    pub fn add_packages(
        &mut self,
        base_url: &Url,
        url: &str,
        text: Arc<str>,
    ) -> Result<(), DebianError> {
        let whole = Arc::clone(&text);
        crate::deb822::scan(&whole, |range, fields| {
            let mut f = Fields::default();
            for &(name, value) in fields {
                // Field names in Packages files are always capitalized this way; matching them
                // exactly keeps this loop cheap on the 50 MB bookworm index.
                match name {
                    "Package" => f.package = value,
                    "Version" => f.version = value,
                    "Architecture" => f.architecture = value,
                    "Multi-Arch" => f.multi_arch = value,
                    "Depends" => f.depends = value,
                    "Pre-Depends" => f.pre_depends = value,
                    "Provides" => f.provides = value,
                    "Source" => f.source = value,
                    "Filename" => f.filename = value,
                    "Size" => f.size = value,
                    "SHA256" => f.sha256 = value,
                    "Installed-Size" => f.installed_size = value,
                    _ => {}
                }
            }
            let malformed = |message: String| DebianError::MalformedPackages {
                url: url.to_string(),
                package: f.package.to_string(),
                message,
            };
            for (field, value) in [
                ("Package", f.package),
                ("Version", f.version),
                ("Architecture", f.architecture),
                ("Filename", f.filename),
                ("Size", f.size),
                ("SHA256", f.sha256),
            ] {
                if value.is_empty() {
                    return Err(malformed(format!("no {field} field")));
                }
            }
            let version: DebianVersion = f.version.parse()?;
            if let Some(existing) = self.packages.get(f.package)
                && existing.version >= version
            {
                return Ok(());
            }
            let (source_name, source_version) = match f.source.split_once('(') {
                Some((name, v)) => (name.trim(), v.trim_end_matches(')').trim()),
                None if f.source.is_empty() => (f.package, f.version),
                None => (f.source, f.version),
            };
            let package = BinaryPackage {
                name: f.package.to_string(),
                architecture: f.architecture.to_string(),
                multi_arch: match f.multi_arch {
                    "same" => MultiArch::Same,
                    "foreign" => MultiArch::Foreign,
                    "allowed" => MultiArch::Allowed,
                    _ => MultiArch::No,
                },
                pre_depends: f.pre_depends.to_string(),
                depends: f.depends.to_string(),
                provides: f.provides.to_string(),
                source_name: source_name.to_string(),
                source_version: source_version.to_string(),
                filename: f.filename.to_string(),
                size: f
                    .size
                    .parse()
                    .map_err(|_| malformed(format!("bad Size `{}`", f.size)))?,
                sha256: f
                    .sha256
                    .parse()
                    .map_err(|_| malformed(format!("bad SHA256 `{}`", f.sha256)))?,
                installed_size_kib: if f.installed_size.is_empty() {
                    0
                } else {
                    f.installed_size.parse().map_err(|_| {
                        malformed(format!("bad Installed-Size `{}`", f.installed_size))
                    })?
                },
                version,
                base_url: base_url.clone(),
                text: Arc::clone(&text),
                range,
            };
            self.packages.insert(package.name.clone(), package);
            Ok(())
        })
    }

    /// Adds the packages of `other`, keeping per name the higher version (on a tie, ours).
    pub fn merge(&mut self, other: PackageIndex) {
        for (name, package) in other.packages {
            match self.packages.get(&name) {
                Some(existing) if existing.version >= package.version => {}
                _ => {
                    self.packages.insert(name, package);
                }
            }
        }
    }

    /// The package called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&BinaryPackage> {
        self.packages.get(name)
    }

    /// Every package, by name.
    pub fn iter(&self) -> impl Iterator<Item = &BinaryPackage> {
        self.packages.values()
    }

    /// How many packages.
    pub fn len(&self) -> usize {
        self.packages.len()
    }

    /// Whether no package was loaded.
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }
}

#[derive(Default)]
struct Fields<'a> {
    package: &'a str,
    version: &'a str,
    architecture: &'a str,
    multi_arch: &'a str,
    depends: &'a str,
    pre_depends: &'a str,
    provides: &'a str,
    source: &'a str,
    filename: &'a str,
    size: &'a str,
    sha256: &'a str,
    installed_size: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SNIPPET: &str = include_str!("../tests/data/Packages-snippet");

    fn base() -> Url {
        Url::parse("https://deb.debian.org/debian").unwrap()
    }

    #[test]
    fn parses_a_real_snippet() {
        let mut index = PackageIndex::new();
        index
            .add_packages(&base(), "snippet", SNIPPET.into())
            .unwrap();
        let p = index.get("libpython3.11-stdlib").unwrap();
        assert!(
            p.version.to_string().starts_with("3.11.2-6+deb12u"),
            "{}",
            p.version
        );
        assert_eq!(p.architecture, "amd64");
        assert_eq!(p.multi_arch, MultiArch::Same);
        assert_eq!(p.source_name, "python3.11");
        assert!(p.depends.contains("libsqlite3-0"));
        assert!(p.installed_size_kib > 1000);
        assert!(p.paragraph().starts_with("Package: libpython3.11-stdlib\n"));
        assert!(p.paragraph().trim_end().ends_with(&p.sha256.to_string()));
        assert_eq!(
            p.deb_url().unwrap().as_str(),
            format!("https://deb.debian.org/debian/{}", p.filename)
        );
        // binNMU: `Source: bzip2 (1.0.8-5)` for libbz2-1.0 1.0.8-5+b1
        let bz = index.get("libbz2-1.0").unwrap();
        assert_eq!(
            (bz.source_name.as_str(), bz.source_version.as_str()),
            ("bzip2", "1.0.8-5")
        );
        assert_eq!(index.get("ca-certificates").unwrap().architecture, "all");
    }

    #[test]
    fn highest_version_wins() {
        let old = "Package: a\nVersion: 1.0-1\nArchitecture: all\nFilename: pool/a_1\nSize: 1\n\
                   SHA256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n";
        let new = old
            .replace("1.0-1", "1.0-1+deb12u1")
            .replace("pool/a_1", "pool/a_2");
        let security = Url::parse("https://deb.debian.org/debian-security").unwrap();
        for order in [[old, &new], [&new, old]] {
            let mut index = PackageIndex::new();
            let bases = if order[0] == old {
                [&base(), &security]
            } else {
                [&security, &base()]
            };
            index.add_packages(bases[0], "1", order[0].into()).unwrap();
            index.add_packages(bases[1], "2", order[1].into()).unwrap();
            let a = index.get("a").unwrap();
            assert_eq!(a.version.to_string(), "1.0-1+deb12u1");
            assert_eq!(a.base_url, security);
            assert_eq!(a.filename, "pool/a_2");
        }
    }

    #[test]
    fn malformed_paragraphs_are_named() {
        let mut index = PackageIndex::new();
        let err = index
            .add_packages(
                &base(),
                "https://x/Packages",
                "Package: a\nVersion: 1\n".into(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("https://x/Packages"), "{err}");
        assert!(err.to_string().contains("`a`"), "{err}");
        let text =
            "Package: a\nVersion: 1\nArchitecture: all\nFilename: f\nSize: big\nSHA256: 00\n";
        let err = index.add_packages(&base(), "u", text.into()).unwrap_err();
        assert!(err.to_string().contains("Size"), "{err}");
    }
}
