//! Verifying a clear-signed `InRelease` file, the root of trust of a Debian suite.

use pgp::composed::CleartextSignedMessage;

use crate::{DebianError, Keyring};

/// Checks the OpenPGP signatures of an `InRelease` file and returns the text they cover — the
/// Release file — with `\n` line endings and a final newline.
///
/// Like `gpgv` as apt runs it, the file is accepted when at least one signature verifies with a
/// trusted primary key or subkey; signatures by keys we do not know are ignored (Debian signs
/// each suite with both the current and the previous release's key). Nothing outside the signed
/// part is ever returned: an attacker can put anything before or after it.
pub fn verify_inrelease(url: &str, bytes: &[u8], keyring: &Keyring) -> Result<String, DebianError> {
    let malformed = |message: String| DebianError::MalformedInRelease {
        url: url.to_string(),
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| malformed(e.to_string()))?;
    if !text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----") {
        return Err(malformed(
            "it does not start with `-----BEGIN PGP SIGNED MESSAGE-----`".to_string(),
        ));
    }
    let (message, _headers) =
        CleartextSignedMessage::from_string(text).map_err(|e| malformed(e.to_string()))?;
    // The cleartext framework (RFC 9580 §7) hashes the text with CRLF line endings and trailing
    // whitespace removed; `signed_text` is exactly those bytes.
    let signed = message.signed_text();
    let trusted = message.signatures().iter().any(|signature| {
        keyring
            .keys()
            .iter()
            .any(|key| key.verifies(signature, signed.as_bytes()))
    });
    if !trusted {
        return Err(DebianError::BadSignature {
            url: url.to_string(),
        });
    }
    let mut release = signed.replace("\r\n", "\n");
    release.push('\n');
    Ok(release)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOKWORM: &[u8] = include_bytes!("../tests/data/bookworm-InRelease");
    const TRIXIE: &[u8] = include_bytes!("../tests/data/trixie-InRelease");
    const SECURITY: &[u8] = include_bytes!("../tests/data/bookworm-security-InRelease");

    #[test]
    fn real_inreleases_verify_with_shipped_keys() {
        let keyring = Keyring::debian().unwrap();
        for (name, bytes, codename) in [
            ("bookworm", BOOKWORM, "Codename: bookworm\n"),
            ("trixie", TRIXIE, "Codename: trixie\n"),
            (
                "bookworm-security",
                SECURITY,
                "Codename: bookworm-security\n",
            ),
        ] {
            let text = verify_inrelease(name, bytes, &keyring).unwrap();
            assert!(text.starts_with("Origin: Debian\n"), "{name}");
            assert!(text.contains(codename), "{name}");
            assert!(!text.contains("PGP"), "{name}");
            assert!(text.ends_with(".gz\n") || text.ends_with("\n"), "{name}");
        }
    }

    #[test]
    fn one_changed_byte_fails() {
        let keyring = Keyring::debian().unwrap();
        let mut bytes = BOOKWORM.to_vec();
        let at = find(&bytes, b"Codename: bookworm").unwrap() + "Codename: ".len();
        bytes[at] = b'c';
        let err = verify_inrelease("https://deb.example/x", &bytes, &keyring).unwrap_err();
        assert!(matches!(err, DebianError::BadSignature { .. }), "{err}");
        assert!(err.to_string().contains("https://deb.example/x"), "{err}");
        assert!(err.to_string().contains("--debian-keyring"), "{err}");
    }

    #[test]
    fn wrong_keyring_fails() {
        // The trixie keys alone do not cover bookworm-security (signed by the bookworm
        // security key).
        let wrong = Keyring::from_bytes(
            "trixie",
            include_bytes!("../keys/debian-archive-trixie-stable.gpg"),
        )
        .unwrap();
        let err = verify_inrelease("x", SECURITY, &wrong).unwrap_err();
        assert!(matches!(err, DebianError::BadSignature { .. }));
        assert!(matches!(
            verify_inrelease("x", SECURITY, &Keyring::empty()),
            Err(DebianError::BadSignature { .. })
        ));
    }

    #[test]
    fn text_outside_the_signature_is_not_returned() {
        let keyring = Keyring::debian().unwrap();
        let mut bytes = b"Codename: evil\n".to_vec();
        bytes.extend_from_slice(SECURITY);
        assert!(verify_inrelease("x", &bytes, &keyring).is_err());
        let mut bytes = SECURITY.to_vec();
        bytes.extend_from_slice(b"Codename: evil\n");
        match verify_inrelease("x", &bytes, &keyring) {
            Ok(text) => assert!(!text.contains("evil")),
            Err(e) => assert!(matches!(e, DebianError::MalformedInRelease { .. })),
        }
    }

    #[test]
    fn subkey_signatures_of_a_throwaway_key_verify() {
        let key = grocker_testkit::TestKey::generate("test <t@example.invalid>");
        let signed = key.clearsign("Origin: Test\nCodename: test\n");
        let keyring = Keyring::from_bytes("t", &key.public_keyring_armored().into_bytes()).unwrap();
        let text = verify_inrelease("x", signed.as_bytes(), &keyring).unwrap();
        assert_eq!(text, "Origin: Test\nCodename: test\n");
        let other = grocker_testkit::TestKey::generate("other <o@example.invalid>");
        let keyring = Keyring::from_bytes("o", &other.public_keyring_binary()).unwrap();
        assert!(verify_inrelease("x", signed.as_bytes(), &keyring).is_err());
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }
}
