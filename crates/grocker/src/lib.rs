//! The grocker command line: parse → settings → command. Everything else lives in the
//! `grocker-*` library crates (see crates/README.md).

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use grocker_fetch::{Cache, FetchOptions, Fetcher, Progress};

mod bytecode;
mod cli;
mod commands;
mod compile;
mod layers;
mod native;
mod os;
mod output;
mod plan;
mod python;
mod report;
mod settings;
mod venv_layers;

use cli::{Cli, Command};
use report::{Reporter, Verbosity};

/// Runs grocker with the process's arguments; errors are printed as one line (with their causes).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbosity = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => Verbosity::Quiet,
        (false, 0) => Verbosity::Normal,
        _ => Verbosity::Verbose,
    };
    init_tracing(cli.global.verbose);
    let report = Reporter::new(verbosity);
    match run(cli.command, &report) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, report: &Reporter) -> Result<()> {
    match command {
        Command::Root(args) => {
            let settings = settings::RootSettings::resolve(args)?;
            runtime()?.block_on(commands::root::root(settings, report))
        }
        Command::Build(args) => {
            let settings = settings::BuildSettings::resolve(*args)?;
            runtime()?.block_on(commands::build::build(settings, report))
        }
        Command::Purge(args) => commands::purge::purge(args.all),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The fetcher every command shares: grocker's cache, progress bars on a terminal. `refresh`
/// (`--upgrade`) asks the indexes again instead of reusing what was fetched minutes ago.
pub(crate) fn fetcher(report: &Reporter, refresh: bool) -> Result<Fetcher> {
    let progress = if report.bars() {
        Progress::Bars(report.multi())
    } else {
        Progress::Hidden
    };
    let mut options = FetchOptions {
        progress,
        ..FetchOptions::default()
    };
    if refresh {
        options.index_ttl = std::time::Duration::ZERO;
    }
    Ok(Fetcher::new(Cache::from_env()?, options)?)
}

/// The publish step (ko's): hand the image to the sink, then — only once it is safely there —
/// write the lock if it changed, and print the result line.
pub(crate) fn publish(
    mut sink: Box<dyn grocker_oci::Sink>,
    image: &grocker_oci::Image,
    name: &grocker_oci::ImageName,
    lock: Option<(&grocker_lock::Lock, &std::path::Path)>,
    report: &Reporter,
) -> Result<grocker_oci::Published> {
    let published = {
        let _stage = report.stage("Publishing");
        let published = sink.publish(image, name)?;
        sink.finish()?;
        published
    };
    if let Some((lock, path)) = lock {
        lock.write(path)?;
        report.note(format!("Wrote {}", path.display()));
    }
    println!("{name} {} {}", image.digest(), published.location);
    Ok(published)
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        // The resolver's own trace (a line per decision) only with -vv.
        1 => "info,pubgrub=warn,grocker=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GROCKER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .try_init();
}
