//! A borrowing reader for deb822 control data (Release, Packages, DEBIAN/control).
//!
//! deb822 (Debian Policy §5.1): paragraphs separated by blank lines; each field starts at the
//! beginning of a line with `Name:`; lines starting with a space or tab continue the previous
//! field. Field names are case-insensitive. Nothing is copied: fields are slices of the input.

/// One paragraph's text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paragraph<'a> {
    pub(crate) text: &'a str,
}

/// Splits `text` into paragraphs (skipping blank lines and, as apt does, `#` comment lines
/// between paragraphs).
pub(crate) fn paragraphs(text: &str) -> impl Iterator<Item = Paragraph<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        // Skip separator lines.
        loop {
            let rest = &text[pos..];
            if rest.is_empty() {
                return None;
            }
            let line_end = rest.find('\n').map_or(rest.len(), |i| i + 1);
            let line = &rest[..line_end];
            if line.trim().is_empty() || line.starts_with('#') {
                pos += line_end;
            } else {
                break;
            }
        }
        let start = pos;
        loop {
            let rest = &text[pos..];
            let Some(i) = rest.find('\n') else {
                pos = text.len();
                break;
            };
            pos += i + 1;
            // A blank line ends the paragraph (it is consumed by the next call).
            let next = &text[pos..];
            let next_line = &next[..next.find('\n').unwrap_or(next.len())];
            if next_line.trim().is_empty() {
                break;
            }
        }
        Some(Paragraph {
            text: &text[start..pos],
        })
    })
}

/// One pass over `text` for large files (a 50 MB `Packages`): calls `on_paragraph` with each
/// paragraph's byte range and its fields (name, trimmed value), reusing one buffer. Each line
/// is looked at once.
pub(crate) fn scan<'a, E>(
    text: &'a str,
    mut on_paragraph: impl FnMut(std::ops::Range<usize>, &[(&'a str, &'a str)]) -> Result<(), E>,
) -> Result<(), E> {
    let mut fields: Vec<(&'a str, &'a str)> = Vec::with_capacity(32);
    // The field being read: name, value start; and the paragraph's start.
    let mut current: Option<(&'a str, usize)> = None;
    let mut para_start: Option<usize> = None;
    let mut pos = 0;
    let finish_field = |fields: &mut Vec<_>, current: &mut Option<(&'a str, usize)>, end| {
        if let Some((name, start)) = current.take() {
            fields.push((name, text[start..end].trim()));
        }
    };
    for line in text.split_inclusive('\n') {
        let start = pos;
        pos += line.len();
        let first = line.as_bytes()[0];
        let blank = match first {
            b'\n' => true,
            b' ' | b'\t' | b'\r' => line.trim().is_empty(),
            _ => false,
        };
        if blank {
            finish_field(&mut fields, &mut current, start);
            if let Some(p) = para_start.take() {
                on_paragraph(p..start, &fields)?;
                fields.clear();
            }
        } else if first == b' ' || first == b'\t' {
            // continuation line: nothing to do until the field ends
        } else if first == b'#' && para_start.is_none() {
            // comment between paragraphs
        } else {
            finish_field(&mut fields, &mut current, start);
            para_start.get_or_insert(start);
            if let Some(colon) = line.find(':') {
                current = Some((line[..colon].trim(), start + colon + 1));
            }
        }
    }
    finish_field(&mut fields, &mut current, pos);
    if let Some(p) = para_start {
        on_paragraph(p..pos, &fields)?;
    }
    Ok(())
}

impl<'a> Paragraph<'a> {
    /// The fields in order: name and value, the value trimmed and still containing the
    /// newlines and leading spaces of any continuation lines.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a> {
        let text = self.text;
        let mut pos = 0;
        std::iter::from_fn(move || {
            loop {
                let rest = &text[pos..];
                if rest.is_empty() {
                    return None;
                }
                let line_end = rest.find('\n').map_or(rest.len(), |i| i + 1);
                let line = &rest[..line_end];
                let Some(colon) = line
                    .find(':')
                    .filter(|_| !line.starts_with([' ', '\t', '#']))
                else {
                    // A stray continuation or comment line: skip it.
                    pos += line_end;
                    continue;
                };
                let name = &line[..colon];
                let value_start = pos + colon + 1;
                pos += line_end;
                // Continuation lines.
                while text[pos..].starts_with([' ', '\t']) {
                    pos += text[pos..].find('\n').map_or(text.len() - pos, |i| i + 1);
                }
                return Some((name.trim(), text[value_start..pos].trim()));
            }
        })
    }

    /// The value of field `name` (case-insensitive), if present.
    pub(crate) fn get(&self, name: &str) -> Option<&'a str> {
        self.fields()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_paragraphs_and_fields() {
        let text = "\n# comment\nPackage: a\nDescription: short\n long\n .\n more\nDepends: x,\n  y\n\n\n\
                    Package: b\r\nVersion: 1\n";
        let paras: Vec<_> = paragraphs(text).collect();
        assert_eq!(paras.len(), 2);
        let a: Vec<_> = paras[0].fields().collect();
        assert_eq!(a[0], ("Package", "a"));
        assert_eq!(a[1], ("Description", "short\n long\n .\n more"));
        assert_eq!(a[2], ("Depends", "x,\n  y"));
        assert_eq!(paras[1].get("version"), Some("1"));
        assert_eq!(paras[1].get("package"), Some("b"));
    }

    #[test]
    fn scan_agrees_with_paragraphs() {
        let text = "\n# comment\nPackage: a\nDescription: short\n long\n .\n more\nDepends: x,\n  y\n \n\n\
                    Package: b\r\nVersion: 1\n\t\nPackage: c\nV: 2";
        let mut scanned = Vec::new();
        scan::<()>(text, |range, fields| {
            scanned.push((range, fields.to_vec()));
            Ok(())
        })
        .unwrap();
        let paras: Vec<_> = paragraphs(text).collect();
        assert_eq!(scanned.len(), 3);
        for ((range, fields), para) in scanned.iter().zip(&paras) {
            assert_eq!(&text[range.clone()], para.text);
            assert_eq!(fields, &para.fields().collect::<Vec<_>>());
        }
    }

    #[test]
    fn no_trailing_newline() {
        let paras: Vec<_> = paragraphs("A: 1\nB: 2").collect();
        assert_eq!(paras.len(), 1);
        assert_eq!(paras[0].get("B"), Some("2"));
    }
}
