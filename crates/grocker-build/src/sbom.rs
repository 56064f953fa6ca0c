//! The SBOM of a built image (DESIGN §1.6): what the plan pinned, described from the files the
//! image was made of — each `.deb`'s control data and copyright file, each wheel's metadata —
//! and the image's digests. Written by [`grocker_sbom`].
//!
//! Facts read from a `.deb` are kept in the cache by its SHA-256, so a second SBOM of the same
//! packages reads no archive again.

use anyhow::{Context as _, Result, bail};
use grocker_debian::{DebOptions, control_source, copyright_licenses, read_deb_file};
use grocker_fs::Kind;
use grocker_lock::DebianPackage;
use grocker_oci::Artifact;
use grocker_sbom::{DebianComponent, ImageRef, License, PythonComponent, Sbom};
use grocker_wheel::{DeclaredLicenses, declared_licenses};
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use crate::compile;
use crate::context::Context;
use crate::plan::{Plan, PlatformPlan};
use crate::python;

/// Where the facts of each `.deb` are kept, by its SHA-256.
const DEB_FACTS: &str = "sbom-deb";

/// What an SBOM says of a `.deb` beyond the lock's entry.
#[derive(Serialize, Deserialize)]
struct DebFacts {
    source: String,
    source_version: String,
    licenses: Option<Vec<String>>,
}

/// The SBOM of `artifact`, built from `plan` and published as `name`.
pub async fn sbom(plan: &Plan, artifact: &Artifact, name: &str, ctx: &Context) -> Result<Sbom> {
    let _stage = ctx.report.stage("Writing the SBOM");
    let digests = artifact.platform_digests();
    let index = match artifact {
        Artifact::Index(index) => Some(index.digest().to_string()),
        Artifact::Image(_) => None,
    };
    let mut sbom = Sbom {
        image: ImageRef {
            name: name.to_string(),
            digests,
            index,
        },
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        created: ctx.epoch.seconds(),
        debian: Vec::new(),
        python: Vec::new(),
    };
    for platform in &plan.platforms {
        sbom.debian.extend(debian(platform, ctx).await?);
        sbom.python.extend(python_components(platform, ctx).await?);
    }
    Ok(sbom)
}

async fn debian(platform: &PlatformPlan, ctx: &Context) -> Result<Vec<DebianComponent>> {
    let pinned = platform.debian();
    // The image carries every pinned package but those its build left out.
    let left_out = platform.left_out.get().map_or(&[][..], Vec::as_slice);
    let kept: Vec<DebianPackage> = pinned
        .packages
        .iter()
        .filter(|p| !left_out.contains(&p.name))
        .cloned()
        .collect();
    let pinned = crate::debian::PinnedDebian {
        packages: &kept,
        ..pinned
    };
    let distro = format!("debian-{}", pinned.runtime.debian_version());
    let cache = ctx.fetcher.cache().clone();
    let mut facts: Vec<Option<DebFacts>> = pinned
        .packages
        .iter()
        .map(|p| {
            let (bytes, _) = cache.get_keyed(DEB_FACTS, &p.sha256.to_string())?;
            serde_json::from_slice(&bytes).ok()
        })
        .collect();
    if facts.iter().any(Option::is_none) {
        let paths = pinned.fetch(ctx).await?;
        let entries = pinned.packages.to_vec();
        let known: Vec<bool> = facts.iter().map(Option::is_some).collect();
        let read = tokio::task::spawn_blocking(move || -> Result<Vec<Option<DebFacts>>> {
            let spool = crate::context::spool_in(&cache)?;
            let mut out = Vec::new();
            for ((entry, path), known) in entries.iter().zip(&paths).zip(known) {
                if known {
                    out.push(None);
                    continue;
                }
                let facts = deb_facts(entry, path, &spool)?;
                cache
                    .put_keyed(
                        DEB_FACTS,
                        &entry.sha256.to_string(),
                        &serde_json::to_vec(&facts)?,
                    )
                    .context("recording a package's SBOM facts in the cache")?;
                out.push(Some(facts));
            }
            Ok(out)
        })
        .await
        .context("the package reader stopped unexpectedly")??;
        for (slot, new) in facts.iter_mut().zip(read) {
            if slot.is_none() {
                *slot = new;
            }
        }
    }
    pinned
        .packages
        .iter()
        .zip(facts)
        .map(|(p, facts)| {
            let Some(facts) = facts else {
                bail!("internal error: no SBOM facts for {}", p.name);
            };
            Ok(DebianComponent {
                name: p.name.clone(),
                version: p.version.clone(),
                architecture: p.architecture.clone(),
                distro: distro.clone(),
                source: facts.source,
                source_version: facts.source_version,
                sha256: p.sha256,
                licenses: facts.licenses,
            })
        })
        .collect()
}

