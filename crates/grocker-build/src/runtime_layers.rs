//! The runtime's layers (DESIGN §1.5, §2): the pinned packages' filesystem divided into `os`;
//! glibc's gconv charset modules (`iconv`); and the libraries nothing in the runtime links
//! (`unlinked`, see [`crate::unlinked`]) — from the layer cache when these exact packages were
//! laid out before, else fetched, read, assembled and divided once. A warm runtime is read back
//! from its layers, never assembled again.

use anyhow::{Context as _, Result, anyhow};
use grocker_fs::Tree;
use grocker_oci::Layer;
use grocker_runtime::{User, assemble};

use crate::bytecode::Interpreter;
use crate::context::Context;
use crate::debian::{OwnedDebian, PinnedDebian};
use crate::layers::{LayerCache, LayerKey, LayerKind, Notes};
use crate::unlinked::{Unit, UnlinkedLayer};

/// What the runtime's layer keys say of how it is laid out and divided: the `unlinked` layer's
/// rules (`crate::unlinked`) are an input of all three, and so is what `assemble` leaves out
/// (Debian's certificate files, once in the bundle).
const RUNTIME_LAYOUT: &str = "unlinked apart: siblings and libstdc++6, units of 64 KiB, no manylinux platform library; \
     certificates in the bundle only";

impl OwnedDebian {
    /// Starts reading the runtime filesystem back from its cached layers, for a later
    /// [`PinnedDebian::runtime_tree`] of this build; nothing when they are not cached (the
    /// build then assembles it, once).
    pub(crate) fn read_ahead(self, ctx: &Context) {
        let keys = self.pinned().layer_keys(ctx);
        let ctx_ = ctx.clone();
        ctx.ahead.start_tree(keys.os.id(), async move {
            self.pinned()
                .cached_runtime_tree(&keys, &ctx_)
                .await?
                .ok_or_else(|| anyhow!("the runtime's layers are not cached"))
        });
    }
}

/// The runtime's layers: `os`; glibc's gconv charset modules (`iconv`, 8 MB) apart, which an
/// image carries only when something in it calls `iconv_open` (see
/// [`grocker_elf::calls_iconv`]): Python's own codecs never need them; and the libraries
/// nothing in the runtime links (`unlinked`), of which an image carries the units its ELF files
/// need (see [`crate::unlinked`]).
pub struct OsLayers {
    pub os: Layer,
    pub iconv: Layer,
    pub unlinked: UnlinkedLayer,
    /// Whether a library of the `os` layer besides glibc calls `iconv_open` (a requested
    /// package such as libxml2), so that every image on it needs `iconv`.
    pub os_calls_iconv: bool,
    /// The `os` layer's filesystem when it had to be assembled (a layer-cache miss), so that
    /// checks over the image need not assemble it again.
    pub tree: Option<Tree>,
}

/// The keys of the runtime's three layers.
pub(crate) struct RuntimeKeys {
    os: LayerKey,
    iconv: LayerKey,
    unlinked: LayerKey,
}

/// The runtime filesystem as its layers divide it.
struct RuntimeParts {
    os: Tree,
    gconv: Tree,
    units: Vec<Unit>,
    unlinked: Tree,
}

