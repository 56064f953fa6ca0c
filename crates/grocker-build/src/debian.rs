//! The `os` stage: the Debian package set resolved against the signed archive (its index read
//! once per build, whoever asks), the pinned `.deb`s fetched verified, read, and laid out as the
//! runtime filesystem (divided into the runtime's layers in `runtime_layers`).

use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context as _, Result, bail};
use grocker_debian::{
    DebOptions, Keyring, PackageIndex, Source, index_identity, load_index, read_deb, resolve,
    status_d_files,
};
use grocker_fetch::Download;
use grocker_fs::{Spool, Tree};
use grocker_lock::DebianPackage;
use grocker_oci::Layer;
use grocker_runtime::{InstalledPackage, Runtime, User, assemble};
use grocker_wheel::Arch;
use tokio::sync::OnceCell;
use url::Url;

use crate::bytecode::Interpreter;
use crate::context::Context;
use crate::inputs::DebianSources;

/// The cache namespace of Debian resolutions (see [`DebianArchive::resolve`]).
const RESOLUTIONS: &str = "debian-resolutions";

/// Archive names as the lock records them, so a lock is independent of the mirror used.
const DEBIAN: &str = "debian";
const DEBIAN_SECURITY: &str = "debian-security";

impl DebianSources {
    pub(crate) fn archive_base(&self, archive: &str) -> Result<&Url> {
        match archive {
            DEBIAN => Ok(&self.mirror),
            DEBIAN_SECURITY => Ok(&self.security_mirror),
            other => match self.repositories.iter().find(|r| r.name == other) {
                Some(repo) => Ok(&repo.url),
                None => {
                    bail!("grocker.lock names an unknown archive `{other}`: run with --upgrade")
                }
            },
        }
    }

    /// The archive name the lock records for a package fetched from `base`.
    fn archive_name(&self, base: &Url) -> String {
        if base == &self.security_mirror {
            return DEBIAN_SECURITY.to_string();
        }
        match self.repositories.iter().find(|r| &r.url == base) {
            Some(repo) => repo.name.clone(),
            None => DEBIAN.to_string(),
        }
    }

    pub(crate) fn keyring(&self) -> Result<Keyring> {
        let mut keyring = Keyring::debian()?;
        for path in &self.extra_keyrings {
            keyring.extend(Keyring::from_file(path)?);
        }
        Ok(keyring)
    }
}

/// The Debian archive of one runtime and platform. Its package index is loaded (signature,
/// hashes) the first time a package set is resolved, and reused for every later one in the
/// build: the runtime's and the builder's.
pub struct DebianArchive {
    runtime: Runtime,
    arch: Arch,
    sources: DebianSources,
    index: OnceCell<PackageIndex>,
}

impl DebianArchive {
    pub fn new(runtime: Runtime, arch: Arch, sources: DebianSources) -> Self {
        Self {
            runtime,
            arch,
            sources,
            index: OnceCell::new(),
        }
    }

    pub fn runtime(&self) -> Runtime {
        self.runtime
    }

    pub fn arch(&self) -> Arch {
        self.arch
    }

    pub fn sources(&self) -> &DebianSources {
        &self.sources
    }

    /// Loads the package index now, for a resolution to come: the indexes of several
    /// platforms load at the same time (each is seconds of download and decompression).
    pub async fn preload(&self, ctx: &Context) -> Result<()> {
        self.index(ctx).await.map(drop)
    }

    async fn index(&self, ctx: &Context) -> Result<&PackageIndex> {
        self.index.get_or_try_init(|| self.load(ctx)).await
    }

    async fn load(&self, ctx: &Context) -> Result<PackageIndex> {
        let arch = self.arch.oci_name();
        let sources = Source::suite_defaults(
            self.runtime.suite(),
            &self.sources.mirror,
            &self.sources.security_mirror,
        );
        let keyring = self.sources.keyring()?;
        let mut index =
            load_index(&ctx.fetcher, &sources, &keyring, arch, SystemTime::now()).await?;
        // Like apt's `signed-by`: each extra repository is trusted with its own key only, so its
        // key can never vouch for a forged Debian archive (or the other way round).
        for (name, source, keyring) in self.extra_repositories()? {
            let extra = load_index(&ctx.fetcher, &[source], &keyring, arch, SystemTime::now())
                .await
                .with_context(|| format!("loading repository `{name}`"))?;
            index.merge(extra);
        }
        Ok(index)
    }

