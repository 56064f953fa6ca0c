//! The Python stage, installation: the locked wheels fetched verified and installed into the
//! venv, cut into layers (`deps`, very large wheels alone, `app`), each cached by its inputs.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use grocker_fetch::Fetcher;
use grocker_fs::Tree;
use grocker_lock::{Lock, PythonPackage};
use grocker_oci::{Compression, Layer};
use grocker_wheel::{InstallOptions, Venv, install_wheel};
use serde_json::{Value, json};
use tokio::runtime::Handle;

use crate::bytecode::Interpreter;
use crate::compile::{self, Compiler};
use crate::layers::{LayerCache, LayerKey};
use crate::python::{LocalApp, Release};
use crate::report::Reporter;

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
    /// runtime's `iconv` layer, see `os::OsLayers`).
    pub calls_iconv: bool,
    /// The whole venv when every layer had to be installed (all layer-cache misses), so that
    /// checks over the image need not install the wheels again.
    pub tree: Option<Tree>,
    /// Console scripts of the app's own wheel.
    pub app_scripts: Vec<String>,
    /// Every console script in the venv.
    pub all_scripts: Vec<String>,
}

// Each argument is a separate input of the layers (what, from where, built how, stamped when).
#[allow(clippy::too_many_arguments)]
pub async fn layers(
    release: &Release,
    lock: &Lock,
    venv: &Venv,
    fetcher: &Fetcher,
    compiler: Option<&Compiler<'_>>,
    local: Option<&LocalApp>,
    epoch: u64,
    bytecode: Option<&Interpreter>,
    report: &Reporter,
) -> Result<PythonLayers> {
    // Wheels compiled from sdists depend on the builder too.
    let builder_key = {
        let mut h = grocker_hash::Hasher::new();
        for p in &lock.builder {
            h.update(format!("{} {}\n", p.name, p.sha256).as_bytes());
        }
        h.finish()
    };
    let app_name = release.name.to_string();
    let groups = groups(release, lock, local)?;

    let cache = LayerCache::new(fetcher.cache());
    let mut layers = Vec::new();
    let mut elf = Vec::new();
    let mut calls_iconv = false;
    let mut venv_tree = Some(Tree::new());
    let mut app_scripts = Vec::new();
    let mut all_scripts = Vec::new();
    for (i, (kind, packages)) in groups.into_iter().enumerate() {
        // The first (deps) layer also carries the venv itself.
        let with_skeleton = i == 0;
        let mut key = LayerKey::new(&kind, epoch, Compression::Gzip);
        key.add(&format!(
            "venv {} {} {} skeleton={with_skeleton}",
            venv.root, venv.interpreter, venv.python_full
        ));
        if bytecode.is_some() {
            key.add("bytecode: unchecked-hash pyc by the runtime's interpreter");
        }
        for p in &packages {
            key.add(&format!("{} {}", p.filename, p.sha256));
            if compile::is_sdist(&p.filename) {
                key.add(&format!("built by {builder_key}"));
            }
        }
        // A local app is installed from its file, in the app layer.
        let local_wheel = local.filter(|_| kind == "app");
        if let Some(app) = local_wheel {
            key.add(&format!("{} {}", app.filename, app.sha256));
        }
        let mut names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        if local_wheel.is_some() {
            names.push(&app_name);
        }
        let created_by = format!("grocker: {kind} layer ({})", names.join(" "));
        let (layer, notes) = match cache.lookup(&key, Compression::Gzip, &created_by) {
            Some(hit) => {
                venv_tree = None;
                hit
            }
            None => {
                let (mut tree, scripts) = install(
                    &packages,
                    local_wheel,
                    venv,
                    with_skeleton,
                    fetcher,
                    compiler,
                    report,
                )
                .await?;
                let files = || {
                    tree.iter().filter_map(|(_, e)| match &e.kind {
                        grocker_fs::Kind::File(data) => Some(data),
                        _ => None,
                    })
                };
                let has_elf = files().any(|data| data.starts_with(b"\x7fELF"));
                let iconv = files().any(|data| grocker_elf::calls_iconv(data));
                let notes = json!({ "scripts": scripts, "elf": has_elf, "iconv": iconv });
                if let Some(interpreter) = bytecode {
                    let _stage = report.stage(format!("Compiling the {kind} layer's bytecode"));
                    let site = venv.site_packages();
                    let site = site.trim_start_matches('/');
                    tokio::task::block_in_place(|| interpreter.compile(&mut tree, site))?;
                }
                let _stage = report.stage(format!("Writing the {kind} layer"));
                let cache = LayerCache::new(fetcher.cache());
                let (key, created_by, n) = (key.clone(), created_by.clone(), notes.clone());
                let (layer, tree) = tokio::task::spawn_blocking(move || {
                    cache
                        .build(&key, Compression::Gzip, &created_by, &tree, epoch, n)
                        .map(|layer| (layer, tree))
                })
                .await
                .context("the layer writer stopped unexpectedly")??;
                if let Some(all) = &mut venv_tree {
                    all.merge(tree)?;
                }
                (layer, notes)
            }
        };
        let scripts = scripts_of(&notes);
        if kind == "app" {
            app_scripts = scripts.clone();
        }
        all_scripts.extend(scripts);
        // Layers recorded before grocker noted these count as having ELF files calling iconv.
        elf.push(notes["elf"].as_bool().unwrap_or(true));
        calls_iconv |= notes["iconv"].as_bool().unwrap_or(true);
        layers.push(layer);
    }
    all_scripts.sort();
    all_scripts.dedup();
    Ok(PythonLayers {
        layers,
        elf,
        calls_iconv,
        tree: venv_tree,
        app_scripts,
        all_scripts,
    })
}

