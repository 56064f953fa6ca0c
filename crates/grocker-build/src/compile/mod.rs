//! The compiler stage (Grocker's "compiler image", DESIGN §1.4): a package published only as
//! source becomes a wheel inside a builder container grocker assembles itself — the runtime
//! plus compilers and headers — run offline, with every build requirement fetched and verified
//! beforehand. The runtime image never sees a compiler. Built wheels are cached by (source
//! sha256, builder image), so a package is compiled once per builder.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result, anyhow};
use grocker_builder::{BuildEnv, BuildSystem, Builder, Built, Engine, Prepared};
use grocker_hash::Sha256;
use grocker_lock::DebianPackage;
use grocker_oci::Layer;
use grocker_wheel::Target;
use serde_json::json;
use tokio::runtime::Handle;

use crate::context::Context;
use crate::debian::{DebianArchive, PinnedDebian};
pub use crate::foreign::HostTools;
use crate::foreign::{LazyHost, cannot_compile, is_pure_wheel};

mod builder_image;

/// The builder, assembled on first need: packages resolved (or taken from the lock), image
/// written and loaded into the engine.
pub struct Compiler {
    archive: Arc<DebianArchive>,
    build_packages: Vec<String>,
    indexes: grocker_pypi::IndexUrls,
    target: Target,
    ctx: Context,
    /// Whether compiling is allowed (`--no-build-dependencies` says no: only wheels built
    /// earlier, from the cache).
    allowed: bool,
    /// The builder's locked packages, once resolved.
    locked: Mutex<Option<Vec<DebianPackage>>>,
    ready: tokio::sync::OnceCell<Arc<(Builder, String)>>,
    /// The interpreter's source, for a runtime whose CPython grocker builds; its builder's
    /// packages are pinned on first need.
    interpreter: Mutex<Option<grocker_lock::Interpreter>>,
    /// The builder without any Python, which builds that CPython.
    base: tokio::sync::OnceCell<Arc<(Builder, String)>>,
    /// That CPython's layer, once built or found in the cache.
    python: tokio::sync::OnceCell<Layer>,
    /// The runtime's packages: the sandbox of engine-less builds is their filesystem.
    runtime_packages: Vec<DebianPackage>,
    /// The engine-less builder for pure-Python projects, `None` where the host cannot make
    /// the namespaces it needs.
    host: tokio::sync::OnceCell<Option<Arc<(Builder, String)>>>,
    /// For a platform this machine is not: where its pure-Python wheels come from.
    tools: HostTools,
    /// How to make the host's compiler when no platform of the build is the host's.
    lazy_host: Option<LazyHost>,
    made_host: tokio::sync::OnceCell<Arc<Compiler>>,
    /// Whether the engine runs this platform's containers, once asked.
    engine_runs: tokio::sync::OnceCell<bool>,
}

/// What a [`Compiler`] is made of.
pub struct CompilerInputs<'a> {
    /// The runtime's archive, whose index also resolves the builder's packages.
    pub archive: Arc<DebianArchive>,
    /// `dependencies.build`.
    pub build_packages: &'a [String],
    /// Where build requirements come from.
    pub indexes: &'a grocker_pypi::IndexUrls,
    /// The Python the wheels are for.
    pub target: Target,
    /// Whether compiling is allowed.
    pub allowed: bool,
    /// The builder's packages from the lock, or empty to resolve them on first need.
    pub locked: Vec<DebianPackage>,
    /// The runtime's packages (engine-less builds run on their filesystem).
    pub runtime: Vec<DebianPackage>,
    /// Where the platform's pure-Python wheels are built, when it is not this machine's.
    pub host: HostTools,
    /// The interpreter's source, for a runtime whose CPython grocker builds.
    pub interpreter: Option<grocker_lock::Interpreter>,
}

