//! The one retry policy of grocker's HTTP clients: which failures are worth another try, how
//! long to wait before it, and how a failure is described.
//!
//! Both the fetcher (async, [`run`]) and the registry client of `grocker-oci` (blocking,
//! [`run_blocking`]) go through it, so a mirror and a registry are treated alike:
//!
//! - **Transient** ([`is_transient_status`], [`classify`]): 408, 429 and 5xx answers; a refused,
//!   reset or timed-out connection; a body cut short. A connection the server closed without
//!   answering ([`Failure::Closed`]) is tried again at once and, the first time, quietly: that is
//!   how a kept-alive connection looks when the server timed it out as the request went out
//!   (Apache's `KeepAliveTimeout` is 5 s), and a warning for it would only alarm. Everything else is final: other 4xx, a
//!   request that cannot be built, a redirect loop, and any TLS failure (rustls) — an untrusted
//!   certificate does not become trusted by asking again.
//! - **Schedule** ([`RetryPolicy::delay`]): 200 ms after the first failure, doubled after each
//!   further one, capped at [`MAX_DELAY`]; a server's `Retry-After` (seconds or an HTTP-date,
//!   RFC 9110 §10.2.3) lengthens the wait, up to [`MAX_RETRY_AFTER`], and never shortens it.
//! - **Wording** ([`reason`], [`rustls_cause`]): the most specific message in an error's chain
//!   (`Connection refused (os error 111)`, not `error sending request`), and the rustls error
//!   behind a failed handshake, so that "invalid peer certificate: UnknownIssuer" reaches the
//!   user. Callers print URLs themselves, redacted ([`crate::redact_url`]): nothing here does.
//!
//! ```
//! use std::time::Duration;
//! use grocker_fetch::retry::{Failure, RetryPolicy, run_blocking};
//!
//! let policy = RetryPolicy { retries: 2 };
//! let answer = run_blocking(&policy, "GET /v2/", |attempt| {
//!     if attempt < 3 {
//!         return Err(Failure::Transient { error: "HTTP 503", retry_after: None });
//!     }
//!     Ok("hello")
//! });
//! assert_eq!(answer.unwrap(), "hello");
//! assert_eq!(policy.delay(1, Some(Duration::from_secs(2))), Duration::from_secs(2));
//! ```

use std::error::Error as StdError;
use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Wait after the first failed attempt; doubled after each further one, up to [`MAX_DELAY`].
pub const BASE_DELAY: Duration = Duration::from_millis(200);
/// The longest wait the schedule itself chooses.
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// The most we honour of a server's `Retry-After`: a rate-limited registry may ask for more,
/// but a build that waits minutes without saying why looks hung.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How often to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `retries + 1` attempts at most).
    pub retries: u32,
}

impl RetryPolicy {
    /// The most attempts this policy makes.
    pub fn attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    /// How long to wait after attempt `failed_attempt` (1-based) failed, the server having
    /// asked for `retry_after` (if it did): the larger of the schedule's 200 ms, 400 ms,
    /// 800 ms… (capped at [`MAX_DELAY`]) and `retry_after` capped at [`MAX_RETRY_AFTER`].
    pub fn delay(&self, failed_attempt: u32, retry_after: Option<Duration>) -> Duration {
        let factor = 1u32 << failed_attempt.saturating_sub(1).min(16);
        let backoff = BASE_DELAY.saturating_mul(factor).min(MAX_DELAY);
        backoff.max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER))
    }
}

/// Why one attempt failed.
#[derive(Debug)]
pub enum Failure<E> {
    /// Worth another try, after at least `retry_after` if the server said so.
    Transient {
        /// What went wrong, as the caller will report it if this was the last attempt.
        error: E,
        /// The server's `Retry-After`, if any ([`retry_after`]).
        retry_after: Option<Duration>,
    },
    /// The server closed the connection without answering: tried again at once, quietly the
    /// first time, as [`Failure::Transient`] afterwards.
    Closed(E),
    /// Retrying cannot help: give up now.
    Final(E),
}

impl<E> Failure<E> {
    /// A transient failure without a `Retry-After`.
    pub fn transient(error: E) -> Self {
        Failure::Transient {
            error,
            retry_after: None,
        }
    }

    /// The error, transient or not.
    pub fn into_error(self) -> E {
        match self {
            Failure::Transient { error, .. } | Failure::Closed(error) | Failure::Final(error) => {
                error
            }
        }
    }
}

/// An error is final unless said otherwise, so `?` works inside an attempt.
impl<E> From<E> for Failure<E> {
    fn from(error: E) -> Self {
        Failure::Final(error)
    }
}

