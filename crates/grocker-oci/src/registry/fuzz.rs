//! What grocker reads from a registry's replies, for the fuzz targets in `fuzz/`: the token
//! service's JSON, a `WWW-Authenticate` challenge and an error body. Not a stable interface.

use super::auth::{parse_challenge, token_from_answer};
use super::client::error_text;

/// What one reply body reads as, in each of the places a registry's bytes are read.
#[derive(Debug)]
pub struct Reply {
    /// The bearer token, if `body` is a token service's answer that has one.
    pub token: Option<String>,
    /// The challenge, if `body` is a `WWW-Authenticate` value grocker answers.
    pub challenge: Option<String>,
    /// The message shown when `body` is an error reply with status 400.
    pub error: String,
}

/// Reads `body` as each kind of reply.
pub fn registry_reply(body: &[u8]) -> Reply {
    Reply {
        token: token_from_answer(body).map(|t| t.expose().to_string()),
        challenge: parse_challenge(&String::from_utf8_lossy(body)).map(|c| format!("{c:?}")),
        error: error_text(&reqwest::StatusCode::BAD_REQUEST, body),
    }
}
