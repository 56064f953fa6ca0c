//! The RFC 822 style header blocks of `METADATA`, `PKG-INFO` and `WHEEL`.

/// The headers before the first empty line, in file order. A line starting with a space or a
/// tab continues the previous header (RFC 822 folding: joined with one space here, which is how
/// the fields grocker reads are meant; `Description` is folded too but never read). Lines
/// without a `:` are skipped, as Python's `email` parser tolerates them.
pub(crate) fn parse(text: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                let more = line.trim();
                if !more.is_empty() {
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str(more);
                }
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            headers.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    headers
}

/// Every value of header `key` (case-insensitive).
pub(crate) fn all<'a>(headers: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The first value of header `key` (case-insensitive).
pub(crate) fn first<'a>(headers: &'a [(String, String)], key: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_continuations_and_stops_at_the_body() {
        let text = "Name: foo\r\nRequires-Dist: bar\n  >=1.0\nDescription: x\n        |\n\
                    \n        | y\nno colon here\n\nBody: not a header\n";
        let h = parse(text);
        assert_eq!(first(&h, "name"), Some("foo"));
        assert_eq!(all(&h, "REQUIRES-DIST"), ["bar >=1.0"]);
        assert_eq!(first(&h, "Description"), Some("x |"));
        assert_eq!(first(&h, "Body"), None);
    }
}
