//! The Release file of a suite: its identity, its validity window and the hashes of its indexes.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use grocker_hash::Sha256;

use crate::DebianError;
use crate::deb822::paragraphs;

/// What a suite's (verified) Release file says.
#[derive(Debug, Clone)]
pub struct Release {
    /// `Origin:`, e.g. `Debian`.
    pub origin: Option<String>,
    /// `Suite:`, e.g. `stable`, `oldstable-security`.
    pub suite: Option<String>,
    /// `Codename:`, e.g. `bookworm`, `bookworm-security`.
    pub codename: Option<String>,
    /// `Date:` as written.
    pub date: Option<String>,
    /// `Valid-Until:` as written and parsed.
    pub valid_until: Option<(String, SystemTime)>,
    /// `Acquire-By-Hash: yes`: indexes can be fetched from `by-hash/SHA256/<hex>`, which never
    /// changes under a reader while the mirror updates.
    pub acquire_by_hash: bool,
    /// `Components:` as written (debian-security says `updates/main` while its files live
    /// under `main/`).
    pub components: Vec<String>,
    /// `Architectures:`.
    pub architectures: Vec<String>,
    /// The `SHA256:` list: path relative to the suite directory → hash and size.
    pub sha256: BTreeMap<String, (Sha256, u64)>,
}

impl Release {
    /// Parses a Release file's text (`url` is used in error messages only).
    pub fn parse(url: &str, text: &str) -> Result<Self, DebianError> {
        let malformed = |message: String| DebianError::MalformedRelease {
            url: url.to_string(),
            message,
        };
        let para = paragraphs(text)
            .next()
            .ok_or_else(|| malformed("empty Release file".to_string()))?;
        let mut release = Release {
            origin: None,
            suite: None,
            codename: None,
            date: None,
            valid_until: None,
            acquire_by_hash: false,
            components: Vec::new(),
            architectures: Vec::new(),
            sha256: BTreeMap::new(),
        };
        for (name, value) in para.fields() {
            match name.to_ascii_lowercase().as_str() {
                "origin" => release.origin = Some(value.to_string()),
                "suite" => release.suite = Some(value.to_string()),
                "codename" => release.codename = Some(value.to_string()),
                "date" => release.date = Some(value.to_string()),
                "valid-until" => {
                    let at = parse_date(value).ok_or_else(|| {
                        malformed(format!("cannot read Valid-Until date `{value}`"))
                    })?;
                    release.valid_until = Some((value.to_string(), at));
                }
                "acquire-by-hash" => release.acquire_by_hash = value.eq_ignore_ascii_case("yes"),
                "components" => {
                    release.components = value.split_whitespace().map(String::from).collect()
                }
                "architectures" => {
                    release.architectures = value.split_whitespace().map(String::from).collect()
                }
                "sha256" => {
                    for line in value.lines().map(str::trim).filter(|l| !l.is_empty()) {
                        let mut parts = line.split_whitespace();
                        let (Some(hash), Some(size), Some(path), None) =
                            (parts.next(), parts.next(), parts.next(), parts.next())
                        else {
                            return Err(malformed(format!("bad SHA256 line `{line}`")));
                        };
                        let hash: Sha256 = hash
                            .parse()
                            .map_err(|_| malformed(format!("bad SHA256 line `{line}`")))?;
                        let size: u64 = size
                            .parse()
                            .map_err(|_| malformed(format!("bad size in SHA256 line `{line}`")))?;
                        release.sha256.insert(path.to_string(), (hash, size));
                    }
                }
                _ => {}
            }
        }
        if release.sha256.is_empty() {
            return Err(malformed(
                "no SHA256 file list (grocker does not trust MD5 or SHA1 lists)".to_string(),
            ));
        }
        Ok(release)
    }