/// A `.deb`'s source package and the licenses of its copyright file, once it is checked to be
/// the package its lock entry names.
fn deb_facts(
    entry: &DebianPackage,
    path: &std::path::Path,
    spool: &grocker_fs::Spool,
) -> Result<DebFacts> {
    let file = format!(
        "{}_{}_{}.deb",
        entry.name, entry.version, entry.architecture
    );
    let options = DebOptions {
        spool: Some(spool.clone()),
        ..DebOptions::default()
    };
    let deb = read_deb_file(path, &options)?;
    deb.check_identity(&file, &entry.name, &entry.version, &entry.architecture)?;
    let (source, source_version) =
        control_source(&deb.control).unwrap_or_else(|| (entry.name.clone(), entry.version.clone()));
    let copyright = format!("usr/share/doc/{}/copyright", entry.name);
    let mut licenses = None;
    for (path, e) in &deb.files {
        if path.as_str() == copyright
            && let Kind::File(content) = &e.kind
        {
            let text = content
                .read_all()
                .with_context(|| format!("{file}: reading /{copyright}"))?;
            licenses = copyright_licenses(&String::from_utf8_lossy(&text));
        }
    }
    Ok(DebFacts {
        source,
        source_version,
        licenses,
    })
}

/// The venv's distributions: the lock's, and the application's own wheels.
async fn python_components(platform: &PlatformPlan, ctx: &Context) -> Result<Vec<PythonComponent>> {
    let Some(app) = &platform.app else {
        return Ok(Vec::new());
    };
    let app_name = app.release.name.to_string();
    let pins = &platform.pins.python;
    let downloads = pins
        .iter()
        .map(python::download)
        .collect::<Result<Vec<_>>>()?;
    let paths = ctx.fetcher.get_all_verified(downloads).await?;
    let mut out = Vec::new();
    for (p, path) in pins.iter().zip(paths) {
        let (wheel, built) = match compile::is_sdist(&p.filename) {
            true => {
                let handle = Handle::current();
                let (name, wheel) = tokio::task::block_in_place(|| {
                    app.compiler
                        .wheel_for(&handle, &p.filename, &p.sha256, &path)
                })?;
                let (sha256, _) = grocker_hash::hash_reader(fs_err::File::open(&wheel)?)?;
                (wheel, Some((name, sha256)))
            }
            false => (path, None),
        };
        let metadata = python::read_wheel_metadata(&wheel)?;
        out.extend(vendored(&p.name, &wheel)?);
        out.push(PythonComponent {
            name: p.name.clone(),
            version: p.version.clone(),
            filename: p.filename.clone(),
            sha256: Some(p.sha256),
            license: license(&metadata),
            built_from_sdist: built,
            application: p.name == app_name,
            vendored_by: None,
        });
    }
    for local in &app.local {
        let name = local.release.name.to_string();
        out.extend(vendored(&name, &local.wheel)?);
        out.push(PythonComponent {
            application: name == app_name,
            name,
            version: local.release.version.to_string(),
            filename: local.filename.clone(),
            sha256: Some(local.sha256),
            license: license(local.metadata()),
            built_from_sdist: None,
            vendored_by: None,
        });
    }
    Ok(out)
}

/// The distributions vendored in the wheel of `by` at `path`, as scanners find them: each
/// `*.dist-info/METADATA` below the wheel's top level (setuptools' `_vendor` keeps them), and
/// the PyPI packages of an SBOM the wheel embeds (`*.cdx.json`, `*.spdx.json`: pip's
/// `_vendor/bom.cdx.json`). What does not parse is left out, as installers and scanners skip
/// it.
fn vendored(by: &str, path: &std::path::Path) -> Result<Vec<PythonComponent>> {
    let unreadable = || format!("{} is not a readable wheel (a zip archive)", path.display());
    let mut zip = zip::ZipArchive::new(fs_err::File::open(path)?).with_context(unreadable)?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .filter(|n| {
            (n.ends_with(".dist-info/METADATA") && n.matches('/').count() > 1)
                || n.ends_with(".cdx.json")
                || n.ends_with(".spdx.json")
        })
        .collect();
    let mut out: Vec<PythonComponent> = Vec::new();
    let component = |name: String, version: String, file: &str, license| PythonComponent {
        name,
        version,
        filename: file.to_string(),
        sha256: None,
        license,
        built_from_sdist: None,
        application: false,
        vendored_by: Some(by.to_string()),
    };
    for name in names {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut zip.by_name(&name).with_context(unreadable)?,
            &mut bytes,
        )
        .with_context(unreadable)?;
        if name.ends_with("/METADATA") {
            if let Ok(core) = grocker_wheel::CoreMetadata::parse(&bytes) {
                let (n, v) = (core.name.to_string(), core.version.to_string());
                out.push(component(n, v, &name, license(&bytes)));
            }
            continue;
        }
        for (n, v) in embedded_pypi_packages(&bytes) {
            out.push(component(n, v, &name, License::Names(Vec::new())));
        }
    }
    out.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    out.dedup_by(|a, b| (&a.name, &a.version) == (&b.name, &b.version));
    Ok(out)
}

/// The (name, version) of every `pkg:pypi` purl in an embedded CycloneDX or SPDX document.
fn embedded_pypi_packages(json: &[u8]) -> Vec<(String, String)> {
    fn walk(value: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::String(s) => {
                if let Some(rest) = s.strip_prefix("pkg:pypi/") {
                    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
                    if let Some((name, version)) = rest.split_once('@')
                        && let Ok(name) = name.parse::<grocker_wheel::PackageName>()
                    {
                        out.push((name.to_string(), version.replace("%2B", "+")));
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            serde_json::Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) {
        walk(&value, &mut out);
    }
    out
}

fn license(metadata: &[u8]) -> License {
    match declared_licenses(metadata) {
        DeclaredLicenses::Expression(e) => License::Expression(e),
        DeclaredLicenses::Names(n) => License::Names(n),
    }
}
