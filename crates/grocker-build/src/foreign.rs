//! The compiler stage for a platform this machine is not (DESIGN §1.4, issue #15): what is pure
//! Python is built once, by the host's tools, and used for every platform; what has native code
//! is compiled for the foreign platform only by an engine that runs it — asked, not assumed —
//! and otherwise stops the build with one error saying the ways out. Never a silent fallback to
//! the host's architecture.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use grocker_builder::{Engine, RunSpec};
use grocker_lock::DebianPackage;
use grocker_oci::{Compression, DockerEngineSink, Image, ImageConfig, Layer, Sink};
use grocker_wheel::{Arch, Target};

use crate::compile::{Compiler, CompilerInputs};
use crate::context::Context;
use crate::debian::{DebianArchive, PinnedDebian};

/// Where a platform's compiler gets what must run on this machine: the pure-Python builds and,
/// for bytecode, the interpreter.
pub enum HostTools {
    /// The platform is this machine's: its compiler is the host's.
    Native,
    /// The host platform's compiler, planned in the same build.
    Given(Arc<Compiler>),
    /// The host's platform is not one of the image's: its compiler (the runtime resolved for
    /// this machine's architecture) is made on first need.
    Lazy,
}

/// What makes a host compiler when no platform of the build is the host's.
pub struct LazyHost {
    pub runtime: grocker_runtime::Runtime,
    pub sources: crate::inputs::DebianSources,
    pub build_packages: Vec<String>,
    pub indexes: grocker_pypi::IndexUrls,
    pub allowed: bool,
}

impl LazyHost {
    /// The host's compiler: its runtime resolved for this machine's architecture. Its packages
    /// are tools, not the image's, so they are not in the lock; what they make is checked
    /// instead (pure wheels; bytecode from the same Debian version of Python).
    pub async fn make(&self, ctx: &Context) -> Result<Arc<Compiler>> {
        let arch = Arch::host().ok_or_else(|| {
            anyhow!(
                "this machine's architecture ({}) is not one grocker builds for, so it cannot \
                 build pure-Python wheels or bytecode for other platforms",
                std::env::consts::ARCH
            )
        })?;
        let archive = Arc::new(DebianArchive::new(self.runtime, arch, self.sources.clone()));
        let runtime = archive
            .resolve(&[], "this machine's runtime (for its tools)", ctx)
            .await?;
        let target = crate::python::target(self.runtime, arch, &runtime, None)?;
        Ok(Arc::new(Compiler::new(
            CompilerInputs {
                archive,
                build_packages: &self.build_packages,
                indexes: &self.indexes,
                target,
                allowed: self.allowed,
                locked: Vec::new(),
                runtime,
                host: HostTools::Native,
                interpreter: None,
            },
            ctx,
        )))
    }
}

/// Whether a wheel's file name says it runs anywhere (`*-none-any.whl`): such a wheel built
/// on the host is the wheel of every platform.
pub fn is_pure_wheel(filename: &str) -> bool {
    filename.ends_with("-none-any.whl")
}

/// The error for a package with native code whose foreign platform the engine cannot run.
pub fn cannot_compile(
    label: &str,
    host_wheel: Option<&str>,
    target: &Target,
    engine: &str,
) -> anyhow::Error {
    let platform = target.arch.platform();
    let native = match host_wheel {
        Some(wheel) => format!(" (built for this machine it gives {wheel})"),
        None => String::new(),
    };
    anyhow!(
        "{label} has native code{native}, so its {platform} wheel must be compiled on \
         {platform}, and the engine at {engine} cannot run {platform} containers. Ways out: use \
         a wheel for {platform} (a version of the package that publishes a manylinux_*_{arch} \
         wheel, pinned), build for a subset of platforms (--platform without {platform}), or use \
         an engine that runs {platform} (an {arch} machine through DOCKER_HOST, or binfmt_misc \
         with qemu-user-static on this one)",
        arch = target.arch.as_str(),
    )
}

