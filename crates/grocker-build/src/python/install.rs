//! The Python stage, installation: the locked wheels fetched verified and installed into the
//! venv, cut into layers (`deps`, very large wheels alone, `app`), each cached by its inputs.
//!
//! Install order, which decides who wins when two distributions ship one file with different
//! content (the later install, as with pip): the `deps` layer's wheels by name, then the wheels
//! with a layer of their own by name, then the application's own wheels (in the plan's order:
//! the project, then its path dependencies). Across layers the same rules are
//! applied from each layer's [`VenvIndex`], kept in the cache beside the layer, so that a build
//! from cached layers reaches the verdict a cold one does.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use grocker_fs::Tree;
use grocker_lock::{DebianPackage, PythonPackage};
use grocker_oci::Layer;
use grocker_wheel::{
    InstallOptions, Replaced, Venv, VenvIndex, install_wheel_file, replaced_warnings,
};
use tokio::runtime::Handle;

use crate::bytecode::Interpreter;
use crate::compile::{self, Compiler};
use crate::context::Context;
use crate::layers::{INDEXES, LayerCache, LayerKey, LayerKind, Notes};
use crate::python::LocalApp;
use crate::source_tree::{APP_DIR, SourceTree};

/// Wheels this large (compressed) get a layer of their own, so that an update of one of them
/// does not re-upload the others — and the others do not re-upload it.
const OWN_LAYER_BYTES: u64 = 50_000_000;

/// The venv layers: third-party wheels (the largest in layers of their own), then the app.
pub struct PythonLayers {
    pub layers: Vec<Layer>,
    /// For each layer, whether it holds an ELF file (a layer without one cannot change the
    /// native-library check's verdict, see `native::check`).
    pub elf: Vec<bool>,
    /// Whether an ELF file of these layers calls `iconv_open` (the image then needs the
    /// runtime's `iconv` layer, see `runtime_layers::OsLayers`).
    pub calls_iconv: bool,
    /// The whole venv when every layer had to be installed (all layer-cache misses), so that
    /// checks over the image need not install the wheels again.
    pub tree: Option<Tree>,
    /// Console scripts of the app's own wheel.
    pub app_scripts: Vec<String>,
    /// Every console script in the venv.
    pub all_scripts: Vec<String>,
    /// Files a distribution replaced with different content (already warned about).
    pub replaced: Vec<Replaced>,
}

/// What of the application itself a layer carries: its wheels and source tree go in the app
/// layer only.
#[derive(Clone, Copy)]
struct Own<'a> {
    wheels: &'a [LocalApp],
    source: Option<&'a SourceTree>,
}

/// One layer to make: which, under which cache key, described how.
struct LayerPlan {
    kind: LayerKind,
    key: LayerKey,
    created_by: String,
    with_skeleton: bool,
}

/// A venv layer as a build gets it: from the layer cache, or written — then with the installed
/// tree it was written from.
pub struct WrittenLayer {
    layer: Layer,
    notes: Notes,
    index: VenvIndex,
    tree: Option<Tree>,
}

/// What the venv is made of: the pinned wheels (and sdists, with the compiler that built them),
/// the application, and how files are compiled.
pub struct VenvLayers<'a> {
    /// The application's name: its own entry among the pins goes in the app layer.
    pub app: &'a str,
    pub packages: &'a [PythonPackage],
    /// The builder's packages: wheels compiled from sdists depend on them.
    pub builder: &'a [DebianPackage],
    pub venv: &'a Venv,
    pub compiler: &'a Compiler,
    /// The application's own wheels when they are local files (the app layer installs them).
    pub local: &'a [LocalApp],
    /// The source tree of an app that is not a package (the app layer carries it in `/app`).
    pub source: Option<&'a SourceTree>,
    pub bytecode: Option<&'a Interpreter>,
    /// With several platforms, the wheels all of them pin (`filename sha256`): they make the
    /// `deps` layer, the same blob in every image, and this platform's other wheels a
    /// `deps (platform)` layer above it. `None` for one platform: one `deps` layer.
    pub shared: Option<&'a std::collections::BTreeSet<String>>,
}

/// The `deps` layer of a team lock's pins, which the project's own wheel does not change:
/// written while the project builds (see `crate::ahead`), by the same code and under the same
/// key as the build stage would write it.
pub struct DepsAhead {
    pub app: String,
    pub packages: Vec<PythonPackage>,
    pub venv: Venv,
    pub compiler: std::sync::Arc<Compiler>,
    /// Started too when the layer is not cached: the runtime filesystem, which the native check
    /// of a new deps layer reads.
    pub runtime: Option<crate::debian::OwnedDebian>,
}

