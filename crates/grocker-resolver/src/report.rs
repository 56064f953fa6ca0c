//! PubGrub's derivation tree as sentences a Python user reads: package names with extras
//! (`httpie[socks]`), the root as "you require", ranges as PEP 440 specifiers.

use std::collections::BTreeMap;
use std::sync::Arc;

use pep440_rs::Version;
use pep508_rs::PackageName;
use pubgrub::{
    DefaultStringReporter, DerivationTree, Derived, External, Map, Ranges, ReportFormatter,
    Reporter, Term,
};

use crate::ranges::Pep440;
use crate::solver::{Constraint, Pkg, VersionCache};

type Tree = DerivationTree<Pkg, Ranges<Version>, String>;
type Ext = External<Pkg, Ranges<Version>, String>;
type Terms = Map<Pkg, Term<Ranges<Version>>>;

/// The report of a failed resolution, one sentence per line.
pub(crate) fn explain(
    tree: &Tree,
    constraints: &BTreeMap<PackageName, Constraint>,
    versions: &VersionCache,
) -> String {
    let formatter = Formatter {
        constraints,
        versions,
    };
    DefaultStringReporter::report_with_formatter(tree, &formatter)
}

/// Fold away the "there is no version of x>1.0,<=1.0" steps PubGrub records for the gaps
/// between real versions: they say nothing a user needs. Unlike PubGrub's own
/// `collapse_no_versions`, keep the ones that are the point — no version at all in the range a
/// requirement asks for (`there is no version of c>=3 and you require c>=3`), or none left by a
/// constraint.
pub(crate) fn collapse_no_versions(tree: &mut Tree) {
    let DerivationTree::Derived(derived) = tree else {
        return;
    };
    let merged = match (&*derived.cause1, &*derived.cause2) {
        (DerivationTree::External(External::NoVersions(package, range)), other)
        | (other, DerivationTree::External(External::NoVersions(package, range))) => {
            let mut other = other.clone();
            collapse_no_versions(&mut other);
            merge_no_versions(other, package, range)
        }
        _ => None,
    };
    match merged {
        Some(merged) => *tree = merged,
        None => {
            collapse_no_versions(Arc::make_mut(&mut derived.cause1));
            collapse_no_versions(Arc::make_mut(&mut derived.cause2));
        }
    }
}

/// `other` widened by `package` having no version in `range`, or `None` to keep both steps.
fn merge_no_versions(other: Tree, package: &Pkg, range: &Ranges<Version>) -> Option<Tree> {
    let external = match other {
        DerivationTree::Derived(_) => return Some(other),
        DerivationTree::External(external) => external,
    };
    let merged = match external {
        // "x in (1.0, 1.0.post0.dev0) has no version; x==1.0 depends on y" → "x==1.0 depends on y".
        External::FromDependencyOf(p1, r1, p2, r2) if &p1 == package => {
            External::FromDependencyOf(p1, r1.union(range), p2, r2)
        }
        // A gap inside what the dependent asks for: the other versions get their own steps.
        External::FromDependencyOf(p1, r1, p2, r2) if &p2 == package && !r2.subset_of(range) => {
            External::FromDependencyOf(p1, r1, p2, r2.union(range))
        }
        // Versions that do not exist vacuously share any reason.
        External::Custom(p, r, reason) if &p == package => {
            External::Custom(p, r.union(range), reason)
        }
        _ => return None,
    };
    Some(DerivationTree::External(merged))
}

struct Formatter<'a> {
    constraints: &'a BTreeMap<PackageName, Constraint>,
    versions: &'a VersionCache,
}

/// `requests>=2.22.0`, `httpie[socks]==3.2.4`, `requests` (any version).
fn spec(package: &Pkg, range: &Ranges<Version>) -> String {
    format!("{package}{}", Pep440(range))
}

