//! What grocker tells the person at the terminal: a spinner per stage on a terminal, plain lines
//! with `-v`, nothing with `-q` or when stderr is not a terminal. Results go to stdout.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

#[derive(Clone, Debug)]
pub struct Reporter {
    verbosity: Verbosity,
    terminal: bool,
    start: Instant,
    /// Every bar grocker draws (stages, downloads) lives here, so they share the terminal.
    multi: MultiProgress,
}

impl Reporter {
    pub fn new(verbosity: Verbosity) -> Self {
        Self {
            verbosity,
            terminal: std::io::stderr().is_terminal(),
            start: Instant::now(),
            multi: MultiProgress::new(),
        }
    }

    /// Whether progress bars should be drawn.
    pub fn bars(&self) -> bool {
        self.terminal && self.verbosity == Verbosity::Normal
    }

    /// Where other crates add their bars (downloads).
    pub fn multi(&self) -> MultiProgress {
        self.multi.clone()
    }

    /// Starts a stage; the returned guard ends it (and its spinner) when dropped.
    pub fn stage(&self, message: impl Into<String>) -> Stage {
        let message = message.into();
        let spinner = if self.bars() {
            let bar = self
                .multi
                .add(ProgressBar::new_spinner().with_message(message.clone()));
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            Some(bar)
        } else {
            if self.verbosity == Verbosity::Verbose {
                eprintln!("[{:>6.2}s] {message}", self.start.elapsed().as_secs_f64());
            }
            None
        };
        Stage { spinner }
    }

    /// A line worth saying even without `-v` (e.g. which output was chosen), unless `-q`.
    pub fn note(&self, message: impl AsRef<str>) {
        if self.verbosity != Verbosity::Quiet {
            // Printed above the bars, not through them.
            self.multi.suspend(|| eprintln!("{}", message.as_ref()));
        }
    }
}

pub struct Stage {
    spinner: Option<ProgressBar>,
}

impl Drop for Stage {
    fn drop(&mut self) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
    }
}

/// Logging on stderr: warnings only by default, printed as `warning: …` lines; `-v` adds
/// grocker's own detail (`info`, and `debug` for grocker's crates), `-vv` everything, each as
/// `LEVEL module: message`. `GROCKER_LOG` (an `EnvFilter`) overrides the levels.
pub fn init_logging(verbose: u8) {
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