    /// Fails with [`DebianError::Expired`] when `Valid-Until` is before `now`. Suites without
    /// `Valid-Until` (stable releases) never expire; debian-security and testing always have one.
    pub fn check_valid(&self, url: &str, now: SystemTime) -> Result<(), DebianError> {
        match &self.valid_until {
            Some((text, at)) if *at < now => Err(DebianError::Expired {
                url: url.to_string(),
                valid_until: text.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// The hash and size of an index file, by its path relative to the suite
    /// (`main/binary-amd64/Packages.xz`).
    pub fn file(&self, path: &str) -> Option<(Sha256, u64)> {
        self.sha256.get(path).copied()
    }
}

/// Parses an RFC 2822 date as Debian writes them: `Fri, 27 Nov 2026 00:12:41 UTC` (also with a
/// numeric zone like `+0000`, and without the weekday).
pub(crate) fn parse_date(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let text = match text.split_once(',') {
        Some((_weekday, rest)) => rest.trim(),
        None => text,
    };
    let mut parts = text.split_whitespace();
    let day: u64 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    let zone = parts.next().unwrap_or("UTC");
    if parts.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month = MONTHS.iter().position(|m| month.eq_ignore_ascii_case(m))? as u64 + 1;
    let mut hms = time.split(':');
    let hour: i64 = hms.next()?.parse().ok()?;
    let minute: i64 = hms.next()?.parse().ok()?;
    let second: i64 = hms.next().map_or(Some(0), |s| s.parse().ok())?;
    // A four-digit year bounds the arithmetic below: a hostile Release cannot overflow it.
    if !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
        || !(1970..=9999).contains(&year)
    {
        return None;
    }
    let offset = match zone {
        "UTC" | "GMT" | "UT" | "Z" => 0,
        z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            // `get`, not indexing: a multi-byte character may straddle the split.
            let h: i64 = z.get(1..3)?.parse().ok()?;
            let m: i64 = z.get(3..5)?.parse().ok()?;
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u64, day: u64) -> i64 {
    let (month, day) = (month as i64, day as i64);
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Keyring, verify_inrelease};

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn dates() {
        // date -d 'Fri, 27 Nov 2026 00:12:41 UTC' +%s
        assert_eq!(
            parse_date("Fri, 27 Nov 2026 00:12:41 UTC"),
            Some(at(1_795_738_361))
        );
        assert_eq!(
            parse_date("27 Nov 2026 01:12:41 +0100"),
            Some(at(1_795_738_361))
        );
        assert_eq!(parse_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(at(0)));
        assert_eq!(
            parse_date("Thu, 29 Feb 2024 12:00:00 UTC"),
            Some(at(1_709_208_000))
        );
        for bad in [
            "",
            "yesterday",
            "Fri, 27 Foo 2026 00:12:41 UTC",
            "27 Nov 2026 25:00:00 UTC",
            // found by the fuzzer: the day count overflowed i64
            "1 Jan 9223372036854775807 00:00:00 UTC",
            "1 Jan 10000 00:00:00 UTC",
            // a multi-byte character across the hour/minute split of the zone
            "1 Jan 2026 00:00:00 +0\u{e9}0",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn real_security_release() {
        let text = verify_inrelease(
            "sec",
            include_bytes!("../tests/data/bookworm-security-InRelease"),
            &Keyring::debian().unwrap(),
        )
        .unwrap();
        let release = Release::parse("sec", &text).unwrap();
        assert_eq!(release.codename.as_deref(), Some("bookworm-security"));
        assert!(release.acquire_by_hash);
        assert!(release.components.contains(&"updates/main".to_string()));
        let (_, size) = release.file("main/binary-amd64/Packages.xz").unwrap();
        assert!(size > 0);
        let (text, until) = release.valid_until.clone().unwrap();
        assert_eq!(text, "Fri, 27 Nov 2026 00:12:41 UTC");
        assert!(
            release
                .check_valid("sec", until - Duration::from_secs(1))
                .is_ok()
        );
        let err = release.check_valid("https://sec.example", until + Duration::from_secs(1));
        let err = err.unwrap_err();
        assert!(matches!(err, DebianError::Expired { .. }));
        assert!(err.to_string().contains("https://sec.example"), "{err}");
        assert!(err.to_string().contains("27 Nov 2026"), "{err}");
    }

    #[test]
    fn real_bookworm_release_has_no_expiry() {
        let text = verify_inrelease(
            "bookworm",
            include_bytes!("../tests/data/bookworm-InRelease"),
            &Keyring::debian().unwrap(),
        )
        .unwrap();
        let release = Release::parse("bookworm", &text).unwrap();
        assert_eq!(release.suite.as_deref(), Some("oldstable"));
        assert!(release.valid_until.is_none());
        assert!(release.check_valid("x", at(u64::MAX / 4)).is_ok());
        assert!(release.file("main/binary-amd64/Packages.xz").is_some());
        assert!(release.file("main/binary-arm64/Packages.xz").is_some());
    }

    #[test]
    fn malformed() {
        assert!(Release::parse("u", "").is_err());
        assert!(Release::parse("u", "Codename: x\n").is_err());
        let err = Release::parse("u", "Codename: x\nSHA256:\n nothex 12 a\n").unwrap_err();
        assert!(err.to_string().contains("nothex"), "{err}");
        let err = Release::parse("u", "Valid-Until: soon\nSHA256:\n").unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
    }
}
