//! The plan stage for a project directory with a lock (DESIGN §1.1): the team's own lock
//! (`uv.lock`, `poetry.lock`, `pylock.toml`, requirements files) is the truth for its Python
//! packages. It is read by `grocker-project` for the image's interpreter, and each package
//! becomes a pin — the file the lock names, with the lock's hash — without any resolution. Only
//! a lock that names no URL (Poetry's file names, hashes in a requirements file, plain `==`
//! pins) sends grocker to the index, and then only for the files of that exact version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use grocker_lock::PythonPackage;
use grocker_project::{
    IndexOptions, LockKind, LockSource, Locked, LockedFile, LockedPackage, Project, ProjectError,
    Selection,
};
use grocker_pypi::{DistFile, Index, IndexUrls};
use grocker_wheel::{Tags, Target, WheelFilename};
use url::Url;

use crate::compile;
use crate::context::Context;
use crate::inputs::ProjectLockSettings;

/// A project's lock, read for one target.
pub(crate) struct TeamLock {
    /// What the lock selects.
    pub locked: Locked,
    /// Every lock file read, with its hash, as the grocker lock records it
    /// (`uv.lock sha256:…`).
    pub sources: Vec<String>,
    /// What was selected (`member=api`, `group=prod`, `extra=pg`), as the grocker lock records it.
    pub selection: Vec<String>,
}