/// Runs `attempt(1)`, `attempt(2)`, … until one succeeds, one fails for good, or the policy's
/// attempts are spent; then the last error. `what` names the operation in the log.
///
/// Each attempt must be safe to start over (a new request; a new upload session).
pub async fn run<T, E, F, Fut>(policy: &RetryPolicy, what: &str, mut attempt: F) -> Result<T, E>
where
    E: Display,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failure<E>>>,
{
    let mut n = 1;
    loop {
        match next_step(policy, what, n, attempt(n).await)? {
            Step::Done(value) => return Ok(value),
            Step::Wait(delay) => tokio::time::sleep(delay).await,
        }
        n += 1;
    }
}

/// [`run`] for blocking clients: the same policy, waiting with `std::thread::sleep`.
pub fn run_blocking<T, E: Display>(
    policy: &RetryPolicy,
    what: &str,
    mut attempt: impl FnMut(u32) -> Result<T, Failure<E>>,
) -> Result<T, E> {
    let mut n = 1;
    loop {
        match next_step(policy, what, n, attempt(n))? {
            Step::Done(value) => return Ok(value),
            Step::Wait(delay) => std::thread::sleep(delay),
        }
        n += 1;
    }
}

enum Step<T> {
    Done(T),
    Wait(Duration),
}

/// What follows attempt `n`'s `outcome`: done, give up (`Err`), or wait and try again.
fn next_step<T, E: Display>(
    policy: &RetryPolicy,
    what: &str,
    n: u32,
    outcome: Result<T, Failure<E>>,
) -> Result<Step<T>, E> {
    let (error, retry_after) = match outcome {
        Ok(value) => return Ok(Step::Done(value)),
        Err(Failure::Final(error)) => return Err(error),
        Err(Failure::Transient { error, retry_after }) => (error, retry_after),
        Err(Failure::Closed(error)) if n == 1 && n < policy.attempts() => {
            tracing::debug!("{what}: the server closed the connection ({error}); trying again");
            return Ok(Step::Wait(Duration::ZERO));
        }
        Err(Failure::Closed(error)) => (error, None),
    };
    if n >= policy.attempts() {
        return Err(error);
    }
    let delay = policy.delay(n, retry_after);
    tracing::warn!(
        "{what}: attempt {n}/{} failed ({error}); retrying in {delay:?}",
        policy.attempts()
    );
    Ok(Step::Wait(delay))
}

/// Whether an HTTP status is worth another try: 408 Request Timeout, 429 Too Many Requests and
/// every 5xx.
pub fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// The wait a response's `Retry-After` header asks for, in either of its forms (RFC 9110
/// §10.2.3: `delay-seconds` or an HTTP-date); `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

/// A `Retry-After` value read at `now`: `120` is two minutes, `Wed, 21 Oct 2026 07:28:00 GMT`
/// is the time until then (zero if already past).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or_default())
}

/// What a client error means for the retry policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The TLS connection failed (an untrusted certificate, a server that does not speak TLS):
    /// final.
    Tls {
        /// What rustls said, e.g. `invalid peer certificate: UnknownIssuer`.
        reason: String,
        /// Whether the server's certificate was the problem (not trusted, expired, for another
        /// name, or missing), as behind a TLS-inspecting proxy whose CA is not trusted.
        certificate: bool,
    },
    /// The request could not be built or its redirects not followed: final.
    Request(String),
    /// Connecting, sending or reading failed (refused, reset, timeout, cut short): transient.
    Transport(String),
    /// The server closed the connection before it answered: [`Failure::Closed`].
    Closed(String),
}

impl ErrorKind {
    /// Whether retrying can help.
    pub fn is_transient(&self) -> bool {
        matches!(self, ErrorKind::Transport(_) | ErrorKind::Closed(_))
    }
}

/// Sorts a `reqwest` error (async or blocking client) by [`ErrorKind`], with its most
/// specific message. The URL reqwest attaches is left out: callers print theirs redacted.
pub fn classify(error: &reqwest::Error) -> ErrorKind {
    if let Some(tls) = rustls_cause(error) {
        let certificate = matches!(
            tls,
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
        );
        return ErrorKind::Tls {
            reason: tls.to_string(),
            certificate,
        };
    }
    if error.is_builder() || error.is_redirect() {
        return ErrorKind::Request(reason(error));
    }
    // A body cut short is a transfer that failed, not an answer that never came.
    if !error.is_body() && !error.is_decode() && closed_without_answer(error) {
        return ErrorKind::Closed(reason(error));
    }
    ErrorKind::Transport(reason(error))
}

