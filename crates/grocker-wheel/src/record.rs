//! `RECORD`: the CSV list of a distribution's files with their hashes and sizes.
//!
//! "Recording installed projects": "The RECORD file holds the list of installed files. It is a
//! CSV file containing one record (line) per installed file." Each record holds the file's path,
//! the hash of its contents (`sha256=` and the urlsafe base64 digest without padding) and its
//! size; paths are relative to site-packages, even for files outside it (`../../../bin/x`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grocker_fs::Content;
use grocker_hash::Sha256;

/// One line of a `RECORD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecordLine {
    pub(crate) path: String,
    /// `sha256=<urlsafe base64, no padding>`, or empty.
    pub(crate) hash: String,
    pub(crate) size: String,
}

/// Parses `RECORD` text: CSV with `"`-quoting as Python's `csv` module writes it.
pub(crate) fn parse(text: &str) -> Result<Vec<RecordLine>, String> {
    let mut out = Vec::new();
    for (n, row) in parse_csv(text)?.into_iter().enumerate() {
        let mut fields = row.into_iter();
        let path = fields.next().unwrap_or_default();
        if path.is_empty() {
            return Err(format!("line {}: empty path", n + 1));
        }
        out.push(RecordLine {
            path,
            hash: fields.next().unwrap_or_default(),
            size: fields.next().unwrap_or_default(),
        });
    }
    Ok(out)
}

fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut line = 1;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                let done = std::mem::take(&mut row);
                if done.iter().any(|f| !f.is_empty()) {
                    rows.push(done);
                }
                line += 1;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!("line {line}: unterminated quoted field"));
    }
    row.push(field);
    if row.iter().any(|f| !f.is_empty()) {
        rows.push(row);
    }
    Ok(rows)
}

/// Writes rows sorted by path (pip sorts too), quoting as `csv.QUOTE_MINIMAL` does.
pub(crate) fn write(mut lines: Vec<RecordLine>) -> String {
    lines.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = String::new();
    for line in &lines {
        let fields = [&line.path, &line.hash, &line.size].map(|f| quote(f));
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// `sha256=<urlsafe-base64-nopad>`, the form RECORD uses.
pub(crate) fn hash_field(hash: &Sha256) -> String {
    format!("sha256={}", URL_SAFE_NO_PAD.encode(hash.as_bytes()))
}

/// Checks `data` against a RECORD hash field. The binary distribution format spec: "The hash
/// algorithm must be sha256 or better; specifically, md5 and sha1 are not permitted."
/// `Err` carries the hash of `content` in the same algorithm, or says why it cannot be checked.
/// SHA-256, which nearly every wheel uses, was taken as the member was read; another algorithm
/// streams the content again.
pub(crate) fn verify(expected: &str, content: &Content) -> Result<(), String> {
    let (algorithm, _) = expected
        .split_once('=')
        .ok_or_else(|| format!("`{expected}` is not ALGORITHM=DIGEST"))?;
    let digest = match algorithm {
        "sha256" => URL_SAFE_NO_PAD.encode(content.sha256().as_bytes()),
        "sha384" => URL_SAFE_NO_PAD.encode(stream::<sha2::Sha384>(content)?),
        "sha512" => URL_SAFE_NO_PAD.encode(stream::<sha2::Sha512>(content)?),
        other => {
            return Err(format!(
                "hash algorithm `{other}` is not permitted in RECORD"
            ));
        }
    };
    let actual = format!("{algorithm}={digest}");
    // Some tools pad the base64; the digest is the same.
    if expected.trim_end_matches('=') == actual {
        Ok(())
    } else {
        Err(actual)
    }
}

fn stream<D: sha2::Digest + std::io::Write>(content: &Content) -> Result<Vec<u8>, String> {
    let mut digest = D::new();
    let mut reader = content.open().map_err(|e| e.to_string())?;
    std::io::copy(&mut reader, &mut digest).map_err(|e| e.to_string())?;
    Ok(digest.finalize().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip_with_quoting() {
        let lines = vec![
            RecordLine {
                path: "b/x,y.py".into(),
                hash: "sha256=abc".into(),
                size: "3".into(),
            },
            RecordLine {
                path: "a/\"q\".py".into(),
                hash: String::new(),
                size: String::new(),
            },
        ];
        let text = write(lines.clone());
        assert_eq!(text, "\"a/\"\"q\"\".py\",,\n\"b/x,y.py\",sha256=abc,3\n");
        let mut sorted = lines;
        sorted.reverse();
        assert_eq!(parse(&text).unwrap(), sorted);
        assert_eq!(parse("a,h,1\r\n\r\nb,,\r\n").unwrap().len(), 2);
        assert!(parse("\"open,,\n").is_err());
    }

    #[test]
    fn hashes() {
        use sha2::Digest as _;
        let data = b"hello";
        let content = Content::inline(&data[..]);
        let field = hash_field(&Sha256::digest(data));
        assert_eq!(field, "sha256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ");
        assert!(verify(&field, &content).is_ok());
        assert!(verify(&format!("{field}="), &content).is_ok());
        assert!(verify(&field, &Content::inline(&b"other"[..])).is_err());
        let sha512 = format!(
            "sha512={}",
            URL_SAFE_NO_PAD.encode(sha2::Sha512::digest(data))
        );
        assert!(verify(&sha512, &content).is_ok());
        assert!(
            verify("md5=xyz", &content)
                .unwrap_err()
                .contains("not permitted")
        );
    }
}
