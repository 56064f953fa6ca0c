//! `grocker outdated`: what a lock is behind, without building. The Debian side is compared
//! with the suite's `-security` and `-updates` archives (signed indexes, read as a build reads
//! them), and each newer package's `changelog.Debian` — from the newer `.deb` itself, verified
//! against its index as every download is — names the CVEs fixed since the locked version. The
//! Python side is compared with the index: the newest release, and the newest the lock's
//! constraints allow.

use std::io::Read;
use std::time::SystemTime;

use anyhow::{Context as _, Result};
use grocker_debian::{
    BinaryPackage, DebOptions, DebianVersion, PackageIndex, Source, load_index, read_deb_file,
};
use grocker_fetch::Download;
use grocker_lock::Lock;
use grocker_pypi::{Index, IndexUrls, PackageName};
use grocker_runtime::Runtime;
use grocker_wheel::{Requirement, Version, VersionOrUrl};
use serde::Serialize;

use crate::context::Context;
use crate::inputs::DebianSources;

/// What a lock is behind.
#[derive(Debug, Default, Serialize)]
pub struct Outdated {
    /// Debian packages with a newer version in `-security` or `-updates`.
    pub debian: Vec<DebianUpdate>,
    /// Python packages with a newer release on the index.
    pub python: Vec<PythonUpdate>,
}

impl Outdated {
    /// Whether a security update is pending.
    pub fn has_security_update(&self) -> bool {
        self.debian.iter().any(|u| u.security)
    }

    /// The report for people (`grocker outdated`): one line per package, aligned.
    pub fn table(&self) -> String {
        let mut rows: Vec<[String; 4]> = Vec::new();
        for u in &self.debian {
            let what = match u.cves.is_empty() {
                true => u.suite.clone(),
                false => format!("{}: {}", u.suite, u.cves.join(", ")),
            };
            rows.push([
                format!("{} ({})", u.name, u.architecture),
                u.locked.clone(),
                u.available.clone(),
                what,
            ]);
        }
        for u in &self.python {
            let what = match &u.allowed {
                Some(allowed) if *allowed == u.newest => "PyPI".to_string(),
                Some(allowed) => format!("constraints allow {allowed}"),
                None => "constraints allow none newer".to_string(),
            };
            rows.push([u.name.clone(), u.locked.clone(), u.newest.clone(), what]);
        }
        if rows.is_empty() {
            return "Everything in the lock is up to date.\n".to_string();
        }
        let header = [
            "package".to_string(),
            "locked".to_string(),
            "available".to_string(),
            "from".to_string(),
        ];
        let mut widths = [0usize; 3];
        for row in std::iter::once(&header).chain(&rows) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&rows) {
            out.push_str(&format!(
                "{:w0$}  {:w1$}  {:w2$}  {}\n",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            ));
        }
        out
    }
}

/// A Debian package with a newer version.
#[derive(Debug, Serialize)]
pub struct DebianUpdate {
    /// Binary package name.
    pub name: String,
    /// `amd64`, `arm64`, `all`.
    pub architecture: String,
    /// The locked version.
    pub locked: String,
    /// The newer version.
    pub available: String,
    /// The suite that has it (`bookworm-security`, `bookworm-updates`).
    pub suite: String,
    /// Whether it is a security update.
    pub security: bool,
    /// The CVE ids its `changelog.Debian` names in the entries after the locked version.
    pub cves: Vec<String>,
}

/// A Python package with a newer release.
#[derive(Debug, Serialize)]
pub struct PythonUpdate {
    /// Normalized name.
    pub name: String,
    /// The locked version.
    pub locked: String,
    /// The newest release the lock's constraints allow, when newer than the locked one.
    pub allowed: Option<String>,
    /// The newest release.
    pub newest: String,
}

/// Compares `lock` with the archives of `sources` and the indexes `indexes`.
pub async fn outdated(
    lock: &Lock,
    sources: &DebianSources,
    indexes: IndexUrls,
    ctx: &Context,
) -> Result<Outdated> {
    let runtime: Runtime = lock
        .request
        .runtime
        .parse()
        .with_context(|| format!("the lock's runtime `{}`", lock.request.runtime))?;
    let mut architectures = lock.request.architectures.clone();
    if architectures.is_empty() {
        architectures.push(lock.request.architecture.clone());
    }
    let mut out = Outdated::default();
    for arch in &architectures {
        let Some(part) = lock.for_platform(arch) else {
            continue;
        };
        let updates = debian_updates(&part, runtime, arch, sources, ctx).await?;
        for update in updates {
            let seen = out.debian.iter().any(|u| {
                (&u.name, &u.architecture, &u.available)
                    == (&update.name, &update.architecture, &update.available)
            });
            if !seen {
                out.debian.push(update);
            }
        }
    }
    out.python = python_updates(lock, indexes, ctx).await?;
    Ok(out)
}

