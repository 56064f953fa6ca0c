//! Libraries of the runtime that nothing in it links (DESIGN §2: small images). Debian ships
//! libraries in packages: Python's closure brings `libm` with its vector twin `libmvec` (1 MB),
//! `libexpat` with the wide-character `libexpatw`, ncurses with its forms library; and the
//! runtime carries `libstdc++6` (2.3 MB) only because manylinux wheels may link it (PEP 600).
//! An image whose wheels link none of them need not carry them.
//!
//! So the runtime is laid out as three layers (`runtime_layers`): `os`, glibc's gconv modules
//! (`iconv`), and these libraries (`unlinked`), in [`Unit`]s. The native check (`native`) takes
//! the units an image's ELF files need — by the same loader model that judges the image — and
//! the image gets a layer of just those; the runtime image alone (`grocker root`) gets all.
//!
//! What is set apart, from the packages' own file lists:
//! - a library nothing in the runtime loads ([`grocker_elf::unlinked_libraries`]), of a package
//!   that ships a library something does load: a sibling of one in use. A package none of
//!   whose libraries is linked is there for something else — one asked for, used through
//!   `ctypes` (libmagic for python-magic) — and stays whole;
//! - the whole of a package in [`FOR_WHEELS`] none of whose libraries the runtime links, unless
//!   it was asked for by name: its status file with it, so that scanners see it only in images
//!   that have it;
//! - not what manylinux wheels may take from the platform ([`PLATFORM_LIBRARIES`]: glibc's
//!   compatibility stubs, which old wheels all link), and only units of [`MIN_UNIT`] bytes or
//!   more.
//!
//! A runtime whose Python grocker builds from source sets nothing apart: its interpreter is in
//! a layer of its own, which is what links the packages' libraries.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context as _, Result};
use grocker_elf::Machine;
use grocker_fs::{Kind, RelPath, Tree};
use grocker_oci::Layer;
use grocker_runtime::InstalledPackage;
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::layers::{LayerCache, LayerKey, LayerKind, Notes};

/// Packages the runtime carries for wheels rather than for itself: the C++ runtime manylinux
/// wheels may take from the platform.
pub const FOR_WHEELS: &[&str] = &["libstdc++6"];

/// Smaller units stay in `os`: a layer of its own costs an image more than they weigh.
const MIN_UNIT: u64 = 64 * 1024;

/// What manylinux wheels may link without bundling it (PEP 600; auditwheel's policies), and
/// so stays in `os` whether or not the runtime links it — but for the C++ runtime
/// ([`FOR_WHEELS`]), which is large and which only some wheels link. Old wheels all link
/// glibc's compatibility stubs (`libpthread.so.0`, `libdl.so.2`), which on arm64 take a
/// 64 KiB page each.
const PLATFORM_LIBRARIES: &[&str] = &[
    "libc.so.6",
    "libcrypt.so.1",
    "libdl.so.2",
    "libgcc_s.so.1",
    "libm.so.6",
    "libnsl.so.1",
    "libpthread.so.0",
    "libresolv.so.2",
    "librt.so.1",
    "libutil.so.1",
    "libz.so.1",
];

/// Libraries glibc loads by name, with no `DT_NEEDED` naming them: the NSS modules
/// `/etc/nsswitch.conf` names, and `libgcc_s` for unwinding (`pthread_cancel`, `backtrace`).
fn dlopened(name: &str) -> bool {
    name.starts_with("libnss_") || name.starts_with("libgcc_s.so")
}

/// What an image takes or leaves as one: a package (for [`FOR_WHEELS`]) or one library with
/// the links to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// The package, or the library's file name.
    pub name: String,
    /// The names the loader finds it by: its libraries' file names and their links'.
    pub sonames: Vec<String>,
    /// Its files and links, relative to the root.
    pub paths: Vec<String>,
}

