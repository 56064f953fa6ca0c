//! The image's interpreter and platform, the wheel tags it accepts and its marker environment.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use pep508_rs::{MarkerEnvironmentBuilder, StringVersion};

use crate::{MarkerEnvironment, Version, WheelError, WheelFilename};

/// A CPU architecture grocker builds images for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// `x86_64` (OCI `amd64`).
    X86_64,
    /// `aarch64` (OCI `arm64`).
    Aarch64,
}

impl Arch {
    /// The name Python uses (`platform.machine()`, wheel platform tags).
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// The name OCI and Debian use (`amd64`, `arm64`).
    pub fn oci_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// The architecture of the machine grocker runs on, if it is one grocker builds for: the
    /// default platform, and the one whose interpreter compiles for the others.
    pub fn host() -> Option<Arch> {
        std::env::consts::ARCH.parse().ok()
    }

    /// The OCI platform (`linux/arm64`).
    pub fn platform(self) -> String {
        format!("linux/{}", self.oci_name())
    }

    /// The CPU variant OCI platforms give it (`v8` for arm64, as buildx and ko write it).
    pub fn oci_variant(self) -> Option<&'static str> {
        match self {
            Arch::X86_64 => None,
            Arch::Aarch64 => Some("v8"),
        }
    }

    /// An OCI platform as `--platform` takes it: `linux/amd64`, `linux/arm64` (or
    /// `linux/arm64/v8`), or the architecture alone.
    pub fn from_platform(platform: &str) -> Result<Arch, String> {
        let parts: Vec<&str> = platform.trim().split('/').collect();
        let arch = match parts.as_slice() {
            [arch] | ["linux", arch] => arch,
            ["linux", arch @ ("arm64" | "aarch64"), "v8"] => arch,
            _ => {
                return Err(format!(
                    "`{platform}` is not a platform grocker builds for: use linux/amd64 or \
                     linux/arm64"
                ));
            }
        };
        arch.parse().map_err(|_| {
            format!(
                "`{platform}` is not a platform grocker builds for: use linux/amd64 or linux/arm64"
            )
        })
    }

    /// The oldest glibc a manylinux wheel for this architecture can target: PEP 600 tags go down
    /// to `manylinux_2_5` on x86_64 (`manylinux1`), while aarch64 starts at `manylinux2014`.
    fn oldest_glibc_minor(self) -> u32 {
        match self {
            Arch::X86_64 => 5,
            Arch::Aarch64 => 17,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Arch {
    type Err = String;

    /// Python's or OCI's spelling.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "x86_64" | "amd64" => Ok(Arch::X86_64),
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            other => Err(format!(
                "unsupported architecture `{other}` (expected amd64 or arm64)"
            )),
        }
    }
}

/// The interpreter and platform an image runs: Debian's CPython on glibc.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// `(3, 11)`.
    pub python: (u8, u8),
    /// The exact interpreter version, `3.11.2`.
    pub python_full: Version,
    /// The C library, `(2, 36)` on bookworm.
    pub glibc: (u32, u32),
    /// The CPU.
    pub arch: Arch,
}

/// How well a wheel fits a [`Target`]: higher is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagPriority(u32);

/// The `(python, abi, platform)` tags a [`Target`] accepts, best first.
#[derive(Clone, Debug)]
pub struct Tags {
    ordered: Vec<(String, String, String)>,
    priority: HashMap<(String, String, String), TagPriority>,
}

impl Target {
    /// Platform tags, best first, as `packaging.tags` computes them for glibc Linux
    /// (`_manylinux.platform_tags`): `manylinux_2_{minor}_{arch}` from the target's glibc down to
    /// the oldest one the architecture has, each legacy alias right after its PEP 600 twin
    /// (`manylinux2014` = 2.17, `manylinux2010` = 2.12, `manylinux1` = 2.5), then
    /// `linux_{arch}` — which pip accepts too. Musllinux never: Debian's Python uses glibc.
    fn platforms(&self) -> Vec<String> {
        let arch = self.arch.as_str();
        let (major, current) = self.glibc;
        let mut out = Vec::new();
        if major == 2 {
            for minor in (self.arch.oldest_glibc_minor()..=current).rev() {
                out.push(format!("manylinux_2_{minor}_{arch}"));
                let legacy = match minor {
                    17 => Some("manylinux2014"),
                    12 => Some("manylinux2010"),
                    5 => Some("manylinux1"),
                    _ => None,
                };
                if let Some(legacy) = legacy {
                    out.push(format!("{legacy}_{arch}"));
                }
            }
        }
        out.push(format!("linux_{arch}"));
        out
    }