/// The Debian packages of one platform's pins that `-security` or `-updates` has newer.
async fn debian_updates(
    pins: &Lock,
    runtime: Runtime,
    arch: &str,
    sources: &DebianSources,
    ctx: &Context,
) -> Result<Vec<DebianUpdate>> {
    let suite = runtime.suite();
    let keyring = sources.keyring()?;
    let now = SystemTime::now();
    let security = format!("{suite}-security");
    let updates = format!("{suite}-updates");
    let load = |base: &url::Url, suite: &str| {
        let source = Source::main(base.clone(), suite);
        let keyring = &keyring;
        async move { load_index(&ctx.fetcher, &[source], keyring, arch, now).await }
    };
    let (security_index, updates_index): (PackageIndex, PackageIndex) = tokio::try_join!(
        load(&sources.security_mirror, &security),
        load(&sources.mirror, &updates)
    )
    .with_context(|| format!("loading {security} and {updates}"))?;
    let mut found: Vec<(DebianUpdate, BinaryPackage)> = Vec::new();
    for p in &pins.debian {
        let locked: DebianVersion = p
            .version
            .parse()
            .with_context(|| format!("grocker.lock: {}'s version `{}`", p.name, p.version))?;
        let newer = |index: &PackageIndex| {
            index
                .get(&p.name)
                .filter(|n| n.version > locked && n.architecture == p.architecture)
                .cloned()
        };
        let (package, suite, is_security) = match (newer(&security_index), newer(&updates_index)) {
            (Some(s), _) => (s, &security, true),
            (None, Some(u)) => (u, &updates, false),
            (None, None) => continue,
        };
        found.push((
            DebianUpdate {
                name: p.name.clone(),
                architecture: p.architecture.clone(),
                locked: p.version.clone(),
                available: package.version.to_string(),
                suite: suite.clone(),
                security: is_security,
                cves: Vec::new(),
            },
            package,
        ));
    }
    add_cves(&mut found, ctx).await?;
    Ok(found.into_iter().map(|(u, _)| u).collect())
}

