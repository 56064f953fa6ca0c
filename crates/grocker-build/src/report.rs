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
