//! The native-library check (DESIGN §1.4): every extension module and vendored library in the
//! venv must find the libraries it links (`DT_NEEDED`) in the finished image, or the build
//! fails saying which Debian package to add — instead of the container failing at import time.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use grocker_elf::Machine;
use grocker_fs::Tree;
use grocker_hash::Hasher;
use grocker_oci::Layer;

use crate::context::Context;
use crate::debian::{DebianArchive, PinnedDebian};
use crate::python::VenvLayers;
use crate::unlinked::UnlinkedLayer;

/// The whole image, as the check sees it.
pub struct Whole<'a> {
    /// The image's platform: its ELF files must all be for it, and its loader's paths apply.
    pub arch: grocker_wheel::Arch,
    /// The runtime's packages, and the archive that says which package ships a library.
    pub os: PinnedDebian<'a>,
    pub archive: &'a DebianArchive,
    /// The venv; `None` for the runtime image alone.
    pub venv: Option<&'a VenvLayers<'a>>,
    /// The layer of a CPython grocker built, whose modules are checked too.
    pub python: Option<&'a Layer>,
    /// The packages of the builder that compiled it: they hold the very libraries it linked,
    /// so they say which package ships one when the mirror has no Contents index.
    pub python_builder: Option<PinnedDebian<'a>>,
    /// Each layer, with whether it holds an ELF file.
    pub layers: Vec<(&'a Layer, bool)>,
    /// The runtime filesystem and the venv, when this build already made them (for their
    /// layers).
    pub os_tree: Option<Tree>,
    pub venv_tree: Option<Tree>,
    /// The runtime's libraries that nothing in it links, which the image may take units of.
    pub unlinked: Option<&'a UnlinkedLayer>,
}

/// Checks the image: the units of the runtime's `unlinked` layer its ELF files need (by name),
/// or why it cannot run. The verdict depends only on the layers' ELF files — the loader model
/// skips any other file — so a passed check is remembered, with those units, by the digests of
/// the layers that have some, and a rebuild that changed nothing, or only pure-Python code (an
/// edited project's app layer), skips it.
pub async fn check(whole: Whole<'_>, ctx: &Context) -> Result<BTreeSet<String>> {
    let mut key = Hasher::new();
    key.update(format!("native-check v4 {}\n", whole.arch.oci_name()).as_bytes());
    if let Some(unlinked) = whole.unlinked {
        key.update(unlinked.layer.digest().to_string().as_bytes());
        key.update(b"\n");
    }
    for (layer, has_elf) in &whole.layers {
        match has_elf {
            true => key.update(layer.digest().to_string().as_bytes()),
            false => key.update(b"no ELF file"),
        }
        key.update(b"\n");
    }
    let key = key.finish().to_string();
    let cache = ctx.fetcher.cache();
    if let Some((passed, _)) = cache.get_keyed("native-check", &key) {
        // `ok`, then the units taken, a line each.
        return Ok(String::from_utf8_lossy(&passed)
            .lines()
            .skip(1)
            .map(str::to_string)
            .collect());
    }

    let _stage = ctx
        .report
        .stage("Checking the native libraries of the image");
    let mut tree = match whole.os_tree {
        Some(tree) => tree,
        None => whole.os.runtime_tree(ctx).await?,
    };
    let venv = match (whole.venv_tree, whole.venv) {
        (Some(tree), _) => tree,
        (None, Some(venv)) => venv.tree(ctx).await?,
        (None, None) => Tree::new(),
    };
    tree.merge(venv)?;
    // The venv's objects, and those of a CPython grocker built (its `ssl`, `sqlite3`…
    // modules link libraries no package of the runtime brought yet).
    let mut roots: Vec<String> = whole
        .venv
        .map(|v| v.venv.root.trim_start_matches('/').to_string())
        .into_iter()
        .collect();
    if let Some(layer) = whole.python {
        tree.merge(crate::layer_tree::read_back(&[layer]).await?)?;
        roots.push(whole.os.runtime.prefix());
    }
    let machine = match whole.arch {
        grocker_wheel::Arch::X86_64 => Machine::X86_64,
        grocker_wheel::Arch::Aarch64 => Machine::Aarch64,
    };
    let (tree, foreign, mut missing) = tokio::task::spawn_blocking(move || {
        let foreign = grocker_elf::foreign_objects(&tree, machine)?;
        let mut missing = Vec::new();
        for root in &roots {
            missing.extend(grocker_elf::missing_libraries_for(&tree, root, machine)?);
        }
        Ok::<_, anyhow::Error>((tree, foreign, missing))
    })
    .await??;
    if !foreign.is_empty() {
        bail!("{}", foreign_message(&foreign, whole.arch));
    }
    let units = match whole.unlinked {
        Some(unlinked) => take_units(unlinked, tree, &mut missing, machine).await?,
        None => BTreeSet::new(),
    };
    if missing.is_empty() {
        let passed: String = std::iter::once("ok")
            .chain(units.iter().map(String::as_str))
            .map(|line| format!("{line}\n"))
            .collect();
        cache.put_keyed("native-check", &key, passed.as_bytes())?;
        return Ok(units);
    }
    // The suggestions are a courtesy: a mirror without Contents files still gets the verdict.
    let providers = match whole.archive.library_providers(ctx).await {
        Ok(providers) => Some(providers),
        Err(e) => {
            tracing::warn!("cannot say which Debian packages ship the missing libraries: {e:#}");
            None
        }
    };
    let linked = match (&providers, whole.python_builder) {
        (None, Some(builder)) => library_owners(&builder, ctx).await?,
        _ => BTreeMap::new(),
    };
    let provided = |soname: &str| match &providers {
        Some(p) => p.packages_providing(soname),
        None => linked.get(soname).cloned().into_iter().collect(),
    };
    let site_packages = whole
        .venv
        .map_or_else(|| whole.os.runtime.stdlib(), |v| v.venv.site_packages());
    let message = grocker_elf::missing_message(&missing, &site_packages, provided);
    // Each library shipped by exactly one package of the suite: the build can add them. One
    // with several candidates (or none) is the user's call.
    let mut packages: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for one in &missing {
        match provided(&one.library).as_slice() {
            [package] => {
                let why =
                    grocker_elf::missing_message(std::slice::from_ref(one), &site_packages, |_| {
                        Vec::new()
                    });
                let why = why.split(", which").next().unwrap_or(&why).to_string();
                packages.entry(package.clone()).or_default().push(why);
            }
            _ => bail!("{message}"),
        }
    }
    Err(MissingPackages { packages, message }.into())
}