/// Whether hyper saw the connection close before a reply came: its request channel closed,
/// the reply's head never arrived, or the request was never sent because the pooled
/// connection it was given had closed meanwhile ("connection was not ready").
fn closed_without_answer(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            return h.is_closed() || h.is_incomplete_message() || h.is_canceled();
        }
        current = e.source();
    }
    false
}

/// The most specific message in an error's chain (`Connection refused (os error 111)` rather
/// than `error sending request`). A `reqwest::Error`'s own message names its URL, which may
/// carry credentials or upload state; it is used only when nothing deeper says anything.
pub fn reason(error: &(dyn StdError + 'static)) -> String {
    let mut deepest = match error.downcast_ref::<reqwest::Error>() {
        Some(e) if e.is_timeout() => "timed out".to_string(),
        Some(_) => "the request failed".to_string(),
        None => error.to_string(),
    };
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !text.is_empty() {
            deepest = text;
        }
        source = e.source();
    }
    deepest
}

/// The rustls error behind a failed connection, if that is what failed.
pub fn rustls_cause<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // `io::Error::source` skips the error it wraps (hyper-rustls nests rustls::Error two
        // io::Errors deep), so step into it explicitly.
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    const POLICY: RetryPolicy = RetryPolicy { retries: 4 };

    #[test]
    fn schedule_doubles_from_200_ms_and_caps_at_5_s() {
        let ms = |n| POLICY.delay(n, None).as_millis();
        assert_eq!(
            [ms(1), ms(2), ms(3), ms(4), ms(5)],
            [200, 400, 800, 1600, 3200]
        );
        assert_eq!(ms(6), 5000);
        assert_eq!(ms(u32::MAX), 5000);
        assert_eq!(POLICY.attempts(), 5);
        assert_eq!(RetryPolicy { retries: u32::MAX }.attempts(), u32::MAX);
    }

    #[test]
    fn retry_after_lengthens_the_wait_never_shortens_it_and_is_capped() {
        let s = Duration::from_secs;
        assert_eq!(POLICY.delay(1, Some(s(3))), s(3));
        assert_eq!(POLICY.delay(5, Some(Duration::ZERO)).as_millis(), 3200);
        assert_eq!(POLICY.delay(1, Some(s(3600))), MAX_RETRY_AFTER);
    }

    #[test]
    fn retry_after_in_seconds_and_as_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let s = Duration::from_secs;
        assert_eq!(parse_retry_after("120", now), Some(s(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(s(0)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(s(30))
        );
        // The obsolete forms RFC 9110 still asks recipients to accept.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now),
            Some(s(10))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:57 1994", now),
            Some(s(20))
        );
        // In the past: no wait beyond the schedule's.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);

        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(s(7)));
    }

    #[test]
    fn transient_statuses() {
        let transient = |code| is_transient_status(StatusCode::from_u16(code).unwrap());
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(transient(code), "{code}");
        }
        for code in [200, 301, 400, 401, 403, 404, 416] {
            assert!(!transient(code), "{code}");
        }
    }

    #[test]
    fn final_failures_stop_at_once_transient_ones_until_the_attempts_are_spent() {
        let policy = RetryPolicy { retries: 2 };
        let calls = Cell::new(0);
        let err = run_blocking(&policy, "x", |_| -> Result<(), _> {
            calls.set(calls.get() + 1);
            Err(Failure::Final("404"))
        })
        .unwrap_err();
        assert_eq!((err, calls.get()), ("404", 1));

        calls.set(0);
        let err = run_blocking(&policy, "x", |n| -> Result<(), _> {
            calls.set(calls.get() + 1);
            Err(Failure::transient(format!("refused on attempt {n}")))
        })
        .unwrap_err();
        assert_eq!((err.as_str(), calls.get()), ("refused on attempt 3", 3));
    }

    #[tokio::test]
    async fn the_async_loop_follows_the_same_policy() {
        let policy = RetryPolicy { retries: 1 };
        let got = run(&policy, "x", |n| async move {
            if n == 1 {
                Err(Failure::transient("503"))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(got, Ok(2));
        let err = run(&RetryPolicy { retries: 0 }, "x", |_| async {
            Err::<(), _>(Failure::transient("503"))
        })
        .await;
        assert_eq!(err, Err("503"));
    }

    #[test]
    fn reason_is_the_deepest_message() {
        let io = std::io::Error::other("Connection refused");
        assert_eq!(reason(&io), "Connection refused");
        assert!(rustls_cause(&io).is_none());
        let wrapped = std::io::Error::other(rustls::Error::NoCertificatesPresented);
        assert!(matches!(
            rustls_cause(&wrapped),
            Some(rustls::Error::NoCertificatesPresented)
        ));
    }
}
