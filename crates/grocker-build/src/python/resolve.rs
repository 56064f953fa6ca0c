//! The Python stage, resolution: the release's dependency tree resolved against the index (or
//! taken from `grocker.lock`), sdists compiled on the way. `venv_layers` installs the result.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result, anyhow};
use grocker_fetch::{Download, Fetcher, redact_url};
use grocker_lock::{DebianPackage, PythonPackage};
use grocker_pypi::{DistFile, Index, IndexUrls};
use grocker_resolver::{Provider, ProviderError, ReleaseMetadata};
use grocker_wheel::{
    CoreMetadata, ExtraName, PackageName, Requirement, Tags, Target, Venv, Version,
    VersionSpecifiers, WheelFilename,
};
use tokio::runtime::Handle;

use crate::compile::{self, Compiler};
use crate::context::Context;
use crate::release::Release;

/// Where grocker writes the application's virtual environment.
pub const VENV: &str = "/opt/venv";

/// The application when it comes as a file — a wheel given on the command line, or the wheel the
/// builder made from a project directory — rather than from the index.
pub struct LocalApp {
    pub release: Release,
    pub filename: String,
    pub wheel: PathBuf,
    pub sha256: grocker_hash::Sha256,
    metadata: Vec<u8>,
}

impl LocalApp {
    /// The wheel's core metadata (`METADATA`).
    pub fn metadata(&self) -> &[u8] {
        &self.metadata
    }

    pub fn from_wheel(
        filename: &str,
        wheel: &std::path::Path,
        extras: &[ExtraName],
    ) -> Result<Self> {
        let metadata = read_wheel_metadata(wheel)?;
        let core = CoreMetadata::parse(&metadata)?;
        let mut extras = extras.to_vec();
        extras.sort();
        extras.dedup();
        let extras_text: Vec<String> = extras.iter().map(ToString::to_string).collect();
        let spec = if extras.is_empty() {
            format!("{}=={}", core.name, core.version)
        } else {
            format!("{}[{}]=={}", core.name, extras_text.join(","), core.version)
        };
        let requirement =
            grocker_wheel::parse_requirement(&spec).map_err(|e| anyhow!("{spec}: {e}"))?;
        let (sha256, _) = grocker_hash::hash_reader(fs_err::File::open(wheel)?)?;
        Ok(Self {
            release: Release {
                name: core.name,
                extras,
                version: core.version,
                requirement,
            },
            filename: filename.to_string(),
            wheel: wheel.to_path_buf(),
            sha256,
            metadata,
        })
    }

    /// Its `Requires-Dist`, as the lock records them (editing them must re-resolve).
    pub fn requires(&self) -> Result<Vec<String>> {
        let core = CoreMetadata::parse(&self.metadata)?;
        let mut out: Vec<String> = core.requires_dist.iter().map(ToString::to_string).collect();
        out.sort();
        Ok(out)
    }
}

/// The Python target of a runtime, with the exact interpreter version — the one Debian ships
/// (read from the locked `python3.X` package), or the CPython source grocker builds — so
/// markers like `python_full_version` are exact.
pub fn target(
    runtime: grocker_runtime::Runtime,
    arch: grocker_wheel::Arch,
    debian: &[DebianPackage],
    interpreter: Option<&grocker_lock::Interpreter>,
) -> Result<Target> {
    let (major, minor) = runtime.python_version();
    let upstream = match interpreter {
        Some(interpreter) => interpreter.version.clone(),
        None => debian_python_version(runtime, debian)?,
    };
    let python_full = Version::from_str(&upstream)
        .map_err(|e| anyhow!("cannot read Python's version from `{upstream}`: {e}"))?;
    Ok(Target {
        python: (major, minor),
        python_full,
        glibc: runtime.glibc(),
        arch,
    })
}

/// The upstream version of the suite's `python3.X` package.
fn debian_python_version(
    runtime: grocker_runtime::Runtime,
    debian: &[DebianPackage],
) -> Result<String> {
    let package = format!("python{}", runtime.python());
    let debian_version = debian
        .iter()
        .find(|p| p.name == package || p.name == format!("{package}-minimal"))
        .map(|p| p.version.as_str())
        .ok_or_else(|| anyhow!("the os layer of {runtime} has no {package} package"))?;
    // `3.11.2-6+deb12u6` → `3.11.2`: drop the epoch, the Debian revision and `~rc` suffixes.
    let upstream = debian_version
        .rsplit_once(':')
        .map_or(debian_version, |(_, v)| v);
    let upstream = upstream.split('-').next().unwrap_or(upstream);
    let upstream = upstream.split(['~', '+']).next().unwrap_or(upstream);
    Ok(upstream.to_string())
}