impl DepsAhead {
    /// Starts writing the layer in the background, and says whether it did (not when the
    /// command starts no work ahead). Not for pins with sdists: their wheels come from the
    /// builder, which the project's build is using.
    pub fn start(mut self, ctx: &Context) -> bool {
        if self.packages.iter().any(|p| compile::is_sdist(&p.filename)) {
            return false;
        }
        let plan = {
            let layers = self.layers();
            let Some((kind, packages)) = layers.dependency_groups().into_iter().next() else {
                return false;
            };
            layers.plan(kind, &packages, true, ctx)
        };
        let runtime = self.runtime.take();
        let ctx_ = ctx.clone();
        ctx.ahead.start_layer(plan.key.id(), async move {
            let layers = self.layers();
            let (_, packages) = layers.dependency_groups().swap_remove(0);
            let on_miss = || {
                if let Some(runtime) = runtime {
                    runtime.read_ahead(&ctx_);
                }
            };
            layers
                .cached_or_written(&packages, &plan, &ctx_, on_miss)
                .await
        })
    }

    fn layers(&self) -> VenvLayers<'_> {
        VenvLayers {
            app: &self.app,
            packages: &self.packages,
            builder: &[],
            venv: &self.venv,
            compiler: &self.compiler,
            local: &[],
            source: None,
            bytecode: None,
            shared: None,
        }
    }
}

