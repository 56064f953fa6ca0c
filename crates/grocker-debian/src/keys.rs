//! OpenPGP keyrings: Debian's archive keys shipped inside grocker, plus the user's own.

use std::io::BufReader;
use std::path::Path;

use pgp::composed::{Deserializable, SignedPublicKey};
use pgp::packet::{PublicKey, PublicSubkey, Signature, SignatureType};
use pgp::types::KeyDetails;

use crate::DebianError;

macro_rules! keyring {
    ($file:literal) => {
        ($file, include_bytes!(concat!("../keys/", $file)))
    };
}

/// Debian's archive keyrings (from the `debian-archive-keyring` package), compiled in so that a
/// grocker binary trusts the same keys on any host, Debian or not, and a compromised host
/// keyring cannot widen that trust. Each release's keys: `automatic` signs `debian` and
/// `debian-updates`, `security-automatic` signs `debian-security`, `stable` is the release
/// manager's key that also signs the Release files of a released suite.
const DEBIAN_KEYRINGS: &[(&str, &[u8])] = &[
    keyring!("debian-archive-bullseye-automatic.gpg"),
    keyring!("debian-archive-bullseye-security-automatic.gpg"),
    keyring!("debian-archive-bullseye-stable.gpg"),
    keyring!("debian-archive-bookworm-automatic.gpg"),
    keyring!("debian-archive-bookworm-security-automatic.gpg"),
    keyring!("debian-archive-bookworm-stable.gpg"),
    keyring!("debian-archive-trixie-automatic.gpg"),
    keyring!("debian-archive-trixie-security-automatic.gpg"),
    keyring!("debian-archive-trixie-stable.gpg"),
];

/// One key allowed to sign: a primary key, or a signing subkey whose binding to its primary key
/// verified when the keyring was loaded.
#[derive(Debug, Clone)]
pub(crate) enum TrustedKey {
    Primary(PublicKey),
    Subkey(PublicSubkey),
}

impl TrustedKey {
    /// Whether this key made `signature`.
    pub(crate) fn verifies(&self, signature: &Signature, data: &[u8]) -> bool {
        match self {
            TrustedKey::Primary(key) => signature.verify(key, data).is_ok(),
            TrustedKey::Subkey(key) => signature.verify(key, data).is_ok(),
        }
    }

    fn fingerprint(&self) -> String {
        match self {
            TrustedKey::Primary(key) => format!("{:X}", key.fingerprint()),
            TrustedKey::Subkey(key) => format!("{:X}", key.fingerprint()),
        }
    }
}

/// A set of OpenPGP public keys trusted to sign `InRelease` files.
///
/// Signatures may come from a primary key or from any of its subkeys: Debian's archive keys sign
/// with subkeys (e.g. `4CB50190207B4758A3F73A796ED0E7B82643E131`, a subkey of the bookworm
/// automatic signing key). A subkey is trusted only if its binding signature by the primary key
/// verifies, it is marked for signing, and it is not revoked.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<TrustedKey>,
}

impl Keyring {
    /// A keyring that trusts nothing (add keys with [`Keyring::extend`]).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Debian's archive signing keys for bullseye, bookworm and trixie, built into grocker.
    pub fn debian() -> Result<Self, DebianError> {
        let mut keyring = Self::empty();
        for (name, bytes) in DEBIAN_KEYRINGS {
            keyring.extend(Self::from_bytes(name, bytes)?);
        }
        Ok(keyring)
    }

