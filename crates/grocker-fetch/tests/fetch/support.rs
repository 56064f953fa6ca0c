//! grocker-testkit's `ScriptedServer`, as these tests address it: URLs as `Url`, and HTTPS
//! with the fixtures' certificate.

use grocker_testkit::{Reply, Request, ScriptedServer};
use url::Url;

/// `http(s)://127.0.0.1:<port><path>` on `server`.
pub fn url(server: &ScriptedServer, path: &str) -> Url {
    Url::parse(&format!("{}{path}", server.url())).unwrap()
}

/// A server over HTTPS with `fixtures/localhost.pem` (for 127.0.0.1 and localhost), issued by
/// `fixtures/test-ca.pem`, which no system trust store holds.
pub fn start_tls(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> ScriptedServer {
    ScriptedServer::builder()
        .tls(
            include_bytes!("../fixtures/localhost.pem"),
            include_bytes!("../fixtures/localhost.key"),
        )
        .start(handler)
}
