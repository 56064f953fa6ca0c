//! What a registry (or its token service) sends back and grocker reads: the token JSON, a
//! `WWW-Authenticate` challenge, an error body. The error message is printed to the user's
//! terminal, so it must be one line without control characters whatever the registry sends.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reply = grocker_oci::fuzz::registry_reply(data);
    if let Some(token) = &reply.token {
        assert!(!token.is_empty(), "an empty token accepted");
    }
    assert!(
        !reply.error.chars().any(char::is_control),
        "control characters in the error message {:?}",
        reply.error
    );
});
