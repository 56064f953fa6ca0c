//! The runtime closure of a set of packages: `Pre-Depends` + `Depends`, nothing else.
//!
//! Like apt, but for an image where no maintainer script ever runs: `Recommends`/`Suggests`
//! are not followed, and the packages that exist only to serve maintainer scripts are cut off
//! (see [`SCRIPT_ONLY`]). `Essential: yes` packages (the shell, coreutils…) are never added
//! implicitly: they are only there when something depends on them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::{BinaryPackage, DebianError, DebianVersion, MultiArch, PackageIndex, Relation};
use crate::{Dependency, parse_relations};

/// Dependencies not followed, because only maintainer scripts (which grocker never runs) use
/// them: `(package, only when the dependent is, why)`. A dependency group in which any
/// alternative is listed here counts as satisfied. Naming one of these as a root still
/// installs it.
pub const SCRIPT_ONLY: &[(&str, Option<&str>, &str)] = &[
    (
        "debconf",
        None,
        "asks configuration questions from maintainer scripts; needs perl",
    ),
    (
        "debconf-2.0",
        None,
        "the virtual package debconf and cdebconf provide",
    ),
    (
        "cdebconf",
        None,
        "the C implementation of debconf, same role",
    ),
    (
        "dpkg",
        None,
        "the package manager: maintainer scripts call dpkg-maintscript-helper, dpkg-trigger, \
         update-alternatives; a grocker image has no package manager (DESIGN §2)",
    ),
    (
        "perl-base",
        None,
        "interpreter of debconf and of many maintainer scripts",
    ),
    (
        "install-info",
        None,
        "registers info manuals from postinst; grocker drops usr/share/info",
    ),
    (
        "init-system-helpers",
        None,
        "deb-systemd-helper, invoke-rc.d: service registration; containers run no init system",
    ),
    (
        "usrmerge",
        None,
        "converts a split-/usr system from its postinst; grocker lays out merged-/usr itself",
    ),
    (
        "usr-is-merged",
        None,
        "asserts the merged-/usr layout (from preinst); grocker lays it out itself",
    ),
    (
        "sensible-utils",
        None,
        "sensible-editor/pager/browser: used by scripts and interactive tools",
    ),
    (
        "awk",
        Some("base-files"),
        "base-files pre-depends on awk only for its maintainer scripts (they edit /etc files \
         grocker writes itself); the image gets /etc/os-release without any awk",
    ),
    (
        "openssl",
        Some("ca-certificates"),
        "the openssl CLI is needed only by update-ca-certificates (c_rehash) in \
         ca-certificates' postinst; grocker writes the CA bundle itself, and programs link \
         libssl3, which is not cut",
    ),
];

/// Resolves `roots` and everything they (pre-)depend on into one package list sorted by name.
///
/// For each dependency, an alternative already selected is preferred, otherwise the first
/// alternative some package (real, or providing it through `Provides`) satisfies, with version
/// constraints and architecture qualifiers (`:any`, `:native`) honoured. `arch` is the Debian
/// architecture (`amd64`); `Architecture: all` packages fit any.
pub fn resolve(
    index: &PackageIndex,
    roots: &[String],
    arch: &str,
) -> Result<Vec<BinaryPackage>, DebianError> {
    let providers = providers(index);
    let resolver = Resolver {
        index,
        providers: &providers,
        arch,
    };
    // name → who pulled it in (None for roots), to explain failures.
    let mut selected: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    let mut queue = VecDeque::new();
    for root in roots {
        let package = resolver.root(root)?;
        if selected.insert(&package.name, None).is_none() {
            queue.push_back(package);
        }
    }
    while let Some(package) = queue.pop_front() {
        for field in [&package.pre_depends, &package.depends] {
            let deps = parse_relations(field).map_err(|e| DebianError::InvalidRelation {
                value: field.clone(),
                reason: format!("in package {}: {e}", package.name),
            })?;
            for dep in &deps {
                let Some(choice) = resolver.choose(package, dep, &selected) else {
                    continue;
                };
                let choice = choice.ok_or_else(|| DebianError::Unsatisfiable {
                    package: package.name.clone(),
                    relation: dep.to_string(),
                    chain: chain(&selected, &package.name),
                })?;
                if !selected.contains_key(choice.name.as_str()) {
                    selected.insert(&choice.name, Some(&package.name));
                    queue.push_back(choice);
                }
            }
        }
    }
    Ok(selected
        .keys()
        .filter_map(|name| index.get(name))
        .cloned()
        .collect())
}

/// Virtual name → (provider, provided version).
type Providers<'a> = BTreeMap<String, Vec<(&'a BinaryPackage, Option<DebianVersion>)>>;

fn providers(index: &PackageIndex) -> Providers<'_> {
    let mut map: Providers<'_> = BTreeMap::new();
    for package in index.iter().filter(|p| !p.provides.is_empty()) {
        let Ok(provides) = parse_relations(&package.provides) else {
            tracing::warn!(package = %package.name, provides = %package.provides, "ignoring unreadable Provides");
            continue;
        };
        for relation in provides.into_iter().flat_map(|d| d.alternatives) {
            // Policy §7.5: a Provides may only carry `(= version)`.
            let version = relation.version.map(|(_, v)| v);
            map.entry(relation.name)
                .or_default()
                .push((package, version));
        }
    }
    map
}

