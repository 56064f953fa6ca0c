//! The HTML that PEP 503 project pages are made of: `<a>` tags with attributes, an optional
//! `<base href>` and the PEP 629 `<meta name="pypi:repository-version">`. A tolerant scanner,
//! not a full HTML parser: indexes generate this markup, they do not hand-write it.

/// One `<a>` tag: its attributes (names lower-cased, values entity-decoded) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub attrs: Vec<(String, String)>,
    pub text: String,
}

impl Anchor {
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a simple-index page holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Page {
    pub anchors: Vec<Anchor>,
    pub base: Option<String>,
    pub repository_version: Option<String>,
}

pub(crate) fn parse(html: &str) -> Page {
    let mut page = Page::default();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        if let Some(comment) = rest.strip_prefix("!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let name_len = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let name = rest[..name_len].to_ascii_lowercase();
        let (attrs, after) = attributes(&rest[name_len..]);
        rest = after;
        match name.as_str() {
            "a" => {
                let end = find_ignore_case(rest, "</a").unwrap_or(rest.len());
                let text = decode_entities(strip_tags(&rest[..end]).trim());
                rest = &rest[end..];
                page.anchors.push(Anchor { attrs, text });
            }
            "base" if page.base.is_none() => {
                page.base = attrs.into_iter().find(|(k, _)| k == "href").map(|(_, v)| v);
            }
            "meta" => {
                let get = |n: &str| attrs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
                if get("name").as_deref() == Some("pypi:repository-version") {
                    page.repository_version = get("content");
                }
            }
            _ => {}
        }
    }
    page
}

/// Parses `name="value" name='value' name=value name` up to the closing `>` and returns the
/// attributes and the text after the tag.
fn attributes(mut s: &str) -> (Vec<(String, String)>, &str) {
    let mut attrs = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('>') {
            return (attrs, after);
        }
        if let Some(after) = s.strip_prefix("/>") {
            return (attrs, after);
        }
        let name_len = s
            .find(|c: char| c.is_whitespace() || matches!(c, '=' | '>' | '/'))
            .unwrap_or(s.len());
        if name_len == 0 {
            if s.is_empty() {
                return (attrs, s);
            }
            s = &s[1..]; // a stray `/` or `=`
            continue;
        }
        let name = s[..name_len].to_ascii_lowercase();
        s = s[name_len..].trim_start();
        let mut value = String::new();
        if let Some(after_eq) = s.strip_prefix('=') {
            s = after_eq.trim_start();
            let quote = s.chars().next().filter(|c| matches!(c, '"' | '\''));
            let raw = if let Some(q) = quote {
                let inner = &s[1..];
                let end = inner.find(q).unwrap_or(inner.len());
                s = inner.get(end + 1..).unwrap_or("");
                &inner[..end]
            } else {
                let end = s
                    .find(|c: char| c.is_whitespace() || c == '>')
                    .unwrap_or(s.len());
                let raw = &s[..end];
                s = &s[end..];
                raw
            };
            value = decode_entities(raw);
        }
        attrs.push((name, value));
    }
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Drops any markup inside an anchor's text (`<a ...><b>x</b></a>` → `x`).
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Decodes character references: `&amp;` `&lt;` `&gt;` `&quot;` `&apos;` `&#NN;` `&#xHH;`.
/// Anything else is kept as written (HTML is lenient about stray `&`).
pub(crate) fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest[1..].find(';').filter(|&i| i <= 10).and_then(|semi| {
            let entity = &rest[1..=semi];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    let code = if let Some(hex) = entity
                        .strip_prefix(['#'])
                        .and_then(|e| e.strip_prefix(['x', 'X']))
                    {
                        u32::from_str_radix(hex, 16).ok()
                    } else {
                        entity.strip_prefix('#').and_then(|d| d.parse().ok())
                    };
                    code.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, semi + 2))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_entities() {
        assert_eq!(decode_entities("&gt;=3.7, !=3.8.*"), ">=3.7, !=3.8.*");
        assert_eq!(decode_entities("a&amp;b&#60;&#x3E;&#X3e;"), "a&b<>>");
        assert_eq!(
            decode_entities("AT&T & more&;&#xZZ;"),
            "AT&T & more&;&#xZZ;"
        );
        assert_eq!(decode_entities("é&eacute;"), "é&eacute;");
    }

    #[test]
    fn scans_anchors() {
        let page = parse(
            "<!DOCTYPE html><html><head><meta name=\"pypi:repository-version\" content=\"1.1\">\
             <base href='/base/'><!-- <a href=\"x\">no</a> --></head><body>\n\
             <A HREF=\"a-1.0.tar.gz#sha256=00\" data-requires-python=\"&gt;=3.7\" data-yanked>\
             a-1.0.tar.gz</A><br/>\n<a href=b.whl data-yanked=\"bad &amp; broken\"><b>b.whl</b></a>\
             <a",
        );
        assert_eq!(page.repository_version.as_deref(), Some("1.1"));
        assert_eq!(page.base.as_deref(), Some("/base/"));
        assert_eq!(page.anchors.len(), 3);
        let a = &page.anchors[0];
        assert_eq!(a.attr("href"), Some("a-1.0.tar.gz#sha256=00"));
        assert_eq!(a.attr("data-requires-python"), Some(">=3.7"));
        assert_eq!(a.attr("data-yanked"), Some(""));
        assert_eq!(a.text, "a-1.0.tar.gz");
        let b = &page.anchors[1];
        assert_eq!(b.attr("href"), Some("b.whl"));
        assert_eq!(b.attr("data-yanked"), Some("bad & broken"));
        assert_eq!(b.text, "b.whl");
        assert_eq!(page.anchors[2].attr("href"), None);
    }
}
