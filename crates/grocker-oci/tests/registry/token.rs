//! A real token service for the registry's `auth: token:` mode (distribution's "Token
//! Authentication Specification"): it checks the user's basic credentials and answers with an
//! RS256 JWT, signed by `openssl`, whose `x5c` header carries a self-signed certificate the
//! registry trusts (`rootcertbundle`). Without credentials it hands out a token granting nothing,
//! as Docker Hub does for anonymous users.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::{SystemTime, UNIX_EPOCH};

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
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let user = user.to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve(stream, &key, &x5c, &user, &expected, &log);
            }
        });
        TokenServer {
            dir,
            realm,
            requests,
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

fn serve(
    stream: TcpStream,
    key: &Path,
    x5c: &str,
    user: &str,
    expected: &str,
    log: &Mutex<Vec<TokenRequest>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let target = line.split(' ').nth(1).unwrap_or("/").to_string();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_string());
        }
    }
    let url = url::Url::parse(&format!("http://token{target}")).unwrap();
    let scopes: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .collect();
    let (status, body, who) = match authorization.as_deref() {
        Some(a) if a == expected => {
            let access = scopes.iter().map(|s| access(s)).collect();
            (
                "200 OK",
                json!({ "token": jwt(key, x5c, user, access) }),
                user,
            )
        }
        Some(_) => (
            "401 Unauthorized",
            json!({"details": "incorrect username or password"}),
            "?",
        ),
        None => (
            "200 OK",
            json!({ "access_token": jwt(key, x5c, "", vec![]) }),
            "",
        ),
    };
    log.lock().unwrap().push((who.to_string(), scopes));
    let body = body.to_string();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
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