struct Resolver<'a> {
    index: &'a PackageIndex,
    providers: &'a Providers<'a>,
    arch: &'a str,
}

impl<'a> Resolver<'a> {
    fn root(&self, name: &str) -> Result<&'a BinaryPackage, DebianError> {
        if let Some(package) = self.index.get(name).filter(|p| self.fits_arch(p, None)) {
            return Ok(package);
        }
        // A purely virtual name: take its first provider (by name), as there is no one to ask.
        if let Some((provider, _)) = self.providers.get(name).and_then(|p| p.first()) {
            return Ok(provider);
        }
        Err(DebianError::UnknownPackage {
            name: name.to_string(),
            suggestions: suggestions(self.index, name),
        })
    }

    /// `None`: nothing to install for `dep`. `Some(None)`: unsatisfiable. `Some(Some(p))`:
    /// `p` satisfies it (possibly already selected).
    fn choose(
        &self,
        dependent: &BinaryPackage,
        dep: &Dependency,
        selected: &BTreeMap<&str, Option<&str>>,
    ) -> Option<Option<&'a BinaryPackage>> {
        let alternatives: Vec<&Relation> = dep
            .alternatives
            .iter()
            .filter(|r| r.applies_to(self.arch))
            .collect();
        if alternatives.is_empty() {
            return None;
        }
        if alternatives
            .iter()
            .any(|r| script_only(&r.name, &dependent.name))
        {
            tracing::debug!(package = %dependent.name, dependency = %dep, "not following a maintainer-script-only dependency");
            return None;
        }
        for relation in &alternatives {
            let mut candidates = self.candidates(relation);
            if let Some(p) = candidates.find(|p| selected.contains_key(p.name.as_str())) {
                return Some(Some(p));
            }
        }
        Some(alternatives.iter().find_map(|r| self.candidates(r).next()))
    }

    /// Packages satisfying `relation`: the real package first, then providers by name.
    fn candidates(&self, relation: &Relation) -> impl Iterator<Item = &'a BinaryPackage> {
        let qualifier = relation.arch_qualifier.as_deref();
        let real = self.index.get(&relation.name).filter(move |p| {
            self.fits_arch(p, qualifier)
                && relation
                    .version
                    .as_ref()
                    .is_none_or(|(op, v)| op.matches(&p.version, v))
        });
        let provided = self
            .providers
            .get(relation.name.as_str())
            .into_iter()
            .flatten()
            .filter(move |(p, provided)| {
                // Policy §7.5: an unversioned Provides never satisfies a versioned dependency.
                self.fits_arch(p, None)
                    && match (&relation.version, provided) {
                        (None, _) => true,
                        (Some((op, v)), Some(provided)) => op.matches(provided, v),
                        (Some(_), None) => false,
                    }
            })
            .map(|(p, _)| *p);
        real.into_iter().chain(provided)
    }

    fn fits_arch(&self, package: &BinaryPackage, qualifier: Option<&str>) -> bool {
        let native = package.architecture == self.arch || package.architecture == "all";
        match qualifier {
            None | Some("native") => native,
            // `name:any` is satisfied by a package declaring Multi-Arch: allowed (Multi-Arch
            // spec); with a single architecture loaded, that is the only extra condition.
            Some("any") => native && package.multi_arch == MultiArch::Allowed,
            Some(arch) => package.architecture == arch || package.architecture == "all",
        }
    }
}

fn script_only(dependency: &str, dependent: &str) -> bool {
    SCRIPT_ONLY
        .iter()
        .any(|(name, only_for, _)| *name == dependency && only_for.is_none_or(|d| d == dependent))
}

fn chain(selected: &BTreeMap<&str, Option<&str>>, from: &str) -> Vec<String> {
    let mut out = vec![from.to_string()];
    let mut seen = BTreeSet::from([from]);
    let mut at = from;
    while let Some(Some(parent)) = selected.get(at) {
        if !seen.insert(parent) {
            break;
        }
        out.push(parent.to_string());
        at = parent;
    }
    out.reverse();
    out
}

/// Up to five existing names close to `name`: by edit distance, then containing it.
fn suggestions(index: &PackageIndex, name: &str) -> Vec<String> {
    let limit = (name.len() / 3).max(1);
    let mut scored: Vec<(usize, &str)> = index
        .iter()
        .filter_map(|p| {
            let d = levenshtein(name, &p.name);
            if d <= limit {
                Some((d, p.name.as_str()))
            } else if name.len() >= 3 && p.name.contains(name) {
                Some((limit + 1 + p.name.len() - name.len(), p.name.as_str()))
            } else {
                None
            }
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(5)
        .map(|(_, n)| n.to_string())
        .collect()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > 3 {
        return usize::MAX / 2;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
