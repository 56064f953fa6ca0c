//! What a user reads when a native library is missing.

use std::collections::BTreeMap;

use crate::Missing;

/// One line per missing library, all of them at once, e.g.
///
/// ```text
/// psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so needs libpq.so.5, which is not in the image: add libpq5 to dependencies.run
/// ```
///
/// Objects below `site_packages` are shown relative to it (the module path a Python user
/// knows), others from the image root. `providers(soname)` names the Debian packages that ship
/// a library (grocker-debian's `ContentsIndex::packages_providing`); it is asked once per
/// library. No line ends with a newline.
pub fn missing_message(
    missing: &[Missing],
    site_packages: &str,
    mut providers: impl FnMut(&str) -> Vec<String>,
) -> String {
    let site_packages = site_packages.trim_matches('/');
    let mut advice: BTreeMap<&str, String> = BTreeMap::new();
    let mut lines = Vec::with_capacity(missing.len());
    for Missing { object, library } in missing {
        let shown = match object.as_str().strip_prefix(site_packages) {
            Some(rest) if !site_packages.is_empty() && rest.starts_with('/') => {
                rest[1..].to_string()
            }
            _ => object.to_string(),
        };
        let advice =
            advice
                .entry(library.as_str())
                .or_insert_with(|| match providers(library).as_slice() {
                    [] => "and no Debian package of the suite ships it (is the wheel built for \
                       this platform?)"
                        .to_string(),
                    [one] => format!(": add {one} to dependencies.run"),
                    several => format!(": add one of {} to dependencies.run", several.join(", ")),
                });
        let separator = if advice.starts_with(':') { "" } else { ", " };
        lines.push(format!(
            "{shown} needs {library}, which is not in the image{separator}{advice}"
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use grocker_fs::RelPath;

    use super::*;

    fn missing(object: &str, library: &str) -> Missing {
        Missing {
            object: RelPath::new(object).unwrap(),
            library: library.to_string(),
        }
    }

    #[test]
    fn names_the_package_to_add() {
        let site = "opt/venv/lib/python3.11/site-packages";
        let all = [
            missing(
                &format!("{site}/psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so"),
                "libpq.so.5",
            ),
            missing(&format!("{site}/x/_x.so"), "libjpeg.so.62"),
            missing(&format!("{site}/x/_y.so"), "libpq.so.5"),
            missing("opt/venv/bin/tool", "libfoo-1a2b3c.so.1"),
        ];
        let mut asked = Vec::new();
        let message = missing_message(&all, &format!("/{site}/"), |soname| {
            asked.push(soname.to_string());
            match soname {
                "libpq.so.5" => vec!["libpq5".to_string()],
                "libjpeg.so.62" => vec!["libjpeg62".to_string(), "libjpeg62-turbo".to_string()],
                _ => Vec::new(),
            }
        });
        assert_eq!(
            message,
            "psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so needs libpq.so.5, which is not in \
             the image: add libpq5 to dependencies.run\n\
             x/_x.so needs libjpeg.so.62, which is not in the image: add one of libjpeg62, \
             libjpeg62-turbo to dependencies.run\n\
             x/_y.so needs libpq.so.5, which is not in the image: add libpq5 to \
             dependencies.run\n\
             /opt/venv/bin/tool needs libfoo-1a2b3c.so.1, which is not in the image, and no \
             Debian package of the suite ships it (is the wheel built for this platform?)"
        );
        assert_eq!(asked, ["libpq.so.5", "libjpeg.so.62", "libfoo-1a2b3c.so.1"]);
    }
}