    /// The extra repositories (`repositories:`), each with its own key only.
    fn extra_repositories(&self) -> Result<Vec<(&str, Source, Keyring)>> {
        let mut out = Vec::with_capacity(self.sources.repositories.len());
        for repo in &self.sources.repositories {
            let keyring =
                Keyring::from_bytes(&format!("repository `{}`", repo.name), repo.key.as_bytes())?;
            let source = Source {
                base: repo.url.clone(),
                suite: repo.suite.clone(),
                components: repo.components.clone(),
            };
            out.push((repo.name.as_str(), source, keyring));
        }
        Ok(out)
    }

    /// The runtime's packages plus `packages`, newest versions first, as the lock pins them.
    /// `what` names the set in the progress line.
    pub async fn resolve(
        &self,
        packages: &[String],
        what: &str,
        ctx: &Context,
    ) -> Result<Vec<DebianPackage>> {
        let _stage = ctx
            .report
            .stage(format!("Resolving {what} for {}", self.runtime));
        let mut roots = self.runtime.root_packages();
        roots.extend(packages.iter().cloned());
        // A resolution depends on its roots and the indexes it reads, nothing else: the same
        // ones give the same packages, without parsing ~40 MB of `Packages` again (a runtime
        // that was resolved once — by `grocker root`, by another app — is resolved for good).
        let key = self.resolution_key(&roots, ctx).await?;
        let cache = ctx.fetcher.cache();
        if let Some((bytes, _)) = cache.get_keyed(RESOLUTIONS, &key) {
            match serde_json::from_slice::<Vec<DebianPackage>>(&bytes) {
                Ok(out) => {
                    tracing::debug!("Debian packages for {}: resolved before", self.runtime);
                    return Ok(out);
                }
                Err(e) => tracing::debug!("ignoring an unreadable resolution record: {e}"),
            }
        }
        let index = self.index(ctx).await?;
        let resolved = resolve(index, &roots, self.arch.oci_name())?;
        let mut out: Vec<DebianPackage> = resolved
            .into_iter()
            .map(|p| DebianPackage {
                archive: self.sources.archive_name(&p.base_url),
                name: p.name,
                version: p.version.to_string(),
                architecture: p.architecture,
                path: p.filename,
                size: p.size,
                sha256: p.sha256,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        cache
            .put_keyed(RESOLUTIONS, &key, &serde_json::to_vec(&out)?)
            .context("recording the Debian resolution in the cache")?;
        Ok(out)
    }

    /// What names a resolution of `roots`: the architecture, the roots, and the identity of
    /// every index it would read (each `Packages` file's SHA-256 from its verified `InRelease`,
    /// the mirrors, each extra repository with its own key).
    async fn resolution_key(&self, roots: &[String], ctx: &Context) -> Result<String> {
        let arch = self.arch.oci_name();
        let mut h = grocker_hash::Hasher::new();
        h.update(format!("debian-resolution v1 {arch}\n").as_bytes());
        for root in roots {
            h.update(format!("root {root}\n").as_bytes());
        }
        let sources = Source::suite_defaults(
            self.runtime.suite(),
            &self.sources.mirror,
            &self.sources.security_mirror,
        );
        let keyring = self.sources.keyring()?;
        let now = SystemTime::now();
        let mut lines = index_identity(&ctx.fetcher, &sources, &keyring, arch, now).await?;
        for (name, source, keyring) in self.extra_repositories()? {
            lines.push(format!("repository {name}"));
            lines.extend(
                index_identity(&ctx.fetcher, &[source], &keyring, arch, now)
                    .await
                    .with_context(|| format!("loading repository `{name}`"))?,
            );
        }
        for line in lines {
            h.update(format!("{line}\n").as_bytes());
        }
        Ok(h.finish().to_string())
    }

    /// Which Debian package ships each shared library (Debian's Contents index, verified like
    /// `Packages`), to say what to add when a library is missing.
    pub async fn library_providers(&self, ctx: &Context) -> Result<grocker_debian::ContentsIndex> {
        let sources = Source::suite_defaults(
            self.runtime.suite(),
            &self.sources.mirror,
            &self.sources.security_mirror,
        );
        Ok(grocker_debian::load_contents(
            &ctx.fetcher,
            &sources,
            &self.sources.keyring()?,
            self.arch.oci_name(),
            SystemTime::now(),
        )
        .await?)
    }
}

/// A pinned Debian package set and where to fetch it: what the runtime filesystem (and so the
/// `os` layer, the builder, the bytecode interpreter) is made from.
#[derive(Clone, Copy)]
pub struct PinnedDebian<'a> {
    pub runtime: Runtime,
    pub sources: &'a DebianSources,
    pub packages: &'a [DebianPackage],
    /// The packages asked for by name (`--package`): one the runtime would otherwise set apart
    /// whole ([`crate::unlinked::FOR_WHEELS`]) stays in `os`, for what loads it by `ctypes`.
    pub requested: &'a [String],
}

/// [`PinnedDebian`], owned.
pub struct OwnedDebian {
    runtime: Runtime,
    sources: DebianSources,
    packages: Vec<DebianPackage>,
    requested: Vec<String>,
}

impl OwnedDebian {
    pub(crate) fn pinned(&self) -> PinnedDebian<'_> {
        PinnedDebian {
            runtime: self.runtime,
            sources: &self.sources,
            packages: &self.packages,
            requested: &self.requested,
        }
    }
}