impl Formatter<'_> {
    fn no_versions(&self, package: &Pkg, range: &Ranges<Version>) -> String {
        let Some(name) = package.name() else {
            return "the request cannot be solved".to_string();
        };
        if self
            .versions
            .get(name)
            .is_some_and(|versions| versions.is_empty())
        {
            return format!("no installable release of {name} was found");
        }
        let mut sentence = if range == &Ranges::full() {
            format!("there is no version of {package}")
        } else {
            format!("there is no version of {}", spec(package, range))
        };
        if let Some(constraint) = self.constraints.get(name)
            && !range.subset_of(&constraint.range)
        {
            sentence.push_str(&format!(" allowed by the constraint {}", constraint.text));
        }
        sentence
    }

    fn external(&self, external: &Ext) -> String {
        match external {
            External::NotRoot(package, version) => {
                format!("we are solving the dependencies of {package} {version}")
            }
            External::NoVersions(package, range) => self.no_versions(package, range),
            External::FromDependencyOf(Pkg::Root, _, dependency, range) => {
                format!("you require {}", spec(dependency, range))
            }
            External::FromDependencyOf(package, range, dependency, dependency_range) => format!(
                "{} depends on {}",
                spec(package, range),
                spec(dependency, dependency_range)
            ),
            External::Custom(package, range, reason) => {
                format!("{} {reason}", spec(package, range))
            }
        }
    }

    fn terms(&self, terms: &Terms) -> String {
        // PubGrub keeps terms in a hash map: sort them so the report never changes.
        let mut terms: Vec<(&Pkg, &Term<Ranges<Version>>)> = terms
            .iter()
            .filter(|(package, term)| {
                !(**package == Pkg::Root && matches!(term, Term::Positive(_)))
            })
            .collect();
        terms.sort_by(|a, b| a.0.cmp(b.0));
        match terms.as_slice() {
            [] => "version solving failed".to_string(),
            [(package, Term::Positive(range))] => {
                format!("{} cannot be used", spec(package, range))
            }
            [(package, Term::Negative(range))] => format!("{} is required", spec(package, range)),
            [(p1, Term::Positive(r1)), (p2, Term::Negative(r2))]
            | [(p2, Term::Negative(r2)), (p1, Term::Positive(r1))] => self.external(
                &External::FromDependencyOf((*p1).clone(), r1.clone(), (*p2).clone(), r2.clone()),
            ),
            terms => {
                let listed: Vec<String> = terms
                    .iter()
                    .map(|(package, term)| match term {
                        Term::Positive(range) => spec(package, range),
                        Term::Negative(range) => format!("not {}", spec(package, range)),
                    })
                    .collect();
                format!("{} are incompatible", listed.join(", "))
            }
        }
    }
}

impl ReportFormatter<Pkg, Ranges<Version>, String> for Formatter<'_> {
    type Output = String;

    fn format_external(&self, external: &Ext) -> String {
        self.external(external)
    }

    fn format_terms(&self, terms: &Terms) -> String {
        self.terms(terms)
    }

    fn explain_both_external(&self, external1: &Ext, external2: &Ext, current: &Terms) -> String {
        format!(
            "Because {} and {}, {}.",
            self.external(external1),
            self.external(external2),
            self.terms(current)
        )
    }

    fn explain_both_ref(
        &self,
        ref_id1: usize,
        derived1: &Derived<Pkg, Ranges<Version>, String>,
        ref_id2: usize,
        derived2: &Derived<Pkg, Ranges<Version>, String>,
        current: &Terms,
    ) -> String {
        format!(
            "Because {} ({ref_id1}) and {} ({ref_id2}), {}.",
            self.terms(&derived1.terms),
            self.terms(&derived2.terms),
            self.terms(current)
        )
    }

    fn explain_ref_and_external(
        &self,
        ref_id: usize,
        derived: &Derived<Pkg, Ranges<Version>, String>,
        external: &Ext,
        current: &Terms,
    ) -> String {
        format!(
            "Because {} ({ref_id}) and {}, {}.",
            self.terms(&derived.terms),
            self.external(external),
            self.terms(current)
        )
    }

    fn and_explain_external(&self, external: &Ext, current: &Terms) -> String {
        format!(
            "And because {}, {}.",
            self.external(external),
            self.terms(current)
        )
    }

    fn and_explain_ref(
        &self,
        ref_id: usize,
        derived: &Derived<Pkg, Ranges<Version>, String>,
        current: &Terms,
    ) -> String {
        format!(
            "And because {} ({ref_id}), {}.",
            self.terms(&derived.terms),
            self.terms(current)
        )
    }

    fn and_explain_prior_and_external(
        &self,
        prior_external: &Ext,
        external: &Ext,
        current: &Terms,
    ) -> String {
        format!(
            "And because {} and {}, {}.",
            self.external(prior_external),
            self.external(external),
            self.terms(current)
        )
    }
}
