//! The runtimes grocker can build: a Debian suite and the Python it ships.

use std::fmt;
use std::str::FromStr;

use crate::RuntimeError;

/// A runtime `SUITE/PYTHON` such as `bookworm/3.11`: Debian's suite and its own `python3.X`,
/// which gets security updates with the rest of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Runtime {
    suite: &'static str,
    python: &'static str,
    glibc: (u32, u32),
    debian_version: &'static str,
}

/// Each suite ships exactly one `python3.X`: pairing a suite with another Python would mean
/// building CPython, which Debian already does (and patches) for us.
const KNOWN: &[Runtime] = &[
    Runtime {
        suite: "bookworm",
        python: "3.11",
        glibc: (2, 36),
        debian_version: "12",
    },
    Runtime {
        suite: "trixie",
        python: "3.13",
        glibc: (2, 41),
        debian_version: "13",
    },
];

impl Runtime {
    /// Every runtime grocker knows.
    pub fn all() -> &'static [Runtime] {
        KNOWN
    }

    /// Debian suite codename (`bookworm`).
    pub fn suite(&self) -> &'static str {
        self.suite
    }

    /// Python `major.minor` (`3.11`).
    pub fn python(&self) -> &'static str {
        self.python
    }

    /// Python `(major, minor)` (`(3, 11)`).
    pub fn python_version(&self) -> (u8, u8) {
        let parse = |part: Option<&str>| part.and_then(|p| p.parse().ok());
        let mut parts = self.python.split('.');
        match (parse(parts.next()), parse(parts.next())) {
            (Some(major), Some(minor)) => (major, minor),
            // KNOWN is a constant table; `every_python_version_parses` checks each entry.
            _ => unreachable!("runtime {} has a malformed Python version", self.python),
        }
    }

    /// The suite's glibc version, which bounds the `manylinux_2_Y` wheels that run on it.
    pub fn glibc(&self) -> (u32, u32) {
        self.glibc
    }

    /// Debian's release number (`12`).
    pub fn debian_version(&self) -> &'static str {
        self.debian_version
    }

    /// The interpreter's path inside the image.
    pub fn interpreter(&self) -> String {
        format!("/usr/bin/python{}", self.python)
    }

    /// The Debian packages every image of this runtime starts from; their dependency closure is
    /// the `os` layer. `base-files` gives `/etc/os-release`; `netbase` `/etc/services` and
    /// `/etc/protocols` (socket lookups); `tzdata` the zone files `zoneinfo` reads;
    /// `python3-minimal` the `/usr/bin/python3` link. `libstdc++6`: manylinux wheels (PEP 600)
    /// may link `libstdc++.so.6` and expect the platform to provide it — numpy does.
    /// `libc-bin`: of it only the C.UTF-8 locale (see `assemble`'s `PARTIAL`), so that
    /// `setlocale(LC_ALL, "")` works under the image's `LANG=C.UTF-8`.
    pub fn root_packages(&self) -> Vec<String> {
        let py = self.python;
        vec![
            "base-files".to_string(),
            "ca-certificates".to_string(),
            "libc-bin".to_string(),
            "libstdc++6".to_string(),
            "netbase".to_string(),
            format!("python{py}"),
            "python3-minimal".to_string(),
            "tzdata".to_string(),
        ]
    }
}

impl Default for Runtime {
    fn default() -> Self {
        KNOWN[0]
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.suite, self.python)
    }
}

impl FromStr for Runtime {
    type Err = RuntimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KNOWN
            .iter()
            .find(|r| r.to_string() == s)
            .copied()
            .ok_or_else(|| RuntimeError::Unknown {
                given: s.to_string(),
                known: KNOWN
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_python_version_parses() {
        for runtime in Runtime::all() {
            let (major, minor) = runtime.python_version();
            assert_eq!(format!("{major}.{minor}"), runtime.python());
        }
    }

    #[test]
    fn parses_known_and_lists_them_on_error() {
        let rt: Runtime = "bookworm/3.11".parse().unwrap();
        assert_eq!(rt, Runtime::default());
        assert_eq!(rt.to_string(), "bookworm/3.11");
        assert_eq!(rt.glibc(), (2, 36));
        let err = "bookworm/3.12".parse::<Runtime>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown runtime `bookworm/3.12`: choose one of bookworm/3.11, trixie/3.13"
        );
    }
}