/// The verified download of a pinned file.
pub fn download(p: &PythonPackage) -> Result<Download> {
    let url = url::Url::parse(&p.url)
        .with_context(|| format!("bad URL `{}` for {}", p.url, p.filename))?;
    Ok(Download {
        url,
        sha256: p.sha256,
        size: p.size,
        label: p.filename.clone(),
    })
}

/// The image's venv, on `runtime`'s interpreter.
pub fn venv(target: &Target, runtime: grocker_runtime::Runtime) -> Venv {
    Venv {
        root: VENV.to_string(),
        python: target.python,
        interpreter: runtime.interpreter(),
        python_full: target.python_full.clone(),
    }
}

/// What the Python resolution starts from.
pub struct PythonRequest<'a> {
    /// The application, as the resolver starts from it.
    pub requirement: &'a Requirement,
    /// pip constraints.
    pub constraints: &'a [Requirement],
    /// Where packages come from.
    pub indexes: &'a IndexUrls,
    /// The image's Python and platform.
    pub target: &'a Target,
    /// The application's own wheel, when it is a local file: never looked up on the index.
    pub local: Option<&'a LocalApp>,
}

/// Resolves the release for the target and picks one file per package: the best wheel, or —
/// with a compiler — the sdist of a version that has no wheel for the target.
pub async fn resolve(
    request: &PythonRequest<'_>,
    compiler: Option<&Compiler>,
    ctx: &Context,
) -> Result<Vec<PythonPackage>> {
    let _stage = ctx
        .report
        .stage(format!("Resolving {}", request.requirement));
    let target = request.target;
    let resolver_request = grocker_resolver::Request {
        requirements: vec![request.requirement.clone()],
        constraints: request.constraints.to_vec(),
        markers: target.marker_environment(),
        python_version: target.python_full.clone(),
    };
    let handle = Handle::current();
    // The resolver is synchronous and its provider blocks on the index; block_in_place lets it
    // borrow the compiler, which spawn_blocking's 'static bound would not.
    tokio::task::block_in_place(|| {
        let mut provider =
            IndexProvider::new(&ctx.fetcher, request.indexes, target, handle, compiler);
        provider.local = request.local;
        let resolution = grocker_resolver::resolve(&resolver_request, &provider)?;
        provider.pin(&resolution)
    })
}

/// Resolves requirements to wheels only (build requirements: no compiling a compiler's
/// compiler). Blocking; for the compiler stage.
pub fn resolve_wheels(
    requirements: Vec<Requirement>,
    indexes: &IndexUrls,
    target: &Target,
    fetcher: &Fetcher,
    handle: &Handle,
) -> Result<Vec<PythonPackage>> {
    let request = grocker_resolver::Request {
        requirements,
        constraints: vec![],
        markers: target.marker_environment(),
        python_version: target.python_full.clone(),
    };
    let provider = IndexProvider::new(fetcher, indexes, target, handle.clone(), None);
    let resolution = grocker_resolver::resolve(&request, &provider)?;
    provider.pin(&resolution)
}

/// The resolver's view of the index: versions that have a wheel for the target (or, with a
/// compiler, an sdist), and the metadata of the best such file.
struct IndexProvider<'c> {
    index: Index,
    tags: Tags,
    python: Version,
    handle: Handle,
    files: Mutex<BTreeMap<PackageName, Arc<Vec<DistFile>>>>,
    fetcher: Fetcher,
    compiler: Option<&'c Compiler>,
    /// The application itself, when it is a local file: never looked up on the index.
    local: Option<&'c LocalApp>,
}

/// The file chosen for a version.
enum Candidate {
    Wheel(DistFile),
    Sdist(DistFile),
}

impl<'c> IndexProvider<'c> {
    fn new(
        fetcher: &Fetcher,
        indexes: &IndexUrls,
        target: &Target,
        handle: Handle,
        compiler: Option<&'c Compiler>,
    ) -> Self {
        Self {
            index: Index::new(fetcher.clone(), indexes.clone()),
            tags: target.tags(),
            python: target.python_full.clone(),
            handle,
            files: Mutex::new(BTreeMap::new()),
            fetcher: fetcher.clone(),
            compiler,
            local: None,
        }
    }

