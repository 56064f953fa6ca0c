//! Runtimes whose interpreter grocker builds (`bookworm/3.13`, `trixie/3.14`, or any runtime
//! with `--python-from source`): upstream CPython, pinned to a source tarball whose SHA-256 is
//! vouched for — by Debian's signed archive (the `.orig.tar.xz` of the `python3.X` source
//! package, InRelease → `Sources` → SHA-256) or by the user (`--python-source` with
//! `--python-sha256`) — compiled in the builder (offline, as sdists are) against the suite's
//! own `-dev` libraries, and kept as a layer of its own (`/opt/python/3.X`), cached by the
//! tarball, the builder image and the `configure` flags: its minutes are spent once.

use std::time::SystemTime;

use anyhow::{Context as _, Result, anyhow, bail};
use grocker_debian::{Source, SourcePackage, load_sources};
use grocker_lock::Interpreter;
use grocker_oci::Layer;
use grocker_runtime::Runtime;
use url::Url;

use crate::context::Context;
use crate::inputs::{DebianSources, PythonSourceInputs};
use crate::layers::{LayerCache, LayerKey, LayerKind, Notes};

/// The archive name a Debian source is recorded under in the lock.
const DEBIAN: &str = "debian";

/// `configure` flags of `--python-optimize`: profile-guided optimization and link-time
/// optimization, as python.org's and Debian's builds use.
const OPTIMIZE_FLAGS: &[&str] = &["--enable-optimizations", "--with-lto"];

/// Builds longer than this are stopped: an optimized build runs the PGO training suite.
const BUILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4 * 3600);

/// What the lock's request records of the interpreter: `None` for Debian's.
pub fn request(runtime: Runtime, inputs: &PythonSourceInputs) -> Option<String> {
    if !runtime.from_source() {
        return None;
    }
    let mut text = "source".to_string();
    if inputs.optimize {
        text.push_str(" optimized");
    }
    if let (Some(given), Some(sha256)) = (&inputs.source, &inputs.sha256) {
        text.push_str(&format!(" {given} sha256:{sha256}"));
    }
    Some(text)
}

/// The `configure` flags `inputs` ask for, as the lock records them.
pub fn flags(inputs: &PythonSourceInputs) -> String {
    match inputs.optimize {
        true => OPTIMIZE_FLAGS.join(" "),
        false => String::new(),
    }
}

/// The `python3.X` source packages of `suite`; `Err(why)` when its signed index is past its
/// `Valid-Until` (testing and unstable say a week; a mirror or snapshot that lags them serves
/// expired ones), unless `allow_expired` says to accept it as apt's `Check-Valid-Until=false`
/// does. The signature is checked either way, and the tarball against the index.
async fn suite_pythons(
    sources: &DebianSources,
    suite: &str,
    allow_expired: bool,
    ctx: &Context,
) -> Result<std::result::Result<Vec<SourcePackage>, String>> {
    let wanted = |name: &str| {
        name.strip_prefix("python3.")
            .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
    };
    let source = Source::main(sources.mirror.clone(), suite);
    // Before every Valid-Until there is: the freshness check passes, the signature still counts.
    let now = match allow_expired {
        true => SystemTime::UNIX_EPOCH,
        false => SystemTime::now(),
    };
    match load_sources(&ctx.fetcher, &source, &sources.keyring()?, now, &wanted).await {
        Ok(found) => Ok(Ok(found)),
        Err(e @ grocker_debian::DebianError::Expired { .. }) => {
            tracing::debug!("skipping the CPython sources of {suite}: {e}");
            Ok(Err(format!(
                "{suite} skipped: {e} (--python-allow-expired accepts it)"
            )))
        }
        Err(e) => Err(e).with_context(|| format!("reading the source packages of {suite}")),
    }
}

