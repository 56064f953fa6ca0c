//! The grocker command line: parse → settings → command. The pipeline is `grocker-build`;
//! everything else lives in the other `grocker-*` library crates (see crates/README.md).

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use grocker_build::{Reporter, Verbosity};

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