impl VenvLayers<'_> {
    /// The layers, each from the layer cache when its inputs were laid out before.
    pub async fn layers(&self, ctx: &Context) -> Result<PythonLayers> {
        let mut out = PythonLayers {
            layers: Vec::new(),
            elf: Vec::new(),
            calls_iconv: false,
            tree: Some(Tree::new()),
            app_scripts: Vec::new(),
            all_scripts: Vec::new(),
            replaced: Vec::new(),
        };
        // The layers below the current one, in brief.
        let mut below = VenvIndex::new();
        for (i, (kind, packages)) in self.groups()?.into_iter().enumerate() {
            // The first (deps) layer also carries the venv itself.
            let plan = self.plan(kind, &packages, i == 0, ctx);
            let made = match ctx.ahead.layer(&plan.key.id()).await {
                Some(made) => made,
                None => self.cached_or_written(&packages, &plan, ctx, || {}).await?,
            };
            out.replaced.extend(made.index.replaced().iter().cloned());
            out.replaced.extend(below.overlay(made.index, self.venv)?);
            out.tree = match (out.tree.take(), made.tree) {
                (Some(mut all), Some(tree)) => {
                    all.overlay(tree)?;
                    Some(all)
                }
                _ => None,
            };
            if plan.kind == LayerKind::App {
                out.app_scripts = made.notes.scripts.clone();
            }
            out.all_scripts.extend(made.notes.scripts);
            out.elf.push(made.notes.elf);
            out.calls_iconv |= made.notes.iconv;
            out.layers.push(made.layer);
        }
        out.all_scripts.sort();
        out.all_scripts.dedup();
        for warning in replaced_warnings(&out.replaced) {
            ctx.report.note(format!("warning: {warning}"));
        }
        Ok(out)
    }

    /// The cache key and description of one layer: everything its bytes depend on.
    fn plan(
        &self,
        kind: LayerKind,
        packages: &[&PythonPackage],
        with_skeleton: bool,
        ctx: &Context,
    ) -> LayerPlan {
        // Only a layer with sdists depends on the builder that compiled them.
        let builder_key = packages
            .iter()
            .any(|p| compile::is_sdist(&p.filename))
            .then(|| {
                let mut h = grocker_hash::Hasher::new();
                for p in self.builder {
                    h.update(format!("{} {}\n", p.name, p.sha256).as_bytes());
                }
                h.finish()
            });
        let mut key = LayerKey::new(&kind, ctx.epoch, ctx.layer_compression);
        key.add(&format!(
            "venv {} {} {} skeleton={with_skeleton}",
            self.venv.root, self.venv.interpreter, self.venv.python_full
        ));
        if self.bytecode.is_some() {
            key.add(crate::bytecode::KEY);
        }
        for p in packages {
            key.add(&format!("{} {}", p.filename, p.sha256));
            if let Some(builder_key) = builder_key.filter(|_| compile::is_sdist(&p.filename)) {
                key.add(&format!("built by {builder_key}"));
            }
        }
        // The app's own wheels and source tree are in the app layer.
        let own = self.own(&kind);
        for app in own.wheels {
            key.add(&format!("{} {}", app.filename, app.sha256));
        }
        if let Some(source) = own.source {
            key.add(&format!("source tree {} in {APP_DIR}", source.sha256));
        }
        let mut names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        names.extend(own.wheels.iter().map(|w| w.release.name.as_ref()));
        if own.source.is_some() {
            names.push(self.app);
        }
        let created_by = format!("grocker: {kind} layer ({})", names.join(" "));
        LayerPlan {
            kind,
            key,
            created_by,
            with_skeleton,
        }
    }

    /// One layer from the layer cache, else written (`on_miss` is told first). A layer is only
    /// reused with its index: without one (a cache from before indexes), it is written again,
    /// which gives the same bytes.
    async fn cached_or_written(
        &self,
        packages: &[&PythonPackage],
        plan: &LayerPlan,
        ctx: &Context,
        on_miss: impl FnOnce(),
    ) -> Result<WrittenLayer> {
        let _writing = LayerCache::claim(&plan.key).await;
        let hit = LayerCache::new(ctx)
            .lookup(&plan.key, &plan.created_by)
            .await
            .and_then(|(layer, notes)| {
                let index = cached_index(ctx, &layer)?;
                Some((layer, notes, index))
            });
        if let Some((layer, notes, index)) = hit {
            return Ok(WrittenLayer {
                layer,
                notes,
                index,
                tree: None,
            });
        }
        on_miss();
        self.write(packages, self.own(&plan.kind), plan, ctx).await
    }

    /// Installs one layer's wheels, compiles their bytecode if asked, and writes the layer.
    async fn write(
        &self,
        packages: &[&PythonPackage],
        own: Own<'_>,
        plan: &LayerPlan,
        ctx: &Context,
    ) -> Result<WrittenLayer> {
        let kind = &plan.kind;
        let (mut tree, scripts, index) =
            self.install(packages, own, plan.with_skeleton, ctx).await?;
        let (elf, iconv) = tokio::task::block_in_place(|| elf_facts(&tree))?;
        let notes = Notes {
            calls_iconv: false,
            scripts,
            elf,
            iconv,
            units: Vec::new(),
        };
        if let Some(interpreter) = self.bytecode {
            let _stage = ctx
                .report
                .stage(format!("Compiling the {kind} layer's bytecode"));
            let site = self.venv.site_packages();
            let site = site.trim_start_matches('/');
            let spool = ctx.spool()?;
            tokio::task::block_in_place(|| interpreter.compile(&mut tree, site, &spool))?;
        }
        let _stage = ctx.report.stage(format!("Writing the {kind} layer"));
        let cache = LayerCache::new(ctx);
        let (key, created_by) = (plan.key.clone(), plan.created_by.clone());
        let n = notes.clone();
        let text = index.to_string();
        let (layer, tree) = tokio::task::spawn_blocking(move || {
            cache
                .build(&key, &created_by, &tree, &n, Some(&text))
                .map(|layer| (layer, tree))
        })
        .await
        .context("the layer writer stopped unexpectedly")??;
        Ok(WrittenLayer {
            layer,
            notes,
            index,
            tree: Some(tree),
        })
    }

    /// The application's own files for a layer of `kind`.
    fn own(&self, kind: &LayerKind) -> Own<'_> {
        match kind {
            LayerKind::App => Own {
                wheels: self.local,
                source: self.source,
            },
            _ => Own {
                wheels: &[],
                source: None,
            },
        }
    }

    /// How the venv is split into layers: [`Self::dependency_groups`], then `app`.
    fn groups(&self) -> Result<Vec<(LayerKind, Vec<&PythonPackage>)>> {
        let mut groups = self.dependency_groups();
        let app: Vec<&PythonPackage> = self
            .packages
            .iter()
            .filter(|p| p.name == self.app)
            .collect();
        if app.is_empty() && self.local.is_empty() && self.source.is_none() {
            bail!(
                "grocker.lock has no entry for {}: run with --upgrade",
                self.app
            );
        }
        groups.push((LayerKind::App, app));
        Ok(groups)
    }

    /// The third-party layers: `deps` (with the venv itself; with several platforms, the wheels
    /// they share, then `deps (platform)`), then one layer per very large wheel.
    fn dependency_groups(&self) -> Vec<(LayerKind, Vec<&PythonPackage>)> {
        let mut groups: Vec<(LayerKind, Vec<&PythonPackage>)> = Vec::new();
        let mut deps = Vec::new();
        let mut platform_deps = Vec::new();
        let shared = |p: &PythonPackage| {
            self.shared
                .is_none_or(|s| s.contains(&format!("{} {}", p.filename, p.sha256)))
        };
        // By name, whatever the lock's order: the install order decides who wins a file.
        let mut packages: Vec<&PythonPackage> = self.packages.iter().collect();
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        for p in packages {
            if p.name == self.app {
                continue;
            }
            if p.size.unwrap_or(0) >= OWN_LAYER_BYTES {
                groups.push((LayerKind::OwnDeps(p.name.clone()), vec![p]));
            } else if shared(p) {
                deps.push(p);
            } else {
                platform_deps.push(p);
            }
        }
        // Above the shared layer, below the large wheels: the order in which files win is
        // the install order, by name within each layer, as for one platform.
        if !platform_deps.is_empty() {
            groups.insert(0, (LayerKind::PlatformDeps, platform_deps));
        }
        groups.insert(0, (LayerKind::Deps, deps));
        groups
    }

    /// The whole venv as one tree (for checks over the finished image), installed again from
    /// the cached wheels.
    pub async fn tree(&self, ctx: &Context) -> Result<Tree> {
        let mut all = Tree::new();
        for (i, (kind, packages)) in self.groups()?.into_iter().enumerate() {
            let (tree, _, _) = self
                .install(&packages, self.own(&kind), i == 0, ctx)
                .await?;
            // As the image shows them: an upper layer's file hides a lower one's (`layers`
            // checked that this is allowed).
            all.overlay(tree)?;
        }
        Ok(all)
    }

    /// Downloads (verified, cached) and installs `packages` into a fresh tree, and says what
    /// it holds in an index.
    async fn install(
        &self,
        packages: &[&PythonPackage],
        own: Own<'_>,
        with_skeleton: bool,
        ctx: &Context,
    ) -> Result<(Tree, Vec<String>, VenvIndex)> {
        let downloads = packages
            .iter()
            .map(|p| crate::python::download(p))
            .collect::<Result<Vec<_>>>()?;
        let paths = {
            let _stage = ctx
                .report
                .stage(format!("Fetching {} wheels", downloads.len()));
            ctx.fetcher.get_all_verified(downloads).await?
        };
        // Sdists become the wheels the compiler built for them (from its cache, normally: they
        // were built during resolution).
        let mut wheels: Vec<(String, PathBuf)> = Vec::new();
        for (p, path) in packages.iter().zip(paths) {
            if compile::is_sdist(&p.filename) {
                let handle = Handle::current();
                wheels.push(tokio::task::block_in_place(|| {
                    self.compiler
                        .wheel_for(&handle, &p.filename, &p.sha256, &path)
                })?);
            } else {
                wheels.push((p.filename.clone(), path));
            }
        }
        for app in own.wheels {
            wheels.push((app.filename.clone(), app.wheel.clone()));
        }
        let source = own.source.map(SourceTree::entries).transpose()?;
        let venv = self.venv.clone();
        tokio::task::spawn_blocking(move || -> Result<(Tree, Vec<String>, VenvIndex)> {
            let mut tree = Tree::new();
            let mut index = VenvIndex::new();
            if with_skeleton {
                for (path, entry) in venv.skeleton() {
                    tree.insert(path, entry)?;
                }
                index.add_skeleton(&venv);
            }
            let mut scripts = Vec::new();
            for (file, path) in &wheels {
                // The wheel's files stay in it (a verified download in the cache, or a wheel the
                // compiler built): the tree refers to them, the layer writer reads them again.
                let installed =
                    install_wheel_file(path, file, &venv, &mut tree, &InstallOptions::default())?;
                index.add_wheel(&tree, file, &installed);
                scripts.extend(installed.console_scripts);
                scripts.extend(installed.gui_scripts);
            }
            // The source tree (in /app, outside the venv: no wheel can write there) is not in
            // the index.
            if let Some(source) = source {
                tree.merge(source)?;
            }
            Ok((tree, scripts, index))
        })
        .await
        .context("the wheel installer stopped unexpectedly")?
    }
}

/// Whether the tree holds an ELF file, and whether one calls `iconv_open`: each file's first
/// bytes are read, and an ELF file's whole content streamed until the name is found.
fn elf_facts(tree: &Tree) -> Result<(bool, bool)> {
    let (mut elf, mut iconv) = (false, false);
    for (path, entry) in tree.iter() {
        let grocker_fs::Kind::File(content) = &entry.kind else {
            continue;
        };
        let read = || format!("reading /{path}");
        if !content.head(4).with_context(read)?.starts_with(b"\x7fELF") {
            continue;
        }
        elf = true;
        if grocker_elf::calls_iconv(content).with_context(read)? {
            iconv = true;
            break;
        }
    }
    Ok((elf, iconv))
}

/// The index recorded for `layer`, if there is a readable one.
fn cached_index(ctx: &Context, layer: &Layer) -> Option<VenvIndex> {
    let (bytes, _) = ctx
        .fetcher
        .cache()
        .get_keyed(INDEXES, &layer.digest().hex())?;
    match String::from_utf8_lossy(&bytes).parse() {
        Ok(index) => Some(index),
        Err(e) => {
            tracing::debug!("ignoring the venv index of {}: {e}", layer.digest());
            None
        }
    }
}