/// Which package ships each file of `packages`, before they are laid out.
pub fn owners(packages: &[InstalledPackage]) -> HashMap<RelPath, String> {
    let mut owners = HashMap::new();
    for package in packages {
        for (path, entry) in &package.files {
            if entry.kind != Kind::Dir {
                owners
                    .entry(path.clone())
                    .or_insert_with(|| package.name.clone());
            }
        }
    }
    owners
}

/// Takes the runtime's unlinked units out of `tree` (the runtime filesystem, its files shipped
/// by the packages of `owners`): the units, and their files as a tree of their own.
pub fn split(
    tree: &mut Tree,
    owners: &HashMap<RelPath, String>,
    machine: Machine,
    kept_whole: &[String],
) -> Result<(Vec<Unit>, Tree)> {
    let unlinked: BTreeSet<RelPath> = grocker_elf::unlinked_libraries(tree, machine, dlopened)?
        .into_iter()
        .collect();
    let dir = machine.lib_dir();
    // Every library of the directory, by package: linked or not.
    let mut libraries: BTreeMap<&str, Vec<&RelPath>> = BTreeMap::new();
    for (path, entry) in tree.iter() {
        if let Kind::File(_) = entry.kind
            && path.parent().is_some_and(|p| p.as_str() == dir)
            && is_library(path.file_name())
            && let Some(owner) = owners.get(path)
        {
            libraries.entry(owner).or_default().push(path);
        }
    }
    let links = links_in(tree, dir);
    let mut units = Vec::new();
    for (package, libs) in &libraries {
        let (apart, linked): (Vec<&RelPath>, Vec<&RelPath>) =
            libs.iter().partition(|lib| unlinked.contains(**lib));
        if apart.is_empty() {
            continue;
        }
        let whole = FOR_WHEELS.contains(package) && !kept_whole.iter().any(|k| k == package);
        if linked.is_empty() && whole {
            let paths = owners
                .iter()
                .filter(|(path, owner)| owner == package && tree.get(path).is_some())
                .map(|(path, _)| path.clone());
            units.push(unit(package, &apart, paths.collect(), &links));
        } else if !linked.is_empty() {
            for lib in apart {
                units.push(unit(lib.file_name(), &[lib], vec![lib.clone()], &links));
            }
        }
    }
    units.retain(|u| {
        let platform = u
            .sonames
            .iter()
            .any(|s| PLATFORM_LIBRARIES.contains(&s.as_str()));
        if platform && !FOR_WHEELS.contains(&u.name.as_str()) {
            return false;
        }
        let size: u64 = u
            .paths
            .iter()
            .filter_map(|p| tree.get(&RelPath::new(p).ok()?))
            .map(grocker_fs::Entry::size)
            .sum();
        size >= MIN_UNIT
    });
    units.sort_by(|a, b| a.name.cmp(&b.name));
    let moved: BTreeSet<&str> = units
        .iter()
        .flat_map(|u| u.paths.iter().map(String::as_str))
        .collect();
    let apart = tree.split_off(|path, _| moved.contains(path.as_str()));
    Ok((units, apart))
}

/// A unit of `libs`, holding `paths` and the links in the directory to its libraries.
fn unit(
    name: &str,
    libs: &[&RelPath],
    mut paths: Vec<RelPath>,
    links: &BTreeMap<RelPath, Vec<RelPath>>,
) -> Unit {
    let mut sonames = BTreeSet::new();
    for lib in libs {
        sonames.insert(lib.file_name().to_string());
        for link in links.get(*lib).into_iter().flatten() {
            sonames.insert(link.file_name().to_string());
            paths.push(link.clone());
        }
    }
    let mut paths: Vec<String> = paths.iter().map(|p| p.as_str().to_string()).collect();
    paths.sort();
    paths.dedup();
    Unit {
        name: name.to_string(),
        sonames: sonames.into_iter().collect(),
        paths,
    }
}

