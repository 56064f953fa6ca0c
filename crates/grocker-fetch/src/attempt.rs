//! The fetcher's side of the [`retry`](crate::retry) policy: one attempt's outcome as a
//! [`FetchError`], already worded for the case that it is the last.

use std::future::Future;

use url::Url;

use crate::FetchError;
use crate::error::redact_url;
use crate::retry::{self, ErrorKind, Failure, RetryPolicy};

/// Why one attempt of the fetcher failed.
pub(crate) type AttemptError = Failure<FetchError>;

/// Runs the attempts of one request to `url` under the shared policy with `retries` retries.
pub(crate) async fn with_retries<T, F, Fut>(
    url: &Url,
    retries: u32,
    attempt: F,
) -> Result<T, FetchError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let what = format!("GET {}", redact_url(url));
    retry::run(&RetryPolicy { retries }, &what, attempt).await
}

/// Sorts an HTTP status: `Ok` for success, transient for those of
/// [`retry::is_transient_status`] (with the server's `Retry-After`), final otherwise.
pub(crate) fn check_status(
    url: &Url,
    attempt: u32,
    response: &reqwest::Response,
) -> Result<(), AttemptError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let error = FetchError::Status {
        url: redact_url(url),
        status: status.as_u16(),
        attempts: attempt,
    };
    if retry::is_transient_status(status) {
        return Err(Failure::Transient {
            error,
            retry_after: retry::retry_after(response.headers()),
        });
    }
    Err(Failure::Final(error))
}

/// Sorts a client error by [`retry::classify`].
pub(crate) fn classify(url: &Url, attempt: u32, error: reqwest::Error) -> AttemptError {
    let url = redact_url(url);
    let unreachable = |reason| FetchError::Unreachable {
        url: url.clone(),
        attempts: attempt,
        reason,
    };
    match retry::classify(&error) {
        ErrorKind::Tls {
            reason,
            certificate: true,
        } => Failure::Final(FetchError::Tls { url, reason }),
        ErrorKind::Tls { reason, .. } | ErrorKind::Request(reason) => {
            Failure::Final(FetchError::Request { url, reason })
        }
        ErrorKind::Transport(reason) => Failure::transient(unreachable(reason)),
        ErrorKind::Closed(reason) => Failure::Closed(unreachable(reason)),
    }
}

/// A body that ended early: transient.
pub(crate) fn cut_short(url: &Url, attempt: u32, reason: String) -> AttemptError {
    Failure::transient(FetchError::Unreachable {
        url: redact_url(url),
        attempts: attempt,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn final_errors_stop_at_once_and_transient_ones_are_counted() {
        let url = Url::parse("https://u:pw@example.org/x").unwrap();
        let mut calls = 0;
        let err = with_retries(&url, 4, |_| {
            calls += 1;
            async {
                Err::<(), _>(Failure::Final(FetchError::Status {
                    url: "x".into(),
                    status: 404,
                    attempts: 1,
                }))
            }
        })
        .await
        .unwrap_err();
        assert_eq!((calls, err.status()), (1, Some(404)));

        let err = with_retries(&url, 1, |n| {
            let url = url.clone();
            async move { Err::<(), _>(cut_short(&url, n, "Connection refused".into())) }
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
