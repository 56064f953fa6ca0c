//! Debian version numbers and their ordering (Debian Policy §5.6.12, dpkg's `verrevcmp`).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::DebianError;

/// A Debian version: `[epoch:]upstream_version[-debian_revision]`.
///
/// Ordering follows dpkg: epochs numerically, then upstream and revision compared as alternating
/// non-digit and digit runs, where `~` sorts before everything (even the end of the string),
/// letters before other characters, and digit runs numerically. Versions that compare equal are
/// equal (`1.0` == `1.00`, `1.0` == `0:1.0-0`), while `Display` writes the text as parsed.
#[derive(Clone)]
pub struct DebianVersion {
    text: String,
    epoch: u64,
    /// Byte range of the upstream version in `text`.
    upstream: (usize, usize),
    /// Byte range of the revision in `text` (empty when absent).
    revision: (usize, usize),
}

impl DebianVersion {
    /// The epoch (0 when absent).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The upstream part.
    pub fn upstream(&self) -> &str {
        &self.text[self.upstream.0..self.upstream.1]
    }

    /// The Debian revision, empty when the version has none.
    pub fn revision(&self) -> &str {
        &self.text[self.revision.0..self.revision.1]
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for DebianVersion {
    type Err = DebianError;

    fn from_str(s: &str) -> Result<Self, DebianError> {
        let err = |reason| DebianError::InvalidVersion {
            value: s.to_string(),
            reason,
        };
        let text = s.trim();
        if text.is_empty() {
            return Err(err("empty version"));
        }
        let (epoch, start) = match text.find(':') {
            Some(i) => {
                let epoch = &text[..i];
                if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("the epoch (before `:`) must be a number"));
                }
                (epoch.parse().map_err(|_| err("epoch too large"))?, i + 1)
            }
            None => (0, 0),
        };
        let (upstream, revision) = match text[start..].rfind('-') {
            Some(i) => ((start, start + i), (start + i + 1, text.len())),
            None => ((start, text.len()), (text.len(), text.len())),
        };
        if upstream.0 == upstream.1 {
            return Err(err("empty upstream version"));
        }
        let up = &text[upstream.0..upstream.1];
        if !up
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+~-:".contains(&b))
        {
            return Err(err(
                "upstream version has a character outside [A-Za-z0-9.+~-:]",
            ));
        }
        let rev = &text[revision.0..revision.1];
        if text[start..].contains('-') {
            if rev.is_empty() {
                return Err(err("empty Debian revision after `-`"));
            }
            if !rev
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".+~".contains(&b))
            {
                return Err(err(
                    "Debian revision has a character outside [A-Za-z0-9.+~]",
                ));
            }
        }
        Ok(Self {
            text: text.to_string(),
            epoch,
            upstream,
            revision,
        })
    }
}

impl fmt::Display for DebianVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for DebianVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DebianVersion({})", self.text)
    }
}

impl Ord for DebianVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream(), other.upstream()))
            .then_with(|| verrevcmp(self.revision(), other.revision()))
    }
}

impl PartialOrd for DebianVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for DebianVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for DebianVersion {}

/// The weight of one non-digit character: `~` lowest (below the end of the string, weight 0),
/// then letters, then everything else.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp` (lib/dpkg/version.c).
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        // Non-digit run.
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        // Digit run, compared numerically: skip leading zeros, a longer run is larger, equal
        // lengths compare by their first differing digit.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> DebianVersion {
        s.parse().unwrap()
    }

    #[test]
    fn parts() {
        let x = v("1:2.30-1+deb12u1");
        assert_eq!(
            (x.epoch(), x.upstream(), x.revision()),
            (1, "2.30", "1+deb12u1")
        );
        let x = v("3.11.2-6+deb12u6");
        assert_eq!(
            (x.epoch(), x.upstream(), x.revision()),
            (0, "3.11.2", "6+deb12u6")
        );
        let x = v("2024a");
        assert_eq!((x.upstream(), x.revision()), ("2024a", ""));
        // the last hyphen separates the revision; upstream may contain hyphens and colons
        let x = v("1:1.2-3:4-5");
        assert_eq!((x.upstream(), x.revision()), ("1.2-3:4", "5"));
        assert_eq!(x.to_string(), "1:1.2-3:4-5");
    }

    #[test]
    fn ordering() {
        // each pair: a < b
        let less = [
            ("1.0", "1.1"),
            ("1.0~rc1", "1.0"),
            ("1.0~~", "1.0~"),
            ("1.0~", "1.0"),
            ("1.0", "1.0a"),
            ("1.0", "1.0+deb12u1"),
            ("1.0a", "1.0+"),
            ("1.0-1", "1.0-2"),
            ("1.0-9", "1.0-10"),
            ("9", "10"),
            ("1.2.3", "1.10"),
            ("2:1.0", "3:0.1"),
            ("99", "1:0"),
            ("3.11.2-6", "3.11.2-6+deb12u1"),
            ("3.11.2-6+deb12u1", "3.11.2-6+deb12u6"),
            ("1.1.1n-0+deb11u5", "3.0.11-1~deb12u2"),
            ("2.36-9+deb12u4", "2.36-9+deb12u10"),
            ("1.0-1~bpo12+1", "1.0-1"),
            ("a", "b"),
            ("1.0.", "1.0.a"),
        ];
        for (a, b) in less {
            assert!(v(a) < v(b), "{a} < {b}");
            assert!(v(b) > v(a), "{b} > {a}");
        }
    }

    #[test]
    fn equality_is_semantic() {
        for (a, b) in [
            ("1.0", "1.00"),
            ("0:1.0", "1.0"),
            ("1.0-0", "1.0"),
            ("01.1", "1.01"),
        ] {
            assert_eq!(v(a), v(b), "{a} == {b}");
        }
        assert_eq!(v("01.1").to_string(), "01.1");
    }

    #[test]
    fn rejects_bad_versions() {
        for bad in ["", "a:1", ":1", "1.0-", "1 0", "1.0-a_b", "1:"] {
            let err = bad.parse::<DebianVersion>().unwrap_err();
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }
}
