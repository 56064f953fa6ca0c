//! A real token service for the registry's `auth: token:` mode (distribution's "Token
//! Authentication Specification"): it checks the user's basic credentials and answers with an
//! RS256 JWT, signed by `openssl`, whose `x5c` header carries a self-signed certificate the
//! registry trusts (`rootcertbundle`). Without credentials it hands out a token granting nothing,
//! as Docker Hub does for anonymous users.

use std::time::{SystemTime, UNIX_EPOCH};

use grocker_testkit::{Reply, Request, ScriptedServer};
use serde_json::json;

use super::*;

const SERVICE: &str = "grocker-test";
const ISSUER: &str = "grocker-test-issuer";

/// One token request: who asked (`""` for nobody) and for which scopes.
pub(super) type TokenRequest = (String, Vec<String>);

pub(super) struct TokenServer {
    dir: tempfile::TempDir,
    realm: String,
    pub(super) requests: Arc<Mutex<Vec<TokenRequest>>>,
    _server: ScriptedServer,
}

impl TokenServer {
    /// Serves tokens on a free port for `user` with `password`, until the test process ends.
    pub(super) fn start(user: &str, password: &str) -> TokenServer {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=grocker test token issuer",
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                cert.to_str().unwrap(),
            ],
        );
        let der = run(
            "openssl",
            &["x509", "-in", cert.to_str().unwrap(), "-outform", "DER"],
        );
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let user = user.to_string();
        let server = ScriptedServer::start(move |request| {
            answer(request, &key, &x5c, &user, &expected, &log)
        });
        let realm = format!("{}/token", server.url());
        TokenServer {
            dir,
            realm,
            requests,
            _server: server,
        }
    }

    /// The registry's `auth:` section.
    pub(super) fn registry_auth(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    \
             rootcertbundle: {}\n",
            self.realm,
            self.dir.path().join("cert.pem").display()
        )
    }

    pub(super) fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap().clone()
    }
}

fn answer(
    request: &Request,
    key: &Path,
    x5c: &str,
    user: &str,
    expected: &str,
    log: &Mutex<Vec<TokenRequest>>,
) -> Reply {
    let url = url::Url::parse(&format!("http://token{}", request.path)).unwrap();
    let scopes: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .collect();
    let (status, body, who) = match request.header("authorization") {
        Some(a) if a == expected => {
            let access = scopes.iter().map(|s| access(s)).collect();
            (200, json!({ "token": jwt(key, x5c, user, access) }), user)
        }
        Some(_) => (
            401,
            json!({"details": "incorrect username or password"}),
            "?",
        ),
        None => (
            200,
            json!({ "access_token": jwt(key, x5c, "", vec![]) }),
            "",
        ),
    };
    log.lock().unwrap().push((who.to_string(), scopes));
    Reply::Full {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

/// `repository:team/app:pull,push` as a JWT `access` entry, granting all it asks.
fn access(scope: &str) -> serde_json::Value {
    let mut parts = scope.splitn(3, ':');
    let (kind, name, actions) = (parts.next(), parts.next(), parts.next());
    json!({
        "type": kind.unwrap_or(""),
        "name": name.unwrap_or(""),
        "actions": actions.unwrap_or("").split(',').collect::<Vec<_>>(),
    })
}

fn jwt(key: &Path, x5c: &str, subject: &str, access: Vec<serde_json::Value>) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = json!({
        "iss": ISSUER, "sub": subject, "aud": SERVICE,
        "exp": now + 300, "nbf": now - 60, "iat": now - 60,
        "jti": format!("{now}-{}", access.len()),
        "access": access,
    });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    openssl
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let signature = openssl.wait_with_output().unwrap().stdout;
    format!("{input}.{}", b64(&signature))
}

/// A registry whose token service cannot be reached or read: the error names the token service,
/// not the registry.
#[test]
fn a_token_service_at_fault_is_named() {
    let closed = free_port("127.0.0.1");
    for (realm, want) in [
        (format!("http://127.0.0.1:{closed}/token"), "unreachable"),
        ("not a url".to_string(), "misconfigured"),
    ] {
        let challenge = format!("Bearer realm=\"{realm}\",service=\"test\"");
        let registry = ScriptedServer::start(move |_| Reply::Full {
            status: 401,
            headers: vec![("WWW-Authenticate".into(), challenge.clone())],
            body: b"{}".to_vec(),
        });
        let dir = tempfile::tempdir().unwrap();
        let image = image_of(vec![file_layer(dir.path(), Compression::Gzip, "a", b"a")]);
        let host = registry.url().trim_start_matches("http://").to_string();
        let name: ImageName = format!("{host}/team/app:1").parse().unwrap();
        let mut sink = new_sink(no_auth_files());
        let err = sink.publish(&image, &name).unwrap_err().to_string();
        assert!(
            err.contains(&format!("token service {realm}")) || err.contains(&format!("`{realm}`")),
            "{err}"
        );
        assert!(err.contains(want), "{err}");
    }
}
