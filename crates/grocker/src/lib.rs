//! The grocker command line: parse → settings → command. The pipeline is `grocker-build`;
//! everything else lives in the other `grocker-*` library crates (see crates/README.md).

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use grocker_build::{Context, Plan, Reporter, Verbosity};

mod cli;
mod commands;
mod settings;

use cli::{Cli, Command};

/// Runs grocker with the process's arguments; errors are printed as one line (with their causes).
pub fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let verbosity = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => Verbosity::Quiet,
        (false, 0) => Verbosity::Normal,
        _ => Verbosity::Verbose,
    };
    grocker_build::init_logging(cli.global.verbose);
    let report = Reporter::new(verbosity);
    match run(cli.command, &report) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc's malloc gives threads arenas of their own, up to eight per core, and memory freed in
/// one arena serves no other: a build's phases run on different threads (resolution on tokio's
/// workers, `.deb` readers, the layer writer's compressors), so what one freed stayed resident
/// while the next allocated anew — tensorflow-cpu's build peaked at 459 MB with them, 284 MB
/// with two (bench/RESULTS.md). Two arenas keep the compressors' threads from contending on
/// one lock. A `MALLOC_ARENA_MAX` in the environment, which glibc reads itself, is left alone.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a tuning parameter of the allocator, and runs before any
        // other thread exists; glibc documents M_ARENA_MAX as settable at any time.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

fn run(command: Command, report: &Reporter) -> Result<()> {
    match command {
        Command::Root(args) => {
            let settings = settings::RootSettings::resolve(*args)?;
            commands::root::root(settings, report, &runtime()?)
        }
        Command::Build(args) => {
            let settings = settings::BuildSettings::resolve(*args)?;
            commands::build::build(settings, report, &runtime()?)
        }
        Command::Lock(args) => {
            let settings = settings::BuildSettings::resolve(*args)?;
            runtime()?.block_on(commands::lock::lock(settings, report))
        }
        Command::Outdated(args) => runtime()?.block_on(commands::outdated::outdated(args, report)),
        Command::Purge(args) => commands::purge::purge(&args),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The publish step (ko's), run outside the async runtime (sinks block on their I/O): hand the
/// image (one platform's, or the index over several) to the
/// sink, then — only once it is safely there, through a [`Recorder`](grocker_oci::Recorder) —
/// write the lock if the plan changed it, print the result line, and run `record` (the
/// `--result-file`) with what was published. A failed publish writes none of them.
pub(crate) fn publish(
    sink: Box<dyn grocker_oci::Sink>,
    artifact: &grocker_oci::Artifact,
    name: &grocker_oci::ImageName,
    plan: &Plan,
    ctx: &Context,
    referrers: &[grocker_oci::Referrer],
    mut record: impl FnMut(&grocker_oci::Published) -> Result<()>,
) -> Result<()> {
    use grocker_oci::{ImageName, Published, RecordError, Sink};

    let digest = artifact.digest();
    let stage = ctx.report.stage("Publishing");
    let after = move |published: &[(ImageName, Published)]| -> Result<(), RecordError> {
        drop(stage); // the spinner ends before the lines below are printed
        plan.write_lock(ctx)?;
        for (name, published) in published {
            println!("{name} {digest} {}", published.location);
            record(published)?;
        }
        Ok(())
    };
    let mut sink = Box::new(grocker_oci::Recorder::new(sink, after));
    artifact.publish(sink.as_mut(), name)?;
    // Attached once the image is there: a referrer's subject must exist (and a registry
    // without the referrers API lists it under a tag named after the image's digest).
    for referrer in referrers {
        if let Some(location) = sink.attach(referrer, name)? {
            tracing::info!(
                "attached {} to {name}: {location}",
                referrer.artifact_type()
            );
        }
    }
    sink.finish()?;
    Ok(())
}
