//! Retrying transient failures with exponential backoff, and sorting failures into transient and
//! final ones.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use url::Url;

use crate::FetchError;
use crate::error::redact_url;

/// Delay before the second attempt; doubled for each further one, up to [`MAX_DELAY`].
const BASE_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(5);
/// The most we honour of a server's `Retry-After`.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Why one attempt failed.
#[derive(Debug)]
pub(crate) enum AttemptError {
    /// Worth another try: connection refused or reset, timeout, body cut short, 5xx, 408, 429.
    Transient {
        reason: String,
        status: Option<u16>,
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (4xx, untrusted certificate, wrong content): give up now.
    Final(FetchError),
}

impl AttemptError {
    pub(crate) fn transient(reason: impl Into<String>) -> Self {
        AttemptError::Transient {
            reason: reason.into(),
            status: None,
            retry_after: None,
        }
    }
}

/// Runs `attempt(1)`, `attempt(2)`, ... until one succeeds, one fails for good, or `retries`
/// retries are spent.
pub(crate) async fn with_retries<T, F, Fut>(
    url: &Url,
    retries: u32,
    mut attempt: F,
) -> Result<T, FetchError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let attempts = retries.saturating_add(1);
    let mut n = 1;
    loop {
        let (reason, status, retry_after) = match attempt(n).await {
            Ok(value) => return Ok(value),
            Err(AttemptError::Final(e)) => return Err(e),
            Err(AttemptError::Transient {
                reason,
                status,
                retry_after,
            }) => (reason, status, retry_after),
        };
        if n >= attempts {
            let url = redact_url(url);
            return Err(match status {
                Some(status) => FetchError::Status {
                    url,
                    status,
                    attempts: n,
                },
                None => FetchError::Unreachable {
                    url,
                    attempts: n,
                    reason,
                },
            });
        }
        let delay = backoff(n).max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER));
        tracing::debug!(
            "attempt {n}/{attempts} for {} failed ({reason}); retrying in {delay:?}",
            redact_url(url)
        );
        tokio::time::sleep(delay).await;
        n += 1;
    }
}

/// 200 ms, 400 ms, 800 ms, ... capped at 5 s.
fn backoff(failed_attempt: u32) -> Duration {
    let factor = 1u32 << failed_attempt.saturating_sub(1).min(16);
    BASE_DELAY.saturating_mul(factor).min(MAX_DELAY)
}

/// Sorts an HTTP status: `Ok` for success, transient for 408/429/5xx, final otherwise.
pub(crate) fn check_status(
    url: &Url,
    attempt: u32,
    response: &reqwest::Response,
) -> Result<(), AttemptError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let code = status.as_u16();
    if code == 408 || code == 429 || status.is_server_error() {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(AttemptError::Transient {
            reason: format!("HTTP {status}"),
            status: Some(code),
            retry_after,
        });
    }
    Err(AttemptError::Final(FetchError::Status {
        url: redact_url(url),
        status: code,
        attempts: attempt,
    }))
}

/// Sorts a client error: untrusted certificates and unusable requests are final, the rest
/// (connect, timeout, reset, body cut short) transient.
pub(crate) fn classify(url: &Url, error: reqwest::Error) -> AttemptError {
    let error = error.without_url(); // we print the redacted URL ourselves
    if let Some(tls) = find_rustls_error(&error)
        && matches!(
            tls,
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
        )
    {
        return AttemptError::Final(FetchError::Tls {
            url: redact_url(url),
            reason: tls.to_string(),
        });
    }
    if error.is_builder() || error.is_redirect() {
        return AttemptError::Final(FetchError::Request {
            url: redact_url(url),
            reason: reason(&error),
        });
    }
    AttemptError::transient(reason(&error))
}

/// The most specific message in an error's chain (`Connection refused (os error 111)` rather than
/// `error sending request`).
pub(crate) fn reason(error: &(dyn StdError + 'static)) -> String {
    let mut deepest = error.to_string();
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

fn find_rustls_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
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
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let ms = |n| backoff(n).as_millis();
        assert_eq!([ms(1), ms(2), ms(3), ms(4)], [200, 400, 800, 1600]);
        assert_eq!(ms(10), 5000);
        assert_eq!(ms(u32::MAX), 5000);
    }

    #[tokio::test]
    async fn final_errors_stop_at_once_and_transient_ones_are_counted() {
        let url = Url::parse("https://u:pw@example.org/x").unwrap();
        let mut calls = 0;
        let err = with_retries(&url, 4, |_| {
            calls += 1;
            async {
                Err::<(), _>(AttemptError::Final(FetchError::Status {
                    url: "x".into(),
                    status: 404,
                    attempts: 1,
                }))
            }
        })
        .await
        .unwrap_err();
        assert_eq!((calls, err.status()), (1, Some(404)));

        let err = with_retries(&url, 1, |_| async {
            Err::<(), _>(AttemptError::transient("Connection refused"))
        })
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "could not reach https://u:****@example.org/x after 2 attempts: Connection refused — \
             check your network or proxy settings (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), or the \
             mirror URL"
        );
    }
}
