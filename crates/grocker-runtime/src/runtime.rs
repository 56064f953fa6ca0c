//! The runtimes grocker can build: a Debian suite and a CPython, Debian's own or built from
//! upstream sources.

use std::fmt;
use std::str::FromStr;

use crate::RuntimeError;

/// A runtime `SUITE/PYTHON` such as `bookworm/3.11`: a Debian suite and a CPython `3.X`.
///
/// Where the suite ships that Python (`python3.X`), the interpreter is Debian's by default: it
/// gets Debian's security updates with the rest of the suite. Any other `3.X` (and Debian's
/// own, on request: [`Runtime::with_python_from_source`]) is upstream CPython built by grocker
/// from verified sources and installed under [`Runtime::prefix`] (`/opt/python/3.X`); which
/// sources exist is the archive's business (see [`Runtime::source_suites`]), not this type's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Runtime {
    suite: &'static Suite,
    python: (u8, u8),
    from: PythonFrom,
}

/// Where a runtime's interpreter comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PythonFrom {
    /// The suite's own `python3.X` packages.
    Debian,
    /// Upstream CPython, compiled by grocker in the builder.
    Source,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Suite {
    name: &'static str,
    python: (u8, u8),
    glibc: (u32, u32),
    debian_version: &'static str,
}

/// The suites images are built on, oldest first.
const SUITES: &[Suite] = &[
    Suite {
        name: "bookworm",
        python: (3, 11),
        glibc: (2, 36),
        debian_version: "12",
    },
    Suite {
        name: "trixie",
        python: (3, 13),
        glibc: (2, 41),
        debian_version: "13",
    },
];

/// Suites whose `Sources` may hold a newer `python3.X` than a runtime's own suite, oldest
/// first: testing and unstable carry the next CPython long before a release ships it.
const NEWER_SOURCE_SUITES: &[&str] = &["forky", "sid"];

/// The oldest CPython grocker builds (older ones are past their end of life).
const OLDEST_MINOR: u8 = 9;

impl Runtime {
    /// Each suite with the Python it ships: the runtimes whose interpreter is Debian's.
    pub fn debian_runtimes() -> Vec<Runtime> {
        SUITES
            .iter()
            .map(|suite| Runtime {
                suite,
                python: suite.python,
                from: PythonFrom::Debian,
            })
            .collect()
    }

    /// The Debian suites runtimes are built on.
    pub fn suites() -> Vec<&'static str> {
        SUITES.iter().map(|s| s.name).collect()
    }

    /// This runtime with upstream CPython built from source, even where Debian ships it.
    pub fn with_python_from_source(self) -> Runtime {
        Runtime {
            from: PythonFrom::Source,
            ..self
        }
    }

    /// Where the interpreter comes from.
    pub fn python_from(&self) -> PythonFrom {
        self.from
    }

    /// Whether the interpreter is built from source.
    pub fn from_source(&self) -> bool {
        self.from == PythonFrom::Source
    }

    /// Debian suite codename (`bookworm`).
    pub fn suite(&self) -> &'static str {
        self.suite.name
    }

    /// The suites whose `Sources` index may hold this Python's source package
    /// (`python3.X`), in the order to prefer: the runtime's own suite, then newer ones.
    pub fn source_suites(&self) -> Vec<&'static str> {
        let own = SUITES.iter().position(|s| s == self.suite).unwrap_or(0);
        SUITES[own..]
            .iter()
            .map(|s| s.name)
            .chain(NEWER_SOURCE_SUITES.iter().copied())
            .collect()
    }

    /// Python `major.minor` (`3.11`).
    pub fn python(&self) -> String {
        format!("{}.{}", self.python.0, self.python.1)
    }

    /// Python `(major, minor)` (`(3, 11)`).
    pub fn python_version(&self) -> (u8, u8) {
        self.python
    }

    /// The suite's glibc version, which bounds the `manylinux_2_Y` wheels that run on it.
    pub fn glibc(&self) -> (u32, u32) {
        self.suite.glibc
    }

    /// Debian's release number (`12`).
    pub fn debian_version(&self) -> &'static str {
        self.suite.debian_version
    }

    /// Where the interpreter is installed, relative to the image root: `usr` for Debian's,
    /// `opt/python/3.X` for one built from source (as `python:3.X` images have `/usr/local`).
    pub fn prefix(&self) -> String {
        match self.from {
            PythonFrom::Debian => "usr".to_string(),
            PythonFrom::Source => format!("opt/python/{}", self.python()),
        }
    }

    /// The interpreter's path inside the image.
    pub fn interpreter(&self) -> String {
        format!("/{}/bin/python{}", self.prefix(), self.python())
    }

    /// The standard library's directory, relative to the image root (`usr/lib/python3.11`).
    pub fn stdlib(&self) -> String {
        format!("{}/lib/python{}", self.prefix(), self.python())
    }

    /// The Debian packages every image of this runtime starts from; their dependency closure is
    /// the `os` layer. `base-files` gives `/etc/os-release`; `netbase` `/etc/services` and
    /// `/etc/protocols` (socket lookups); `tzdata` the zone files `zoneinfo` reads;
    /// `python3-minimal` the `/usr/bin/python3` link. `libstdc++6`: manylinux wheels (PEP 600)
    /// may link `libstdc++.so.6` and expect the platform to provide it — numpy does.
    /// `libc-bin`: of it only the C.UTF-8 locale (see `assemble`'s `PARTIAL`), so that
    /// `setlocale(LC_ALL, "")` works under the image's `LANG=C.UTF-8`. An interpreter built
    /// from source brings no package: the libraries it links are added by the native-library
    /// check, as for any extension module.
    pub fn root_packages(&self) -> Vec<String> {
        let mut packages: Vec<String> = [
            "base-files",
            "ca-certificates",
            "libc-bin",
            "libstdc++6",
            "netbase",
        ]
        .map(String::from)
        .to_vec();
        if self.from == PythonFrom::Debian {
            packages.push(format!("python{}", self.python()));
            packages.push("python3-minimal".to_string());
        }
        packages.push("tzdata".to_string());
        packages
    }

    /// What the builder needs to compile C extensions for this Python: Debian's
    /// `python3.X-dev`, or for an interpreter built from source (which brings its own headers)
    /// the `-dev` packages of the libraries CPython's modules link, which build it too.
    pub fn python_build_packages(&self) -> Vec<String> {
        match self.from {
            PythonFrom::Debian => vec![format!("python{}-dev", self.python())],
            PythonFrom::Source => CPYTHON_BUILD_PACKAGES.map(String::from).to_vec(),
        }
    }
}

