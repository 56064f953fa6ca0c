//! The PubGrub [`DependencyProvider`] over a [`Provider`], and [`resolve`].
//!
//! Packages seen by PubGrub are the root (the request), each distribution (`Base`), and each
//! distribution-with-an-extra (`Extra`, uv's approach): `httpie[socks]` at version `v` depends
//! on `httpie==v` plus the requirements that `extra == "socks"` switches on, so a package and
//! its extras always resolve to a single version.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;

use pep440_rs::{Operator, Version, VersionSpecifier, VersionSpecifiers};
use pep508_rs::{ExtraName, PackageName, Requirement, VersionOrUrl};
use pubgrub::{
    Dependencies, DependencyProvider, PackageResolutionStatistics, PubGrubError, Ranges,
    SelectedDependencies,
};
use tracing::{debug, warn};

use crate::ranges::{mentions_prerelease, specifiers_to_ranges};
use crate::{
    Provider, ProviderError, REQUESTED, ReleaseMetadata, Request, Resolution, ResolveError,
    ResolvedPackage, report,
};

/// Resolve `request` to one exact version per package, newest first, with PubGrub.
///
/// Markers are evaluated for `request.markers`; a dependency's `extra == "…"` markers with the
/// extras requested of the package that declares it. Pre-releases: a package's newest final
/// release in range is preferred; its pre-releases are chosen when a specifier on it names a
/// pre-release (`>=2.0b1`), or when no final release is in range (pip's rule).
pub fn resolve(request: &Request, provider: &dyn Provider) -> Result<Resolution, ResolveError> {
    let solver = Solver::new(request, provider)?;
    match pubgrub::resolve(&solver, Pkg::Root, root_version()) {
        Ok(selected) => Ok(solver.resolution(&selected)),
        Err(PubGrubError::NoSolution(mut tree)) => {
            report::collapse_no_versions(&mut tree);
            let report = report::explain(&tree, &solver.constraints, &solver.versions.borrow());
            Err(ResolveError::NoSolution { report })
        }
        Err(PubGrubError::ErrorRetrievingDependencies { source, .. })
        | Err(PubGrubError::ErrorChoosingVersion { source, .. })
        | Err(PubGrubError::ErrorInShouldCancel(source)) => Err(source.into()),
    }
}

/// A package as PubGrub sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Pkg {
    /// The request itself, at [`root_version`].
    Root,
    /// A distribution.
    Base(PackageName),
    /// A distribution with one extra; pinned to the distribution's version.
    Extra(PackageName, ExtraName),
}

impl Pkg {
    pub(crate) fn name(&self) -> Option<&PackageName> {
        match self {
            Pkg::Root => None,
            Pkg::Base(name) | Pkg::Extra(name, _) => Some(name),
        }
    }
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => f.write_str("the request"),
            Pkg::Base(name) => write!(f, "{name}"),
            Pkg::Extra(name, extra) => write!(f, "{name}[{extra}]"),
        }
    }
}

fn root_version() -> Version {
    Version::new([0])
}

/// A constraint (pip `-c`) on one package: the versions it allows, and how the user wrote it.
pub(crate) struct Constraint {
    pub(crate) range: Ranges<Version>,
    pub(crate) text: String,
}

/// Versions of each package, newest first, as the provider returned them.
pub(crate) type VersionCache = BTreeMap<PackageName, Rc<Vec<Version>>>;

struct Solver<'a> {
    provider: &'a dyn Provider,
    request: &'a Request,
    root_deps: Vec<(Pkg, Ranges<Version>)>,
    constraints: BTreeMap<PackageName, Constraint>,
    /// Exact `==`/`===` pins from requirements and constraints (PEP 592 yanks).
    pins: BTreeMap<PackageName, VersionSpecifiers>,
    versions: RefCell<VersionCache>,
    metadata: RefCell<BTreeMap<(PackageName, Version), Rc<ReleaseMetadata>>>,
    /// Packages a specifier names a pre-release of.
    prereleases: RefCell<BTreeSet<PackageName>>,
    /// The last version chosen for each distribution, so its extras pick the same one.
    chosen: RefCell<BTreeMap<PackageName, Version>>,
    /// What each (package, version) depends on, for `required_by`.
    edges: RefCell<BTreeMap<(Pkg, Version), Vec<Pkg>>>,
    /// Packages already fetched or announced through `prefetch`.
    announced: RefCell<BTreeSet<PackageName>>,
}

