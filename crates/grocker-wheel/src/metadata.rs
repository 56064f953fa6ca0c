//! Core metadata (`METADATA` in wheels, `PKG-INFO` in sdists).

use std::str::FromStr;

use crate::filename::package_name;
use crate::{ExtraName, PackageName, Requirement, Version, VersionSpecifiers, WheelError, headers};

/// The fields of PEP 566/643 core metadata that resolution needs.
///
/// The format is RFC 822 headers followed by an optional body (the long description), which is
/// ignored, as is a multi-line `Description` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreMetadata {
    /// `Name`, normalized.
    pub name: PackageName,
    /// `Version`.
    pub version: Version,
    /// Every `Requires-Dist`, markers included (`extra == "socks"` selects an extra's).
    pub requires_dist: Vec<Requirement>,
    /// `Requires-Python`, if given.
    pub requires_python: Option<VersionSpecifiers>,
    /// Every `Provides-Extra` that is a valid extra name.
    pub provides_extra: Vec<ExtraName>,
}

/// The license a distribution declares in its core metadata, for SBOMs: `License-Expression`
/// (PEP 639, an SPDX expression) when present; else a one-line `License` field (a name, since
/// many hold a whole license text); else the names of `License ::` classifiers (`License :: OSI
/// Approved :: MIT License` gives `MIT License`). Empty when it declares none.
pub fn declared_licenses(bytes: &[u8]) -> DeclaredLicenses {
    let text = String::from_utf8_lossy(bytes);
    let headers = headers::parse(&text);
    if let Some(expression) = headers::first(&headers, "License-Expression")
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        return DeclaredLicenses::Expression(expression.to_string());
    }
    let license = headers::first(&headers, "License")
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains('\n') && l.len() <= 100 && *l != "UNKNOWN");
    if let Some(license) = license {
        return DeclaredLicenses::Names(vec![license.to_string()]);
    }
    let mut names: Vec<String> = headers::all(&headers, "Classifier")
        .into_iter()
        .filter(|c| c.starts_with("License ::"))
        .filter_map(|c| c.rsplit("::").next().map(|n| n.trim().to_string()))
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    DeclaredLicenses::Names(names)
}

/// What [`declared_licenses`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeclaredLicenses {
    /// An SPDX license expression (`MIT OR Apache-2.0`).
    Expression(String),
    /// License names, not SPDX identifiers; possibly none.
    Names(Vec<String>),
}

impl CoreMetadata {
    /// Parses `METADATA`/`PKG-INFO` bytes, tolerating what real uploads contain: a missing
    /// `Metadata-Version`, folded lines, CRLF, non-UTF-8 descriptions, PEP 345 parenthesized
    /// specifiers (`foo (>=1.0)`), trailing commas and `>=1.0.*`-style wildcards.
    pub fn parse(bytes: &[u8]) -> Result<CoreMetadata, WheelError> {
        let text = String::from_utf8_lossy(bytes);
        let headers = headers::parse(&text);
        let field = |name: &str| {
            headers::first(&headers, name).ok_or_else(|| WheelError::Metadata {
                field: name.to_string(),
                reason: "missing".to_string(),
            })
        };
        let name = field("Name")?;
        let name = package_name(name).map_err(|e| metadata_error("Name", e))?;
        let version = field("Version")?;
        let version = Version::from_str(version).map_err(|e| metadata_error("Version", e))?;
        let requires_dist = headers::all(&headers, "Requires-Dist")
            .into_iter()
            .map(parse_requirement)
            .collect::<Result<Vec<_>, _>>()?;
        let requires_python = headers::first(&headers, "Requires-Python")
            .filter(|v| !v.is_empty())
            .map(parse_specifiers)
            .transpose()?;
        // An invalid extra name cannot be requested by anyone, so it is skipped, not fatal.
        let provides_extra = headers::all(&headers, "Provides-Extra")
            .into_iter()
            .filter_map(|e| ExtraName::from_str(e).ok())
            .collect();
        Ok(CoreMetadata {
            name,
            version,
            requires_dist,
            requires_python,
            provides_extra,
        })
    }
}

fn metadata_error(field: &str, e: impl std::fmt::Display) -> WheelError {
    WheelError::Metadata {
        field: field.to_string(),
        reason: e.to_string(),
    }
}

fn parse_requirement(value: &str) -> Result<Requirement, WheelError> {
    match crate::parse_requirement(value) {
        Ok(req) => Ok(req),
        Err(first_error) => lenient_requirement(value)
            .and_then(|fixed| crate::parse_requirement(&fixed).ok())
            .ok_or_else(|| metadata_error("Requires-Dist", format!("`{value}`: {first_error}"))),
    }
}

fn parse_specifiers(value: &str) -> Result<VersionSpecifiers, WheelError> {
    VersionSpecifiers::from_str(value)
        .or_else(|first_error| {
            VersionSpecifiers::from_str(&lenient_specifiers(value)).map_err(|_| first_error)
        })
        .map_err(|e| metadata_error("Requires-Python", format!("`{value}`: {e}")))
}

/// `foo[bar] (>=1.0.*, ) ; marker` → `foo[bar] (>=1.0) ; marker`, or `None` when there is no
/// specifier part to fix (URL requirements are left alone).
fn lenient_requirement(value: &str) -> Option<String> {
    let (head, marker) = match value.split_once(';') {
        Some((h, m)) => (h, Some(m)),
        None => (value, None),
    };
    if head.contains('@') {
        return None;
    }
    let start = head.find(['<', '>', '=', '!', '~', '('])?;
    let (name, specs) = head.split_at(start);
    let specs = specs.trim();
    let fixed = match specs.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
        Some(inner) => format!("({})", lenient_specifiers(inner)),
        None => lenient_specifiers(specs),
    };
    Some(match marker {
        Some(marker) => format!("{name}{fixed} ;{marker}"),
        None => format!("{name}{fixed}"),
    })
}

/// Drops empty items (`>=3.6,`) and `.*` after operators that do not allow it (`>=3.6.*`),
/// two mistakes old setuptools let through.
fn lenient_specifiers(value: &str) -> String {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let wildcard_ok = s.starts_with("==") || s.starts_with("!=");
            match s.strip_suffix(".*") {
                Some(stripped) if !wildcard_ok => stripped.to_string(),
                _ => s.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;
