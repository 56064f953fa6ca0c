//! The builder image: the runtime's packages plus compilers and headers (and, for a runtime
//! whose CPython grocker builds, that CPython's layer), assembled once per package set and
//! loaded into the engine under a name derived from what it holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow};
use grocker_builder::{Builder, Engine};
use grocker_lock::DebianPackage;
use grocker_oci::{Compression, DockerEngineSink, Image, ImageConfig, Layer, Sink};

use super::{Compiler, lock};
use crate::debian::PinnedDebian;
use crate::layers::{LayerCache, LayerKey, LayerKind, Notes};

/// What every builder has besides the runtime: compilers and Python headers, and the
/// `Essential: yes` tools Debian never lists as dependencies but configure
/// scripts and Makefiles call (`sh`, `env`, `sed`…) — Perl among them: `-dev` packages ship
/// Perl scripts (libpq-dev's `pg_config`), and runtime-only exclusions must not cut it here.
fn builder_packages(runtime: grocker_runtime::Runtime, build: &[String]) -> Vec<String> {
    let mut packages: Vec<String> = [
        "build-essential",
        "dash",
        "bash",
        "coreutils",
        "diffutils",
        "findutils",
        "grep",
        "gzip",
        "mawk",
        "perl",
        "perl-base",
        "sed",
        "tar",
    ]
    .map(String::from)
    .to_vec();
    packages.extend(runtime.python_build_packages());
    packages.extend(build.iter().cloned());
    packages.sort();
    packages.dedup();
    packages
}

impl Compiler {
    /// The builder and its image reference, assembling and loading it the first time. For a
    /// runtime whose CPython grocker builds, that CPython's layer is on top.
    pub(super) async fn builder(&self) -> Result<Arc<(Builder, String)>> {
        self.ready
            .get_or_try_init(|| async {
                let python = self.python_layer().await?;
                let packages = self.packages().await?;
                self.assemble(&packages, python.as_ref()).await
            })
            .await
            .cloned()
    }

    /// The builder's packages: from the lock, else resolved (once).
    pub(super) async fn packages(&self) -> Result<Vec<DebianPackage>> {
        if let Some(locked) = lock(&self.locked).clone() {
            return Ok(locked);
        }
        let wanted = builder_packages(self.target_runtime(), &self.build_packages);
        let resolved = self
            .archive
            .resolve(&wanted, "the builder's packages", &self.ctx)
            .await?;
        *lock(&self.locked) = Some(resolved.clone());
        Ok(resolved)
    }

    /// The builder's packages and the id that names its image and keys the wheels built in it:
    /// known without assembling anything, so that a wheel the caches have needs no builder at
    /// all (for a CPython built from source, its layer comes from the layer cache).
    pub(super) async fn builder_id(&self) -> Result<(Vec<DebianPackage>, String)> {
        let python = self.python_layer().await?;
        let packages = self.packages().await?;
        let id = self.image_id(&packages, python.as_ref());
        Ok((packages, id))
    }

    /// What names the builder image made of `packages` (and `python`, its CPython layer). The
    /// image follows from its inputs (DESIGN §3), so it is named after them: an engine that has
    /// the tag has the image, and nothing is assembled.
    pub(super) fn image_id(&self, packages: &[DebianPackage], python: Option<&Layer>) -> String {
        let user = grocker_runtime::User::default();
        let mut inputs = grocker_hash::Hasher::new();
        inputs.update(
            format!(
                "grocker-builder v2 {} {} epoch={} user={}:{}\n",
                env!("CARGO_PKG_VERSION"),
                self.target_runtime(),
                self.ctx.epoch.seconds(),
                user.uid,
                user.gid
            )
            .as_bytes(),
        );
        for p in packages {
            let line = format!("{} {} {} {}\n", p.name, p.version, p.architecture, p.sha256);
            inputs.update(line.as_bytes());
        }
        if let Some(layer) = python {
            inputs.update(format!("python {}\n", layer.diff_id).as_bytes());
        }
        inputs.finish().to_string()
    }

