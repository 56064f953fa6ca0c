//! Package relationship fields: `Depends`, `Pre-Depends`, `Provides` (Debian Policy §7.1).
//!
//! `a (>= 1.2) | b:any, c [amd64] <!nocheck>` is a list of [`Dependency`] (comma-separated),
//! each a list of alternative [`Relation`]s (`|`-separated).

use std::fmt;

use crate::{DebianError, DebianVersion};

/// A version comparison in a relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOp {
    /// `<<` strictly earlier.
    Less,
    /// `<=` earlier or equal (also the obsolete `<`).
    LessEq,
    /// `=` exactly equal.
    Eq,
    /// `>=` later or equal (also the obsolete `>`).
    GreaterEq,
    /// `>>` strictly later.
    Greater,
}

impl VersionOp {
    /// Whether `version` satisfies `version OP wanted`.
    pub fn matches(self, version: &DebianVersion, wanted: &DebianVersion) -> bool {
        use std::cmp::Ordering::*;
        let ord = version.cmp(wanted);
        match self {
            VersionOp::Less => ord == Less,
            VersionOp::LessEq => ord != Greater,
            VersionOp::Eq => ord == Equal,
            VersionOp::GreaterEq => ord != Less,
            VersionOp::Greater => ord == Greater,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            VersionOp::Less => "<<",
            VersionOp::LessEq => "<=",
            VersionOp::Eq => "=",
            VersionOp::GreaterEq => ">=",
            VersionOp::Greater => ">>",
        }
    }
}

/// One package name with its optional qualifiers: `name[:arch] [(op version)] [[arch list]]
/// [<profiles>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// The package (or virtual package) name.
    pub name: String,
    /// The architecture qualifier after `:` (`any`, `native`, or an architecture).
    pub arch_qualifier: Option<String>,
    /// The version constraint.
    pub version: Option<(VersionOp, DebianVersion)>,
    /// The architecture restriction list (`[amd64 !i386]`), as written (source packages only).
    pub arch_restriction: Vec<String>,
}

impl Relation {
    /// Whether the architecture restriction list (if any) includes `arch`: a list of positive
    /// names must contain it, a list of `!`-negated names must not.
    pub fn applies_to(&self, arch: &str) -> bool {
        if self.arch_restriction.is_empty() {
            return true;
        }
        let negated = self.arch_restriction.iter().all(|a| a.starts_with('!'));
        let listed = self
            .arch_restriction
            .iter()
            .any(|a| a.trim_start_matches('!') == arch || a == "any");
        if negated { !listed } else { listed }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(q) = &self.arch_qualifier {
            write!(f, ":{q}")?;
        }
        if let Some((op, v)) = &self.version {
            write!(f, " ({} {v})", op.as_str())?;
        }
        if !self.arch_restriction.is_empty() {
            write!(f, " [{}]", self.arch_restriction.join(" "))?;
        }
        Ok(())
    }
}

/// One comma-separated item: satisfied when any of its alternatives is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The `|`-separated alternatives, in order of preference.
    pub alternatives: Vec<Relation>,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, alt) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{alt}")?;
        }
        Ok(())
    }
}

/// Parses a relationship field (newlines count as spaces). Build profiles (`<!nocheck>`) are
/// accepted and ignored: they only restrict build dependencies.
pub fn parse_relations(field: &str) -> Result<Vec<Dependency>, DebianError> {
    let mut out = Vec::new();
    for item in field.split(',') {
        if item.trim().is_empty() {
            continue; // a trailing comma is tolerated, as dpkg does
        }
        let alternatives = item
            .split('|')
            .map(|alt| parse_relation(alt, field))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Dependency { alternatives });
    }
    Ok(out)
}

