//! Which certificate authorities a registry's certificate may chain to.
//!
//! The same policy as grocker-fetch's `tls.rs` (DESIGN §7), repeated here so that this crate
//! does not depend on the fetch crate: reqwest's rustls verifier loads the platform's roots
//! through `rustls-native-certs`, which reads `SSL_CERT_FILE` / `SSL_CERT_DIR` *instead of* the
//! system store when either is set. Companies hand out a TLS-inspecting proxy's CA that way,
//! sometimes as a bundle holding only that CA; so when they are set, the system store is added
//! back as extra roots and both are trusted.

use rustls::pki_types::CertificateDer;

/// The system store's certificates if `SSL_CERT_FILE`/`SSL_CERT_DIR` hide it, else nothing (the
/// verifier loads the system store itself then).
pub(crate) fn system_roots_besides_env() -> Vec<reqwest::Certificate> {
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
    certs
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok())
        .collect()
}

/// Whether rustls accepts this as a trust anchor: one malformed extra root would make the
/// verifier reject them all, while a malformed system certificate should just be skipped.
fn usable(der: &CertificateDer<'static>) -> bool {
    rustls::RootCertStore::empty().add(der.clone()).is_ok()
}