impl Compiler {
    pub fn new(inputs: CompilerInputs<'_>, ctx: &Context) -> Self {
        let locked = inputs.locked;
        let lazy_host = matches!(inputs.host, HostTools::Lazy).then(|| LazyHost {
            runtime: inputs.archive.runtime(),
            sources: inputs.archive.sources().clone(),
            build_packages: inputs.build_packages.to_vec(),
            indexes: inputs.indexes.clone(),
            allowed: inputs.allowed,
        });
        Self {
            archive: inputs.archive,
            build_packages: inputs.build_packages.to_vec(),
            indexes: inputs.indexes.clone(),
            target: inputs.target,
            ctx: ctx.clone(),
            allowed: inputs.allowed,
            locked: Mutex::new((!locked.is_empty()).then_some(locked)),
            ready: tokio::sync::OnceCell::new(),
            interpreter: Mutex::new(inputs.interpreter),
            base: tokio::sync::OnceCell::new(),
            python: tokio::sync::OnceCell::new(),
            runtime_packages: inputs.runtime,
            host: tokio::sync::OnceCell::new(),
            tools: inputs.host,
            lazy_host,
            made_host: tokio::sync::OnceCell::new(),
            engine_runs: tokio::sync::OnceCell::new(),
        }
    }

    /// The host's compiler when this platform is not this machine's: pure-Python wheels and
    /// bytecode come from it. `None` for the host's own platform.
    pub async fn host_compiler(&self) -> Result<Option<Arc<Compiler>>> {
        match (&self.tools, &self.lazy_host) {
            (HostTools::Native, _) => Ok(None),
            (HostTools::Given(host), _) => Ok(Some(Arc::clone(host))),
            (HostTools::Lazy, Some(lazy)) => {
                let made = self.made_host.get_or_try_init(|| lazy.make(&self.ctx));
                Ok(Some(Arc::clone(made.await?)))
            }
            (HostTools::Lazy, None) => Err(anyhow!("internal error: no way to the host's tools")),
        }
    }