fn parse_relation(text: &str, field: &str) -> Result<Relation, DebianError> {
    let err = |reason: String| DebianError::InvalidRelation {
        value: field.trim().to_string(),
        reason,
    };
    let mut rest = text.trim();
    let name_end = rest
        .find(|c: char| c.is_whitespace() || "([<".contains(c))
        .unwrap_or(rest.len());
    let full_name = &rest[..name_end];
    rest = rest[name_end..].trim_start();
    let (name, arch_qualifier) = match full_name.split_once(':') {
        Some((n, q)) => (n, Some(q.to_string())),
        None => (full_name, None),
    };
    // Policy §5.6.1: lower case letters, digits, `+ - .`, at least two characters, starting
    // with an alphanumeric. Be lenient on length (some virtual names are short).
    if name.is_empty()
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
    {
        return Err(err(format!("`{}` is not a package name", full_name)));
    }
    let mut version = None;
    if let Some(after) = rest.strip_prefix('(') {
        let close = after
            .find(')')
            .ok_or_else(|| err(format!("missing `)` after `{name}`")))?;
        let inside = after[..close].trim();
        let op_len = inside
            .find(|c: char| !"<>=".contains(c))
            .unwrap_or(inside.len());
        let op = match &inside[..op_len] {
            "<<" => VersionOp::Less,
            "<=" | "<" => VersionOp::LessEq,
            "=" => VersionOp::Eq,
            ">=" | ">" => VersionOp::GreaterEq,
            ">>" => VersionOp::Greater,
            other => return Err(err(format!("unknown version operator `{other}`"))),
        };
        let v: DebianVersion = inside[op_len..].trim().parse()?;
        version = Some((op, v));
        rest = after[close + 1..].trim_start();
    }
    let mut arch_restriction = Vec::new();
    if let Some(after) = rest.strip_prefix('[') {
        let close = after
            .find(']')
            .ok_or_else(|| err(format!("missing `]` after `{name}`")))?;
        arch_restriction = after[..close]
            .split_whitespace()
            .map(String::from)
            .collect();
        rest = after[close + 1..].trim_start();
    }
    while let Some(after) = rest.strip_prefix('<') {
        let close = after
            .find('>')
            .ok_or_else(|| err(format!("missing `>` after `{name}`")))?;
        rest = after[close + 1..].trim_start();
    }
    if !rest.is_empty() {
        return Err(err(format!("unexpected `{rest}` after `{name}`")));
    }
    Ok(Relation {
        name: name.to_string(),
        arch_qualifier,
        version,
        arch_restriction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_syntax() {
        let deps = parse_relations(
            "a (>= 1.2) | b:any, c [amd64] <!nocheck>, d (<< 2:3~) [!i386 !arm64] <a b> <c>,\n e",
        )
        .unwrap();
        assert_eq!(deps.len(), 4);
        assert_eq!(deps[0].alternatives.len(), 2);
        let a = &deps[0].alternatives[0];
        assert_eq!(a.name, "a");
        let (op, v) = a.version.as_ref().unwrap();
        assert_eq!((*op, v.to_string().as_str()), (VersionOp::GreaterEq, "1.2"));
        assert_eq!(
            deps[0].alternatives[1].arch_qualifier.as_deref(),
            Some("any")
        );
        let c = &deps[1].alternatives[0];
        assert!(c.applies_to("amd64") && !c.applies_to("arm64"));
        let d = &deps[2].alternatives[0];
        assert!(d.applies_to("amd64") && !d.applies_to("i386"));
        assert_eq!(d.version.as_ref().unwrap().0, VersionOp::Less);
        assert_eq!(deps[3].alternatives[0].name, "e");
        assert_eq!(deps[0].to_string(), "a (>= 1.2) | b:any");
        assert_eq!(deps[2].to_string(), "d (<< 2:3~) [!i386 !arm64]");
    }

    #[test]
    fn real_fields() {
        let deps = parse_relations(
            "python3.11-minimal (= 3.11.2-6+deb12u6), libpython3.11-stdlib (= 3.11.2-6+deb12u6), \
             media-types | mime-support, tzdata",
        )
        .unwrap();
        assert_eq!(deps.len(), 4);
        assert_eq!(deps[2].alternatives[1].name, "mime-support");
        let deps = parse_relations("libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0").unwrap();
        assert_eq!(deps[1].alternatives[1].name, "debconf-2.0");
        // obsolete operators and no spaces
        let deps = parse_relations("x(<1.0),y (>2)").unwrap();
        assert_eq!(
            deps[0].alternatives[0].version.as_ref().unwrap().0,
            VersionOp::LessEq
        );
        assert_eq!(
            deps[1].alternatives[0].version.as_ref().unwrap().0,
            VersionOp::GreaterEq
        );
        assert!(parse_relations("").unwrap().is_empty());
    }

    #[test]
    fn ops_match() {
        let v = |s: &str| s.parse::<DebianVersion>().unwrap();
        assert!(VersionOp::GreaterEq.matches(&v("2.36-9"), &v("2.34")));
        assert!(!VersionOp::Less.matches(&v("1.0"), &v("1.0")));
        assert!(VersionOp::LessEq.matches(&v("1.0"), &v("1.0")));
        assert!(VersionOp::Eq.matches(&v("1.0-0"), &v("1.0")));
        assert!(VersionOp::Greater.matches(&v("1.0+b1"), &v("1.0")));
    }

    #[test]
    fn errors() {
        for bad in [
            "a (>= 1", "a (~ 1)", "A", "a b", "a [amd64", "(>= 1)", "a (>= )",
        ] {
            assert!(parse_relations(bad).is_err(), "{bad}");
        }
        let err = parse_relations("foo (>= 1").unwrap_err();
        assert!(err.to_string().contains("foo (>= 1"), "{err}");
    }
}
