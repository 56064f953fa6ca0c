//! PEP 440 specifiers as PubGrub ranges, and PubGrub ranges printed back in PEP 440 style.
//!
//! `pep440_rs` already converts most operators exactly (`<V` excludes pre-releases of `V`, `>V`
//! excludes post-releases and local versions of `V`, `~=`, `==V.*`, `!=V.*`). What it gets wrong
//! for us is local versions: PEP 440 says "if the specified version identifier is a public
//! version identifier (no local version label), then the local version label of any candidate
//! versions MUST be ignored when matching versions", so `==1.0` matches `1.0+cpu`, `!=1.0`
//! rejects it and `<=1.0` accepts it. Locals sort right after their public version and before
//! its first post-release, so "`1.0` and its locals" is the interval `[1.0, 1.0.post0.dev0)`.

use std::fmt;
use std::ops::Bound;

use pep440_rs::{Operator, Version, VersionSpecifier, VersionSpecifiers};
use pubgrub::Ranges;

/// The set of versions `specifiers` allow, per PEP 440.
pub(crate) fn specifiers_to_ranges(specifiers: &VersionSpecifiers) -> Ranges<Version> {
    specifiers.iter().fold(Ranges::full(), |range, specifier| {
        range.intersection(&specifier_to_ranges(specifier))
    })
}

fn specifier_to_ranges(specifier: &VersionSpecifier) -> Ranges<Version> {
    let version = specifier.version();
    match (specifier.operator(), local_upper(version)) {
        (Operator::Equal, Some(upper)) => Ranges::from_range_bounds(version.clone()..upper),
        (Operator::NotEqual, Some(upper)) => {
            Ranges::from_range_bounds(version.clone()..upper).complement()
        }
        (Operator::LessThanEqual, Some(upper)) => Ranges::strictly_lower_than(upper),
        // `===` is string equality; the closest version set is the exact version itself.
        _ => Ranges::from(specifier.clone()),
    }
}

/// The first version after `version` and all its local variants: `1.0` → `1.0.post0.dev0`,
/// `1.0.post2` → `1.0.post3.dev0`, `1.0a1` → `1.0a1.post0.dev0`.
///
/// `None` for versions that already carry a local label, and for dev releases (`1.0.dev1+local`
/// is too rare to be worth a case; those match exactly).
fn local_upper(version: &Version) -> Option<Version> {
    if !version.local().is_empty()
        || version.dev().is_some()
        || version.min().is_some()
        || version.max().is_some()
    {
        return None;
    }
    let post = version.post().map_or(0, |post| post + 1);
    Some(version.clone().with_post(Some(post)).with_dev(Some(0)))
}

/// The inverse of [`local_upper`], used to print ranges the way the user wrote them.
fn local_lower(upper: &Version) -> Option<Version> {
    if upper.dev() != Some(0) || !upper.local().is_empty() {
        return None;
    }
    let post = upper.post()?;
    let version = upper.clone().with_dev(None).with_post(post.checked_sub(1));
    (local_upper(&version).as_ref() == Some(upper)).then_some(version)
}

/// `true` if a specifier names a pre-release or dev release, which (pip's rule) makes
/// pre-releases of that package eligible.
pub(crate) fn mentions_prerelease(specifiers: &VersionSpecifiers) -> bool {
    specifiers.iter().any(VersionSpecifier::any_prerelease)
}

/// A range printed as PEP 440 specifiers, to append to a package name: `>=2.22.0`, `==1.0`,
/// `>=1,!=1.5,<2`, `<1 | >=3` when no specifier list says it, nothing for "any version".
pub(crate) struct Pep440<'a>(pub &'a Ranges<Version>);

impl fmt::Display for Pep440<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let segments: Vec<_> = self.0.iter().collect();
        let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
            return f.write_str(" (no version)");
        };
        if let [(lower, upper)] = segments.as_slice() {
            return f.write_str(&segment(lower, upper));
        }
        // Several segments: the usual shape is bounds with holes (`>=1,!=1.5,<2`).
        let holes: Option<Vec<String>> = segments
            .windows(2)
            .map(|pair| hole(pair[0].1, pair[1].0))
            .collect();
        match holes {
            Some(holes) => {
                let parts: Vec<String> = [lower_bound(first.0)]
                    .into_iter()
                    .chain(holes)
                    .chain([upper_bound(last.1)])
                    .filter(|part| !part.is_empty())
                    .collect();
                f.write_str(&parts.join(","))
            }
            None => {
                let parts: Vec<String> = segments.iter().map(|(l, u)| segment(l, u)).collect();
                f.write_str(&parts.join(" | "))
            }
        }
    }
}

fn segment(lower: &Bound<Version>, upper: &Bound<Version>) -> String {
    match (lower, upper) {
        (Bound::Included(a), Bound::Included(b)) if a == b => return format!("=={a}"),
        (Bound::Included(a), Bound::Excluded(b)) => {
            if local_upper(a).as_ref() == Some(b) {
                return format!("=={a}");
            }
            if let Some(prefix) = star_prefix(a, b) {
                return format!("=={prefix}.*");
            }
        }
        _ => {}
    }
    let parts: Vec<String> = [lower_bound(lower), upper_bound(upper)]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect();
    parts.join(",")
}

/// The versions missing between two segments, if one `!=` says it.
fn hole(left_upper: &Bound<Version>, right_lower: &Bound<Version>) -> Option<String> {
    match (left_upper, right_lower) {
        (Bound::Excluded(a), Bound::Excluded(b)) if a == b => Some(format!("!={a}")),
        (Bound::Excluded(a), Bound::Included(b)) if local_upper(a).as_ref() == Some(b) => {
            Some(format!("!={a}"))
        }
        (Bound::Excluded(a), Bound::Included(b)) => {
            star_prefix(a, b).map(|prefix| format!("!={prefix}.*"))
        }
        _ => None,
    }
}

