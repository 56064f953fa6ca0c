//! The native-library check (DESIGN §1.4): every extension module and vendored library in the
//! venv must find the libraries it links (`DT_NEEDED`) in the finished image, or the build
//! fails saying which Debian package to add — instead of the container failing at import time.

use anyhow::{Result, bail};
use grocker_fetch::Fetcher;
use grocker_hash::Hasher;
use grocker_lock::Lock;
use grocker_oci::Layer;
use grocker_wheel::Venv;

use crate::compile::Compiler;
use crate::os::{self, OsRequest};
use crate::python::{LocalApp, Release};
use crate::report::Reporter;
use crate::venv_layers;

/// What the check needs to see the whole image.
pub struct Image<'a> {
    pub os: &'a OsRequest<'a>,
    pub lock: &'a Lock,
    pub release: &'a Release,
    pub venv: &'a Venv,
    pub compiler: Option<&'a Compiler<'a>>,
    pub local: Option<&'a LocalApp>,
}

/// Checks the image made of `layers` (each with whether it holds an ELF file). The verdict
/// depends only on the layers' ELF files — the loader model skips any other file — so a passed
/// check is remembered by the digests of the layers that have some, and a rebuild that changed
/// nothing, or only pure-Python code (an edited project's app layer), skips it.
/// `os_tree` and `venv_tree` are the runtime filesystem and the venv when this build already
/// made them (for their layers).
pub async fn check(
    image: &Image<'_>,
    layers: &[(&Layer, bool)],
    os_tree: Option<grocker_fs::Tree>,
    venv_tree: Option<grocker_fs::Tree>,
    fetcher: &Fetcher,
    report: &Reporter,
) -> Result<()> {
    let mut key = Hasher::new();
    key.update(b"native-check v2\n");
    for (layer, has_elf) in layers {
        match has_elf {
            true => key.update(layer.digest().to_string().as_bytes()),
            false => key.update(b"no ELF file"),
        }
        key.update(b"\n");
    }
    let key = key.finish().to_string();
    let cache = fetcher.cache();
    if cache.get_keyed("native-check", &key).is_some() {
        return Ok(());
    }

    let _stage = report.stage("Checking the native libraries of the venv");
    let mut tree = match os_tree {
        Some(tree) => tree,
        None => os::build_tree(image.os, image.lock, fetcher, report).await?,
    };
    let venv = match venv_tree {
        Some(tree) => tree,
        None => {
            venv_layers::tree(
                image.release,
                image.lock,
                image.venv,
                fetcher,
                image.compiler,
                image.local,
                report,
            )
            .await?
        }
    };
    tree.merge(venv)?;
    let root = image.venv.root.trim_start_matches('/').to_string();
    let missing =
        tokio::task::spawn_blocking(move || grocker_elf::missing_libraries(&tree, &root)).await??;
    if missing.is_empty() {
        cache.put_keyed("native-check", &key, b"ok")?;
        return Ok(());
    }
    // The suggestions are a courtesy: a mirror without Contents files still gets the verdict.
    let providers = match os::library_providers(image.os, fetcher).await {
        Ok(providers) => Some(providers),
        Err(e) => {
            tracing::warn!("cannot say which Debian packages ship the missing libraries: {e:#}");
            None
        }
    };
    bail!(
        "{}",
        grocker_elf::missing_message(&missing, &image.venv.site_packages(), |soname| {
            providers
                .as_ref()
                .map(|p| p.packages_providing(soname))
                .unwrap_or_default()
        })
    )
}