/// The `-dev` packages CPython's standard library links against (`_ssl`, `_sqlite3`, `zlib`,
/// `_bz2`, `_lzma`, `_ctypes`, `_uuid`), and `pkgconf`, through which `configure` finds some.
/// readline and gdbm are left out: an image has no terminal to edit lines in, and `dbm.gnu` is
/// GPL and seldom used (`dbm` falls back to `dbm.dumb`). `xz-utils` unpacks the tarball.
const CPYTHON_BUILD_PACKAGES: [&str; 9] = [
    "libbz2-dev",
    "libffi-dev",
    "liblzma-dev",
    "libsqlite3-dev",
    "libssl-dev",
    "pkgconf",
    "uuid-dev",
    "xz-utils",
    "zlib1g-dev",
];

impl Default for Runtime {
    fn default() -> Self {
        Runtime {
            suite: &SUITES[0],
            python: SUITES[0].python,
            from: PythonFrom::Debian,
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.suite.name, self.python())
    }
}

impl FromStr for Runtime {
    type Err = RuntimeError;

    /// `SUITE/3.X`: Debian's interpreter where the suite ships `3.X`, else one built from
    /// source (whether its sources exist is known only from the archive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || RuntimeError::Unknown {
            given: s.to_string(),
            known: format!(
                "SUITE/3.X with SUITE one of {} and 3.X a CPython version (3.{OLDEST_MINOR} or \
                 newer); Debian's own Python: {}",
                Self::suites().join(", "),
                Self::debian_runtimes()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let (suite, python) = s.split_once('/').ok_or_else(unknown)?;
        let suite = SUITES
            .iter()
            .find(|x| x.name == suite)
            .ok_or_else(unknown)?;
        let (major, minor) = python.split_once('.').ok_or_else(unknown)?;
        let number = |part: &str| {
            (!part.is_empty() && part.len() <= 2 && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u8>().ok())
                .flatten()
        };
        let python = match (number(major), number(minor)) {
            (Some(3), Some(minor)) if minor >= OLDEST_MINOR => (3, minor),
            _ => return Err(unknown()),
        };
        let from = match python == suite.python {
            true => PythonFrom::Debian,
            false => PythonFrom::Source,
        };
        Ok(Runtime {
            suite,
            python,
            from,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_python_where_the_suite_ships_it() {
        let rt: Runtime = "bookworm/3.11".parse().unwrap();
        assert_eq!(rt, Runtime::default());
        assert_eq!(rt.to_string(), "bookworm/3.11");
        assert_eq!(rt.glibc(), (2, 36));
        assert_eq!(rt.interpreter(), "/usr/bin/python3.11");
        assert!(rt.root_packages().contains(&"python3.11".to_string()));
        assert_eq!(rt.python_build_packages(), ["python3.11-dev"]);
        let forced = rt.with_python_from_source();
        assert_eq!(forced.to_string(), "bookworm/3.11");
        assert_eq!(forced.interpreter(), "/opt/python/3.11/bin/python3.11");
    }

    #[test]
    fn any_other_python_is_built_from_source() {
        let rt: Runtime = "bookworm/3.13".parse().unwrap();
        assert!(rt.from_source());
        assert_eq!(rt.python_version(), (3, 13));
        assert_eq!(rt.stdlib(), "opt/python/3.13/lib/python3.13");
        assert!(!rt.root_packages().iter().any(|p| p.starts_with("python")));
        assert!(
            rt.python_build_packages()
                .contains(&"libssl-dev".to_string())
        );
        assert_eq!(rt.source_suites(), ["bookworm", "trixie", "forky", "sid"]);
        let rt: Runtime = "trixie/3.14".parse().unwrap();
        assert_eq!(rt.source_suites(), ["trixie", "forky", "sid"]);
        assert_eq!(rt.to_string(), "trixie/3.14");
    }

    #[test]
    fn refuses_what_is_not_suite_and_python() {
        for bad in [
            "bullseye/3.9",
            "bookworm",
            "bookworm/3",
            "bookworm/2.7",
            "trixie/3.8",
            "trixie/3.x",
            "trixie/3.13.1",
            "trixie/+3.13",
        ] {
            let err = bad.parse::<Runtime>().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("unknown runtime `{bad}`: choose SUITE/3.X"))
                    && err.contains("bookworm, trixie")
                    && err.contains("bookworm/3.11, trixie/3.13"),
                "{err}"
            );
        }
    }
}