fn lower_bound(bound: &Bound<Version>) -> String {
    match bound {
        Bound::Included(a) => format!(">={a}"),
        Bound::Excluded(a) => format!(">{a}"),
        Bound::Unbounded => String::new(),
    }
}

fn upper_bound(bound: &Bound<Version>) -> String {
    match bound {
        Bound::Included(b) => format!("<={b}"),
        Bound::Excluded(b) => match local_lower(b) {
            Some(b) => format!("<={b}"),
            // `<X.dev0` and `<X` allow the same real versions (nothing sorts between them).
            None if is_release_dev0(b) => format!("<{}", b.only_release()),
            None => format!("<{b}"),
        },
        Bound::Unbounded => String::new(),
    }
}

/// `1.2` for the range `[1.2.dev0, 1.3.dev0)` that `==1.2.*` makes.
fn star_prefix(lower: &Version, upper: &Version) -> Option<Version> {
    if !is_release_dev0(lower) || !is_release_dev0(upper) || lower.epoch() != upper.epoch() {
        return None;
    }
    let (low, high) = (lower.release(), upper.release());
    let (last, rest) = low.split_last()?;
    let expected: Vec<u64> = rest.iter().copied().chain([last + 1]).collect();
    (expected == high).then(|| lower.clone().with_dev(None))
}

fn is_release_dev0(version: &Version) -> bool {
    version.dev() == Some(0)
        && version.pre().is_none()
        && version.post().is_none()
        && version.local().is_empty()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn range(specifiers: &str) -> Ranges<Version> {
        specifiers_to_ranges(&VersionSpecifiers::from_str(specifiers).unwrap())
    }

    fn allows(specifiers: &str, version: &str) -> bool {
        range(specifiers).contains(&Version::from_str(version).unwrap())
    }

    #[test]
    fn every_operator_follows_pep440() {
        let cases = [
            ("==1.0", "1.0", true),
            ("==1.0", "1.0.0", true),
            ("==1.0", "1.0+cpu", true),
            ("==1.0", "1.0.post1", false),
            ("==1.0", "1.0rc1", false),
            ("==1.0+cpu", "1.0+cpu", true),
            ("==1.0+cpu", "1.0+cu121", false),
            ("==1.0+cpu", "1.0", false),
            ("!=1.0", "1.0+cpu", false),
            ("!=1.0", "1.0.post1", true),
            ("!=1.0", "1.1", true),
            ("<=1.0", "1.0+cpu", true),
            ("<=1.0", "1.0.post1", false),
            ("<1.0", "1.0rc1", false),
            ("<1.0", "0.9", true),
            ("<1.0rc2", "1.0rc1", true),
            (">1.0", "1.0.post1", false),
            (">1.0", "1.0+cpu", false),
            (">1.0", "1.0.1", true),
            (">1.0.post1", "1.0.post2", true),
            (">=1.0", "1.0+cpu", true),
            (">=1.0", "1.0rc1", false),
            ("~=1.4.2", "1.4.9", true),
            ("~=1.4.2", "1.5", false),
            ("~=1.4", "1.9", true),
            ("~=1.4", "2.0", false),
            ("~=1.4", "2.0rc1", false),
            ("==1.2.*", "1.2.7", true),
            ("==1.2.*", "1.2", true),
            ("==1.2.*", "1.2.7+local", true),
            ("==1.2.*", "1.3", false),
            ("==1.2.*", "1.20", false),
            ("!=1.2.*", "1.2.3", false),
            ("!=1.2.*", "1.3", true),
            ("===1.0", "1.0", true),
            ("===1.0", "1.1", false),
            (">=1.0,!=1.5,<2", "1.5", false),
            (">=1.0,!=1.5,<2", "1.6", true),
        ];
        for (specifiers, version, expected) in cases {
            assert_eq!(
                allows(specifiers, version),
                expected,
                "{version} in {specifiers}"
            );
        }
    }

    #[test]
    fn ranges_print_as_pep440() {
        let cases = [
            (">=2.22.0", ">=2.22.0"),
            ("==1.0", "==1.0"),
            ("==1.0+cpu", "==1.0+cpu"),
            ("!=1.5", "!=1.5"),
            ("<=1.0", "<=1.0"),
            ("<2.0", "<2.0"),
            (">1.0", ">1.0"),
            (">=1.0,<2", ">=1.0,<2"),
            ("~=1.4", ">=1.4,<2"),
            ("==1.2.*", "==1.2.*"),
            (">=1,!=1.5,<2", ">=1,!=1.5,<2"),
            ("!=1.2.*", "!=1.2.*"),
            ("", ""),
            (">=2,<1", " (no version)"),
        ];
        for (specifiers, expected) in cases {
            assert_eq!(
                Pep440(&range(specifiers)).to_string(),
                expected,
                "{specifiers}"
            );
        }
    }

    #[test]
    fn disjoint_ranges_print_with_bars() {
        let disjoint = range("<1").union(&range(">=3"));
        assert_eq!(Pep440(&disjoint).to_string(), "<1 | >=3");
    }

    #[test]
    fn prerelease_mentions() {
        let mentions = |s: &str| mentions_prerelease(&VersionSpecifiers::from_str(s).unwrap());
        assert!(mentions(">=2.0b1"));
        assert!(mentions("==1.0.dev3"));
        assert!(!mentions(">=1.0,<2"));
    }
}