impl<'a> Solver<'a> {
    fn new(request: &'a Request, provider: &'a dyn Provider) -> Result<Self, ResolveError> {
        let mut prereleases = BTreeSet::new();
        let mut pins: BTreeMap<PackageName, Vec<VersionSpecifier>> = BTreeMap::new();
        let mut note = |name: &PackageName, specifiers: &VersionSpecifiers| {
            if mentions_prerelease(specifiers) {
                prereleases.insert(name.clone());
            }
            let exact = specifiers.iter().filter(|specifier| {
                matches!(specifier.operator(), Operator::Equal | Operator::ExactEqual)
            });
            pins.entry(name.clone()).or_default().extend(exact.cloned());
        };

        let mut root = BTreeMap::new();
        for requirement in &request.requirements {
            if !requirement.evaluate_markers(&request.markers, &[]) {
                debug!("skipping `{requirement}`: its markers exclude the target");
                continue;
            }
            let specifiers = specifiers_of(requirement).ok_or_else(|| unsupported(requirement))?;
            note(&requirement.name, &specifiers);
            add_edges(&mut root, requirement, specifiers_to_ranges(&specifiers));
        }

        let mut constraints: BTreeMap<PackageName, Constraint> = BTreeMap::new();
        for requirement in &request.constraints {
            if !requirement.evaluate_markers(&request.markers, &[]) {
                continue;
            }
            if !requirement.extras.is_empty() {
                warn!(
                    "ignoring the extras of constraint `{requirement}`: constraints only restrict versions"
                );
            }
            let specifiers = specifiers_of(requirement).ok_or_else(|| unsupported(requirement))?;
            note(&requirement.name, &specifiers);
            let range = specifiers_to_ranges(&specifiers);
            let text = format!("{}{specifiers}", requirement.name);
            constraints
                .entry(requirement.name.clone())
                .and_modify(|constraint| {
                    constraint.range = constraint.range.intersection(&range);
                    constraint.text = format!("{}, {text}", constraint.text);
                })
                .or_insert(Constraint { range, text });
        }

        let pins = pins
            .into_iter()
            .filter(|(_, exact)| !exact.is_empty())
            .map(|(name, exact)| (name, exact.into_iter().collect()))
            .collect();
        let solver = Solver {
            provider,
            request,
            root_deps: root.into_iter().collect(),
            constraints,
            pins,
            versions: RefCell::default(),
            metadata: RefCell::default(),
            prereleases: RefCell::new(prereleases),
            chosen: RefCell::default(),
            edges: RefCell::default(),
            announced: RefCell::default(),
        };
        let roots: Vec<Pkg> = solver
            .root_deps
            .iter()
            .map(|(pkg, _)| pkg.clone())
            .collect();
        solver.announce(&roots);
        Ok(solver)
    }

    /// Installable versions of `name`, newest first (cached).
    fn candidates(&self, name: &PackageName) -> Result<Rc<Vec<Version>>, ProviderError> {
        if let Some(versions) = self.versions.borrow().get(name) {
            return Ok(Rc::clone(versions));
        }
        self.announced.borrow_mut().insert(name.clone());
        let mut versions = self.provider.versions(name, self.pins.get(name))?;
        versions.sort_unstable_by(|a, b| b.cmp(a));
        versions.dedup();
        let versions = Rc::new(versions);
        self.versions
            .borrow_mut()
            .insert(name.clone(), Rc::clone(&versions));
        Ok(versions)
    }