    /// The runtime's pinned packages (the bytecode interpreter of the host's platform).
    pub(crate) fn runtime(&self) -> PinnedDebian<'_> {
        PinnedDebian {
            runtime: self.target_runtime(),
            sources: self.archive.sources(),
            packages: &self.runtime_packages,
            requested: &[],
        }
    }

    /// The builder of this (foreign) platform for `label`, which has native code, when the
    /// engine runs the platform's containers; else the error saying the ways out.
    async fn foreign_builder(
        &self,
        label: &str,
        host_wheel: Option<&str>,
    ) -> Result<Arc<(Builder, String)>> {
        let engine = Engine::from_env().map_err(|e| {
            anyhow!("{e}\n{label} has native code: its wheel is compiled in a container")
        })?;
        let runs = self.engine_runs.get_or_try_init(|| {
            crate::foreign::engine_runs(
                &engine,
                &self.archive,
                &self.runtime_packages,
                &self.target,
                &self.ctx,
            )
        });
        if !*runs.await? {
            return Err(cannot_compile(
                label,
                host_wheel,
                &self.target,
                engine.host(),
            ));
        }
        self.builder().await
    }

    /// The interpreter and platform the wheels are for.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The builder image, when something was built in it.
    pub fn image(&self) -> Option<String> {
        self.ready.get().map(|ready| ready.0.image().to_string())
    }

    /// The builder's packages, for the lock (empty when nothing was compiled).
    pub fn locked_packages(&self) -> Vec<DebianPackage> {
        lock(&self.locked).clone().unwrap_or_default()
    }

    fn target_runtime(&self) -> grocker_runtime::Runtime {
        self.archive.runtime()
    }

    /// The wheel built from the sdist `file` (already downloaded and verified at `path`), from
    /// the cache when this builder built it before. Blocking: called on the resolver's thread.
    pub fn wheel_for(
        &self,
        handle: &Handle,
        filename: &str,
        sha256: &Sha256,
        path: &Path,
    ) -> Result<(String, PathBuf)> {
        let ready = match handle.block_on(self.host_compiler())? {
            None => {
                let (_, id) = handle.block_on(self.builder_id())?;
                if let Some(hit) = self.cached_wheel(sha256, &id) {
                    return Ok(hit);
                }
                handle.block_on(self.builder())?
            }
            Some(host) => {
                // Built once, on this machine; a pure wheel is every platform's.
                let built = host.wheel_for(handle, filename, sha256, path)?;
                if is_pure_wheel(&built.0) {
                    return Ok(built);
                }
                handle.block_on(self.foreign_builder(filename, Some(&built.0)))?
            }
        };
        self.build(handle, &ready, filename, sha256, |builder, work| {
            let sdist = work.join(filename);
            fs_err::copy(path, &sdist)?;
            Ok(builder.prepare_source(&sdist, &work.join("src"))?)
        })
    }

    /// The wheel of a local project directory, cached by the hash of its source tree, so that
    /// an unchanged project is never rebuilt and an edited one always is.
    ///
    /// A project whose backend is pure Python and whose tree has no native sources is built on
    /// this machine, without an engine (see [`grocker_builder::Sandbox`]): the same wheel, byte
    /// for byte, as the builder container's. Anything else, or a host without the namespaces,
    /// goes to the builder.
    pub fn wheel_for_project(&self, handle: &Handle, dir: &Path) -> Result<(String, PathBuf)> {
        let tree = source_tree_hash(dir)?;
        // Named the same from any working directory (it keys the build-requirements hint too).
        let label = fs_err::canonicalize(dir)?.display().to_string();
        let prepare = |builder: &Builder, work: &Path| Ok(builder.prepare_source(dir, work)?);
        if !matches!(self.tools, HostTools::Native) {
            let mut host_wheel = None;
            if crate::host_build::is_pure(dir)?
                && let Some(host) = handle.block_on(self.host_compiler())?
            {
                let built = host.wheel_for_project(handle, dir)?;
                if is_pure_wheel(&built.0) {
                    return Ok(built);
                }
                host_wheel = Some(built.0);
            }
            let ready = handle.block_on(self.foreign_builder(&label, host_wheel.as_deref()))?;
            return self.build(handle, &ready, &label, &tree, prepare);
        }
        let mut sandboxed = None;
        let pure = crate::host_build::is_pure(dir)?;
        if pure {
            // Found without making the sandbox (a probe of the namespaces, the interpreter):
            // an unchanged project costs a no-op rebuild nothing more.
            let id = crate::host_build::builder_id(&self.host_debian());
            if let Some(hit) = self.cached_wheel(&tree, &id) {
                return Ok(hit);
            }
        }
        if pure && let Some(host) = handle.block_on(self.host_builder())? {
            match self.build(handle, &host, &label, &tree, prepare) {
                Ok(built) => return Ok(built),
                Err(e) => sandboxed = Some(e),
            }
        }
        // A locked builder names the wheel without an engine: the caches may have it.
        if lock(&self.locked).is_some() {
            let (_, id) = handle.block_on(self.builder_id())?;
            if let Some(hit) = self.cached_wheel(&tree, &id) {
                return Ok(hit);
            }
        }
        // A build that failed in the sandbox gets a second chance in the builder (it may need
        // a tool only the builder has); with no engine to give it, its own error is the answer.
        let ready = match (handle.block_on(self.builder()), sandboxed) {
            (Ok(ready), Some(e)) => {
                tracing::info!(
                    "building {label} on this machine failed, so the builder will: {e:#}"
                );
                ready
            }
            (Ok(ready), None) => ready,
            (Err(_), Some(e)) => return Err(e),
            (Err(e), None) => return Err(e),
        };
        self.build(handle, &ready, &label, &tree, prepare)
    }

    /// The engine-less builder, made the first time: the runtime's filesystem written out (once
    /// per runtime, in the cache) as the sandbox's root.
    async fn host_builder(&self) -> Result<Option<Arc<(Builder, String)>>> {
        // The sandbox runs the runtime's Debian interpreter, which a runtime built from source
        // does not have.
        if lock(&self.interpreter).is_some() {
            return Ok(None);
        }
        let made = self
            .host
            .get_or_try_init(|| crate::host_build::builder(self.host_debian(), &self.ctx));
        Ok(made.await?.clone())
    }

    /// The runtime the sandbox runs.
    fn host_debian(&self) -> PinnedDebian<'_> {
        PinnedDebian {
            runtime: self.target_runtime(),
            sources: self.archive.sources(),
            packages: &self.runtime_packages,
            requested: &[],
        }
    }

    fn build(
        &self,
        handle: &Handle,
        ready: &(Builder, String),
        label: &str,
        source_sha256: &Sha256,
        source: impl FnOnce(&Builder, &Path) -> Result<PathBuf>,
    ) -> Result<(String, PathBuf)> {
        let (builder, builder_id) = (&ready.0, &ready.1);
        let cache = self.ctx.fetcher.cache();
        let key = wheel_key(source_sha256, builder_id);
        if let Some(hit) = self.cached_wheel(source_sha256, builder_id) {
            return Ok(hit);
        }

        if !self.allowed {
            anyhow::bail!(
                "{label} must be compiled, and --no-build-dependencies forbids the compiler stage"
            );
        }
        let _stage = self
            .ctx
            .report
            .stage(format!("Building {label} in {}", builder.image()));
        let work = tempfile::Builder::new()
            .prefix("grocker-build-")
            .tempdir()?;
        let source = source(builder, work.path())?;
        let system = BuildSystem::read(&source)?;
        let verbose = tracing::enabled!(tracing::Level::INFO);
        let mut on_log = |line: &str| {
            if verbose {
                self.ctx.report.note(format!("  | {line}"));
            }
        };
        // What the backend asked for last time it built this source, so that the environment
        // has it at the first try; a wrong guess costs one more run, never a wrong build.
        let hint_key = Sha256::digest(
            format!("{label}\0{}\0{:?}", system.backend, system.requires).as_bytes(),
        )
        .to_string();
        let mut dynamic: Vec<String> = cache
            .get_keyed("build-requires", &hint_key)
            .and_then(|(bytes, _)| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let out = work.path().join("out");
        let mut asked_before: Option<Vec<String>> = None;
        let wheel = loop {
            let env = self.build_env(
                handle,
                builder,
                builder_id,
                &system.requires,
                dynamic.clone(),
            )?;
            let built = match env {
                Prepared::Ready(env) => {
                    builder.build_wheel(&source, &system, &env, &out, &mut on_log)?
                }
                // A new environment's own bytecode compiles beside its first build.
                Prepared::Fresh(fresh) => {
                    let (built, compiled) = std::thread::scope(|scope| {
                        let compiling = scope.spawn(|| fresh.compile(builder));
                        let built =
                            builder.build_wheel(&source, &system, fresh.env(), &out, &mut on_log);
                        (built, compiling.join())
                    });
                    compiled.map_err(|_| {
                        anyhow!("compiling the build environment's bytecode stopped unexpectedly")
                    })??;
                    fresh.finish()?;
                    built?
                }
            };
            match built {
                Built::Wheel(wheel) => break wheel,
                Built::NeedsRequirements(need) => {
                    // A backend that keeps changing its mind would make us loop for ever.
                    if let Some(before) = asked_before {
                        anyhow::bail!(
                            "the build backend {} of {label} asked for the build requirements \
                             {before:?}, then for {need:?} in an environment that had them",
                            system.backend,
                        );
                    }
                    cache.put_keyed("build-requires", &hint_key, &serde_json::to_vec(&need)?)?;
                    asked_before = Some(need.clone());
                    dynamic = need;
                }
            }
        };
        let name = wheel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| anyhow!("the builder returned no wheel for {label}"))?;
        let (hash, stored) = cache.put_bytes(&fs_err::read(&wheel)?)?;
        let record = json!({ "filename": name, "sha256": hash.to_string(), "source": label });
        cache.put_keyed(
            "built-wheels",
            &key.to_string(),
            record.to_string().as_bytes(),
        )?;
        if let Some(remote) = &self.ctx.remote {
            // Not the source's label: a local path says nothing to another runner.
            let shared = json!({ "filename": name, "sha256": hash.to_string() });
            crate::shared::put_wheel(remote, &key, &shared, &stored);
        }
        Ok((name, stored))
    }

    /// The wheel built from `source_sha256` by the builder `builder_id` before, here or (with
    /// `--cache-repo`) on another runner, if the caches have it whole.
    fn cached_wheel(&self, source_sha256: &Sha256, builder_id: &str) -> Option<(String, PathBuf)> {
        let cache = self.ctx.fetcher.cache();
        let key = wheel_key(source_sha256, builder_id);
        if let Some((record, _)) = cache.get_keyed("built-wheels", &key.to_string())
            && let Ok(record) = serde_json::from_slice::<serde_json::Value>(&record)
            && let (Some(name), Some(hash)) =
                (record["filename"].as_str(), record["sha256"].as_str())
            && let Ok(hash) = Sha256::from_str(hash)
            && let Some(wheel) = cache.get(&hash)
        {
            return Some((name.to_string(), wheel));
        }
        let (name, hash, wheel) = crate::shared::wheel(self.ctx.remote.as_deref()?, cache, &key)?;
        let record =
            json!({ "filename": name, "sha256": hash.to_string(), "source": "shared cache" });
        if let Err(e) = cache.put_keyed(
            "built-wheels",
            &key.to_string(),
            record.to_string().as_bytes(),
        ) {
            tracing::debug!("cannot record the shared wheel {name}: {e}");
        }
        Some((name, wheel))
    }

    /// The build environment holding `requires` and `dynamic` (resolved to wheels: build
    /// requirements must have wheels, no compiling a compiler's compiler), made on first need
    /// ([`Prepared::Fresh`]: its bytecode still to compile) and kept in the cache under the
    /// builder's and the wheels' hashes.
    fn build_env(
        &self,
        handle: &Handle,
        builder: &Builder,
        builder_id: &str,
        requires: &[String],
        dynamic: Vec<String>,
    ) -> Result<Prepared> {
        let parsed = requires
            .iter()
            .chain(&dynamic)
            .map(|r| {
                grocker_wheel::parse_requirement(r)
                    .map_err(|e| anyhow!("build requirement `{r}`: {e}"))
            })
            .collect::<Result<Vec<_>>>()?;
        let packages = crate::python::resolve_wheels(
            parsed,
            &self.indexes,
            &self.target,
            &self.ctx.fetcher,
            handle,
        )
        .context("resolving build requirements")?;
        let downloads = packages
            .iter()
            .map(crate::python::download)
            .collect::<Result<Vec<_>>>()?;
        let paths = handle.block_on(self.ctx.fetcher.get_all_verified(downloads))?;
        // The bytecode of the builder's standard library is in the environment too.
        let mut id = format!("{builder_id}\n");
        for p in &packages {
            id.push_str(&format!("{} {}\n", p.filename, p.sha256));
        }
        let envs = self.ctx.fetcher.cache().root().join("build-envs");
        let dir = envs.join(&Sha256::digest(id.as_bytes()).to_string()[..32]);
        let wheels: Vec<(String, PathBuf)> = packages
            .iter()
            .map(|p| p.filename.clone())
            .zip(paths)
            .collect();
        let stdlib = envs.join(format!(
            "stdlib-{}",
            &Sha256::digest(builder_id.as_bytes()).to_string()[..32]
        ));
        Ok(BuildEnv::prepare(
            builder,
            &dir,
            &stdlib,
            &self.target,
            &wheels,
            dynamic,
        )?)
    }
}