    /// The CPython grocker builds, with its builder's packages once pinned (for the lock).
    pub fn interpreter(&self) -> Option<grocker_lock::Interpreter> {
        lock(&self.interpreter).clone()
    }

    /// The packages of the builder that compiles CPython: from the lock, else resolved —
    /// compilers and the `-dev` packages CPython links, without `dependencies.build`, so that
    /// every project on the runtime shares one interpreter.
    pub(super) async fn python_packages(&self) -> Result<Vec<DebianPackage>> {
        let pinned = lock(&self.interpreter)
            .as_ref()
            .map(|i| i.builder.clone())
            .unwrap_or_default();
        if !pinned.is_empty() {
            return Ok(pinned);
        }
        let wanted = builder_packages(self.target_runtime(), &[]);
        let resolved = self
            .archive
            .resolve(&wanted, "the CPython builder's packages", &self.ctx)
            .await?;
        if let Some(interpreter) = lock(&self.interpreter).as_mut() {
            interpreter.builder = resolved.clone();
        }
        Ok(resolved)
    }

    /// The layer of the CPython grocker builds for this runtime (`None` for Debian's): from
    /// the layer cache when this builder built this source with these flags before, else
    /// compiled in the builder without Python.
    pub async fn python_layer(&self) -> Result<Option<Layer>> {
        let Some(interpreter) = self.interpreter() else {
            return Ok(None);
        };
        let layer = self
            .python
            .get_or_try_init(|| async {
                let packages = self.python_packages().await?;
                let id = self.image_id(&packages, None);
                if let Some(layer) = crate::cpython::cached(&interpreter, &id, &self.ctx).await {
                    return Ok::<_, anyhow::Error>(layer);
                }
                if !self.allowed {
                    anyhow::bail!(
                        "CPython {} must be compiled, and --no-build-dependencies forbids the \
                         compiler stage",
                        interpreter.version
                    );
                }
                let base = self
                    .base
                    .get_or_try_init(|| self.assemble(&packages, None))
                    .await?
                    .clone();
                let engine = Engine::from_env()?;
                crate::cpython::build(
                    self.target_runtime(),
                    &interpreter,
                    self.archive.sources(),
                    (&engine, base.0.image(), &id),
                    &self.ctx,
                )
                .await
            })
            .await?;
        Ok(Some(layer.clone()))
    }

    pub(super) async fn assemble(
        &self,
        packages: &[DebianPackage],
        python: Option<&Layer>,
    ) -> Result<Arc<(Builder, String)>> {
        let engine = Engine::from_env().map_err(|e| {
            anyhow!(
                "{e}\nSome packages have only a source distribution (or the runtime's CPython \
                 is built from source); grocker compiles them in an offline builder container, \
                 which needs a container engine (Docker, or Podman's Docker-compatible socket \
                 through DOCKER_HOST)"
            )
        })?;
        let id = self.image_id(packages, python);
        let tag = format!("grocker-builder:{}", &id[..16]);
        if !engine.has_image(&tag)? {
            self.load_builder(&tag, &id, packages, python).await?;
        }
        Ok(Arc::new((Builder::new(engine, tag), id)))
    }