/// Fills in each update's CVEs from the newer `.deb`'s changelog.
async fn add_cves(found: &mut [(DebianUpdate, BinaryPackage)], ctx: &Context) -> Result<()> {
    let downloads = found
        .iter()
        .map(|(u, p)| {
            Ok(Download {
                url: p.deb_url()?,
                sha256: p.sha256,
                size: Some(p.size),
                label: format!("{}_{}", u.name, u.available),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let paths = ctx.fetcher.get_all_verified(downloads).await?;
    for ((update, _), path) in found.iter_mut().zip(paths) {
        let (name, locked) = (update.name.clone(), update.locked.clone());
        update.cves = tokio::task::spawn_blocking(move || -> Result<Vec<String>> {
            let options = DebOptions {
                drop_docs: false,
                spool: None,
            };
            let deb = read_deb_file(&path, &options)?;
            let changelog = format!("usr/share/doc/{name}/changelog.Debian.gz");
            for (file, entry) in &deb.files {
                if file.as_str() == changelog
                    && let grocker_fs::Kind::File(content) = &entry.kind
                {
                    let mut text = String::new();
                    flate2::read::GzDecoder::new(&content.read_all()?[..])
                        .read_to_string(&mut text)
                        .with_context(|| format!("{name}: reading /{changelog}"))?;
                    return Ok(cves_since(&text, &locked));
                }
            }
            tracing::debug!("{name}: no /{changelog} in the newer package");
            Ok(Vec::new())
        })
        .await
        .context("the changelog reader stopped unexpectedly")??;
    }
    Ok(())
}

/// The CVE ids a Debian changelog names in its entries newer than `locked`, sorted, once each.
/// Entries start with `package (version) suites; urgency=…` at the start of a line, newest
/// first (Debian policy §4.4).
pub fn cves_since(changelog: &str, locked: &str) -> Vec<String> {
    let Ok(locked) = locked.parse::<DebianVersion>() else {
        return Vec::new();
    };
    let mut cves = Vec::new();
    let mut newer = false;
    for line in changelog.lines() {
        if !line.starts_with([' ', '\t']) && !line.is_empty() {
            let version = line
                .split_once(" (")
                .and_then(|(_, rest)| rest.split_once(')'))
                .and_then(|(v, _)| v.parse::<DebianVersion>().ok());
            if let Some(version) = version {
                if version <= locked {
                    break;
                }
                newer = true;
                continue;
            }
        }
        if newer {
            cves.extend(cve_ids(line));
        }
    }
    cves.sort();
    cves.dedup();
    cves
}

/// `CVE-YYYY-NNNN…` ids in `text`.
fn cve_ids(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("CVE-") {
        let candidate = &rest[at + 4..];
        let year: String = candidate.chars().take_while(char::is_ascii_digit).collect();
        let after_year = &candidate[year.len()..];
        let number: String = after_year
            .strip_prefix('-')
            .map(|s| s.chars().take_while(char::is_ascii_digit).collect())
            .unwrap_or_default();
        if year.len() == 4 && number.len() >= 4 {
            out.push(format!("CVE-{year}-{number}"));
        }
        rest = candidate;
    }
    out
}

/// The Python packages with a newer release on the index.
async fn python_updates(lock: &Lock, urls: IndexUrls, ctx: &Context) -> Result<Vec<PythonUpdate>> {
    let index = Index::new(ctx.fetcher.clone(), urls);
    let constraints: Vec<Requirement> = lock
        .request
        .constraints
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect();
    let mut out = Vec::new();
    for p in &lock.python {
        let (Ok(name), Ok(locked)) = (p.name.parse::<PackageName>(), p.version.parse::<Version>())
        else {
            continue;
        };
        let files = match index.project(&name).await {
            Ok(files) => files,
            Err(e) => {
                // The application itself may be a local wheel or project, on no index.
                tracing::debug!("{name}: {e}");
                continue;
            }
        };
        let mut versions: Vec<Version> = files
            .iter()
            .filter(|f| f.yanked.is_none())
            .filter_map(|f| crate::project::file_version(&f.filename))
            .filter(|v| !v.any_prerelease() || locked.any_prerelease())
            .collect();
        versions.sort();
        versions.dedup();
        let Some(newest) = versions.last().filter(|v| **v > locked) else {
            continue;
        };
        let allows = |v: &Version| {
            constraints
                .iter()
                .filter(|c| c.name == name)
                .all(|c| match &c.version_or_url {
                    Some(VersionOrUrl::VersionSpecifier(s)) => s.contains(v),
                    _ => true,
                })
        };
        let allowed = versions
            .iter()
            .rev()
            .find(|v| allows(v))
            .filter(|v| **v > locked);
        out.push(PythonUpdate {
            name: p.name.clone(),
            locked: p.version.clone(),
            allowed: allowed.map(ToString::to_string),
            newest: newest.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cves_of_the_entries_after_the_locked_version() {
        let changelog = "openssl (3.0.22-1~deb12u2) bookworm-security; urgency=medium\n\
            \n  * Fix CVE-2026-1111 and CVE-2026-22222.\n\n -- Someone  Mon, 1 Jan 2026\n\n\
            openssl (3.0.21-1~deb12u1) bookworm-security; urgency=medium\n\
            \n  * Fixes (CVE-2026-1111, CVE-2025-9999)\n\n -- Someone\n\n\
            openssl (3.0.20-1~deb12u2) bookworm; urgency=medium\n\
            \n  * Old: CVE-2024-0001\n";
        assert_eq!(
            cves_since(changelog, "3.0.20-1~deb12u2"),
            ["CVE-2025-9999", "CVE-2026-1111", "CVE-2026-22222"]
        );
        assert_eq!(
            cves_since(changelog, "3.0.21-1~deb12u1"),
            ["CVE-2026-1111", "CVE-2026-22222"]
        );
        assert!(cves_since(changelog, "3.0.22-1~deb12u2").is_empty());
        assert!(cve_ids("CVE-12-1 CVE-2026-12").is_empty());
    }
}
