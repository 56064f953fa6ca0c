//! The grocker command line: parse → settings → command. The pipeline is `grocker-build`;
//! everything else lives in the other `grocker-*` library crates (see crates/README.md).

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use grocker_build::{Context, Plan, Reporter, Verbosity};

mod cli;
mod commands;
mod output;
mod settings;

use cli::{Cli, Command};

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
        Command::Lock(args) => {
            let settings = settings::BuildSettings::resolve(*args)?;
            runtime()?.block_on(commands::lock::lock(settings, report))
        }
        Command::Purge(args) => commands::purge::purge(&args),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The publish step (ko's): hand the image to the sink, then — only once it is safely there,
/// through a [`Recorder`](grocker_oci::Recorder) — write the lock if the plan changed it,
/// print the result line, and run `record` (the `--result-file`) with what was published. A
/// failed publish writes none of them.
pub(crate) fn publish(
    sink: Box<dyn grocker_oci::Sink>,
    image: &grocker_oci::Image,
    name: &grocker_oci::ImageName,
    plan: &Plan,
    ctx: &Context,
    mut record: impl FnMut(&grocker_oci::Published) -> Result<()>,
) -> Result<()> {
    use grocker_oci::{ImageName, Published, RecordError, Sink};

    let digest = image.digest();
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
    sink.publish(image, name)?;
    sink.finish()?;
    Ok(())
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time();
    let _ = match verbose {
        // A person reads these: `warning: …` as grocker's own lines, not a log record.
        0 => builder.event_format(PlainWarnings).try_init(),
        _ => builder.try_init(),
    };
}

/// Warnings and errors as `warning: MESSAGE` / `error: MESSAGE`, without level or module, so a
/// warning printed before an error does not read as the error's first line.
struct PlainWarnings;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for PlainWarnings
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let prefix = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            _ => "note",
        };
        write!(writer, "{prefix}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