    fn metadata(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Rc<ReleaseMetadata>, ProviderError> {
        let key = (name.clone(), version.clone());
        if let Some(metadata) = self.metadata.borrow().get(&key) {
            return Ok(Rc::clone(metadata));
        }
        let metadata = Rc::new(self.provider.metadata(name, version)?);
        self.metadata.borrow_mut().insert(key, Rc::clone(&metadata));
        Ok(metadata)
    }

    /// Tell the provider about packages it has not been asked about yet.
    fn announce(&self, packages: &[Pkg]) {
        let mut announced = self.announced.borrow_mut();
        let new: BTreeSet<PackageName> = packages
            .iter()
            .filter_map(Pkg::name)
            .filter(|name| !announced.contains(*name))
            .cloned()
            .collect();
        if new.is_empty() {
            return;
        }
        announced.extend(new.iter().cloned());
        drop(announced);
        self.provider.prefetch(&new.into_iter().collect::<Vec<_>>());
    }

    /// Whether a constraint lets `version` of `name` be used.
    fn allowed(&self, name: &PackageName, version: &Version) -> bool {
        self.constraints
            .get(name)
            .is_none_or(|constraint| constraint.range.contains(version))
    }

    /// The requirements of `name==version` that apply on the target, as PubGrub edges; with an
    /// extra, only those the extra adds.
    fn dependencies(
        &self,
        name: &PackageName,
        version: &Version,
        extra: Option<&ExtraName>,
    ) -> Result<Result<BTreeMap<Pkg, Ranges<Version>>, String>, ProviderError> {
        let metadata = self.metadata(name, version)?;
        let markers = &self.request.markers;
        let mut deps = BTreeMap::new();
        let extras: &[ExtraName] = match extra {
            None => {
                if let Some(requires_python) = &metadata.requires_python {
                    let python = &self.request.python_version;
                    if !requires_python.contains(python) {
                        return Ok(Err(format!(
                            "requires Python {requires_python} but the target has {python}"
                        )));
                    }
                }
                &[]
            }
            Some(extra) => {
                deps.insert(Pkg::Base(name.clone()), Ranges::singleton(version.clone()));
                if !metadata.provides_extra.contains(extra) {
                    warn!("{name} {version} does not provide the extra '{extra}'");
                    return Ok(Ok(deps));
                }
                std::slice::from_ref(extra)
            }
        };
        for requirement in &metadata.requires_dist {
            let applies = requirement.evaluate_markers(markers, extras)
                && (extras.is_empty() || !requirement.evaluate_markers(markers, &[]));
            if !applies {
                continue;
            }
            let Some(specifiers) = specifiers_of(requirement) else {
                return Ok(Err(format!(
                    "depends on `{requirement}`, a direct URL grocker cannot resolve"
                )));
            };
            if mentions_prerelease(&specifiers) {
                self.prereleases
                    .borrow_mut()
                    .insert(requirement.name.clone());
            }
            add_edges(&mut deps, requirement, specifiers_to_ranges(&specifiers));
        }
        // A package needing itself (`foo[all]` → `foo[a]`) only needs its other extras.
        deps.remove(&match extra {
            None => Pkg::Base(name.clone()),
            Some(extra) => Pkg::Extra(name.clone(), extra.clone()),
        });
        Ok(Ok(deps))
    }

    fn resolution(&self, selected: &SelectedDependencies<Pkg, Version>) -> Resolution {
        let mut packages: BTreeMap<PackageName, ResolvedPackage> = BTreeMap::new();
        for (pkg, version) in selected.iter() {
            if let Pkg::Base(name) = pkg {
                packages.insert(
                    name.clone(),
                    ResolvedPackage {
                        version: version.clone(),
                        extras: BTreeSet::new(),
                        required_by: BTreeSet::new(),
                    },
                );
            }
        }
        let metadata = self.metadata.borrow();
        let edges = self.edges.borrow();
        for (pkg, version) in selected.iter() {
            if let Pkg::Extra(name, extra) = pkg {
                let provided = metadata
                    .get(&(name.clone(), version.clone()))
                    .is_some_and(|metadata| metadata.provides_extra.contains(extra));
                if let (true, Some(package)) = (provided, packages.get_mut(name)) {
                    package.extras.insert(extra.clone());
                }
            }
            let requirer = match pkg {
                Pkg::Root => REQUESTED.to_string(),
                pkg => pkg.to_string(),
            };
            let dependencies = edges.get(&(pkg.clone(), version.clone()));
            for dependency in dependencies.into_iter().flatten() {
                let Some(name) = dependency.name() else {
                    continue;
                };
                if pkg.name() == Some(name) {
                    continue; // `httpie[socks]` → `httpie`: the same package.
                }
                if let Some(package) = packages.get_mut(name) {
                    package.required_by.insert(requirer.clone());
                }
            }
        }
        Resolution { packages }
    }
}

/// The specifiers of a requirement (none = any version); `None` for a direct URL.
fn specifiers_of(requirement: &Requirement) -> Option<VersionSpecifiers> {
    match &requirement.version_or_url {
        None => Some(VersionSpecifiers::empty()),
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => Some(specifiers.clone()),
        Some(VersionOrUrl::Url(_)) => None,
    }
}

fn unsupported(requirement: &Requirement) -> ResolveError {
    ResolveError::UnsupportedRequirement {
        requirement: requirement.to_string(),
        reason: "direct URL requirements are not supported; name a version instead".to_string(),
    }
}

/// `name[a,b] <specifiers>` needs `name`, `name[a]` and `name[b]` in `range`; several
/// requirements on one package intersect.
fn add_edges(
    deps: &mut BTreeMap<Pkg, Ranges<Version>>,
    requirement: &Requirement,
    range: Ranges<Version>,
) {
    let packages = std::iter::once(Pkg::Base(requirement.name.clone())).chain(
        requirement
            .extras
            .iter()
            .map(|extra| Pkg::Extra(requirement.name.clone(), extra.clone())),
    );
    for pkg in packages {
        deps.entry(pkg)
            .and_modify(|existing| *existing = existing.intersection(&range))
            .or_insert_with(|| range.clone());
    }
}

impl DependencyProvider for Solver<'_> {
    type P = Pkg;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    type Err = ProviderError;
    /// Urgent (no candidate left: fail fast), then distributions before their extras (so the
    /// extra reuses the distribution's version), most conflicts, fewest candidates, and the
    /// package itself last so that ties never depend on discovery order.
    type Priority = (bool, bool, u32, Reverse<usize>, Reverse<Pkg>);