    fn local(&self, name: &PackageName) -> Option<&'c LocalApp> {
        self.local.filter(|l| &l.release.name == name)
    }

    fn files(&self, name: &PackageName) -> Result<Arc<Vec<DistFile>>, ProviderError> {
        if let Some(files) = crate::compile::lock(&self.files).get(name).cloned() {
            return Ok(files);
        }
        let files = self
            .handle
            .block_on(self.index.project(name))
            .map_err(|e| provider_error(name, e))?;
        let files = Arc::new(files);
        crate::compile::lock(&self.files).insert(name.clone(), Arc::clone(&files));
        Ok(files)
    }

    fn usable(
        &self,
        file: &DistFile,
        version: &Version,
        pinned: Option<&VersionSpecifiers>,
    ) -> bool {
        if file.yanked.is_some() && !pinned.is_some_and(|p| p.contains(version)) {
            return false;
        }
        match &file.requires_python {
            Some(requires) => VersionSpecifiers::from_str(requires)
                .map_or(true, |specifiers| specifiers.contains(&self.python)),
            None => true,
        }
    }

    /// Installable wheels of `name`, each with its version and tag priority. Yanked files count
    /// only for versions an exact pin names (PEP 592).
    fn wheels(
        &self,
        name: &PackageName,
        pinned: Option<&VersionSpecifiers>,
    ) -> Result<Vec<(Version, grocker_wheel::TagPriority, DistFile)>, ProviderError> {
        let files = self.files(name)?;
        let mut out = Vec::new();
        for file in files.iter() {
            let Ok(wheel) = WheelFilename::from_str(&file.filename) else {
                continue; // sdists and files that are not wheels
            };
            let Some(priority) = self.tags.priority(&wheel) else {
                continue;
            };
            if self.usable(file, &wheel.version, pinned) {
                out.push((wheel.version.clone(), priority, file.clone()));
            }
        }
        Ok(out)
    }

    /// Source distributions of `name` with their versions, when a compiler can build them.
    fn sdists(
        &self,
        name: &PackageName,
        pinned: Option<&VersionSpecifiers>,
    ) -> Result<Vec<(Version, DistFile)>, ProviderError> {
        if self.compiler.is_none() {
            return Ok(Vec::new());
        }
        let files = self.files(name)?;
        let mut out: Vec<(Version, DistFile)> = files
            .iter()
            .filter(|f| compile::is_sdist(&f.filename))
            .filter_map(|f| Some((compile::sdist_version(&f.filename)?, f.clone())))
            .filter(|(v, f)| self.usable(f, v, pinned))
            .collect();
        // `.tar.gz` before `.zip` (PEP 625's format), then by name: one choice, always the same.
        out.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| {
                    b.1.filename
                        .ends_with(".tar.gz")
                        .cmp(&a.1.filename.ends_with(".tar.gz"))
                })
                .then_with(|| a.1.filename.cmp(&b.1.filename))
        });
        Ok(out)
    }

    fn candidate(&self, name: &PackageName, version: &Version) -> Result<Candidate, ProviderError> {
        // The resolver only returns versions it was offered, so a yanked one here was pinned.
        let exact = VersionSpecifiers::from_str(&format!("=={version}")).ok();
        let best = self
            .wheels(name, exact.as_ref())?
            .into_iter()
            .filter(|(v, _, _)| v == version)
            // Best tag first; the file name breaks ties so the choice never depends on order.
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.2.filename.cmp(&a.2.filename)));
        if let Some((_, _, file)) = best {
            return Ok(Candidate::Wheel(file));
        }
        self.sdists(name, exact.as_ref())?
            .into_iter()
            .find(|(v, _)| v == version)
            .map(|(_, file)| Candidate::Sdist(file))
            .ok_or_else(|| ProviderError {
                package: name.to_string(),
                message: format!("no wheel of {name} {version} fits the image's Python"),
            })
    }

    /// The wheel to read metadata from: the index's, or the one the compiler built.
    fn wheel_of(&self, name: &PackageName, file: &DistFile) -> Result<PathBuf, ProviderError> {
        let compiler = self
            .compiler
            .ok_or_else(|| provider_error(name, "no compiler"))?;
        let sha256 = file.sha256.ok_or_else(|| {
            provider_error(
                name,
                format!("the index gives no sha256 for {}", file.filename),
            )
        })?;
        let sdist = self
            .handle
            .block_on(self.fetcher.get_verified(&file.url, &sha256, file.size))
            .map_err(|e| provider_error(name, e))?;
        compiler
            .wheel_for(&self.handle, &file.filename, &sha256, &sdist)
            .map(|(_, path)| path)
            .map_err(|e| provider_error(name, format!("{e:#}")))
    }

    /// The lock entries of a resolution.
    fn pin(&self, resolution: &grocker_resolver::Resolution) -> Result<Vec<PythonPackage>> {
        let mut out = Vec::new();
        for (name, package) in &resolution.packages {
            if self.local(name).is_some() {
                continue; // not from the index: installed from its file, not locked
            }
            let file = match self
                .candidate(name, &package.version)
                .map_err(|e| anyhow!("{}: {}", e.package, e.message))?
            {
                Candidate::Wheel(f) | Candidate::Sdist(f) => f,
            };
            let sha256 = file.sha256.ok_or_else(|| {
                anyhow!(
                    "the index gives no sha256 for {}: grocker verifies every download and needs it",
                    file.filename
                )
            })?;
            let mut extras: Vec<String> = package.extras.iter().map(ToString::to_string).collect();
            extras.sort();
            out.push(PythonPackage {
                name: name.to_string(),
                version: package.version.to_string(),
                extras,
                filename: file.filename.clone(),
                url: redact_url(&file.url),
                size: file.size,
                sha256,
            });
        }
        Ok(out)
    }
}