/// What a project's wheel depends on: every file's path, exec bit and content, in path order;
/// not what builds leave behind (`build/`, `dist/`, `*.egg-info`, bytecode) nor VCS data.
fn source_tree_hash(dir: &Path) -> Result<Sha256> {
    let keep = |rel: &str, _is_dir: bool| {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        !(matches!(
            name,
            ".git" | ".hg" | "__pycache__" | "build" | "dist" | ".tox" | ".venv" | ".nox"
        ) || name.ends_with(".egg-info")
            || name.ends_with(".pyc"))
    };
    crate::source_tree::hash(&crate::source_tree::walk(dir, &keep)?)
}

/// What names a built wheel: its source's hash and its builder.
fn wheel_key(source_sha256: &Sha256, builder_id: &str) -> Sha256 {
    Sha256::digest(format!("{source_sha256} {builder_id}").as_bytes())
}

/// Whether a distribution file is a source distribution grocker can build.
pub fn is_sdist(filename: &str) -> bool {
    filename.ends_with(".tar.gz") || filename.ends_with(".zip")
}

/// `name-1.2.tar.gz` → `1.2`.
pub fn sdist_version(filename: &str) -> Option<grocker_wheel::Version> {
    let stem = filename
        .strip_suffix(".tar.gz")
        .or_else(|| filename.strip_suffix(".zip"))?;
    let (_, version) = stem.rsplit_once('-')?;
    grocker_wheel::Version::from_str(version).ok()
}

/// A poisoned lock means a thread panicked while holding it; the value (a cache of what was
/// resolved) is still whole, so it is used rather than hidden.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
