//! Registries that are not on loopback: HTTPS, verified against the platform's store and
//! `SSL_CERT_FILE`; plain HTTP only when listed as insecure. The registry listens on this
//! machine's own non-loopback address, with a certificate from a CA made by the test.

use super::*;

/// An IPv4 address of this machine that is not loopback (`hostname -I`).
fn own_address() -> String {
    let out = String::from_utf8(run("hostname", &["-I"])).unwrap();
    out.split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .expect("this machine needs a non-loopback IPv4 address for the TLS tests")
        .to_string()
}

/// A CA (`ca.pem`) and a server certificate for `ip` signed by it (`server.pem`, `server.key`).
fn make_certificates(dir: &Path, ip: &str) {
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (ca, ca_key) = (path("ca.pem"), path("ca.key"));
    let (cert, key, csr, ext) = (
        path("server.pem"),
        path("server.key"),
        path("server.csr"),
        path("ext.cnf"),
    );
    let ca_subject = "/CN=grocker test CA";
    let args = [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
    ];
    run(
        "openssl",
        &[
            &args[..],
            &["-subj", ca_subject, "-keyout", &ca_key, "-out", &ca],
        ]
        .concat(),
    );
    run(
        "openssl",
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={ip}"),
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    fs_err::write(
        &ext,
        format!("subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    run(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    );
}

const CHILD_NAME: &str = "GROCKER_TEST_TLS_NAME";
const CHILD_LAYERS: &str = "GROCKER_TEST_TLS_LAYERS";

#[test]
fn https_registry_is_verified_and_trusted_through_ssl_cert_file() {
    let ip = own_address();
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path(), &ip);
    let tls = format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        dir.path().join("server.pem").display(),
        dir.path().join("server.key").display()
    );
    let ca = dir.path().join("ca.pem");
    let registry = TestRegistry::start_on(dir, &ip, &tls, "");
    let name = registry.name("team/app:tls");
    let tmp = tempfile::tempdir().unwrap();
    let layers = tmp.path().join("layers");
    let image = image(&layers, Compression::Gzip, GREETING);

    // Not trusted: refused at once (a certificate does not get better by retrying), and said.
    let started = Instant::now();
    let err = new_sink(no_auth_files())
        .publish(&image, &name)
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, OciError::RegistryTls { .. }), "{text}");
    assert!(
        text.contains(&registry.host()) && text.contains("SSL_CERT_FILE"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "retried: {text}"
    );

    // Trusted through SSL_CERT_FILE, in a process of its own (the variable is process-wide).
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "registry::tls::push_child",
            "--ignored",
            "--nocapture",
        ])
        .env("SSL_CERT_FILE", &ca)
        .env(CHILD_NAME, name.to_string())
        .env(CHILD_LAYERS, &layers)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(
        said.contains(&format!("pushed {}", image.digest())),
        "{said}"
    );
    assert!(
        said.contains("1 passed"),
        "the child test did not run: {said}"
    );
    let cert_dir = tempfile::tempdir().unwrap();
    fs_err::copy(&ca, cert_dir.path().join("ca.crt")).unwrap();
    let reference = format!("docker://{name}");
    let cert_dir = cert_dir.path().to_str().unwrap();
    let inspected = json(&run(
        "skopeo",
        &["inspect", "--cert-dir", cert_dir, &reference],
    ));
    assert_eq!(inspected["Digest"], image.digest().to_string());
}

/// Run by the test above with `SSL_CERT_FILE` set; does nothing on its own.
#[test]
#[ignore = "run by https_registry_is_verified_and_trusted_through_ssl_cert_file"]
fn push_child() {
    let (Some(name), Some(layers)) = (std::env::var_os(CHILD_NAME), std::env::var_os(CHILD_LAYERS))
    else {
        return;
    };
    let name: ImageName = name.to_str().unwrap().parse().unwrap();
    let image = image(Path::new(&layers), Compression::Gzip, GREETING);
    let published = new_sink(no_auth_files()).publish(&image, &name).unwrap();
    println!("pushed {}", published.digest);
}

#[test]
fn plain_http_registry_elsewhere_only_when_listed_as_insecure() {
    let ip = own_address();
    let registry = TestRegistry::start_on(tempfile::tempdir().unwrap(), &ip, "", "");
    let name = registry.name("team/app:plain");
    let tmp = tempfile::tempdir().unwrap();
    let image = image(&tmp.path().join("layers"), Compression::Gzip, GREETING);

    let err = new_sink(no_auth_files())
        .publish(&image, &name)
        .unwrap_err();
    assert!(matches!(err, OciError::RegistryTls { .. }), "{err}");
    assert!(err.to_string().contains("insecure"), "{err}");

    let mut sink = new_sink(RegistryOptions {
        insecure_registries: vec![registry.host()],
        ..no_auth_files()
    });
    assert_eq!(sink.publish(&image, &name).unwrap().digest, image.digest());
    assert_eq!(skopeo_digest(&name, None), image.digest().to_string());
}