    /// The tags this interpreter accepts, in `packaging.tags.sys_tags` order for CPython:
    /// `cpython_tags` (its own ABI, then `abi3`, then `none`, then `abi3` of older minors),
    /// then `compatible_tags` (`py3X`/`py3` with `none` on the platform, then `-any`).
    pub fn tags(&self) -> Tags {
        let (major, minor) = self.python;
        let platforms = self.platforms();
        let cp = format!("cp{major}{minor}");
        let mut ordered: Vec<(String, String, String)> = Vec::new();
        let mut push = |py: &str, abi: &str, plat: &str| {
            ordered.push((py.to_string(), abi.to_string(), plat.to_string()));
        };
        for abi in [cp.as_str(), "abi3", "none"] {
            for plat in &platforms {
                push(&cp, abi, plat);
            }
        }
        // "abi3 wheels built for older CPython 3.x minors stay loadable" (`_cpython_tags`).
        for older in (2..minor).rev() {
            for plat in &platforms {
                push(&format!("cp{major}{older}"), "abi3", plat);
            }
        }
        // `_py_interpreter_range`: py311, py3, py310, ..., py30.
        let mut py_versions = vec![format!("py{major}{minor}"), format!("py{major}")];
        py_versions.extend((0..minor).rev().map(|m| format!("py{major}{m}")));
        for py in &py_versions {
            for plat in &platforms {
                push(py, "none", plat);
            }
        }
        push(&cp, "none", "any");
        for py in &py_versions {
            push(py, "none", "any");
        }
        Tags::new(ordered)
    }

    /// The PEP 508 marker environment of Debian's CPython on Linux.
    pub fn marker_environment(&self) -> MarkerEnvironment {
        let (major, minor) = self.python;
        let python_version =
            StringVersion::from(Version::new([u64::from(major), u64::from(minor)]));
        let full = StringVersion::from(self.python_full.clone());
        base_environment()
            .with_implementation_name("cpython")
            .with_implementation_version(full.clone())
            .with_os_name("posix")
            .with_platform_machine(self.arch.as_str())
            .with_platform_python_implementation("CPython")
            // Kernel-dependent: unknown when building an image, so empty, as uv does too.
            .with_platform_release("")
            .with_platform_system("Linux")
            .with_platform_version("")
            .with_python_full_version(full)
            .with_python_version(python_version)
            .with_sys_platform("linux")
    }
}

/// A marker environment to start from; `Target::marker_environment` overwrites every field.
fn base_environment() -> MarkerEnvironment {
    let builder = MarkerEnvironmentBuilder {
        implementation_name: "",
        implementation_version: "0",
        os_name: "",
        platform_machine: "",
        platform_python_implementation: "",
        platform_release: "",
        platform_system: "",
        platform_version: "",
        python_full_version: "0",
        python_version: "0",
        sys_platform: "",
    };
    match MarkerEnvironment::try_from(builder) {
        Ok(env) => env,
        // The only fallible step parses the literal "0" as a PEP 440 version.
        Err(e) => unreachable!("`0` is a PEP 440 version: {e}"),
    }
}

impl Tags {
    fn new(ordered: Vec<(String, String, String)>) -> Self {
        let mut priority = HashMap::with_capacity(ordered.len());
        let total = ordered.len() as u32;
        for (i, tag) in ordered.iter().enumerate() {
            // The first occurrence wins: later duplicates never lower a tag's rank.
            priority
                .entry(tag.clone())
                .or_insert(TagPriority(total - i as u32));
        }
        Self { ordered, priority }
    }

    /// How well `wheel` fits: the best of its expanded tag triples, `None` if none is accepted.
    pub fn priority(&self, wheel: &WheelFilename) -> Option<TagPriority> {
        wheel
            .tag_triples()
            .filter_map(|(py, abi, plat)| {
                self.priority
                    .get(&(py.to_string(), abi.to_string(), plat.to_string()))
            })
            .max()
            .copied()
    }

    /// Whether any of the wheel's tags is accepted.
    pub fn is_compatible(&self, wheel: &WheelFilename) -> bool {
        self.priority(wheel).is_some()
    }

    /// pip's check of a wheel file given by path ("is not a supported wheel on this
    /// platform"): a wheel chosen from an index is filtered by [`Tags::priority`], but a file
    /// the user names must be refused, not installed where it cannot run.
    pub fn check(&self, wheel: &WheelFilename) -> Result<(), WheelError> {
        if self.is_compatible(wheel) {
            return Ok(());
        }
        let target = match self.ordered.first() {
            Some((py, _, plat)) => format!("{py}, {plat}"),
            None => "no tags".to_string(),
        };
        let tags = [&wheel.python, &wheel.abi, &wheel.platform].map(|set| set.join("."));
        Err(WheelError::UnsupportedWheel {
            wheel: wheel.to_string(),
            target,
            tags: tags.join("-"),
        })
    }

    /// The accepted `(python, abi, platform)` tags, best first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.ordered
            .iter()
            .map(|(p, a, pl)| (p.as_str(), a.as_str(), pl.as_str()))
    }
}

#[cfg(test)]
#[path = "tags_tests.rs"]
mod tests;
