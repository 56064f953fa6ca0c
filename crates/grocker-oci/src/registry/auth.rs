//! Answering a registry's 401: the `WWW-Authenticate` challenge, then either the password
//! (`Basic`) or a bearer token from the registry's token service.
//!
//! distribution's "Token Authentication Specification": the challenge names a `realm` (the token
//! service), a `service` and a `scope`; the client GETs `realm?service=…&scope=…` with its basic
//! credentials, if any, and reads `token` (or `access_token`) from the JSON answer. With an
//! identity token instead ("OAuth2 Token Authentication"), it POSTs a `refresh_token` grant.
//! Tokens are cached per registry and scope for the sink's lifetime; a 401 with a cached one
//! (it expired) fetches a new one once before giving up.

use std::collections::HashMap;
use std::io::Read;

use base64::Engine;
use reqwest::StatusCode;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::Value;

use grocker_fetch::retry;

use super::client::{Context, Failure, REQUEST_TIMEOUT};
use super::credentials::{Credentials, Secret};
use super::{Target, plain_http_allowed};
use crate::OciError;

/// What a registry asked for in `WWW-Authenticate` (RFC 7235).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Credentials found, challenges seen and tokens obtained, kept for the sink's lifetime.
#[derive(Debug, Default)]
pub(crate) struct AuthState {
    /// Per (registry, repository): an `auth.json` key may narrow to a namespace.
    credentials: HashMap<(String, String), Option<Credentials>>,
    /// Per registry: how it wants us to authenticate.
    challenges: HashMap<String, Challenge>,
    /// Per (registry, scopes).
    tokens: HashMap<(String, String), Secret>,
}

impl AuthState {
    /// The `Authorization` header for a request to the registry needing `scopes`, once the
    /// registry has said which kind it wants; a token is fetched if none is cached.
    pub(crate) fn authorization(
        &mut self,
        cx: &Context<'_>,
        scopes: &[String],
    ) -> Result<Option<HeaderValue>, Failure> {
        let registry = &cx.target.registry;
        let Some(challenge) = self.challenges.get(registry).cloned() else {
            return Ok(None);
        };
        match challenge {
            Challenge::Basic => match self.credentials(cx)? {
                Some(Credentials::Basic { username, password }) => {
                    Ok(Some(basic(&username, &password)))
                }
                _ => Ok(None),
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let key = (registry.clone(), scopes.join(" "));
                if let Some(token) = self.tokens.get(&key) {
                    return bearer(cx, token).map(Some);
                }
                // The challenge's own scope too, when it is about a resource ours do not name
                // (`repository:team/app:pull` adds nothing to `repository:team/app:pull,push`).
                let mut wanted = scopes.to_vec();
                if let Some(scope) = scope
                    && !wanted.iter().any(|w| resource(w) == resource(&scope))
                {
                    wanted.push(scope);
                }
                let credentials = self.credentials(cx)?;
                let token = fetch_token(cx, &realm, service.as_deref(), &wanted, &credentials)?;
                let value = bearer(cx, &token)?;
                self.tokens.insert(key, token);
                Ok(Some(value))
            }
        }
    }

    /// Takes note of a 401's challenge so that the next attempt authenticates (with a fresh
    /// token). Basic auth without a password to give fails at once.
    pub(crate) fn challenged(
        &mut self,
        cx: &Context<'_>,
        scopes: &[String],
        header: &str,
    ) -> Result<(), Failure> {
        let Some(challenge) = parse_challenge(header) else {
            return Err(Failure::Final(cx.protocol(
                "authenticate",
                format!("401 Unauthorized with no usable WWW-Authenticate challenge (`{header}`)"),
            )));
        };
        let registry = cx.target.registry.clone();
        tracing::debug!("{registry} asks for authentication: {challenge:?}");
        if challenge == Challenge::Basic
            && !matches!(self.credentials(cx)?, Some(Credentials::Basic { .. }))
        {
            return Err(Failure::Final(self.rejected(cx)?));
        }
        self.tokens.remove(&(registry.clone(), scopes.join(" ")));
        self.challenges.insert(registry, challenge);
        Ok(())
    }

    /// The error for a registry that still says 401 once authenticated.
    pub(crate) fn rejected(&mut self, cx: &Context<'_>) -> Result<OciError, Failure> {
        Ok(rejected(cx, &self.credentials(cx)?))
    }

    /// The user name we authenticate as on `target`, if we looked it up and have one.
    pub(crate) fn user(&self, target: &Target) -> Option<String> {
        let key = (target.registry.clone(), target.repository.clone());
        self.credentials.get(&key)?.as_ref().map(Credentials::user)
    }

    fn credentials(&mut self, cx: &Context<'_>) -> Result<Option<Credentials>, OciError> {
        let target = cx.target;
        let key = (target.registry.clone(), target.repository.clone());
        if let Some(found) = self.credentials.get(&key) {
            return Ok(found.clone());
        }
        let found = cx.sources.lookup(&target.registry, &target.repository)?;
        self.credentials.insert(key, found.clone());
        Ok(found)
    }
}

fn rejected(cx: &Context<'_>, credentials: &Option<Credentials>) -> OciError {
    let (registry, repository) = cx.names();
    match credentials {
        Some(credentials) => OciError::RegistryAuthFailed {
            registry,
            repository,
            user: Some(credentials.user()),
        },
        None => OciError::RegistryNoCredentials {
            registry,
            repository,
            searched: cx.sources.searched(),
        },
    }
}