impl PinnedDebian<'_> {
    /// The same packages, owned: for work that outlives the borrow.
    pub(crate) fn owned(self) -> OwnedDebian {
        OwnedDebian {
            runtime: self.runtime,
            sources: self.sources.clone(),
            packages: self.packages.to_vec(),
            requested: self.requested.to_vec(),
        }
    }

    /// What names the runtime's interpreter: its Debian packages.
    pub(crate) fn interpreter_id(&self) -> grocker_hash::Sha256 {
        let mut h = grocker_hash::Hasher::new();
        h.update(b"interpreter v1\n");
        for p in self.packages {
            h.update(format!("{} {} {}\n", p.name, p.architecture, p.sha256).as_bytes());
        }
        h.finish()
    }

    /// The runtime's interpreter, to compile bytecode with: from the cache, else written out
    /// from `tree` (the runtime filesystem, when this build assembled it) or a newly assembled
    /// one — with `python`, the layer of a CPython built from source, on top.
    pub async fn interpreter(
        &self,
        tree: Option<&Tree>,
        python: Option<&Layer>,
        ctx: &Context,
    ) -> Result<Interpreter> {
        let mut id = self.interpreter_id();
        if let Some(layer) = python {
            id = grocker_hash::Sha256::digest(format!("{id} {}", layer.diff_id).as_bytes());
        }
        let version = self.runtime.python_version();
        let prefix = self.runtime.prefix();
        if let Some(found) = Interpreter::existing(ctx.fetcher.cache(), &id, version, &prefix) {
            return Ok(found);
        }
        let mut assembled = match tree {
            Some(tree) if python.is_none() => {
                return Interpreter::materialize(ctx.fetcher.cache(), &id, tree, version, &prefix);
            }
            Some(tree) => tree.clone(),
            None => self.runtime_tree(ctx).await?,
        };
        if let Some(layer) = python {
            assembled.merge(crate::layer_tree::read_back(&[layer]).await?)?;
        }
        Interpreter::materialize(ctx.fetcher.cache(), &id, &assembled, version, &prefix)
    }

    /// The builder's filesystem: the packages laid out like a runtime, plus
    /// [`BUILDER_LINKS`].
    pub async fn builder_tree(&self, ctx: &Context) -> Result<Tree> {
        let mut tree = self.tree(ctx).await?;
        for (link, target) in BUILDER_LINKS {
            let path = grocker_fs::RelPath::new(link)?;
            let target_path = path.parent().map(|p| p.join(target)).transpose()?;
            if tree.get(&path).is_none() && target_path.is_some_and(|t| tree.get(&t).is_some()) {
                tree.insert(path, grocker_fs::Entry::symlink(*target))?;
            }
        }
        Ok(tree)
    }

    /// Downloads every `.deb` (verified against its SHA-256, cached), reads them and lays out
    /// the runtime filesystem.
    pub async fn tree(&self, ctx: &Context) -> Result<Tree> {
        let packages = self.read(ctx).await?;
        let _stage = ctx.report.stage("Assembling the runtime filesystem");
        let user = User::default();
        tokio::task::spawn_blocking(move || Ok(assemble(packages, &user)?))
            .await
            .context("the runtime assembler stopped unexpectedly")?
    }

    /// The packages' own files, as their `data.tar`s hold them, with nothing synthesized: not
    /// a runtime (the engine probe runs one program of it).
    pub async fn files(&self, ctx: &Context) -> Result<Tree> {
        let mut tree = Tree::new();
        for package in self.read(ctx).await? {
            for (path, entry) in package.files {
                tree.insert(path, entry)?;
            }
        }
        Ok(tree)
    }

    /// Downloads every `.deb` (verified against its SHA-256, cached) and reads them.
    pub(crate) async fn read(&self, ctx: &Context) -> Result<Vec<InstalledPackage>> {
        let paths = self.fetch(ctx).await?;
        let entries: Vec<DebianPackage> = self.packages.to_vec();
        let cache = ctx.fetcher.cache().clone();
        tokio::task::spawn_blocking(move || read_all(&entries, &paths, &cache))
            .await
            .context("the package reader stopped unexpectedly")?
    }

    /// Downloads every `.deb` (verified against its SHA-256, cached): their paths, in order.
    pub(crate) async fn fetch(&self, ctx: &Context) -> Result<Vec<std::path::PathBuf>> {
        let mut downloads = Vec::with_capacity(self.packages.len());
        for p in self.packages {
            let base = self.sources.archive_base(&p.archive)?;
            let url = Url::parse(&format!(
                "{}/{}",
                base.as_str().trim_end_matches('/'),
                p.path
            ))
            .with_context(|| format!("bad path `{}` for {} in grocker.lock", p.path, p.name))?;
            downloads.push(Download {
                url,
                sha256: p.sha256,
                size: Some(p.size),
                label: format!("{}_{}", p.name, p.version),
            });
        }
        let _stage = ctx
            .report
            .stage(format!("Fetching {} Debian packages", downloads.len()));
        Ok(ctx.fetcher.get_all_verified(downloads).await?)
    }
}