impl Provider for IndexProvider<'_> {
    fn versions(
        &self,
        name: &PackageName,
        pinned: Option<&VersionSpecifiers>,
    ) -> Result<Vec<Version>, ProviderError> {
        if let Some(local) = self.local(name) {
            return Ok(vec![local.release.version.clone()]);
        }
        let wheels = self.wheels(name, pinned)?;
        let sdists = self.sdists(name, pinned)?;
        if wheels.is_empty() && sdists.is_empty() {
            let files = self.files(name)?;
            let sdist = files
                .iter()
                .any(|f| f.filename.ends_with(".tar.gz") || f.filename.ends_with(".zip"));
            return Err(ProviderError {
                package: name.to_string(),
                message: if sdist {
                    format!(
                        "{name} publishes no wheel for this image's Python and platform, only \
                         source distributions, and no compiler was available to build them"
                    )
                } else {
                    format!("{name} has no wheel for this image's Python and platform")
                },
            });
        }
        let mut versions: Vec<Version> = wheels.into_iter().map(|(v, _, _)| v).collect();
        versions.extend(sdists.into_iter().map(|(v, _)| v));
        versions.sort();
        versions.dedup();
        versions.reverse();
        Ok(versions)
    }

    fn metadata(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<ReleaseMetadata, ProviderError> {
        let bytes = match self.local(name) {
            Some(local) => local.metadata.clone(),
            None => self.metadata_bytes(name, version)?,
        };
        let metadata = CoreMetadata::parse(&bytes).map_err(|e| provider_error(name, e))?;
        Ok(ReleaseMetadata {
            requires_dist: metadata.requires_dist,
            requires_python: metadata.requires_python,
            provides_extra: metadata.provides_extra,
        })
    }

    fn prefetch(&self, names: &[PackageName]) {
        // Index pages land in grocker's cache, where `project` finds them moments later.
        for name in names {
            let index = self.index.clone();
            let name = name.clone();
            self.handle.spawn(async move {
                let _ = index.project(&name).await;
            });
        }
    }
}

impl IndexProvider<'_> {
    fn metadata_bytes(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Vec<u8>, ProviderError> {
        Ok(match self.candidate(name, version)? {
            Candidate::Wheel(file) => self
                .handle
                .block_on(self.index.wheel_metadata(&file))
                .map_err(|e| provider_error(name, e))?,
            Candidate::Sdist(file) => {
                let wheel = self.wheel_of(name, &file)?;
                read_wheel_metadata(&wheel).map_err(|e| provider_error(name, format!("{e:#}")))?
            }
        })
    }
}

/// `*.dist-info/METADATA` of a wheel on disk.
pub fn read_wheel_metadata(path: &std::path::Path) -> Result<Vec<u8>> {
    let mut zip = zip::ZipArchive::new(fs_err::File::open(path)?)
        .with_context(|| format!("{} is not a readable wheel (a zip archive)", path.display()))?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .filter(|n| n.ends_with(".dist-info/METADATA") && n.matches('/').count() == 1)
        .collect();
    let [name] = &names[..] else {
        anyhow::bail!(
            "{} has {} METADATA files, expected one",
            path.display(),
            names.len()
        );
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name(name)?, &mut bytes)?;
    Ok(bytes)
}

fn provider_error(name: &PackageName, e: impl fmt::Display) -> ProviderError {
    ProviderError {
        package: name.to_string(),
        message: e.to_string(),
    }
}