/// Pins the interpreter's source: the user's tarball, checked against the SHA-256 they gave,
/// or the newest `python3.X` source package of the first suite that has one (the runtime's own
/// suite, then newer ones). No source: one error that says which versions Debian has and how
/// to name a tarball.
pub async fn pin(
    runtime: Runtime,
    inputs: &PythonSourceInputs,
    sources: &DebianSources,
    ctx: &Context,
) -> Result<Interpreter> {
    let python = runtime.python();
    if let Some(given) = &inputs.source {
        return pin_user(runtime, given, inputs, ctx).await;
    }
    if inputs.sha256.is_some() {
        bail!("--python-sha256 is the hash of the tarball --python-source names: give both");
    }
    let mut seen: Vec<SourcePackage> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let _stage = ctx.report.stage(format!(
        "Finding the sources of CPython {python} in Debian's archive"
    ));
    for suite in runtime.source_suites() {
        let found = match suite_pythons(sources, suite, inputs.allow_expired, ctx).await? {
            Ok(found) => found,
            Err(why) => {
                skipped.push(why);
                continue;
            }
        };
        let best = found
            .iter()
            .filter(|p| p.name == format!("python{python}"))
            .max_by(|a, b| a.version.cmp(&b.version));
        if let Some(package) = best {
            return debian_pin(package);
        }
        seen.extend(found);
    }
    bail!("{}", no_source(runtime, &seen, &skipped))
}

/// Every runtime and where its interpreter comes from, one line each (`grocker root --list`):
/// each suite's own Python (Debian's), then each CPython whose sources a suite the runtime
/// would search has, with the source package it would be built from.
pub async fn list_runtimes(
    sources: &DebianSources,
    allow_expired: bool,
    ctx: &Context,
) -> Result<Vec<String>> {
    let mut found: Vec<SourcePackage> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for suite in Runtime::default().source_suites() {
        match suite_pythons(sources, suite, allow_expired, ctx).await? {
            Ok(packages) => found.extend(packages),
            Err(why) => skipped.push(format!("({why})")),
        }
    }
    let mut lines = Vec::new();
    for suite in Runtime::suites() {
        let debian: Runtime = Runtime::debian_runtimes()
            .into_iter()
            .find(|r| r.suite() == suite)
            .ok_or_else(|| anyhow!("internal error: no runtime for {suite}"))?;
        lines.push(format!(
            "{:<15} Debian's python{} (default; or built from source with --python-from \
             source)",
            debian.to_string(),
            debian.python()
        ));
        let mut minors: Vec<u8> = found
            .iter()
            .filter_map(|p| p.name.strip_prefix("python3.")?.parse().ok())
            .collect();
        minors.sort_unstable();
        minors.dedup();
        for minor in minors {
            let Ok(runtime) = format!("{suite}/3.{minor}").parse::<Runtime>() else {
                continue;
            };
            if !runtime.from_source() {
                continue;
            }
            let best = runtime.source_suites().into_iter().find_map(|s| {
                found
                    .iter()
                    .filter(|p| p.suite == s && p.name == format!("python3.{minor}"))
                    .max_by(|a, b| a.version.cmp(&b.version))
            });
            if let Some(p) = best {
                lines.push(format!(
                    "{:<15} CPython built from source: {} {} from {}",
                    runtime.to_string(),
                    p.name,
                    p.version,
                    p.suite
                ));
            }
        }
    }
    lines.extend(skipped);
    lines.push(
        "Other CPython versions: --python-source FILE|URL --python-sha256 HASH (a python.org \
         tarball)"
            .to_string(),
    );
    Ok(lines)
}

/// The error for a Python no searched suite has sources of.
fn no_source(runtime: Runtime, seen: &[SourcePackage], skipped: &[String]) -> String {
    let mut available: Vec<String> = Vec::new();
    for suite in runtime.source_suites() {
        let mut versions: Vec<&SourcePackage> = seen.iter().filter(|p| p.suite == suite).collect();
        versions.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
        let mut names: Vec<String> = Vec::new();
        for p in versions {
            let minor = p.name.trim_start_matches("python");
            let shown = format!("{}/{minor} ({} {})", runtime.suite(), p.name, p.version);
            names.retain(|n| !n.starts_with(&format!("{}/{minor} ", runtime.suite())));
            names.push(shown);
        }
        if !names.is_empty() {
            available.push(format!("  from {suite}: {}", names.join(", ")));
        }
    }
    for why in skipped {
        available.push(format!("  ({why})"));
    }
    let python = runtime.python();
    format!(
        "no source of CPython {python} for runtime {runtime}: none of the Debian suites {} has a \
         python{python} source package.\nRuntimes whose CPython sources Debian has:\n{}\n\
         To build {python} anyway, name an upstream tarball and its SHA-256 (python.org lists \
         them): --python-source https://www.python.org/ftp/python/{python}.N/Python-{python}.N.tar.xz \
         --python-sha256 HASH (or a downloaded file)",
        runtime.source_suites().join(", "),
        if available.is_empty() {
            "  (none found)".to_string()
        } else {
            available.join("\n")
        }
    )
}

