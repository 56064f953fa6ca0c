//! One push's conversation with a registry: authenticated requests, retries with backoff, and
//! the registry's answers turned into errors a user can act on.
//!
//! The client is reqwest's blocking one, because `Sink` is synchronous: grocker publishes once
//! its async build has returned, outside the runtime, where blocking is allowed (the shared
//! cache, used during the build, keeps its client on a worker thread of its own: see `cache`).

use std::io::Read;
use std::time::Duration;

use grocker_fetch::retry::{self, ErrorKind, RetryPolicy};
use reqwest::StatusCode;
use reqwest::Url;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::Value;

use super::Target;
use super::auth::AuthState;
use super::credentials::CredentialSources;
use crate::OciError;

/// Requests without a large body: generous for a slow registry, short enough to notice a hung one.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The slowest upload rate tolerated before a body request is given up (and retried).
const MIN_UPLOAD_RATE: u64 = 256 * 1024;
/// How long a registry is given to finish rewriting a link file before it is asked again.
/// distribution's filesystem driver writes a link file in place (truncate, then write): a tag's
/// when a manifest is put, a blob's whenever a client's upload of it commits, even when the
/// repository has it already. A request reading the file in between finds it empty: a `HEAD`
/// or `GET` answers 500, and a manifest naming the blob is refused with MANIFEST_BLOB_UNKNOWN
/// (distribution/distribution#4489 sees such empty link files). Two CI runners filling one
/// shared cache do that, so these are asked once more even where retries are off; a registry
/// that fails for good costs one request more. Against docker-registry 2.8, with clients
/// pushing the same blobs and tags while others read them, about one `HEAD` in 400, one
/// manifest put in 30 and one read of a tag being put in 100 hit it; each succeeded when asked
/// again after this long.
pub(crate) const LINK_REWRITE: Duration = Duration::from_millis(100);
/// Why an attempt failed: worth another try or not (the shared policy of
/// [`grocker_fetch::retry`]).
pub(crate) type Failure = retry::Failure<OciError>;

/// What a push reads: the client, where to, and where credentials come from.
#[derive(Clone, Copy)]
pub(crate) struct Context<'a> {
    pub(crate) http: &'a Client,
    pub(crate) target: &'a Target,
    pub(crate) sources: &'a CredentialSources,
    /// `RegistryOptions::insecure_registries`.
    pub(crate) insecure: &'a [String],
}

/// What a push needs to talk to one repository of one registry.
pub(crate) struct Session<'a> {
    pub(crate) cx: Context<'a>,
    pub(crate) auth: &'a mut AuthState,
    pub(crate) retries: u32,
    /// How long a request without a body of its own timeout may take.
    pub(crate) timeout: Duration,
}

/// The timeout for a request carrying `len` bytes.
pub(crate) fn upload_timeout(len: u64) -> Duration {
    REQUEST_TIMEOUT + Duration::from_secs(len / MIN_UPLOAD_RATE)
}

impl Session<'_> {
    /// Runs `op` until it succeeds, fails for good, or has failed transiently `1 + retries`
    /// times, waiting as [`RetryPolicy::delay`] says in between. `op` must be safe to start
    /// over: blob uploads open a new upload session each time, since a broken one cannot be
    /// trusted.
    pub(crate) fn retrying<T>(
        &mut self,
        what: &str,
        mut op: impl FnMut(&mut Self) -> Result<T, Failure>,
    ) -> Result<T, OciError> {
        let policy = RetryPolicy {
            retries: self.retries,
        };
        retry::run_blocking(&policy, what, |_| op(self))
    }

    /// [`Session::send`] for a read (`HEAD`, `GET`), asked once more after [`LINK_REWRITE`] when
    /// the registry answers 5xx and retries are off: with retries on, `retrying` asks again
    /// anyway. A connection that failed is not asked again.
    pub(crate) fn send_lookup(
        &mut self,
        scopes: &[String],
        build: impl Fn(&Client) -> Result<RequestBuilder, OciError>,
    ) -> Result<Response, Failure> {
        match self.send(scopes, &build) {
            Err(Failure::Transient {
                error: error @ OciError::Registry { .. },
                ..
            }) if self.retries == 0 => {
                tracing::debug!("{error}; once more");
                std::thread::sleep(LINK_REWRITE);
                self.send(scopes, build)
            }
            other => other,
        }
    }

    /// Sends the request `build` makes, with credentials for `scopes` when it goes to the
    /// registry itself (never to another host a `Location` may point at). After a 401 it gets
    /// fresh credentials (a new token, or the password) and sends a rebuilt request once more.
    /// 408, 429 and 5xx are transient failures ([`retry::is_transient_status`]); every other
    /// status is the caller's to judge.
    pub(crate) fn send(
        &mut self,
        scopes: &[String],
        build: impl Fn(&Client) -> Result<RequestBuilder, OciError>,
    ) -> Result<Response, Failure> {
        let mut renewed = false;
        loop {
            let cx = self.cx;
            let mut request = build(cx.http)?
                .build()
                .map_err(|e| cx.fatal("build a request", &e))?;
            if request.timeout().is_none() {
                *request.timeout_mut() = Some(self.timeout);
            }
            if same_origin(request.url(), &cx.target.base)
                && let Some(value) = self.auth.authorization(&cx, scopes)?
            {
                request.headers_mut().insert(AUTHORIZATION, value);
            }
            let (method, url) = (request.method().clone(), request.url().clone());
            let response = cx.http.execute(request).map_err(|e| cx.transport(&e))?;
            let status = response.status();
            tracing::debug!("{method} {} -> {status}", url.path());
            if status == StatusCode::UNAUTHORIZED {
                if renewed {
                    return Err(Failure::Final(self.auth.rejected(&cx)?));
                }
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                self.auth.challenged(&cx, scopes, challenge)?;
                renewed = true;
                continue;
            }
            if retry::is_transient_status(status) {
                let retry_after = retry::retry_after(response.headers());
                let error = self.unexpected(&format!("{method} {}", url.path()), response);
                return Err(Failure::Transient { error, retry_after });
            }
            return Ok(response);
        }
    }

    /// A reply that was not what `action` expected, as the error it means.
    pub(crate) fn unexpected(&self, action: &str, response: Response) -> OciError {
        self.cx
            .unexpected(action, response, self.auth.user(self.cx.target))
    }
}

