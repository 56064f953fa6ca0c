//! The grocker command line: parse → settings → command. Everything else lives in the
//! `grocker-*` library crates (see crates/README.md).

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use grocker_fetch::{Cache, FetchOptions, Fetcher, Progress};

mod cli;
mod commands;
mod os;
mod output;
mod report;
mod settings;

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
        Command::Purge => commands::purge::purge(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The fetcher every command shares: grocker's cache, progress bars on a terminal.
pub(crate) fn fetcher(report: &Reporter) -> Result<Fetcher> {
    let progress = if report.bars() {
        Progress::Bars
    } else {
        Progress::Hidden
    };
    let options = FetchOptions {
        progress,
        ..FetchOptions::default()
    };
    Ok(Fetcher::new(Cache::from_env()?, options)?)
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info,grocker=debug",
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