/// The lock of `project` for `target`, or `None` when it has none (a package without a lock is
/// resolved from its metadata, as a release is). `locked`: a stale lock is an error rather than
/// a warning (`--locked`, as `uv sync --locked`).
pub(crate) fn read(
    project: &Project,
    settings: &ProjectLockSettings,
    target: &Target,
    locked: bool,
    ctx: &Context,
) -> Result<Option<TeamLock>> {
    let selection = Selection {
        member: settings.member.clone(),
        extras: settings.extras.clone(),
        groups: settings.groups.clone(),
        environment: target.marker_environment(),
    };
    let sources: Vec<LockSource> = if !settings.requirements.is_empty() {
        settings
            .requirements
            .iter()
            .map(|file| LockSource::of(&project.root.join(file), LockKind::Requirements))
            .collect::<Result<_, _>>()?
    } else {
        match LockSource::find(&project.root, settings.lock_from.as_deref()) {
            Ok(source) => vec![source],
            Err(ProjectError::NoLock { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    };
    let mut read = Vec::new();
    for source in sources {
        ctx.report.note(format!(
            "Installing exactly what {} pins",
            shown(&project.root, &source.path)
        ));
        read.push(grocker_project::read_lock(project, source, &selection)?);
    }
    let recorded: Vec<String> = read
        .iter()
        .map(|l| {
            format!(
                "{} sha256:{}",
                shown(&project.root, &l.source.path),
                l.source.sha256
            )
        })
        .collect();
    let locked_all = merge(read)?;
    if let Some(stale) = &locked_all.stale {
        let file = shown(&project.root, &locked_all.source.path);
        if locked {
            bail!("--locked: {file} is out of date: {stale}");
        }
        ctx.report
            .note(format!("warning: {file} is out of date: {stale}"));
    }
    let mut selected: Vec<String> = settings
        .member
        .iter()
        .map(|m| format!("member={m}"))
        .chain(settings.groups.iter().map(|g| format!("group={g}")))
        .chain(settings.extras.iter().map(|e| format!("extra={e}")))
        .collect();
    selected.sort();
    selected.dedup();
    Ok(Some(TeamLock {
        locked: locked_all,
        sources: recorded,
        selection: selected,
    }))
}

/// A lock file as the user knows it: relative to the project when inside it.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Several requirements files read as one: a package pinned twice must be pinned to the same
/// version (its hashes then add up, as pip's do).
fn merge(mut read: Vec<Locked>) -> Result<Locked> {
    let mut first = read.remove(0);
    for other in read {
        let mut packages: BTreeMap<_, LockedPackage> = first
            .packages
            .drain(..)
            .map(|p| (p.name.clone(), p))
            .collect();
        for p in other.packages {
            match packages.get_mut(&p.name) {
                Some(known) if known.version != p.version => bail!(
                    "{} pins {} {}, and {} pins it to {}: pin one version",
                    first.source.path.display(),
                    p.name,
                    known.version,
                    other.source.path.display(),
                    p.version
                ),
                Some(known) => {
                    known.hashes.extend(p.hashes);
                    known.files.extend(p.files);
                }
                None => {
                    packages.insert(p.name.clone(), p);
                }
            }
        }
        first.packages = packages.into_values().collect();
        first.local.extend(other.local);
        merge_indexes(&mut first.indexes, other.indexes);
        first.stale = first.stale.or(other.stale);
    }
    Ok(first)
}

fn merge_indexes(into: &mut IndexOptions, other: IndexOptions) {
    into.index_url = into.index_url.take().or(other.index_url);
    into.extra_index_urls.extend(other.extra_index_urls);
    into.find_links.extend(other.find_links);
    into.no_index |= other.no_index;
}

/// The pins of a team lock for `target`: for each package the wheel that fits best, else its
/// sdist (compiled later, in the builder); each with the hash the lock gives.
pub(crate) async fn pins(
    locked: &Locked,
    configured: &IndexUrls,
    target: &Target,
    ctx: &Context,
) -> Result<Vec<PythonPackage>> {
    let _stage = ctx.report.stage(format!(
        "Pinning {} packages from {}",
        locked.packages.len(),
        locked.source.kind
    ));
    let tags = target.tags();
    let lock_file = locked.source.path.display().to_string();
    let mut out = Vec::new();
    for package in &locked.packages {
        let at = || format!("{lock_file}: {} {}", package.name, package.version);
        let pin = match named_file(package, &tags, target, &lock_file)? {
            Some(file) if file.url.is_some() => pin_of(package, file, None)?,
            Some(file) => {
                // Poetry names files, not URLs: the index has them under that name.
                let listed = index_files(package, locked, configured, ctx).await?;
                let on_index = listed
                    .iter()
                    .find(|f| f.filename == file.filename)
                    .ok_or_else(|| {
                        anyhow!(
                            "{}: the lock names {}, which the index ({}) does not list",
                            at(),
                            file.filename,
                            index_names(locked, package, configured)
                        )
                    })?;
                if let Some(sha256) = on_index.sha256
                    && sha256 != file.sha256
                {
                    bail!(
                        "{}: {} has sha256 {} on the index, but the lock says {}: the lock was \
                         edited or the index changed the file; lock again if you trust the index",
                        at(),
                        file.filename,
                        sha256,
                        file.sha256
                    );
                }
                pin_of(package, file, Some(&on_index.url))?
            }
            None => {
                let listed = index_files(package, locked, configured, ctx).await?;
                pin_from_index(package, &listed, &tags).with_context(|| {
                    format!("{} ({})", at(), index_names(locked, package, configured))
                })?
            }
        };
        out.push(pin);
    }
    Ok(out)
}

/// The file the lock names for `target`, when it names files at all.
fn named_file<'a>(
    package: &'a LockedPackage,
    tags: &Tags,
    target: &Target,
    lock_file: &str,
) -> Result<Option<&'a LockedFile>> {
    if package.files.is_empty() {
        return Ok(None);
    }
    match package.best_file(tags) {
        Some(file) => Ok(Some(file)),
        None => bail!(
            "{lock_file}: no file of {} {} fits the image's Python {}.{} on {} (the lock has {}); \
             lock on a platform that includes Linux {}, or pick another runtime",
            package.name,
            package.version,
            target.python.0,
            target.python.1,
            target.arch.oci_name(),
            package
                .files
                .iter()
                .map(|f| f.filename.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            target.arch.oci_name(),
        ),
    }
}

fn pin_of(package: &LockedPackage, file: &LockedFile, url: Option<&Url>) -> Result<PythonPackage> {
    let url = match (url, &file.url) {
        (Some(url), _) => grocker_fetch::redact_url(url),
        (None, Some(url)) => url.clone(),
        (None, None) => bail!("internal error: {} has no URL", file.filename),
    };
    Ok(PythonPackage {
        name: package.name.to_string(),
        version: package.version.to_string(),
        extras: Vec::new(),
        filename: file.filename.clone(),
        url,
        size: file.size,
        sha256: file.sha256,
    })
}

/// A requirements-file pin: the best file of that version on the index whose hash the file
/// allows (any, with the index's hash, when it gives no hashes).
fn pin_from_index(
    package: &LockedPackage,
    listed: &[DistFile],
    tags: &Tags,
) -> Result<PythonPackage> {
    let of_version: Vec<&DistFile> = listed
        .iter()
        .filter(|f| file_version(&f.filename).as_ref() == Some(&package.version))
        .collect();
    if of_version.is_empty() {
        bail!("the index has no file of version {}", package.version);
    }
    let allowed: Vec<&DistFile> = of_version
        .iter()
        .copied()
        .filter(|f| {
            package.hashes.is_empty() || f.sha256.is_some_and(|h| package.hashes.contains(&h))
        })
        .collect();
    if allowed.is_empty() {
        bail!(
            "none of the index's {} files of version {} has one of the {} hashes the \
             requirements file allows: the index serves other files than were locked; \
             generate the hashes again if you trust it",
            of_version.len(),
            package.version,
            package.hashes.len()
        );
    }
    let best_wheel = allowed
        .iter()
        .filter_map(|f| {
            let wheel = f.filename.parse::<WheelFilename>().ok()?;
            Some((tags.priority(&wheel)?, *f))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.filename.cmp(&a.1.filename)))
        .map(|(_, f)| f);
    let file = match best_wheel {
        Some(f) => f,
        None => allowed
            .iter()
            .copied()
            .filter(|f| compile::is_sdist(&f.filename))
            .min_by(|a, b| {
                b.filename
                    .ends_with(".tar.gz")
                    .cmp(&a.filename.ends_with(".tar.gz"))
                    .then_with(|| a.filename.cmp(&b.filename))
            })
            .ok_or_else(|| {
                anyhow!(
                    "no wheel of version {} fits the image's Python and platform, and there is \
                     no source distribution to compile",
                    package.version
                )
            })?,
    };
    let sha256 = file.sha256.ok_or_else(|| {
        anyhow!(
            "the index gives no sha256 for {}: grocker verifies every download and needs it \
             (or a --hash in the requirements file)",
            file.filename
        )
    })?;
    Ok(PythonPackage {
        name: package.name.to_string(),
        version: package.version.to_string(),
        extras: Vec::new(),
        filename: file.filename.clone(),
        url: grocker_fetch::redact_url(&file.url),
        size: file.size,
        sha256,
    })
}

/// A distribution file's version: a wheel's from its name, an sdist's from `NAME-VERSION.tar.gz`.
pub(crate) fn file_version(filename: &str) -> Option<grocker_wheel::Version> {
    match filename.parse::<WheelFilename>() {
        Ok(wheel) => Some(wheel.version),
        Err(_) => compile::sdist_version(filename),
    }
}

/// The indexes to look `package` up on: the one the lock names for it, else the lock's
/// `--index-url`/`--extra-index-url`, else the configured ones.
fn indexes_for(
    package: &LockedPackage,
    locked: &Locked,
    configured: &IndexUrls,
) -> Result<IndexUrls> {
    let parse = |url: &str| {
        Url::parse(url).with_context(|| {
            format!(
                "{}: `{url}` is not an index URL",
                locked.source.path.display()
            )
        })
    };
    if let Some(index) = &package.index {
        return Ok(IndexUrls {
            index: parse(index)?,
            extra: Vec::new(),
        });
    }
    let options = &locked.indexes;
    let mut urls = configured.clone();
    if let Some(index) = &options.index_url {
        urls.index = parse(index)?;
    }
    for extra in &options.extra_index_urls {
        urls.extra.push(parse(extra)?);
    }
    Ok(urls)
}

fn index_names(locked: &Locked, package: &LockedPackage, configured: &IndexUrls) -> String {
    match indexes_for(package, locked, configured) {
        Ok(urls) => std::iter::once(&urls.index)
            .chain(&urls.extra)
            .map(grocker_fetch::redact_url)
            .collect::<Vec<_>>()
            .join(", "),
        Err(_) => "the configured index".to_string(),
    }
}

async fn index_files(
    package: &LockedPackage,
    locked: &Locked,
    configured: &IndexUrls,
    ctx: &Context,
) -> Result<Vec<DistFile>> {
    if locked.indexes.no_index {
        bail!(
            "{}: `--no-index` with no file for {} {}: grocker installs only what it can verify \
             from an index",
            locked.source.path.display(),
            package.name,
            package.version
        );
    }
    let urls = indexes_for(package, locked, configured)?;
    let index = Index::new(ctx.fetcher.clone(), urls);
    Ok(index.project(&package.name).await?)
}

/// The path dependencies of a lock that are packages: built, then installed in the app layer.
pub(crate) fn local_packages(locked: &Locked) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for local in locked.local.iter().filter(|l| l.is_package) {
        if !out.contains(&local.path) {
            out.push(local.path.clone());
        }
    }
    out
}