impl Context<'_> {
    /// A reply that was not what `action` expected, as the error it means; `user` is who we
    /// said we were, if anyone.
    pub(crate) fn unexpected(
        &self,
        action: &str,
        response: Response,
        user: Option<String>,
    ) -> OciError {
        let status = response.status();
        let message = error_message(response);
        let (registry, repository) = self.names();
        match status {
            StatusCode::FORBIDDEN => OciError::RegistryDenied {
                registry,
                repository,
                user,
                message,
            },
            StatusCode::NOT_FOUND => OciError::RegistryNameUnknown {
                registry,
                repository,
                message,
            },
            _ => OciError::Registry {
                registry,
                repository,
                action: action.to_string(),
                message,
            },
        }
    }

    /// A failure to send or to read a reply, sorted by [`retry::classify`]: transient (the
    /// connection), or not (TLS, a bad URL).
    pub(crate) fn transport(&self, error: &reqwest::Error) -> Failure {
        let registry = self.target.registry.clone();
        let unreachable = |reason| OciError::RegistryUnreachable { registry, reason };
        match retry::classify(error) {
            // A certificate the platform does not trust will not become trusted by trying again.
            ErrorKind::Tls { reason, .. } => Failure::Final(OciError::RegistryTls {
                registry: self.target.registry.clone(),
                reason,
            }),
            ErrorKind::Request(_) => self.fatal("send a request", error),
            ErrorKind::Transport(reason) => Failure::transient(unreachable(reason)),
            ErrorKind::Closed(reason) => Failure::Closed(unreachable(reason)),
        }
    }

    pub(crate) fn fatal(&self, action: &str, error: &reqwest::Error) -> Failure {
        let (registry, repository) = self.names();
        Failure::Final(OciError::Registry {
            registry,
            repository,
            action: action.to_string(),
            message: reason(error),
        })
    }

    /// A protocol error of the registry's (a missing header, a bad value).
    pub(crate) fn protocol(&self, action: &str, message: String) -> OciError {
        let (registry, repository) = self.names();
        OciError::Registry {
            registry,
            repository,
            action: action.to_string(),
            message,
        }
    }

    pub(crate) fn names(&self) -> (String, String) {
        (self.target.registry.clone(), self.target.repository.clone())
    }
}

/// Whether `url` is on the registry's own scheme, host and port.
fn same_origin(url: &Url, base: &Url) -> bool {
    url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default()
}

/// The error's most specific cause in one line, without the URL (which may carry upload
/// state): [`retry::reason`].
pub(crate) fn reason(error: &reqwest::Error) -> String {
    retry::reason(error)
}

/// `STATUS: CODE: message; …` from the spec's error body (OCI distribution spec, "Error
/// Codes": `{"errors": [{"code", "message", "detail"}]}`), else the status and the text's start.
pub(crate) fn error_message(response: Response) -> String {
    let status = response.status();
    let mut body = Vec::new();
    // An error page is small; never read a large reply into memory.
    let _ = response.take(16 * 1024).read_to_end(&mut body);
    error_text(&status, &body)
}

/// [`error_message`] of a reply with `status` and `body`: one line, its control characters
/// escaped, since it is printed on the user's terminal and the registry chose the bytes.
pub(crate) fn error_text(status: &dyn std::fmt::Display, body: &[u8]) -> String {
    let text = error_text_raw(status, body);
    if !text.contains(char::is_control) {
        return text;
    }
    text.chars()
        .map(|c| match c {
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn error_text_raw(status: &dyn std::fmt::Display, body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let errors: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    let field = |name| e.get(name).and_then(Value::as_str).unwrap_or("");
                    match (field("code"), field("message")) {
                        (code, "") => code.to_string(),
                        ("", message) => message.to_string(),
                        (code, message) => format!("{code}: {message}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if !errors.is_empty() {
        return format!("{status}: {}", errors.join("; "));
    }
    let text = String::from_utf8_lossy(body);
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    match first {
        Some(line) => format!("{status}: {}", line.chars().take(200).collect::<String>()),
        None => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fuzz/ registry crash-7e2afe8f: a NUL byte in an error body reached the message verbatim;
    /// so would an ANSI escape sequence or a newline inside a JSON error message.
    #[test]
    fn fuzz_crash_control_characters_in_error_body() {
        let status = StatusCode::BAD_REQUEST;
        let text = error_text(&status, b"{\"token\":\"x\",\"issu\0H_at\":1}");
        assert_eq!(
            text,
            "400 Bad Request: {\"token\":\"x\",\"issu\\u{0}H_at\":1}"
        );
        let text = error_text(
            &status,
            br#"{"errors":[{"code":"DENIED","message":"no\n\u001b[31mred\r"}]}"#,
        );
        assert_eq!(text, "400 Bad Request: DENIED: no\\n\\u{1b}[31mred\\r");
        assert!(!text.contains(char::is_control), "{text}");
        // Printable text is left alone.
        assert_eq!(
            error_text(&status, b"\n  denied: caf\xc3\xa9\nmore"),
            "400 Bad Request: denied: caf\u{e9}"
        );
    }
}