    /// Parses a keyring, binary (`*.gpg`, as in `/usr/share/keyrings`) or ASCII-armored
    /// (`*.asc`, `-----BEGIN PGP PUBLIC KEY BLOCK-----`). `name` is used in error messages.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Self, DebianError> {
        let err = |e: pgp::errors::Error| DebianError::Keyring {
            name: name.to_string(),
            message: e.to_string(),
        };
        let trimmed = bytes.trim_ascii_start();
        let keys: Vec<SignedPublicKey> = if trimmed.starts_with(b"-----BEGIN") {
            let (keys, _headers) = SignedPublicKey::from_armor_many(trimmed).map_err(err)?;
            keys.collect::<Result<_, _>>().map_err(err)?
        } else {
            SignedPublicKey::from_bytes_many(BufReader::new(bytes))
                .map_err(err)?
                .collect::<Result<_, _>>()
                .map_err(err)?
        };
        if keys.is_empty() {
            return Err(DebianError::Keyring {
                name: name.to_string(),
                message: "no public key found".to_string(),
            });
        }
        let mut keyring = Self::empty();
        for key in keys {
            keyring.add_key(key);
        }
        Ok(keyring)
    }

    /// Reads a keyring file (binary or armored).
    pub fn from_file(path: &Path) -> Result<Self, DebianError> {
        let bytes = fs_err::read(path).map_err(|source| DebianError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&path.display().to_string(), &bytes)
    }

    /// Adds every key of `other`.
    pub fn extend(&mut self, other: Keyring) {
        self.keys.extend(other.keys);
    }

    /// Upper-case hex fingerprints of every key allowed to sign (primary keys and subkeys).
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(TrustedKey::fingerprint).collect()
    }

    /// Whether the keyring trusts no key at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    fn add_key(&mut self, key: SignedPublicKey) {
        let primary = key.primary_key;
        for subkey in key.public_subkeys {
            // A subkey attached to a keyring is only as good as its binding: anyone can append a
            // subkey packet to a public key, only the primary key's owner can sign the binding.
            let mut bound_for_signing = false;
            let mut revoked = false;
            for sig in &subkey.signatures {
                if sig.verify_subkey_binding(&primary, &subkey.key).is_err() {
                    continue;
                }
                match sig.typ() {
                    Some(SignatureType::SubkeyRevocation) => revoked = true,
                    Some(SignatureType::SubkeyBinding) => {
                        // RFC 9580 §5.2.3.5: a signing subkey must carry a valid back-signature
                        // (primary key binding) made by the subkey itself.
                        let back = sig.embedded_signature().is_some_and(|back| {
                            back.verify_primary_key_binding(&subkey.key, &primary)
                                .is_ok()
                        });
                        bound_for_signing |= sig.key_flags().sign() && back;
                    }
                    _ => {}
                }
            }
            if bound_for_signing && !revoked {
                self.keys.push(TrustedKey::Subkey(subkey.key));
            } else {
                tracing::debug!(subkey = %subkey.key.fingerprint(), "ignoring subkey not bound for signing");
            }
        }
        self.keys.push(TrustedKey::Primary(primary));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_keys_include_signing_subkeys() {
        let keyring = Keyring::debian().unwrap();
        let fps = keyring.fingerprints();
        // bookworm automatic signing key, primary and subkey
        assert!(
            fps.contains(&"B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8".to_string()),
            "{fps:?}"
        );
        assert!(
            fps.contains(&"4CB50190207B4758A3F73A796ED0E7B82643E131".to_string()),
            "{fps:?}"
        );
    }

    #[test]
    fn armored_and_binary_keyrings_parse() {
        let key = grocker_testkit::TestKey::generate("grocker test <test@example.invalid>");
        for bytes in [
            key.public_keyring_binary(),
            key.public_keyring_armored().into_bytes(),
        ] {
            let keyring = Keyring::from_bytes("test", &bytes).unwrap();
            let fps = keyring.fingerprints();
            assert!(fps.contains(&key.fingerprint()));
            assert!(fps.contains(&key.signing_subkey_fingerprint()));
        }
    }

    #[test]
    fn garbage_is_an_error_naming_the_keyring() {
        let err = Keyring::from_bytes("mine.gpg", b"not a key").unwrap_err();
        assert!(err.to_string().contains("mine.gpg"), "{err}");
    }
}