fn debian_pin(package: &SourcePackage) -> Result<Interpreter> {
    let orig = package.orig_tarball().ok_or_else(|| {
        anyhow!(
            "{} {} in {} has no upstream tarball (.orig.tar.*)",
            package.name,
            package.version,
            package.suite
        )
    })?;
    // `python3.13_3.13.5.orig.tar.xz` → `3.13.5`.
    let version = orig
        .name
        .split_once('_')
        .and_then(|(_, rest)| rest.split_once(".orig."))
        .map(|(v, _)| v.to_string())
        .ok_or_else(|| anyhow!("cannot read CPython's version from {}", orig.name))?;
    Ok(Interpreter {
        version,
        origin: format!(
            "debian {} {} {}",
            package.suite, package.name, package.version
        ),
        archive: Some(DEBIAN.to_string()),
        path: package.path_of(orig),
        size: orig.size,
        sha256: orig.sha256,
        flags: String::new(),
        builder: Vec::new(),
    })
}

async fn pin_user(
    runtime: Runtime,
    given: &str,
    inputs: &PythonSourceInputs,
    ctx: &Context,
) -> Result<Interpreter> {
    let sha256 = inputs.sha256.ok_or_else(|| {
        anyhow!(
            "--python-source {given}: give its SHA-256 with --python-sha256 (python.org lists it \
             beside each tarball); grocker builds nothing it cannot verify"
        )
    })?;
    let name = given.rsplit('/').next().unwrap_or(given);
    // `Python-3.12.8.tar.xz` → `3.12.8`.
    let version = name
        .strip_prefix("Python-")
        .and_then(|v| v.split(".tar").next())
        .filter(|v| v.starts_with(&format!("{}.", runtime.python())))
        .ok_or_else(|| {
            anyhow!(
                "--python-source {given}: expected an upstream tarball of CPython {} named \
                 Python-{}.N.tar.xz (or .tgz/.tar.gz)",
                runtime.python(),
                runtime.python()
            )
        })?
        .trim_end_matches(".tgz")
        .to_string();
    let interpreter = Interpreter {
        version,
        origin: "user".to_string(),
        archive: None,
        path: given.to_string(),
        size: 0,
        sha256,
        flags: String::new(),
        builder: Vec::new(),
    };
    let path = fetch_tarball(&interpreter, None, ctx).await?;
    Ok(Interpreter {
        size: fs_err::metadata(&path)?.len(),
        ..interpreter
    })
}

/// The tarball of `interpreter`, verified, in the cache.
pub async fn fetch_tarball(
    interpreter: &Interpreter,
    sources: Option<&DebianSources>,
    ctx: &Context,
) -> Result<std::path::PathBuf> {
    let size = (interpreter.size > 0).then_some(interpreter.size);
    let url = match (&interpreter.archive, sources) {
        (Some(archive), Some(sources)) => {
            let base = sources.archive_base(archive)?;
            Url::parse(&format!(
                "{}/{}",
                base.as_str().trim_end_matches('/'),
                interpreter.path
            ))?
        }
        (Some(_), None) => bail!("internal error: a Debian source without the archive"),
        (None, _) if interpreter.path.contains("://") => Url::parse(&interpreter.path)
            .with_context(|| format!("--python-source `{}` is not a URL", interpreter.path))?,
        (None, _) => {
            let file = std::path::Path::new(&interpreter.path);
            let (actual, _) = grocker_hash::hash_reader(fs_err::File::open(file)?)?;
            if actual != interpreter.sha256 {
                bail!(
                    "{}: its SHA-256 is {actual}, not the {} given; check the file and the hash",
                    file.display(),
                    interpreter.sha256
                );
            }
            return Ok(file.to_path_buf());
        }
    };
    let _stage = ctx.report.stage(format!(
        "Fetching the CPython {} source",
        interpreter.version
    ));
    ctx.fetcher
        .get_verified(&url, &interpreter.sha256, size)
        .await
        .with_context(|| {
            format!(
                "fetching the source of CPython {} ({}); a mirror that lists a source package \
                 but lacks its files is partial or lagging: try another --debian-mirror, or \
                 name a tarball with --python-source and --python-sha256",
                interpreter.version, interpreter.origin
            )
        })
}