/// Asks the token service at `realm` for a token good for `scopes`.
fn fetch_token(
    cx: &Context<'_>,
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    credentials: &Option<Credentials>,
) -> Result<Secret, Failure> {
    // Every message names the token service: it is often another host than the registry, and
    // the one at fault.
    let action = format!("get a token from the token service {realm}");
    let action = action.as_str();
    let mut url = Url::parse(realm).map_err(|_| {
        cx.protocol(
            "get a token",
            format!(
                "the registry's WWW-Authenticate names a token service `{realm}` that is not a \
                 URL; the registry's authentication is misconfigured: tell its administrator"
            ),
        )
    })?;
    let plain_ok = url.scheme() == "http"
        && plain_http_allowed(
            &url[url::Position::BeforeHost..url::Position::AfterPort],
            cx.insecure,
        );
    if url.scheme() != "https" && !plain_ok && credentials.is_some() {
        return Err(Failure::Final(cx.protocol(
            action,
            "refusing to send credentials there without HTTPS".to_string(),
        )));
    }
    tracing::debug!("asking {realm} for a token ({})", scopes.join(" "));
    let request = match credentials {
        Some(Credentials::IdentityToken { token }) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", token.expose())
                .append_pair("client_id", "grocker")
                .append_pair("scope", &scopes.join(" "));
            if let Some(service) = service {
                form.append_pair("service", service);
            }
            cx.http
                .post(url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.finish())
        }
        other => {
            {
                let mut query = url.query_pairs_mut();
                if let Some(service) = service {
                    query.append_pair("service", service);
                }
                for scope in scopes {
                    query.append_pair("scope", scope);
                }
            }
            let request = cx.http.get(url);
            match other {
                Some(Credentials::Basic { username, password }) => {
                    request.header(AUTHORIZATION, basic(username, password))
                }
                _ => request,
            }
        }
    };
    let response = request
        .timeout(REQUEST_TIMEOUT)
        .send()
        .map_err(|e| token_service_unreachable(cx, action, &e))?;
    let status = response.status();
    let user = credentials.as_ref().map(Credentials::user);
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(Failure::Final(rejected(cx, credentials)));
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        let error = cx.unexpected(action, response, user);
        return Err(Failure::transient(error));
    }
    if !status.is_success() {
        return Err(Failure::Final(cx.unexpected(action, response, user)));
    }
    let mut body = Vec::new();
    response
        .take(1 << 20)
        .read_to_end(&mut body)
        .map_err(|e| cx.protocol(action, format!("cannot read the answer: {e}")))?;
    token_from_answer(&body).ok_or_else(|| {
        Failure::Final(cx.protocol(action, "its answer is not JSON with a token".into()))
    })
}

/// A token service that cannot be reached: said of it, not of the registry; transient as any
/// transport failure is.
fn token_service_unreachable(cx: &Context<'_>, action: &str, error: &reqwest::Error) -> Failure {
    let unreachable = |reason| cx.protocol(action, format!("unreachable: {reason}"));
    match retry::classify(error) {
        retry::ErrorKind::Transport(reason) => Failure::transient(unreachable(reason)),
        retry::ErrorKind::Closed(reason) => Failure::Closed(unreachable(reason)),
        retry::ErrorKind::Tls { reason, .. } => Failure::Final(cx.protocol(
            action,
            format!("its TLS certificate is not trusted: {reason}"),
        )),
        retry::ErrorKind::Request(_) => Failure::Final(cx.protocol(action, error.to_string())),
    }
}

/// `repository:team/app` of `repository:team/app:pull,push`.
fn resource(scope: &str) -> &str {
    scope
        .rsplit_once(':')
        .map_or(scope, |(resource, _)| resource)
}

/// `token`, else `access_token` (OAuth2's name, which the spec allows instead).
pub(crate) fn token_from_answer(body: &[u8]) -> Option<Secret> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    ["token", "access_token"]
        .iter()
        .filter_map(|field| answer.get(field).and_then(Value::as_str))
        .find(|token| !token.is_empty())
        .map(|token| Secret::new(token.to_string()))
}

/// `Basic base64(user:password)`, marked sensitive so that no layer below logs it.
fn basic(username: &str, password: &Secret) -> HeaderValue {
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{username}:{}", password.expose()));
    // base64 is always a valid header value.
    let mut value =
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap_or(HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

fn bearer(cx: &Context<'_>, token: &Secret) -> Result<HeaderValue, Failure> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        cx.protocol(
            "get a token",
            "the token service sent a token that is not a valid header value".into(),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The first challenge of a `WWW-Authenticate` value: `Basic realm="…"` or
/// `Bearer realm="…",service="…",scope="…"` (quoted or not, `\`-escapes in quotes).
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm").filter(|r| !r.is_empty())?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// `key=value, key="quoted, value"` up to the end or the next challenge's scheme.
fn parse_params(text: &str) -> HashMap<String, String> {
    let mut params = HashMap::new();
    let mut chars = text.chars().peekable();
    let skip = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, also: char| {
        while chars.next_if(|c| c.is_whitespace() || *c == also).is_some() {}
    };
    loop {
        skip(&mut chars, ',');
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && *c != ',' && !c.is_whitespace()) {
            key.push(c);
        }
        skip(&mut chars, ' ');
        if key.is_empty() || chars.next_if_eq(&'=').is_none() {
            break;
        }
        skip(&mut chars, ' ');
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',' && !c.is_whitespace()) {
                value.push(c);
            }
        }
        params.insert(key.to_ascii_lowercase(), value);
    }
    params
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
