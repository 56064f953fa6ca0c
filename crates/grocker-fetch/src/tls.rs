//! Which certificate authorities we trust.
//!
//! reqwest's rustls backend verifies with `rustls-platform-verifier`, which on Linux loads roots
//! through `rustls-native-certs::load_native_certs()`. That function reads `SSL_CERT_FILE` /
//! `SSL_CERT_DIR` when either is set, and the system store otherwise — *instead of*, not in
//! addition to (OpenSSL's convention). Companies put a TLS-inspecting proxy in front of package
//! indexes and hand out its CA either way, sometimes as a bundle holding only that CA; so when the
//! variables are set we add the system store back as extra roots and trust both.

use rustls::pki_types::CertificateDer;

/// The system store's certificates if `SSL_CERT_FILE`/`SSL_CERT_DIR` hide it, else nothing (the
/// verifier loads the system store itself then).
pub fn system_roots_besides_env() -> Vec<reqwest::Certificate> {
    let env_set = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()));
    if !env_set || !cfg!(all(unix, not(target_vendor = "apple"))) {
        return Vec::new();
    }
    let mut certs = Vec::new();
    for dir in openssl_probe::candidate_cert_dirs() {
        let result = rustls_native_certs::load_certs_from_paths(None, Some(dir));
        for error in &result.errors {
            tracing::debug!("skipping part of the system trust store: {error}");
        }
        certs.extend(result.certs.into_iter().filter(usable));
    }
    tracing::debug!(
        "trusting {} certificates from the system store besides SSL_CERT_FILE/SSL_CERT_DIR",
        certs.len()
    );
    certs
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok())
        .collect()
}

/// Whether rustls accepts this as a trust anchor. The verifier rejects the whole set if one extra
/// root is malformed, while a malformed system certificate should just be skipped.
fn usable(der: &CertificateDer<'static>) -> bool {
    rustls::RootCertStore::empty().add(der.clone()).is_ok()
}
