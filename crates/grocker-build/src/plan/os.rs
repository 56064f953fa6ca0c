//! The Debian side of a plan: the runtime's packages (with those grocker added for missing
//! libraries), the request a lock records for them, and the CPython source of a runtime whose
//! interpreter grocker builds.

use std::sync::Arc;

use anyhow::{Result, bail};
use grocker_lock::{DebianPackage, Lock, Request};
use grocker_wheel::Arch;

use crate::compile::{Compiler, CompilerInputs, HostTools};
use crate::context::Context;
use crate::debian::DebianArchive;
use crate::inputs::Inputs;
use crate::python;

/// The runtime's and the builder's Debian packages, with the packages added for missing
/// libraries.
///
/// The Debian side comes first: a local app is known (name, version, requirements) only from
/// its wheel, and a project's wheel comes out of the builder, which needs the runtime. A lock
/// made for the same runtime and packages pins it, whatever the Python side asks. Packages
/// added for missing libraries stay added, even on --upgrade: the image needs them.
///
/// `--upgrade-os` resolves the runtime's packages again but keeps the builder's: they are not
/// in the image, and wheels compiled from sdists are cached by the builder they came from, so
/// keeping it keeps those wheels — and the `deps` layer — byte for byte.
pub(super) async fn runtime_packages(
    inputs: &Inputs,
    existing: Option<&Lock>,
    os_request: &Request,
    archive: &DebianArchive,
    ctx: &Context,
) -> Result<(Vec<String>, Vec<DebianPackage>, Vec<DebianPackage>)> {
    let added = added_packages(inputs, existing, os_request);
    let has_added = |l: &&Lock| pins_added(l, &added);
    let same_os = existing.filter(|l| {
        !inputs.lock.upgrade && same_os_request(&l.request, os_request) && has_added(l)
    });
    let (debian, builder) = match same_os {
        Some(l) if !inputs.lock.upgrade_os => (l.debian.clone(), l.builder.clone()),
        same_os => {
            let builder = same_os.map(|l| l.builder.clone()).unwrap_or_default();
            let mut packages = inputs.packages.clone();
            packages.extend(added.iter().cloned());
            packages.sort();
            packages.dedup();
            let resolved = archive.resolve(&packages, "Debian packages", ctx).await?;
            (resolved, builder)
        }
    };
    Ok((added, debian, builder))
}

/// The Debian side of the request for `arch`, as the lock records it.
pub(super) fn os_request(inputs: &Inputs, arch: Arch) -> Request {
    let mut repositories: Vec<String> = inputs
        .debian
        .repositories
        .iter()
        .map(|r| r.describe())
        .collect();
    repositories.sort();
    Request {
        runtime: inputs.runtime.to_string(),
        architecture: arch.oci_name().to_string(),
        packages: inputs.packages.clone(),
        application: None,
        constraints: vec![],
        indexes: vec![],
        // `grocker root` records none: its repositories come from no configuration file.
        repositories: match inputs.python {
            Some(_) => repositories,
            None => vec![],
        },
        requires: vec![],
        project_lock: None,
        selection: vec![],
        architectures: vec![],
        interpreter: crate::cpython::request(inputs.runtime, &inputs.python_source),
    }
}

/// Whether `lock` pins every package in `added` (those grocker added for missing libraries).
pub(super) fn pins_added(lock: &Lock, added: &[String]) -> bool {
    added
        .iter()
        .all(|a| lock.debian.iter().any(|p| &p.name == a))
}

/// The Debian packages grocker added for missing libraries: this build's, and those of a lock
/// made for the same runtime and packages.
pub(super) fn added_packages(
    inputs: &Inputs,
    existing: Option<&Lock>,
    os_request: &Request,
) -> Vec<String> {
    let mut added = inputs.added_packages.clone();
    if let Some(lock) = existing.filter(|l| same_os_request(&l.request, os_request)) {
        added.extend(lock.added_packages.iter().cloned());
    }
    added.retain(|p| !inputs.packages.contains(p));
    added.sort();
    added.dedup();
    added
}

pub(super) fn same_os_request(locked: &Request, wanted: &Request) -> bool {
    locked.runtime == wanted.runtime
        && locked.architecture == wanted.architecture
        && locked.packages == wanted.packages
        && locked.repositories == wanted.repositories
        && locked.interpreter == wanted.interpreter
}

/// The CPython source of a runtime whose interpreter grocker builds: the lock's, when made for
/// the same runtime and request (and not `--upgrade`), else pinned now; `None` for Debian's.
pub(super) async fn interpreter_pin(
    inputs: &Inputs,
    existing: Option<&Lock>,
    os_request: &Request,
    ctx: &Context,
) -> Result<Option<grocker_lock::Interpreter>> {
    if !inputs.runtime.from_source() {
        return Ok(None);
    }
    let locked = existing
        .filter(|l| !inputs.lock.upgrade && same_os_request(&l.request, os_request))
        .and_then(|l| l.interpreter.clone());
    if let Some(interpreter) = locked {
        crate::cpython::check_pinned(inputs.runtime, &interpreter)?;
        return Ok(Some(interpreter));
    }
    if inputs.lock.locked {
        bail!(
            "--locked: {} pins no CPython source for runtime {}; run without --locked to update it",
            inputs.lock.path.display(),
            inputs.runtime
        );
    }
    let mut pinned =
        crate::cpython::pin(inputs.runtime, &inputs.python_source, &inputs.debian, ctx).await?;
    pinned.flags = crate::cpython::flags(&inputs.python_source);
    Ok(Some(pinned))
}

/// For the runtime image alone, the builder of the CPython grocker builds (built now, so the
/// lock pins its packages); `None` when the interpreter is Debian's.
pub(super) async fn root_python_builder(
    inputs: &Inputs,
    archive: &Arc<DebianArchive>,
    pins: &Lock,
    tools: HostTools,
    ctx: &Context,
) -> Result<Option<Arc<Compiler>>> {
    if !inputs.runtime.from_source() {
        return Ok(None);
    }
    let target = python::target(
        inputs.runtime,
        archive.arch(),
        &pins.debian,
        pins.interpreter.as_ref(),
    )?;
    let indexes = grocker_pypi::IndexUrls::new(url::Url::parse("https://pypi.org/simple")?);
    let compiler = Arc::new(Compiler::new(
        CompilerInputs {
            archive: Arc::clone(archive),
            build_packages: &[],
            indexes: &indexes,
            target,
            allowed: true,
            locked: pins.builder.clone(),
            runtime: pins.debian.clone(),
            host: tools,
            interpreter: pins.interpreter.clone(),
        },
        ctx,
    ));
    compiler.python_layer().await?;
    Ok(Some(compiler))
}