    /// Makes the builder image of `packages` (whose id is `id`), with `python` (the CPython
    /// grocker built) on top, and loads it as `tag`.
    pub(super) async fn load_builder(
        &self,
        tag: &str,
        id: &str,
        packages: &[DebianPackage],
        python: Option<&Layer>,
    ) -> Result<()> {
        let epoch = self.ctx.epoch;
        let user = grocker_runtime::User::default();
        let runtime = self.target_runtime();
        let pinned = PinnedDebian {
            runtime,
            sources: self.archive.sources(),
            packages,
            requested: &[],
        };
        let mut path = crate::image::PATH.to_string();
        if python.is_some() {
            path = format!("/{}/bin:{path}", runtime.prefix());
        }
        let config = ImageConfig {
            user: format!("{}:{}", user.uid, user.gid),
            env: vec![
                ("PATH".into(), path),
                ("LANG".into(), "C.UTF-8".into()),
                ("HOME".into(), "/tmp".into()),
            ],
            working_dir: "/tmp".into(),
            labels: crate::purge::builder_labels(),
            created: epoch.seconds(),
            architecture: self.target.arch.oci_name().into(),
            variant: self.target.arch.oci_variant().map(str::to_string),
            os: "linux".into(),
            ..ImageConfig::default()
        };
        let name = tag.parse()?;
        let python_layer = python.cloned();
        let publish = move |layer: Layer| -> Result<()> {
            let mut layers = vec![layer];
            layers.extend(python_layer);
            let image = Image::new(&config, layers, BTreeMap::new())?;
            let mut sink: Box<dyn Sink> = Box::new(DockerEngineSink::from_env()?);
            sink.publish(&image, &name)?;
            sink.finish()?;
            Ok(())
        };
        let tree = || async {
            let mut tree = pinned.builder_tree(&self.ctx).await?;
            if python.is_some() {
                python_links(&mut tree, runtime)?;
            }
            Ok::<_, anyhow::Error>(tree)
        };
        const CREATED_BY: &str = "grocker: builder layer";
        if self.ctx.remote.is_some() {
            // Shared, the layer is worth compressing: another runner that needs the builder
            // loads it from the shared cache instead of fetching and assembling 400 MB of .debs.
            let mut key = LayerKey::new(&LayerKind::Builder, epoch, Compression::Gzip);
            key.add(&format!("builder {id}"));
            let cache = LayerCache::new(&self.ctx);
            let layer = match cache.lookup(&key, CREATED_BY).await {
                Some((layer, _)) => layer,
                None => {
                    let tree = tree().await?;
                    let _stage = self.ctx.report.stage("Writing the builder layer");
                    tokio::task::spawn_blocking(move || {
                        let notes = Notes::default();
                        cache.build(&key, CREATED_BY, &tree, &notes, None)
                    })
                    .await
                    .context("the builder layer writer stopped unexpectedly")??
                }
            };
            let _stage = self
                .ctx
                .report
                .stage("Loading the builder image into the engine");
            return tokio::task::spawn_blocking(move || publish(layer))
                .await
                .context("the builder image writer stopped unexpectedly")?;
        }
        let tree = tree().await?;
        let _stage = self
            .ctx
            .report
            .stage("Loading the builder image into the engine");
        // Uncompressed and not kept: the engine unpacks it at once and is its only user, so
        // compressing 400 MB (8 s) would buy nothing.
        tokio::task::spawn_blocking(move || -> Result<()> {
            let scratch = tempfile::Builder::new()
                .prefix("grocker-builder-")
                .tempdir()?;
            let layer = Layer::build(scratch.path(), Compression::None, CREATED_BY, |w| {
                tree.write_tar(w, epoch.seconds()).map(drop)
            })?;
            publish(layer)
        })
        .await
        .context("the builder image writer stopped unexpectedly")?
    }
}

/// Build tools find the builder's Python as `python3` (first on PATH) and as Debian's
/// `/usr/bin/python3.X` (the build environment's venv links it): links to the CPython grocker
/// built, where the builder's packages put none.
fn python_links(tree: &mut grocker_fs::Tree, runtime: grocker_runtime::Runtime) -> Result<()> {
    for link in [
        format!("usr/bin/python{}", runtime.python()),
        "usr/bin/python3".into(),
    ] {
        let at = grocker_fs::RelPath::new(&link)?;
        if tree.get(&at).is_none() {
            tree.insert(at, grocker_fs::Entry::symlink(runtime.interpreter()))?;
        }
    }
    Ok(())
}