/// The key of the interpreter layer: the tarball, the builder image and the flags.
pub fn layer_key(interpreter: &Interpreter, builder_id: &str, ctx: &Context) -> LayerKey {
    let mut key = LayerKey::new(&LayerKind::Python, ctx.epoch, ctx.layer_compression);
    key.add(&format!(
        "cpython v3 {} {} flags={} builder={builder_id}",
        interpreter.version, interpreter.sha256, interpreter.flags
    ));
    key
}

fn created_by(interpreter: &Interpreter) -> String {
    format!(
        "grocker: CPython {} built from source ({})",
        interpreter.version,
        match interpreter.flags.is_empty() {
            true => "default flags".to_string(),
            false => interpreter.flags.clone(),
        }
    )
}

/// The interpreter layer from the cache, if built before with this builder.
pub async fn cached(interpreter: &Interpreter, builder_id: &str, ctx: &Context) -> Option<Layer> {
    let cache = LayerCache::new(ctx);
    cache
        .lookup(
            &layer_key(interpreter, builder_id, ctx),
            &created_by(interpreter),
        )
        .await
        .map(|(layer, _)| layer)
}

/// Compiles `interpreter` in the builder image `image` (the builder's packages, without any
/// Python) and records its layer in the cache.
pub async fn build(
    runtime: Runtime,
    interpreter: &Interpreter,
    sources: &DebianSources,
    (engine, image, builder_id): (&grocker_builder::Engine, &str, &str),
    ctx: &Context,
) -> Result<Layer> {
    let tarball = fetch_tarball(interpreter, Some(sources), ctx).await?;
    let _stage = ctx.report.stage(format!(
        "Building CPython {} from source in {image} (minutes; done once, then cached)",
        interpreter.version
    ));
    let flags: Vec<String> = interpreter
        .flags
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let (engine, image) = (engine.clone(), image.to_string());
    let epoch = ctx.epoch;
    let key = layer_key(interpreter, builder_id, ctx);
    let created_by = created_by(interpreter);
    let cache = LayerCache::new(ctx);
    let report = ctx.report.clone();
    let verbose = tracing::enabled!(tracing::Level::INFO);
    let python = runtime.python_version();
    tokio::task::spawn_blocking(move || -> Result<Layer> {
        let work = tempfile::Builder::new()
            .prefix("grocker-cpython-")
            .tempdir()?;
        let build = grocker_builder::CPythonBuild {
            tarball: &tarball,
            python,
            flags: &flags,
            epoch: epoch.seconds(),
            user: grocker_builder::BUILD_USER,
        };
        let mut on_log = |line: &str| {
            if verbose {
                report.note(format!("  | {line}"));
            }
        };
        let tar = grocker_builder::build_cpython(
            &engine,
            &image,
            &build,
            work.path(),
            Some(BUILD_TIMEOUT),
            &mut on_log,
        )?;
        let mut tree = crate::layer_tree::read_tar_file(&tar)?;
        // The build compiles the standard library in one process, whose state still decides
        // which objects marshal flags (see `grocker_builder::build_cpython`).
        crate::bytecode::canonicalize_tree(&mut tree)?;
        cache.build(&key, &created_by, &tree, &Notes::default(), None)
    })
    .await
    .context("the CPython build stopped unexpectedly")?
}

/// Checks that a lock's interpreter is the one `runtime` needs.
pub fn check_pinned(runtime: Runtime, interpreter: &Interpreter) -> Result<()> {
    if !interpreter
        .version
        .starts_with(&format!("{}.", runtime.python()))
    {
        bail!(
            "grocker.lock pins CPython {} for runtime {runtime}: run with --upgrade",
            interpreter.version
        );
    }
    Ok(())
}
