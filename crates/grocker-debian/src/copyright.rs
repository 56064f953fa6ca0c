//! What a package says about itself beyond its control paragraph, for SBOMs: its source
//! package, and the licenses of a machine-readable `debian/copyright` (DEP-5).

/// The source package and its version, from a control paragraph's `Source:` field (`name` or
/// `name (version)`, the latter for binNMUs); a package without one is its own source, at its
/// own version.
pub fn control_source(control: &str) -> Option<(String, String)> {
    let field = |name: &str| {
        control.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let package = field("Package")?;
    let version = field("Version")?;
    Some(match field("Source") {
        None => (package, version),
        Some(source) => match source.split_once('(') {
            Some((name, v)) => (
                name.trim().to_string(),
                v.trim_end_matches(')').trim().to_string(),
            ),
            None => (source, version),
        },
    })
}

/// The licenses a machine-readable copyright file names (the first line of every `License:`
/// field, as written: Debian's short names such as `GPL-2+` or `LGPL-2.1+`), sorted and
/// distinct; `None` when the file is not in the machine-readable format (Debian copyright
/// format 1.0, whose first paragraph has a `Format:` field naming it).
pub fn copyright_licenses(text: &str) -> Option<Vec<String>> {
    let first = text.lines().next()?;
    let (name, value) = first.split_once(':')?;
    if !name.eq_ignore_ascii_case("Format") || !value.contains("copyright-format/1.0") {
        return None;
    }
    let mut licenses: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            let value = value.trim();
            (name.eq_ignore_ascii_case("License") && !value.is_empty()).then(|| value.to_string())
        })
        .collect();
    licenses.sort();
    licenses.dedup();
    Some(licenses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_from_control() {
        let plain = "Package: libssl3\nVersion: 3.0.22-1~deb12u2\nSource: openssl\n";
        assert_eq!(
            control_source(plain),
            Some(("openssl".into(), "3.0.22-1~deb12u2".into()))
        );
        let binnmu = "Package: libfoo1\nSource: foo (1.2-3)\nVersion: 1.2-3+b1\n";
        assert_eq!(control_source(binnmu), Some(("foo".into(), "1.2-3".into())));
        let own = "Package: tzdata\nVersion: 2025b-0+deb12u1\n";
        assert_eq!(
            control_source(own),
            Some(("tzdata".into(), "2025b-0+deb12u1".into()))
        );
        assert_eq!(control_source("Version: 1\n"), None);
    }

    #[test]
    fn licenses_of_a_machine_readable_copyright() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
            Upstream-Name: x\n\nFiles: *\nCopyright: someone\nLicense: GPL-2+\n\n\
            Files: lib/*\nLicense: LGPL-2.1+ or MIT\n\nLicense: GPL-2+\n This program is free\n";
        assert_eq!(
            copyright_licenses(text),
            Some(vec!["GPL-2+".to_string(), "LGPL-2.1+ or MIT".to_string()])
        );
        assert_eq!(
            copyright_licenses("This is Debian's packaging of x.\n"),
            None
        );
    }
}