    fn prioritize(
        &self,
        package: &Pkg,
        range: &Ranges<Version>,
        statistics: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let Some(name) = package.name() else {
            return (true, true, u32::MAX, Reverse(0), Reverse(Pkg::Root));
        };
        // An error here is reported by `choose_version`, which asks again.
        let count = self.candidates(name).map_or(0, |versions| {
            versions
                .iter()
                .filter(|version| range.contains(version) && self.allowed(name, version))
                .count()
        });
        (
            count == 0,
            matches!(package, Pkg::Base(_)),
            statistics.conflict_count(),
            Reverse(count),
            Reverse(package.clone()),
        )
    }

    fn choose_version(
        &self,
        package: &Pkg,
        range: &Ranges<Version>,
    ) -> Result<Option<Version>, ProviderError> {
        let Some(name) = package.name() else {
            return Ok(Some(root_version()));
        };
        if let Pkg::Extra(..) = package {
            let chosen = self.chosen.borrow().get(name).cloned();
            if let Some(version) = chosen.filter(|version| range.contains(version)) {
                return Ok(Some(version));
            }
        }
        let versions = self.candidates(name)?;
        let mut fits = versions
            .iter()
            .filter(|version| range.contains(*version) && self.allowed(name, version));
        let choice = if self.prereleases.borrow().contains(name) {
            fits.next()
        } else {
            let fits: Vec<&Version> = fits.collect();
            let final_release = fits.iter().find(|version| !version.any_prerelease());
            final_release.or(fits.first()).copied()
        };
        if let (Pkg::Base(_), Some(version)) = (package, choice) {
            self.chosen
                .borrow_mut()
                .insert(name.clone(), version.clone());
        }
        Ok(choice.cloned())
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, Ranges<Version>, String>, ProviderError> {
        let deps = match package {
            Pkg::Root => Ok(self.root_deps.iter().cloned().collect()),
            Pkg::Base(name) => self.dependencies(name, version, None)?,
            Pkg::Extra(name, extra) => self.dependencies(name, version, Some(extra))?,
        };
        let deps = match deps {
            Ok(deps) => deps,
            Err(reason) => return Ok(Dependencies::Unavailable(reason)),
        };
        let packages: Vec<Pkg> = deps.keys().cloned().collect();
        self.announce(&packages);
        self.edges
            .borrow_mut()
            .insert((package.clone(), version.clone()), packages);
        Ok(Dependencies::Available(deps.into_iter().collect()))
    }
}