impl PinnedDebian<'_> {
    /// The runtime layers: from the layer cache when these exact packages were laid out
    /// before, else downloaded (verified, cached), read and assembled. With `bytecode`, the
    /// standard library's `.pyc` files are in the `os` layer, compiled by the runtime's
    /// interpreter (see [`Self::interpreter`]).
    ///
    /// `host` is this machine's runtime when the image's platform is not this machine's: its
    /// interpreter compiles the `.pyc` files, which are the same bytes on every platform for
    /// one Python (see [`crate::foreign::same_python`]).
    pub async fn layers(
        &self,
        bytecode: bool,
        host: Option<PinnedDebian<'_>>,
        ctx: &Context,
    ) -> Result<OsLayers> {
        let mut keys = self.layer_keys(ctx);
        if bytecode && !self.runtime.from_source() {
            keys.os.add(crate::bytecode::KEY);
        }
        if let Some(cached) = self.cached_layers(&keys, ctx).await {
            return Ok(cached);
        }
        let [os_created_by, iconv_created_by, unlinked_created_by] = self.created_by();
        let cache = LayerCache::new(ctx);
        let RuntimeParts {
            os: mut tree,
            gconv,
            units,
            unlinked,
        } = self.parts(ctx).await?;
        let mut os_calls_iconv = false;
        for (path, entry) in tree.iter() {
            if let grocker_fs::Kind::File(content) = &entry.kind
                && !is_toolchain_runtime(path.as_str())
                && grocker_elf::calls_iconv(content)
                    .with_context(|| format!("reading /{path} of the runtime"))?
            {
                os_calls_iconv = true;
                break;
            }
        }
        // A CPython built from source has its standard library, and its bytecode, in its own
        // layer.
        if bytecode && !self.runtime.from_source() {
            let interpreter = match host {
                Some(host) => host.interpreter(None, None, ctx).await?,
                None => Interpreter::materialize(
                    ctx.fetcher.cache(),
                    &self.interpreter_id(),
                    &tree,
                    self.runtime.python_version(),
                    &self.runtime.prefix(),
                )?,
            };
            let _stage = ctx
                .report
                .stage("Compiling the standard library's bytecode");
            let stdlib = self.runtime.stdlib();
            let spool = ctx.spool()?;
            tokio::task::block_in_place(|| interpreter.compile(&mut tree, &stdlib, &spool))?;
        }
        let _stage = ctx.report.stage("Writing the os layer");
        tokio::task::spawn_blocking(move || {
            let notes = Notes {
                calls_iconv: os_calls_iconv,
                ..Notes::default()
            };
            let os = cache.build(&keys.os, &os_created_by, &tree, &notes, None)?;
            let iconv = cache.build(
                &keys.iconv,
                &iconv_created_by,
                &gconv,
                &Notes::default(),
                None,
            )?;
            let notes = Notes {
                units: units.clone(),
                ..Notes::default()
            };
            let layer = cache.build(
                &keys.unlinked,
                &unlinked_created_by,
                &unlinked,
                &notes,
                None,
            )?;
            Ok(OsLayers {
                os,
                iconv,
                unlinked: UnlinkedLayer {
                    layer,
                    units,
                    tree: Some(unlinked),
                },
                os_calls_iconv,
                tree: Some(tree),
            })
        })
        .await
        .context("the layer writer stopped unexpectedly")?
    }

    /// The keys of the `os` layer (without bytecode), the `iconv` layer and the `unlinked`
    /// layer of these packages.
    fn layer_keys(&self, ctx: &Context) -> RuntimeKeys {
        let user = User::default();
        let key = |kind: LayerKind| {
            let mut key = LayerKey::new(&kind, ctx.epoch, ctx.layer_compression);
            key.add(&format!("user {} {} {}", user.name, user.uid, user.gid));
            // How the three are split, and what the os layer's notes say, are inputs too.
            key.add("gconv apart; calls_iconv besides libc and libstdc++");
            key.add(RUNTIME_LAYOUT);
            for name in self.kept_whole() {
                key.add(&format!("kept whole: {name}"));
            }
            for p in self.packages {
                key.add(&format!(
                    "{} {} {} {}",
                    p.name, p.version, p.architecture, p.sha256
                ));
            }
            key
        };
        RuntimeKeys {
            os: key(LayerKind::Os),
            iconv: key(LayerKind::Iconv),
            unlinked: key(LayerKind::Unlinked),
        }
    }

    fn created_by(&self) -> [String; 3] {
        [
            format!(
                "grocker: os layer, {} on {} Debian packages",
                self.runtime,
                self.packages.len()
            ),
            "grocker: iconv layer (glibc's gconv modules)".to_string(),
            "grocker: unlinked layer (libraries nothing in the runtime links)".to_string(),
        ]
    }

    /// The runtime filesystem as images have it: its `os` and `iconv` layers, without the
    /// libraries nothing in it links. Read back from the layer cache when it has them (a warm
    /// runtime is never assembled again), else assembled. Taken as read when a build read it
    /// ahead ([`OwnedDebian::read_ahead`]).
    pub async fn runtime_tree(&self, ctx: &Context) -> Result<Tree> {
        let keys = self.layer_keys(ctx);
        if let Some(tree) = ctx.ahead.tree(&keys.os.id()).await {
            return Ok(tree);
        }
        if let Some(tree) = self.cached_runtime_tree(&keys, ctx).await? {
            return Ok(tree);
        }
        let RuntimeParts { mut os, gconv, .. } = self.parts(ctx).await?;
        os.merge(gconv)?;
        Ok(os)
    }

    /// Downloads, reads and assembles the packages, and divides the result into what the
    /// runtime's layers hold.
    async fn parts(&self, ctx: &Context) -> Result<RuntimeParts> {
        let packages = self.read(ctx).await?;
        let machine = self.machine()?;
        let from_source = self.runtime.from_source();
        let kept_whole = self.kept_whole();
        let _stage = ctx.report.stage("Assembling the runtime filesystem");
        let user = User::default();
        tokio::task::spawn_blocking(move || {
            let owners = crate::unlinked::owners(&packages);
            let mut os = assemble(packages, &user)?;
            let gconv = os.split_off(|path, _| is_gconv(path.as_str()));
            let (units, unlinked) = match from_source {
                true => (Vec::new(), Tree::new()),
                false => crate::unlinked::split(&mut os, &owners, machine, &kept_whole)?,
            };
            Ok(RuntimeParts {
                os,
                gconv,
                units,
                unlinked,
            })
        })
        .await
        .context("the runtime assembler stopped unexpectedly")?
    }

    /// The packages of [`crate::unlinked::FOR_WHEELS`] asked for by name, which stay in `os`.
    fn kept_whole(&self) -> Vec<String> {
        crate::unlinked::FOR_WHEELS
            .iter()
            .filter(|name| self.requested.iter().any(|r| r == *name))
            .map(|name| name.to_string())
            .collect()
    }

    /// The machine of these packages' ELF files.
    fn machine(&self) -> Result<grocker_elf::Machine> {
        let arch = self
            .packages
            .iter()
            .map(|p| p.architecture.as_str())
            .find(|a| *a != "all")
            .unwrap_or("amd64");
        grocker_elf::Machine::from_debian_arch(arch).ok_or_else(|| {
            anyhow!(
                "grocker.lock pins Debian packages for `{arch}`, which grocker does not build for"
            )
        })
    }

    /// The runtime's layers under `keys`, when the layer cache has all three.
    async fn cached_layers(&self, keys: &RuntimeKeys, ctx: &Context) -> Option<OsLayers> {
        let [os_created_by, iconv_created_by, unlinked_created_by] = self.created_by();
        let cache = LayerCache::new(ctx);
        match tokio::join!(
            cache.lookup(&keys.os, &os_created_by),
            cache.lookup(&keys.iconv, &iconv_created_by),
            cache.lookup(&keys.unlinked, &unlinked_created_by),
        ) {
            (Some((os, notes)), Some((iconv, _)), Some((layer, unlinked))) => Some(OsLayers {
                os,
                iconv,
                unlinked: UnlinkedLayer {
                    layer,
                    units: unlinked.units,
                    tree: None,
                },
                os_calls_iconv: notes.calls_iconv,
                tree: None,
            }),
            _ => None,
        }
    }

    /// [`Self::runtime_tree`] read back from the cached `os` and `iconv` layers (under `keys`);
    /// `None` when the layer cache lacks one.
    async fn cached_runtime_tree(&self, keys: &RuntimeKeys, ctx: &Context) -> Result<Option<Tree>> {
        let Some(layers) = self.cached_layers(keys, ctx).await else {
            return Ok(None);
        };
        let _stage = ctx
            .report
            .stage("Reading the runtime filesystem from its cached layers");
        crate::layer_tree::read_back(&[&layers.os, &layers.iconv])
            .await
            .map(Some)
    }
}

/// `usr/lib/<triplet>/gconv` and what is below it.
fn is_gconv(path: &str) -> bool {
    let mut parts = path.split('/');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("usr"), Some("lib"), Some(_), Some("gconv"))
    )
}

/// glibc, which implements iconv rather than calls it, and GCC's C++ runtime, which calls it
/// only behind the `std::codecvt` facets for named encodings (`__gnu_cxx::encoding_state`) —
/// not for what Python extension modules do. Counting them would put the modules in every image.
fn is_toolchain_runtime(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("libc.so") || name.starts_with("libc-") || name.starts_with("libstdc++.so")
}