/// Links Debian's maintainer scripts make with update-alternatives, which build systems expect
/// in a builder (`cc`, `c++`, `awk`, `/bin/sh`); never in a runtime image.
const BUILDER_LINKS: &[(&str, &str)] = &[
    ("usr/bin/cc", "gcc"),
    ("usr/bin/c++", "g++"),
    ("usr/bin/awk", "mawk"),
    ("usr/bin/sh", "dash"),
];

/// Reads the `.deb`s on every core; the result is in input order whatever the scheduling.
/// Large files go to a spool, one per reader thread (a spool takes one file at a time).
fn read_all(
    entries: &[DebianPackage],
    paths: &[std::path::PathBuf],
    cache: &grocker_fetch::Cache,
) -> Result<Vec<InstalledPackage>> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<Result<InstalledPackage>>> =
        (0..paths.len()).map(|_| None).collect();
    let slots = std::sync::Mutex::new(&mut results);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let spool = crate::context::spool_in(cache);
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= paths.len() {
                        break;
                    }
                    let result = match &spool {
                        Ok(spool) => read_one(&entries[i], &paths[i], spool),
                        Err(e) => Err(anyhow::anyhow!("{e:#}")),
                    };
                    if let Ok(mut slots) = slots.lock() {
                        slots[i] = Some(result);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(anyhow::anyhow!("a package reader thread panicked"))))
        .collect()
}

/// Reads one `.deb` and checks it is the package its lock entry names (control data and
/// size: a lock is input, not trust); errors name it as `package_version_arch.deb`, not by its
/// cache path.
fn read_one(entry: &DebianPackage, path: &Path, spool: &Spool) -> Result<InstalledPackage> {
    let (name, version, arch) = (&entry.name, &entry.version, &entry.architecture);
    let file = format!("{name}_{version}_{arch}.deb");
    let size = fs_err::metadata(path)?.len();
    if size != entry.size {
        bail!(
            "{file}: {size} bytes, not the {} grocker.lock names — the lock was edited or its \
             hash names another package's file; restore the lock or run with --upgrade",
            entry.size
        );
    }
    let reader = std::io::BufReader::new(fs_err::File::open(path)?);
    let options = DebOptions {
        spool: Some(spool.clone()),
        ..DebOptions::default()
    };
    let deb = read_deb(reader, &file, &options)?;
    deb.check_identity(&file, name, version, arch)?;
    let mut files = deb.files.clone();
    files.extend(status_d_files(&deb)?);
    Ok(InstalledPackage {
        name: name.clone(),
        files,
    })
}
