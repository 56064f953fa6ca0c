//! A throw-away OpenPGP key shaped like a Debian archive key.

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, DetachedSignature, EncryptionCaps, KeyType,
    SecretKeyParamsBuilder, SignedPublicKey, SignedSecretKey, SubkeyParamsBuilder,
};
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, Password};

/// A throw-away OpenPGP key generated in the test.
///
/// Like the Debian archive keys, the primary key only certifies and signing is done by a
/// subkey (bound to the primary with a back-signature), so a verifier that only accepts
/// signatures from primary keys fails against this fixture exactly as it would against
/// deb.debian.org. Both keys are Ed25519 (v4, "EdDSA legacy"), which gpgv has verified
/// since GnuPG 2.1.
#[derive(Clone, Debug)]
pub struct TestKey {
    secret: SignedSecretKey,
    public: SignedPublicKey,
}

impl TestKey {
    /// Generates a fresh key: an Ed25519 certification-only primary key carrying `user_id`,
    /// and one Ed25519 signing subkey.
    pub fn generate(user_id: &str) -> TestKey {
        let mut subkey = SubkeyParamsBuilder::default();
        subkey
            .key_type(KeyType::Ed25519Legacy)
            .can_sign(true)
            .can_encrypt(EncryptionCaps::None)
            .can_authenticate(false);
        let mut params = SecretKeyParamsBuilder::default();
        params
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(false)
            .can_encrypt(EncryptionCaps::None)
            .primary_user_id(user_id.to_string())
            .subkeys(vec![subkey.build().expect("signing subkey parameters")]);
        let secret = params
            .build()
            .expect("test key parameters")
            .generate(rand08::thread_rng())
            .expect("generate test key");
        let public = secret.to_public_key();
        TestKey { secret, public }
    }

    /// The secret key, for tests that need rPGP directly.
    pub fn secret_key(&self) -> &SignedSecretKey {
        &self.secret
    }

    /// The transferable public key (primary, user id, signing subkey and their signatures).
    pub fn public_key(&self) -> &SignedPublicKey {
        &self.public
    }

    /// Upper-case hex fingerprint of the primary key.
    pub fn fingerprint(&self) -> String {
        format!("{:X}", self.secret.primary_key.fingerprint())
    }

    /// Upper-case hex fingerprint of the signing subkey (the issuer of every signature made).
    pub fn signing_subkey_fingerprint(&self) -> String {
        format!("{:X}", self.signing_subkey().fingerprint())
    }

    /// The binary public keyring, as in `/usr/share/keyrings/debian-archive-*.gpg`.
    pub fn public_keyring_binary(&self) -> Vec<u8> {
        self.public.to_bytes().expect("serialize public key")
    }

    /// The ASCII-armored public key (`-----BEGIN PGP PUBLIC KEY BLOCK-----`), as in
    /// `/etc/apt/keyrings/*.asc`.
    pub fn public_keyring_armored(&self) -> String {
        self.public
            .to_armored_string(ArmorOptions::default())
            .expect("armor public key")
    }

    /// Clear-signs `text` with the signing subkey, producing an `InRelease`-style document:
    /// `-----BEGIN PGP SIGNED MESSAGE-----`, `Hash: SHA256`, a blank line, the dash-escaped
    /// text, then the armored signature.
    ///
    /// As `gpg --clearsign` does for a file ending in a newline, the final line break of `text`
    /// is the one that separates it from `-----BEGIN PGP SIGNATURE-----`, and is not signed
    /// (RFC 9580 §7.1). Trailing spaces and tabs are removed from every line because the
    /// cleartext framework ignores them when hashing; keeping them would make the visible
    /// text differ from what was signed.
    pub fn clearsign(&self, text: &str) -> String {
        let body = text.strip_suffix('\n').unwrap_or(text);
        let body: Vec<&str> = body
            .split('\n')
            .map(|line| line.trim_end_matches([' ', '\t']))
            .collect();
        let body = body.join("\n");
        let message = CleartextSignedMessage::sign(
            rand08::thread_rng(),
            &body,
            self.signing_subkey(),
            &Password::empty(),
        )
        .expect("clear-sign text");
        message
            .to_armored_string(ArmorOptions::default())
            .expect("armor clear-signed text")
    }

    /// An armored detached binary signature of `data` by the signing subkey, as in
    /// `Release.gpg` (`gpg --armor --detach-sign`).
    pub fn detach_sign(&self, data: &[u8]) -> String {
        let signature = DetachedSignature::sign_binary_data(
            rand08::thread_rng(),
            self.signing_subkey(),
            &Password::empty(),
            pgp::crypto::hash::HashAlgorithm::Sha256,
            data,
        )
        .expect("detached signature");
        signature
            .to_armored_string(ArmorOptions::default())
            .expect("armor detached signature")
    }

    fn signing_subkey(&self) -> &pgp::packet::SecretSubkey {
        self.secret
            .secret_subkeys
            .first()
            .expect("test key has a signing subkey")
    }
}