/// The units of `unlinked` that provide what `missing` lacks, and what their own libraries
/// need of it in turn; what they provide leaves `missing`.
async fn take_units(
    unlinked: &UnlinkedLayer,
    mut tree: Tree,
    missing: &mut Vec<grocker_elf::Missing>,
    machine: Machine,
) -> Result<BTreeSet<String>> {
    let mut taken = BTreeSet::new();
    let mut wanted = unlinked.providing(missing.iter().map(|m| m.library.as_str()));
    while !wanted.is_subset(&taken) {
        let new: BTreeSet<String> = wanted.difference(&taken).cloned().collect();
        let files = unlinked.files(&new).await?;
        let libraries: Vec<String> = files
            .iter()
            .filter(|(_, entry)| matches!(entry.kind, grocker_fs::Kind::File(_)))
            .map(|(path, _)| path.as_str().to_string())
            .collect();
        tree.merge(files)?;
        taken.extend(new);
        let further = tokio::task::block_in_place(|| {
            let mut further = Vec::new();
            for library in &libraries {
                further.extend(grocker_elf::missing_libraries_for(&tree, library, machine)?);
            }
            Ok::<_, grocker_elf::ElfError>(further)
        })?;
        wanted = unlinked.providing(further.iter().map(|m| m.library.as_str()));
    }
    let provided: BTreeSet<&str> = unlinked
        .units
        .iter()
        .filter(|u| taken.contains(&u.name))
        .flat_map(|u| u.sonames.iter().map(String::as_str))
        .collect();
    missing.retain(|m| !provided.contains(m.library.as_str()));
    Ok(taken)
}

/// Which package of `packages` ships each shared library (`libssl.so.3` → `libssl3`), by
/// their files under `usr/lib`.
async fn library_owners(
    packages: &PinnedDebian<'_>,
    ctx: &Context,
) -> Result<BTreeMap<String, String>> {
    let mut owners = BTreeMap::new();
    for package in packages.read(ctx).await? {
        for (path, _) in &package.files {
            let name = path.file_name();
            if path.as_str().starts_with("usr/lib/")
                && name.starts_with("lib")
                && name.contains(".so.")
            {
                owners
                    .entry(name.to_string())
                    .or_insert_with(|| package.name.clone());
            }
        }
    }
    Ok(owners)
}

/// The error for ELF files of another machine in an image.
fn foreign_message(foreign: &[(grocker_fs::RelPath, String)], arch: grocker_wheel::Arch) -> String {
    const SHOWN: usize = 10;
    let mut lines: Vec<String> = foreign
        .iter()
        .take(SHOWN)
        .map(|(path, machine)| format!("  /{path} is for {machine}"))
        .collect();
    if foreign.len() > SHOWN {
        lines.push(format!("  … and {} more", foreign.len() - SHOWN));
    }
    format!(
        "the {} image holds {} ELF file(s) for another machine, which would fail to run there \
         (a wheel or package of the wrong platform; no image was written):\n{}",
        arch.platform(),
        foreign.len(),
        lines.join("\n")
    )
}

/// The image lacks libraries that one Debian package each would bring.
#[derive(Debug)]
pub struct MissingPackages {
    /// Each package, with why (`numba/omppool.so needs libgomp.so.1`).
    pub packages: BTreeMap<String, Vec<String>>,
    /// The whole verdict, as the error says it.
    message: String,
}

impl std::fmt::Display for MissingPackages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MissingPackages {}
