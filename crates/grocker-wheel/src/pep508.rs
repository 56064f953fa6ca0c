//! PEP 508 requirements and markers from untrusted text (METADATA of any wheel on an index,
//! lock files, requirements files), parsed without reaching the inputs on which `pep508_rs`
//! 0.9.2 panics instead of returning an error. Both were found by fuzzing (`fuzz/`):
//!
//! - a package name ending in `.`, `-` or `_` followed by anything but the end of the text
//!   (`idna.=3.10`): its parser accepts the name, then `expect`s it to be valid;
//! - the same for an extra name (`pkg[etrax-1.16.0.]`);
//! - a non-ASCII character where the parser slices the text by bytes (`extra == "x"é`): it
//!   slices inside the character.
//!
//! PEP 508's grammar is ASCII (names, operators, versions, markers, RFC 3986 URLs), so refusing
//! anything else refuses no valid requirement.

use std::str::FromStr;

use pep508_rs::{MarkerTree, Pep508Error, Pep508ErrorSource, Requirement};

/// A PEP 508 requirement (`name[extra] (>=1.0) ; marker`), every error a value.
pub fn parse_requirement(text: &str) -> Result<Requirement, Pep508Error> {
    check_ascii(text)?;
    check_name_end(text)?;
    check_extras_end(text)?;
    Requirement::from_str(text)
}

/// A PEP 508 marker expression (`python_version >= "3.8" and extra == "x"`), every error a
/// value.
pub fn parse_markers(text: &str) -> Result<MarkerTree, Pep508Error> {
    check_ascii(text)?;
    MarkerTree::from_str(text)
}

fn error(text: &str, start: usize, len: usize, message: String) -> Pep508Error {
    Pep508Error {
        message: Pep508ErrorSource::String(message),
        start,
        len,
        input: text.to_string(),
    }
}

fn check_ascii(text: &str) -> Result<(), Pep508Error> {
    match text.char_indices().find(|(_, c)| !c.is_ascii()) {
        None => Ok(()),
        Some((at, c)) => Err(error(
            text,
            at,
            c.len_utf8(),
            format!("`{c}` is not ASCII: PEP 508 requirements and markers are ASCII text"),
        )),
    }
}

/// The leading name (after whitespace) must end with a letter or digit (PEP 508 `identifier`).
fn check_name_end(text: &str) -> Result<(), Pep508Error> {
    let start = text.len() - text.trim_start().len();
    let name_len = text[start..]
        .find(|c: char| !is_name_char(c))
        .unwrap_or(text.len() - start);
    let name = &text[start..start + name_len];
    match name.chars().last() {
        Some(last @ ('.' | '-' | '_')) => Err(error(
            text,
            start + name_len - 1,
            1,
            format!("package name `{name}` must end with a letter or digit, not `{last}`"),
        )),
        _ => Ok(()),
    }
}

/// Each extra name in the brackets after the package name must end with a letter or digit too.
fn check_extras_end(text: &str) -> Result<(), Pep508Error> {
    let Some(open) = text.find('[') else {
        return Ok(());
    };
    // Only the brackets right after the name hold extras; a `[` later (a URL, a marker string)
    // is not pep508_rs's extras parser.
    let before = text[..open].trim();
    if before.is_empty() || !before.chars().all(is_name_char) {
        return Ok(());
    }
    let close = text[open..].find(']').map_or(text.len(), |at| open + at);
    let inside = &text[open + 1..close];
    let mut at = 0;
    for run in inside.split(|c: char| !is_name_char(c)) {
        if let Some(last @ ('.' | '-' | '_')) = run.chars().last() {
            return Err(error(
                text,
                open + 1 + at + run.len() - 1,
                1,
                format!("extra name `{run}` must end with a letter or digit, not `{last}`"),
            ));
        }
        at += run.len() + 1;
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fuzz/ project_lock crash-a4110a07: `idna.=3.10` in a requirements file.
    #[test]
    fn fuzz_crash_name_ending_in_dot_before_operator() {
        for text in [
            "idna.=3.10",
            "idna- ==1",
            "  six_;python_version>'3'",
            "a.[x]",
        ] {
            let err = parse_requirement(text).unwrap_err();
            assert!(
                err.to_string().contains("must end with a letter or digit"),
                "{text}: {err}"
            );
        }
        // A trailing `.` at the very end is pep508_rs's own error, not a panic either.
        assert!(parse_requirement("idna.").is_err());
    }

    /// fuzz/ wheel_files (CI, stop 23): an extra name ending in `.` in a METADATA Requires-Dist.
    #[test]
    fn fuzz_crash_extra_name_ending_in_dot() {
        for text in [
            "pkg[etrax-1.16.0.]",
            "pkg [ok, bad_ ] ; python_version > '3'",
            "pkg[a. b]",
            "pkg[x-]>=1",
        ] {
            let err = parse_requirement(text).unwrap_err();
            assert!(err.to_string().contains("extra name"), "{text}: {err}");
        }
        parse_requirement("pkg[a.b, c-d, e_f]>=1").unwrap();
        parse_requirement("pkg @ https://example.com/x[y.]/pkg-1.0-py3-none-any.whl").unwrap();
    }

    /// fuzz/ wheel_files crash-1d3dc68f: a non-ASCII character after a marker in METADATA.
    #[test]
    fn fuzz_crash_non_ascii_in_marker() {
        let err = parse_requirement("idna; extra == \"x\"\u{fffd}").unwrap_err();
        assert!(err.to_string().contains("is not ASCII"), "{err}");
        assert!(parse_markers("extra == \"x\"\u{e9}").is_err());
        assert!(parse_requirement("caf\u{e9}==1").is_err());
    }

    #[test]
    fn valid_requirements_and_markers_still_parse() {
        for text in [
            "six",
            "six==1.16.0",
            " requests[socks] (>=2.0) ; python_version >= \"3.8\"",
            "a.b-c_d>=1",
            "pkg @ https://example.com/pkg-1.0-py3-none-any.whl",
        ] {
            parse_requirement(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        parse_markers("python_version >= '3.8' and extra == 'x'").unwrap();
    }
}