/// The symlinks directly in `dir`, by the file they name there.
fn links_in(tree: &Tree, dir: &str) -> BTreeMap<RelPath, Vec<RelPath>> {
    let mut links: BTreeMap<RelPath, Vec<RelPath>> = BTreeMap::new();
    for (path, entry) in tree.iter() {
        let Kind::Symlink(target) = &entry.kind else {
            continue;
        };
        if path.parent().is_none_or(|p| p.as_str() != dir) {
            continue;
        }
        let named = match target.strip_prefix('/') {
            Some(absolute) => RelPath::new(absolute),
            None => RelPath::new(&format!("{dir}/{target}")),
        };
        if let Ok(named) = named {
            links.entry(named).or_default().push(path.clone());
        }
    }
    links
}

/// `libfoo.so.1`, `libfoo-2.3.so`: a shared library by its name.
fn is_library(name: &str) -> bool {
    name.starts_with("lib") && (name.contains(".so.") || name.ends_with(".so"))
}

/// The runtime's `unlinked` layer, with its units (in its notes).
#[derive(Clone)]
pub struct UnlinkedLayer {
    /// Every unit: the runtime image's layer.
    pub layer: Layer,
    pub units: Vec<Unit>,
    /// Its files, when this build set them apart (else read back from `layer` when needed).
    pub tree: Option<Tree>,
}

impl UnlinkedLayer {
    /// The units that provide one of `sonames`, by name.
    pub fn providing<'s>(&self, sonames: impl IntoIterator<Item = &'s str>) -> BTreeSet<String> {
        let wanted: BTreeSet<&str> = sonames.into_iter().collect();
        self.units
            .iter()
            .filter(|u| u.sonames.iter().any(|s| wanted.contains(s.as_str())))
            .map(|u| u.name.clone())
            .collect()
    }

    /// The packages an image with the units `names` does not carry: those set apart whole
    /// and not among them.
    pub fn packages_left_out(&self, names: &BTreeSet<String>) -> Vec<String> {
        self.units
            .iter()
            .filter(|u| FOR_WHEELS.contains(&u.name.as_str()) && !names.contains(&u.name))
            .map(|u| u.name.clone())
            .collect()
    }

    /// The files of the units `names`.
    pub async fn files(&self, names: &BTreeSet<String>) -> Result<Tree> {
        let wanted: BTreeSet<&str> = self
            .units
            .iter()
            .filter(|u| names.contains(&u.name))
            .flat_map(|u| u.paths.iter().map(String::as_str))
            .collect();
        let Some(all) = &self.tree else {
            let mut all = crate::layer_tree::read_back(&[&self.layer]).await?;
            return Ok(all.split_off(|path, _| wanted.contains(path.as_str())));
        };
        let mut picked = Tree::new();
        for (path, entry) in all.iter() {
            if wanted.contains(path.as_str()) {
                picked.insert(path.clone(), entry.clone())?;
            }
        }
        Ok(picked)
    }

    /// The layer of an image that needs the units `names`: this one when that is all of them,
    /// else one of just those, through the layer cache.
    pub async fn layer_of(&self, names: &BTreeSet<String>, ctx: &Context) -> Result<Layer> {
        if names.len() == self.units.len() {
            return Ok(self.layer.clone());
        }
        let mut key = LayerKey::new(&LayerKind::Unlinked, ctx.epoch, ctx.layer_compression);
        key.add(&format!("of {}", self.layer.diff_id));
        for name in names {
            key.add(name);
        }
        let created_by = format!(
            "grocker: unlinked layer, {}",
            names.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        let cache = LayerCache::new(ctx);
        if let Some((layer, _)) = cache.lookup(&key, &created_by).await {
            return Ok(layer);
        }
        let tree = self.files(names).await?;
        tokio::task::spawn_blocking(move || {
            cache.build(&key, &created_by, &tree, &Notes::default(), None)
        })
        .await
        .context("the layer writer stopped unexpectedly")?
    }
}
