//! Package metadata in the distroless layout, so scanners and SBOM tools see every package.
//!
//! An image without dpkg has no `/var/lib/dpkg/status`. Distroless images instead carry one
//! file per package, `/var/lib/dpkg/status.d/<package>` (the package's control paragraph, as
//! `dpkg-deb --field` prints it) and optionally `status.d/<package>.md5sums`; trivy, syft, grype
//! and scancode read that layout. We add `Status: install ok installed`, which dpkg's own
//! status file carries and which some readers check before counting a package as installed.

use grocker_fs::{Entry, RelPath};

use crate::{DebContents, DebianError};

/// The directory scanners read per-package status files from.
pub const STATUS_D: &str = "var/lib/dpkg/status.d";

/// The control paragraph with `Status: install ok installed` after its `Package:` field,
/// ending in exactly one newline. An existing `Status:` field is left alone.
pub fn status_d_entry(control: &str) -> String {
    let control = control.trim_end_matches(['\n', '\r', ' ', '\t']);
    let has_status = control.lines().any(|l| {
        l.split_once(':')
            .is_some_and(|(n, _)| n.eq_ignore_ascii_case("status"))
    });
    let mut out = String::with_capacity(control.len() + 32);
    let mut inserted = has_status;
    let mut lines = control.lines().peekable();
    while let Some(line) = lines.next() {
        out.push_str(line);
        out.push('\n');
        let is_package = line
            .split_once(':')
            .is_some_and(|(n, _)| n.eq_ignore_ascii_case("package"));
        if is_package && !inserted {
            // Keep any continuation lines with their field.
            while let Some(next) = lines.next_if(|l| l.starts_with([' ', '\t'])) {
                out.push_str(next);
                out.push('\n');
            }
            out.push_str("Status: install ok installed\n");
            inserted = true;
        }
    }
    if !inserted {
        out.insert_str(0, "Status: install ok installed\n");
    }
    out
}

/// The `Package:` of a control paragraph.
pub fn control_package_name(control: &str) -> Option<&str> {
    control_field(control, "Package")
}

/// One field of a control paragraph.
fn control_field<'a>(control: &'a str, field: &str) -> Option<&'a str> {
    crate::deb822::paragraphs(control)
        .next()
        .and_then(|p| p.get(field))
}

impl DebContents {
    /// Checks that this is the package an entry names (`Package`, `Version`, `Architecture`),
    /// `deb` naming the file in the error.
    pub fn check_identity(
        &self,
        deb: &str,
        package: &str,
        version: &str,
        architecture: &str,
    ) -> Result<(), DebianError> {
        let field = |name| control_field(&self.control, name).unwrap_or("?");
        let actual = (field("Package"), field("Version"), field("Architecture"));
        if actual == (package, version, architecture) {
            return Ok(());
        }
        Err(DebianError::NotTheNamedPackage {
            deb: deb.to_string(),
            expected: format!("{package} {version} ({architecture})"),
            actual: format!("{} {} ({})", actual.0, actual.1, actual.2),
        })
    }
}

/// The status files for one extracted package: `var/lib/dpkg/status.d/<package>` and, when the
/// package has md5sums, `var/lib/dpkg/status.d/<package>.md5sums` (mode 0644, root-owned).
pub fn status_d_files(deb: &DebContents) -> Result<Vec<(RelPath, Entry)>, DebianError> {
    let name = control_package_name(&deb.control).ok_or_else(|| DebianError::MalformedDeb {
        deb: "(control)".to_string(),
        message: "control file has no Package field".to_string(),
    })?;
    let path = |file: String| {
        RelPath::new(&format!("{STATUS_D}/{file}")).map_err(|e| DebianError::MalformedDeb {
            deb: name.to_string(),
            message: format!("package name unusable as a file name: {e}"),
        })
    };
    let mut out = vec![(
        path(name.to_string())?,
        Entry::file(status_d_entry(&deb.control), 0o644),
    )];
    if let Some(md5sums) = &deb.md5sums {
        out.push((
            path(format!("{name}.md5sums"))?,
            Entry::file(md5sums.clone(), 0o644),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTROL: &str = "Package: libbz2-1.0\nSource: bzip2 (1.0.8-5)\nVersion: 1.0.8-5+b1\n\
        Architecture: amd64\nMaintainer: Anibal Monsalve Salazar <anibal@debian.org>\n\
        Installed-Size: 106\nDepends: libc6 (>= 2.4)\nSection: libs\nPriority: important\n\
        Multi-Arch: same\nHomepage: https://sourceware.org/bzip2/\n\
        Description: high-quality block-sorting file compressor library - runtime\n \
        This package contains libbzip2 which is used by the bzip2 compressor.\n .\n \
        bzip2 is a freely available, patent free, data compressor.\n";

    #[test]
    fn inserts_status_after_package() {
        let entry = status_d_entry(CONTROL);
        let lines: Vec<&str> = entry.lines().collect();
        assert_eq!(lines[0], "Package: libbz2-1.0");
        assert_eq!(lines[1], "Status: install ok installed");
        assert_eq!(lines[2], "Source: bzip2 (1.0.8-5)");
        assert_eq!(
            entry.len(),
            CONTROL.len() + "Status: install ok installed\n".len()
        );
        assert!(entry.ends_with("compressor.\n"));
        // idempotent
        assert_eq!(status_d_entry(&entry), entry);
        // trailing blank lines are dropped, the result ends in exactly one newline
        assert_eq!(status_d_entry(&format!("{CONTROL}\n\n")), entry);
    }

    #[test]
    fn status_files() {
        let deb = DebContents {
            control: CONTROL.to_string(),
            conffiles: vec![],
            md5sums: Some("abc  usr/lib/x\n".to_string()),
            files: vec![],
        };
        let files = status_d_files(&deb).unwrap();
        let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "var/lib/dpkg/status.d/libbz2-1.0",
                "var/lib/dpkg/status.d/libbz2-1.0.md5sums"
            ]
        );
        assert_eq!(control_package_name(CONTROL), Some("libbz2-1.0"));
    }
}
