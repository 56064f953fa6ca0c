//! What the code under test logged through `tracing`, as the text a user would read.
//!
//! One global subscriber, installed by the first [`LogCapture::start`] of a test binary,
//! writes every event of every thread into every live capture: grocker logs from threads it
//! starts (pushes, the blocking HTTP client's runtime), which a per-thread scoped subscriber
//! would miss, and a scoped subscriber can also leave a call site cached as disabled when
//! another test's thread reaches it first. Tests run in parallel, so each looks only at the
//! lines that name its own server ([`LogCapture::lines_with`]).

use std::io::Write;
use std::sync::{Arc, Mutex, Once, Weak};

/// Live captures; each holds the events logged since it started.
static CAPTURES: Mutex<Vec<Weak<Mutex<Vec<u8>>>>> = Mutex::new(Vec::new());

/// Everything logged in this process, at every level, from [`LogCapture::start`] until it is
/// dropped.
#[derive(Clone)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Starts capturing.
    pub fn start() -> LogCapture {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(|| Fanout)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("LogCapture is the test binary's only global subscriber");
        });
        let buffer = Arc::new(Mutex::new(Vec::new()));
        CAPTURES
            .lock()
            .expect("captures")
            .push(Arc::downgrade(&buffer));
        LogCapture(buffer)
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }

    /// The lines logged so far that contain `needle` (a test's server address), at `WARN` only
    /// if `warnings`.
    pub fn lines_with(&self, needle: &str, warnings: bool) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(needle) && (!warnings || l.contains(" WARN ")))
            .map(str::to_string)
            .collect()
    }
}

/// Writes into every live capture.
struct Fanout;

impl Write for Fanout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURES.lock().expect("captures").retain(|weak| {
            let Some(buffer) = weak.upgrade() else {
                return false;
            };
            buffer.lock().expect("log buffer").extend_from_slice(buf);
            true
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
