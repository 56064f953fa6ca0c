//! An in-memory index implementing [`Provider`], and helpers to build requests.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::str::FromStr;

use grocker_resolver::{
    ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, Operator, PackageName, Provider,
    ProviderError, ReleaseMetadata, Request, Requirement, Resolution, ResolveError, Version,
    VersionSpecifiers, resolve,
};

#[derive(Default, Clone)]
pub struct Release {
    requires_dist: Vec<String>,
    requires_python: Option<String>,
    extras: Vec<String>,
    yanked: bool,
}

/// An index in memory: name → version → release.
#[derive(Default)]
pub struct Index {
    pub packages: BTreeMap<String, BTreeMap<String, Release>>,
    /// Reverse the version lists: the resolver must not rely on the provider's order.
    pub reversed: bool,
    /// Names that make `versions` fail, as a registry answering 404 would.
    pub missing: Vec<String>,
    pub prefetched: RefCell<Vec<String>>,
}

impl Index {
    pub fn add(&mut self, name: &str, version: &str, requires: &[&str]) -> &mut Release {
        let release = self
            .packages
            .entry(name.to_string())
            .or_default()
            .entry(version.to_string())
            .or_default();
        release.requires_dist = requires.iter().map(ToString::to_string).collect();
        release
    }
}

impl Release {
    pub fn extras(&mut self, extras: &[&str]) -> &mut Self {
        self.extras = extras.iter().map(ToString::to_string).collect();
        self
    }
    pub fn python(&mut self, specifiers: &str) -> &mut Self {
        self.requires_python = Some(specifiers.to_string());
        self
    }
    pub fn yanked(&mut self) -> &mut Self {
        self.yanked = true;
        self
    }
}

impl Provider for Index {
    fn versions(
        &self,
        name: &PackageName,
        pinned: Option<&VersionSpecifiers>,
    ) -> Result<Vec<Version>, ProviderError> {
        if self.missing.iter().any(|missing| missing == name.as_ref()) {
            return Err(ProviderError::new(
                name.as_ref(),
                format!("package `{name}` not found on http://index.test/simple/"),
            ));
        }
        let releases = self
            .packages
            .get(name.as_ref())
            .cloned()
            .unwrap_or_default();
        let mut versions: Vec<Version> = releases
            .iter()
            .map(|(version, release)| (Version::from_str(version).unwrap(), release))
            .filter(|(version, release)| {
                // PEP 592: a yanked release only counts when pinned with `==`.
                !release.yanked
                    || pinned.is_some_and(|pins| {
                        pins.iter()
                            .any(|pin| *pin.operator() == Operator::Equal && pin.contains(version))
                    })
            })
            .map(|(version, _)| version)
            .collect();
        versions.sort();
        if !self.reversed {
            versions.reverse();
        }
        Ok(versions)
    }

    fn metadata(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<ReleaseMetadata, ProviderError> {
        let release = self
            .packages
            .get(name.as_ref())
            .and_then(|releases| {
                releases
                    .iter()
                    .find(|(v, _)| Version::from_str(v).unwrap() == *version)
            })
            .map(|(_, release)| release)
            .ok_or_else(|| {
                ProviderError::new(name.as_ref(), format!("no metadata for {name} {version}"))
            })?;
        Ok(ReleaseMetadata {
            requires_dist: release.requires_dist.iter().map(|r| req(r)).collect(),
            requires_python: release
                .requires_python
                .as_deref()
                .map(|s| VersionSpecifiers::from_str(s).unwrap()),
            provides_extra: release
                .extras
                .iter()
                .map(|e| ExtraName::from_str(e).unwrap())
                .collect(),
        })
    }

    fn prefetch(&self, names: &[PackageName]) {
        self.prefetched
            .borrow_mut()
            .extend(names.iter().map(ToString::to_string));
    }
}

pub fn req(text: &str) -> Requirement {
    Requirement::from_str(text).unwrap()
}

pub fn linux_311() -> MarkerEnvironment {
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: "3.11.2",
        os_name: "posix",
        platform_machine: "x86_64",
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system: "Linux",
        platform_version: "",
        python_full_version: "3.11.2",
        python_version: "3.11",
        sys_platform: "linux",
    })
    .unwrap()
}

pub fn request(requirements: &[&str], constraints: &[&str]) -> Request {
    Request {
        requirements: requirements.iter().map(|r| req(r)).collect(),
        constraints: constraints.iter().map(|r| req(r)).collect(),
        markers: linux_311(),
        python_version: Version::from_str("3.11.2").unwrap(),
    }
}

pub fn solve(index: &Index, requirements: &[&str], constraints: &[&str]) -> Resolution {
    resolve(&request(requirements, constraints), index).unwrap()
}

/// `name==version[extras]` lines, sorted.
pub fn pins(resolution: &Resolution) -> Vec<String> {
    resolution
        .packages
        .iter()
        .map(|(name, package)| {
            let extras: Vec<String> = package.extras.iter().map(ToString::to_string).collect();
            if extras.is_empty() {
                format!("{name}=={}", package.version)
            } else {
                format!("{name}[{}]=={}", extras.join(","), package.version)
            }
        })
        .collect()
}

pub fn report(index: &Index, requirements: &[&str], constraints: &[&str]) -> String {
    match resolve(&request(requirements, constraints), index) {
        Err(ResolveError::NoSolution { report }) => report,
        other => panic!("expected no solution, got {other:?}"),
    }
}

pub fn name(text: &str) -> PackageName {
    PackageName::from_str(text).unwrap()
}