/// How the venv is split into layers: `deps` (with the venv itself), one layer per very large
/// wheel, then `app`.
fn groups<'l>(
    release: &Release,
    lock: &'l Lock,
    local: Option<&LocalApp>,
) -> Result<Vec<(String, Vec<&'l PythonPackage>)>> {
    let app_name = release.name.to_string();
    let mut groups: Vec<(String, Vec<&PythonPackage>)> = Vec::new();
    let mut deps = Vec::new();
    for p in &lock.python {
        if p.name == app_name {
            continue;
        }
        if p.size.unwrap_or(0) >= OWN_LAYER_BYTES {
            groups.push((format!("deps: {}", p.name), vec![p]));
        } else {
            deps.push(p);
        }
    }
    groups.insert(0, ("deps".to_string(), deps));
    let app: Vec<&PythonPackage> = lock.python.iter().filter(|p| p.name == app_name).collect();
    if app.is_empty() && local.is_none() {
        bail!("grocker.lock has no entry for {app_name}: run with --upgrade");
    }
    groups.push(("app".to_string(), app));
    Ok(groups)
}

/// The whole venv as one tree (for checks over the finished image), installed again from the
/// cached wheels.
pub async fn tree(
    release: &Release,
    lock: &Lock,
    venv: &Venv,
    fetcher: &Fetcher,
    compiler: Option<&Compiler<'_>>,
    local: Option<&LocalApp>,
    report: &Reporter,
) -> Result<Tree> {
    let mut all = Tree::new();
    for (i, (kind, packages)) in groups(release, lock, local)?.into_iter().enumerate() {
        let local_wheel = local.filter(|_| kind == "app");
        let (tree, _) = install(
            &packages,
            local_wheel,
            venv,
            i == 0,
            fetcher,
            compiler,
            report,
        )
        .await?;
        all.merge(tree)?;
    }
    Ok(all)
}

fn scripts_of(notes: &Value) -> Vec<String> {
    notes["scripts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Downloads (verified, cached) and installs `packages` into a fresh tree.
async fn install(
    packages: &[&PythonPackage],
    local: Option<&LocalApp>,
    venv: &Venv,
    with_skeleton: bool,
    fetcher: &Fetcher,
    compiler: Option<&Compiler<'_>>,
    report: &Reporter,
) -> Result<(Tree, Vec<String>)> {
    let downloads = packages
        .iter()
        .map(|p| crate::python::download(p))
        .collect::<Result<Vec<_>>>()?;
    let paths = {
        let _stage = report.stage(format!("Fetching {} wheels", downloads.len()));
        fetcher.get_all_verified(downloads).await?
    };
    // Sdists become the wheels the compiler built for them (from its cache, normally: they were
    // built during resolution).
    let mut wheels: Vec<(String, PathBuf)> = Vec::new();
    for (p, path) in packages.iter().zip(paths) {
        if compile::is_sdist(&p.filename) {
            let compiler = compiler.ok_or_else(|| {
                anyhow!(
                    "{} must be compiled, and no compiler is available",
                    p.filename
                )
            })?;
            let handle = Handle::current();
            wheels.push(tokio::task::block_in_place(|| {
                compiler.wheel_for(&handle, &p.filename, &p.sha256, &path)
            })?);
        } else {
            wheels.push((p.filename.clone(), path));
        }
    }
    if let Some(app) = local {
        wheels.push((app.filename.clone(), app.wheel.clone()));
    }
    let venv = venv.clone();
    tokio::task::spawn_blocking(move || -> Result<(Tree, Vec<String>)> {
        let mut tree = Tree::new();
        if with_skeleton {
            for (path, entry) in venv.skeleton() {
                tree.insert(path, entry)?;
            }
        }
        let mut scripts = Vec::new();
        for (file, path) in &wheels {
            let reader = std::io::BufReader::new(fs_err::File::open(path)?);
            let installed =
                install_wheel(reader, file, &venv, &mut tree, &InstallOptions::default())?;
            scripts.extend(installed.console_scripts);
            scripts.extend(installed.gui_scripts);
        }
        Ok((tree, scripts))
    })
    .await
    .context("the wheel installer stopped unexpectedly")?
}
