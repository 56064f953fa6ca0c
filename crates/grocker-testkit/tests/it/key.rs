use grocker_testkit::TestKey;
use pgp::composed::{CleartextSignedMessage, Deserializable, SignedPublicKey};

use crate::{gpgv, keyring_file, stderr};

const RELEASE: &str =
    "Origin: Debian\nLabel: Debian\nSuite: bookworm\nSHA256:\n abc 12 main/binary-amd64/Packages\n";

#[test]
fn inrelease_verifies_with_gpgv_and_names_the_subkey() {
    let key = TestKey::generate("Test Archive <archive@test.invalid>");
    let dir = tempfile::tempdir().unwrap();
    let keyring = keyring_file(dir.path(), &key, "archive.gpg");
    let signed = key.clearsign(RELEASE);
    assert!(
        signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Debian\n")
    );
    // Debian's layout: the text's final newline is the separator before the signature.
    assert!(signed.contains("main/binary-amd64/Packages\n-----BEGIN PGP SIGNATURE-----\n"));
    let inrelease = dir.path().join("InRelease");
    fs_err::write(&inrelease, &signed).unwrap();

    let out = gpgv(&keyring, &[&inrelease]);
    assert!(out.status.success(), "gpgv failed: {}", stderr(&out));
    let log = stderr(&out);
    assert!(log.contains("Good signature"), "{log}");
    assert_ne!(key.fingerprint(), key.signing_subkey_fingerprint());
    assert!(
        log.contains(&key.signing_subkey_fingerprint()[24..]),
        "signed by the subkey: {log}"
    );
}

#[test]
fn dash_escaped_lines_verify_and_round_trip() {
    let key = TestKey::generate("Dash <dash@test.invalid>");
    let dir = tempfile::tempdir().unwrap();
    let keyring = keyring_file(dir.path(), &key, "k.gpg");
    let text = "Description: x\n-leading dash\n--- triple\n-----BEGIN PGP SIGNATURE-----\nend\n";
    let signed = key.clearsign(text);
    assert!(signed.contains("\n- -leading dash\n- --- triple\n- -----BEGIN PGP SIGNATURE-----\n"));
    let path = dir.path().join("InRelease");
    fs_err::write(&path, &signed).unwrap();
    let extracted = dir.path().join("out");
    let out = std::process::Command::new("/usr/bin/gpgv")
        .arg("--homedir")
        .arg(dir.path())
        .arg("--keyring")
        .arg(&keyring)
        .arg("--output")
        .arg(&extracted)
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "gpgv failed: {}", stderr(&out));
    let got = fs_err::read_to_string(&extracted).unwrap();
    assert_eq!(got.trim_end_matches('\n'), text.trim_end_matches('\n'));
}

#[test]
fn tampered_text_and_foreign_key_fail_gpgv() {
    let key = TestKey::generate("A <a@test.invalid>");
    let other = TestKey::generate("B <b@test.invalid>");
    let dir = tempfile::tempdir().unwrap();
    let keyring = keyring_file(dir.path(), &key, "a.gpg");
    let path = dir.path().join("InRelease");

    fs_err::write(
        &path,
        key.clearsign(RELEASE)
            .replace("Suite: bookworm", "Suite: bookwork"),
    )
    .unwrap();
    let out = gpgv(&keyring, &[&path]);
    assert!(
        !out.status.success(),
        "tampered text verified: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("BAD signature"), "{}", stderr(&out));

    fs_err::write(&path, other.clearsign(RELEASE)).unwrap();
    let out = gpgv(&keyring, &[&path]);
    assert!(
        !out.status.success(),
        "foreign key verified: {}",
        stderr(&out)
    );
}

#[test]
fn detached_signature_verifies_with_gpgv() {
    let key = TestKey::generate("Detached <d@test.invalid>");
    let dir = tempfile::tempdir().unwrap();
    let keyring = keyring_file(dir.path(), &key, "k.gpg");
    let release = dir.path().join("Release");
    let sig = dir.path().join("Release.gpg");
    fs_err::write(&release, RELEASE).unwrap();
    fs_err::write(&sig, key.detach_sign(RELEASE.as_bytes())).unwrap();
    let out = gpgv(&keyring, &[&sig, &release]);
    assert!(out.status.success(), "gpgv failed: {}", stderr(&out));
}

#[test]
fn keyrings_parse_back_with_the_signing_subkey() {
    let key = TestKey::generate("Parse <p@test.invalid>");
    let (from_binary, _) =
        SignedPublicKey::from_reader_single(&key.public_keyring_binary()[..]).unwrap();
    let (from_armor, _) = SignedPublicKey::from_string(&key.public_keyring_armored()).unwrap();
    assert_eq!(from_binary, from_armor);
    from_binary.verify_bindings().unwrap();
    assert_eq!(from_binary.public_subkeys.len(), 1);
    assert!(
        key.public_keyring_armored()
            .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    );

    // rPGP itself accepts the subkey signature; the primary key alone does not verify it.
    let (msg, _) = CleartextSignedMessage::from_string(&key.clearsign(RELEASE)).unwrap();
    msg.verify(&from_binary.public_subkeys[0]).unwrap();
    assert!(msg.verify(&from_binary.primary_key).is_err());
}