/// Where a platform's glibc puts its dynamic loader — an executable of that platform in one
/// file, which `--version` runs with nothing else — in the order of Debian's releases (before
/// and after the loader moved under `/usr`).
fn loader_paths(arch: Arch) -> &'static [&'static str] {
    match arch {
        Arch::X86_64 => &[
            "lib64/ld-linux-x86-64.so.2",
            "usr/lib64/ld-linux-x86-64.so.2",
            "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        ],
        Arch::Aarch64 => &[
            "lib/ld-linux-aarch64.so.1",
            "usr/lib/ld-linux-aarch64.so.1",
            "usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
        ],
    }
}

/// The loader's path in `tree` (a platform's `libc6`), from the root.
fn find_loader(tree: &grocker_fs::Tree, arch: Arch) -> Result<String> {
    loader_paths(arch)
        .iter()
        .find(|p| {
            grocker_fs::RelPath::new(p).is_ok_and(|path| {
                tree.get(&path)
                    .is_some_and(|e| matches!(e.kind, grocker_fs::Kind::File(_)))
            })
        })
        .map(|p| format!("/{p}"))
        .ok_or_else(|| {
            anyhow!(
                "libc6 for {} has no dynamic loader where glibc puts it",
                arch.platform()
            )
        })
}

/// Asks the engine whether it runs containers of `target`'s platform: it runs the platform's
/// dynamic loader (from its `libc6`, in `runtime`) in a container of an image holding that
/// package alone. An engine on a machine of that architecture, or with binfmt_misc emulation,
/// succeeds; any other fails to exec it.
pub async fn engine_runs(
    engine: &Engine,
    archive: &DebianArchive,
    runtime: &[DebianPackage],
    target: &Target,
    ctx: &Context,
) -> Result<bool> {
    if Arch::host() == Some(target.arch) {
        return Ok(true);
    }
    let libc = runtime
        .iter()
        .find(|p| p.name == "libc6")
        .ok_or_else(|| anyhow!("the runtime has no libc6 package"))?;
    let tag = format!(
        "grocker-probe:{}-{}",
        target.arch.oci_name(),
        &libc.sha256.to_string()[..16]
    );
    let pinned = PinnedDebian {
        runtime: archive.runtime(),
        sources: archive.sources(),
        packages: std::slice::from_ref(libc),
        requested: &[],
    };
    let tree = pinned.files(ctx).await?;
    let loader = find_loader(&tree, target.arch)?;
    if !engine.has_image(&tag)? {
        let config = ImageConfig {
            architecture: target.arch.oci_name().into(),
            variant: target.arch.oci_variant().map(str::to_string),
            // An intermediate image, like the builder: `grocker purge` removes it with them.
            labels: crate::purge::builder_labels(),
            ..ImageConfig::default()
        };
        let name = tag.parse()?;
        let epoch = ctx.epoch.seconds();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let scratch = tempfile::Builder::new()
                .prefix("grocker-probe-")
                .tempdir()?;
            let layer = Layer::build(scratch.path(), Compression::None, "grocker: probe", |w| {
                tree.write_tar(w, epoch).map(drop)
            })?;
            let image = Image::new(&config, vec![layer], BTreeMap::new())?;
            let mut sink: Box<dyn Sink> = Box::new(DockerEngineSink::from_env()?);
            sink.publish(&image, &name)?;
            sink.finish()?;
            Ok(())
        })
        .await
        .context("the probe image writer stopped unexpectedly")??;
    }
    let spec = RunSpec {
        image: tag,
        cmd: vec![loader, "--version".to_string()],
        timeout: Some(Duration::from_secs(60)),
        what: format!("check that the engine runs {}", target.arch.platform()),
        ..RunSpec::default()
    };
    let engine = engine.clone();
    let outcome = tokio::task::spawn_blocking(move || engine.run(&spec, &mut |_| {}))
        .await
        .context("the engine probe stopped unexpectedly")?;
    Ok(match outcome {
        Ok(outcome) if outcome.exit_code == 0 => true,
        Ok(outcome) => {
            tracing::info!(
                "the engine cannot run {}: {}",
                target.arch.platform(),
                outcome.log.trim()
            );
            false
        }
        Err(e) => {
            tracing::info!("the engine cannot run {}: {e}", target.arch.platform());
            false
        }
    })
}

/// Checks that this machine's runtime has the same Debian version of `pythonX.Y` as the
/// image's: then its interpreter compiles the image's `.py` files to the same `.pyc` bytes
/// (PEP 552 unchecked-hash files depend on the source and the compiler only), and a layer of
/// them is the same on every platform.
pub fn same_python(image: &PinnedDebian<'_>, host: &PinnedDebian<'_>) -> Result<()> {
    let package = format!("python{}", image.runtime.python());
    let version = |debian: &PinnedDebian<'_>| {
        debian
            .packages
            .iter()
            .find(|p| p.name == package)
            .map(|p| p.version.clone())
    };
    match (version(image), version(host)) {
        (Some(a), Some(b)) if a == b => Ok(()),
        (a, b) => Err(anyhow!(
            "--compile-bytecode for another platform compiles with this machine's {package}, \
             which must be the image's version for the same bytes: the image has {}, this \
             machine's runtime {}; run with --upgrade so both come from today's archive, or \
             build without --compile-bytecode",
            a.as_deref().unwrap_or("none"),
            b.as_deref().unwrap_or("none")
        )),
    }
}
