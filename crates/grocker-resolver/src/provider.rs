//! What the resolver asks about packages, and what it answers.

use std::collections::{BTreeMap, BTreeSet};

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{ExtraName, MarkerEnvironment, PackageName, Requirement};

use crate::ProviderError;

/// What the resolver needs to know about one release (from its wheel `METADATA`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseMetadata {
    /// `Requires-Dist`, markers included (`extra == "socks"` selects an extra's requirements).
    pub requires_dist: Vec<Requirement>,
    /// `Requires-Python`, if any.
    pub requires_python: Option<VersionSpecifiers>,
    /// `Provides-Extra`.
    pub provides_extra: Vec<ExtraName>,
}

/// Where versions and metadata come from.
///
/// Synchronous on purpose: the resolver runs on a blocking thread and an implementation may block
/// on async I/O (`tokio::runtime::Handle::block_on`). Each question is asked once per resolution:
/// the resolver caches the answers.
pub trait Provider {
    /// Versions that can be installed on the target, in any order (the resolver sorts them).
    ///
    /// The provider drops versions without a compatible wheel, ones whose `Requires-Python`
    /// excludes the target, and yanked ones — except that PEP 592 lets a yanked version be used
    /// when it is the only match of an `==`/`===` pin: `pinned` holds the exact pins the user
    /// wrote for this package (requirements and constraints), if any.
    ///
    /// An unknown package may be reported either as an error (its message is shown verbatim) or
    /// as no versions (the resolver then explains which requirement cannot be met).
    fn versions(
        &self,
        name: &PackageName,
        pinned: Option<&VersionSpecifiers>,
    ) -> Result<Vec<Version>, ProviderError>;

    /// Metadata of one release returned by [`Provider::versions`].
    fn metadata(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<ReleaseMetadata, ProviderError>;

    /// Hint: these packages will be asked about soon (default: nothing). Lets an implementation
    /// fetch index pages in parallel.
    fn prefetch(&self, _names: &[PackageName]) {}
}

/// What to resolve, and for which target.
#[derive(Debug, Clone)]
pub struct Request {
    /// The roots, e.g. `httpie[socks]==3.2.4`. Their markers are evaluated without extras.
    pub requirements: Vec<Requirement>,
    /// pip's `-c`: restrict the versions of packages that are part of the resolution, never add
    /// packages. Extras on constraints are ignored.
    pub constraints: Vec<Requirement>,
    /// The target interpreter and platform, for markers.
    pub markers: MarkerEnvironment,
    /// The target's full Python version, checked against each release's `Requires-Python`.
    pub python_version: Version,
}

/// One exact version per package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Every package to install, by normalized name.
    pub packages: BTreeMap<PackageName, ResolvedPackage>,
}

/// A package of a [`Resolution`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPackage {
    /// The chosen version.
    pub version: Version,
    /// Extras of this package that something requested (and the release provides).
    pub extras: BTreeSet<ExtraName>,
    /// Who asked for it: package names (`httpie`, `httpie[socks]`) or [`REQUESTED`] for the roots.
    pub required_by: BTreeSet<String>,
}

/// [`ResolvedPackage::required_by`] entry for a package the user asked for directly.
pub const REQUESTED: &str = "(requested)";
