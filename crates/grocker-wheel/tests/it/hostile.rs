//! Hostile and broken wheels: every rule refuses with an error naming the wheel and the entry,
//! and leaves the tree untouched.

use std::io::{Cursor, Write};

use grocker_fs::Tree;
use grocker_wheel::{InstallOptions, WheelError, install_wheel, install_wheel_file};
use zip::write::SimpleFileOptions;

use crate::common::*;

/// Installs into a tree holding one file, asserts the error mentions the wheel and every
/// `needle`, and that the tree did not change.
fn refused(file_name: &str, bytes: &[u8], needles: &[&str]) -> WheelError {
    let mut tree = Tree::new();
    let marker = WheelBuilder::new("marker-1.0");
    install_into(&mut tree, &marker.file_name(), &marker.build()).unwrap();
    let before = tree.clone();
    let err = install_into(&mut tree, file_name, bytes).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(file_name), "{message}");
    for needle in needles {
        assert!(message.contains(needle), "`{needle}` not in: {message}");
    }
    assert_eq!(tree, before, "tree modified by a refused wheel");
    err
}

fn hostile(builder: &WheelBuilder, needles: &[&str]) {
    let err = refused(&builder.file_name(), &builder.build(), needles);
    assert!(matches!(err, WheelError::Hostile { .. }), "{err:?}");
}

/// A wheel whose entry `placeholder` is renamed to `name` (same length) after writing.
fn renamed(placeholder: &str, name: &str) -> (String, Vec<u8>) {
    let builder = WheelBuilder::new("evil-1.0").file(placeholder, b"boom\n");
    let mut bytes = builder.build();
    assert_eq!(
        patch(&mut bytes, placeholder, name),
        2,
        "local + central header"
    );
    (builder.file_name(), bytes)
}

#[test]
fn absolute_paths() {
    let (file, bytes) = renamed("Xetc/cron.d/evil", "/etc/cron.d/evil");
    refused(&file, &bytes, &["/etc/cron.d/evil", "absolute"]);
    let (file, bytes) = renamed("XXevil.py", "C:evil.py");
    refused(&file, &bytes, &["C:evil.py", "drive letter"]);
}

#[test]
fn parent_components() {
    let (file, bytes) = renamed("QQ/QQ/bin/evil", "../../bin/evil");
    refused(&file, &bytes, &["../../bin/evil", "`..`"]);
    hostile(
        &WheelBuilder::new("evil-1.0").file("evil-1.0.data/scripts/../../../x", b""),
        &["`..`"],
    );
}

#[test]
fn backslash_separators() {
    hostile(
        &WheelBuilder::new("evil-1.0").file("evil\\..\\..\\x.py", b""),
        &["evil\\..\\..\\x.py", "backslash"],
    );
}

#[test]
fn symlinks_and_special_files() {
    let b = WheelBuilder::new("evil-1.0");
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data, mode) in &b.files {
        zip.start_file(
            name.as_str(),
            SimpleFileOptions::default().unix_permissions(*mode),
        )
        .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.add_symlink("evil/link", "/etc/shadow", SimpleFileOptions::default())
        .unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    refused(&b.file_name(), &bytes, &["evil/link", "symbolic link"]);

    for (mode, what) in [
        (0o020644, "device"),
        (0o060644, "device"),
        (0o010644, "FIFO"),
    ] {
        hostile(
            &WheelBuilder::new("evil-1.0").file_mode("evil/dev", b"", mode),
            &["evil/dev", what],
        );
    }
    hostile(
        &WheelBuilder::new("evil-1.0").file_mode("evil/dir", b"", 0o040755),
        &["evil/dir", "directory"],
    );
}

#[test]
fn setuid_bits_are_dropped() {
    let b = WheelBuilder::new("suid-1.0").file_mode("suid/run", b"x", 0o106755);
    let (tree, _) = install(&b.file_name(), &b.build()).unwrap();
    let (_, mode) = file(&tree, "opt/venv/lib/python3.11/site-packages/suid/run");
    assert_eq!(mode, 0o755);
}

#[test]
fn duplicate_names() {
    // Two central directory entries with one name.
    let builder = WheelBuilder::new("evil-1.0")
        .file("evil/QQQQ.py", b"first\n")
        .file("evil/ZZZZ.py", b"second\n");
    let mut bytes = builder.build();
    assert_eq!(patch(&mut bytes, "evil/ZZZZ.py", "evil/QQQQ.py"), 2);
    refused(
        &builder.file_name(),
        &bytes,
        &["evil/QQQQ.py", "two entries"],
    );
    // Distinct names that normalize to one path.
    hostile(
        &WheelBuilder::new("evil-1.0")
            .file("evil/a.py", b"1")
            .file("evil/./a.py", b"2"),
        &["evil/./a.py", "evil/a.py"],
    );
    // Distinct archive paths that install to one place.
    hostile(
        &WheelBuilder::new("evil-1.0")
            .file("evil/b.py", b"1")
            .file("evil-1.0.data/purelib/evil/b.py", b"2"),
        &["evil-1.0.data/purelib/evil/b.py", "evil/b.py"],
    );
}

#[test]
fn another_distributions_dist_info() {
    hostile(
        &WheelBuilder::new("evil-1.0").file("pip-24.0.dist-info/RECORD", b""),
        &["pip-24.0.dist-info/RECORD", "not evil's"],
    );
}

#[test]
fn zip_bombs() {
    let zeros = vec![0u8; 8 << 20];
    let builder = WheelBuilder::new("bomb-1.0").file("bomb/zeros", &zeros);
    let bytes = builder.build();
    assert!(bytes.len() < 64 << 10, "compresses well");
    let options = InstallOptions {
        max_uncompressed: 1 << 20,
        ..InstallOptions::default()
    };
    let run = |bytes: &[u8]| {
        let mut tree = Tree::new();
        install_wheel(
            Cursor::new(bytes),
            &builder.file_name(),
            &venv(),
            &mut tree,
            &options,
        )
    };
    let err = run(&bytes).unwrap_err();
    assert!(
        matches!(err, WheelError::TooLarge { ref entry, .. } if entry == "bomb/zeros"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("bomb-1.0-py3-none-any.whl"),
        "{err}"
    );

    // Headers that lie about the size (central directory and local header both say 16
    // bytes): refused all the same, never inflated past the lie.
    let mut lying = bytes.clone();
    let size = (zeros.len() as u32).to_le_bytes();
    assert!(patch_bytes(&mut lying, &size, &16u32.to_le_bytes()) >= 2);
    let err = run(&lying).unwrap_err();
    assert!(err.to_string().contains("bomb/zeros"), "{err}");

    // Many files, each small, adding up past the limit.
    let mut many = WheelBuilder::new("bomb-1.0");
    for i in 0..5 {
        many = many.file(&format!("bomb/part{i}"), &zeros[..300 << 10]);
    }
    let mut tree = Tree::new();
    let err = install_wheel(
        Cursor::new(many.build()),
        &many.file_name(),
        &venv(),
        &mut tree,
        &options,
    )
    .unwrap_err();
    assert!(
        matches!(err, WheelError::TooLarge { ref entry, .. } if entry == "bomb/part3"),
        "{err:?}"
    );
}

/// Under the total limit, but compressed at a ratio no real file reaches: refused on its
/// headers, before a byte is inflated, with one error naming the wheel and the member — from
/// memory and from a wheel on disk alike. A member whose header understates its size is
/// refused as soon as it inflates past it, and the tree is left untouched.
#[test]
fn zip_bomb_by_ratio_is_refused_before_inflating() {
    let zeros = vec![0u8; 64 << 20];
    let builder = WheelBuilder::new("bomb-1.0")
        .file("bomb/__init__.py", b"")
        .file("bomb/zeros.bin", &zeros);
    let bytes = builder.build();
    drop(zeros);
    assert!(bytes.len() < 1 << 20, "{} bytes", bytes.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(builder.file_name());
    fs_err::write(&path, &bytes).unwrap();
    let from_file = |path: &std::path::Path| {
        let mut tree = Tree::new();
        let result = install_wheel_file(
            path,
            &builder.file_name(),
            &venv(),
            &mut tree,
            &InstallOptions::default(),
        );
        assert!(tree.is_empty());
        result
    };
    for err in [
        from_file(&path).unwrap_err(),
        install("bomb-1.0-py3-none-any.whl", &bytes).unwrap_err(),
    ] {
        assert!(
            matches!(err, WheelError::ZipBomb { ref entry, .. } if entry == "bomb/zeros.bin"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with("bomb-1.0-py3-none-any.whl: `bomb/zeros.bin` declares 67108864 bytes")
                && text.ends_with("refusing a zip bomb"),
            "{text}"
        );
    }
    // The same member declaring 1 MiB: the ratio looks harmless, the inflation gives it away.
    let mut lying = bytes.clone();
    let declared = (64u32 << 20).to_le_bytes();
    assert!(patch_bytes(&mut lying, &declared, &(1u32 << 20).to_le_bytes()) >= 2);
    fs_err::write(&path, &lying).unwrap();
    let err = from_file(&path).unwrap_err();
    assert!(err.to_string().contains("bomb/zeros.bin"), "{err}");
}

fn patch_bytes(bytes: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    let mut count = 0;
    for i in 0..bytes.len().saturating_sub(from.len()) {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            count += 1;
        }
    }
    count
}

#[test]
fn record_mismatch_names_the_file() {
    let mut builder = WheelBuilder::new("evil-1.0").file("evil/ok.py", b"ok\n");
    builder.record = false;
    let builder = builder.file("evil/x.py", b"tampered\n").file(
        "evil-1.0.dist-info/RECORD",
        format!(
            "evil/ok.py,{},3\nevil/x.py,{},9\n",
            record_hash(b"ok\n"),
            record_hash(b"original\n")
        )
        .as_bytes(),
    );
    let err = refused(
        &builder.file_name(),
        &builder.build(),
        &["evil/x.py", "RECORD"],
    );
    assert!(matches!(err, WheelError::HashMismatch { .. }), "{err:?}");

    let mut md5 = WheelBuilder::new("evil-1.0").file("evil/x.py", b"x");
    md5.record = false;
    let md5 = md5.file("evil-1.0.dist-info/RECORD", b"evil/x.py,md5=abc,1\n");
    refused(&md5.file_name(), &md5.build(), &["md5", "not permitted"]);
}

#[test]
fn broken_metadata() {
    let mut no_record = WheelBuilder::new("broken-1.0").file("broken.py", b"");
    no_record.record = false;
    refused(
        &no_record.file_name(),
        &no_record.build(),
        &["broken-1.0.dist-info/RECORD", "missing"],
    );

    let no_dist_info = WheelBuilder::new("other-1.0");
    let err = refused(
        "broken-1.0-py3-none-any.whl",
        &no_dist_info.build(),
        &["other-1.0.dist-info"],
    );
    assert!(matches!(err, WheelError::Hostile { .. }), "{err:?}");

    let wrong_version = WheelBuilder::new("broken-1.0");
    refused(
        "broken-2.0-py3-none-any.whl",
        &wrong_version.build(),
        &["version 1.0"],
    );

    // METADATA's Version must be the file name's (pip: "inconsistent version"); `.dist-info`
    // is renamed too, so only METADATA disagrees.
    let mut metadata_version = WheelBuilder::new("broken-1.0");
    metadata_version.files[0].1 = b"Metadata-Version: 2.1\nName: broken\nVersion: 6.6\n".to_vec();
    refused(
        &metadata_version.file_name(),
        &metadata_version.build(),
        &[
            "METADATA",
            "Version is 6.6",
            "says 1.0",
            "inconsistent version",
        ],
    );
    let mut no_version = WheelBuilder::new("broken-1.0");
    no_version.files[0].1 = b"Metadata-Version: 2.1\nName: broken\n".to_vec();
    refused(
        &no_version.file_name(),
        &no_version.build(),
        &["METADATA", "Version is nothing"],
    );
    // PEP 440 equality, as pip compares: `1.0.0` is `1.0`.
    let mut padded = WheelBuilder::new("broken-1.0");
    padded.files[0].1 = b"Metadata-Version: 2.1\nName: broken\nVersion: 1.0.0\n".to_vec();
    install(&padded.file_name(), &padded.build()).unwrap();

    let mut future = WheelBuilder::new("broken-1.0");
    future.files[1].1 = b"Wheel-Version: 2.0\n".to_vec();
    refused(
        &future.file_name(),
        &future.build(),
        &["WHEEL", "Wheel-Version 2.0"],
    );

    let unknown_scheme = WheelBuilder::new("broken-1.0").file("broken-1.0.data/etc/passwd", b"");
    refused(
        &unknown_scheme.file_name(),
        &unknown_scheme.build(),
        &["unknown .data directory `etc`"],
    );

    let no_callable = WheelBuilder::new("broken-1.0").file(
        "broken-1.0.dist-info/entry_points.txt",
        b"[console_scripts]\nbroken = broken\n",
    );
    refused(
        &no_callable.file_name(),
        &no_callable.build(),
        &["entry_points.txt", "no callable"],
    );

    let escape = WheelBuilder::new("broken-1.0").file(
        "broken-1.0.dist-info/entry_points.txt",
        b"[console_scripts]\n../../x = a:b\n",
    );
    refused(&escape.file_name(), &escape.build(), &["entry_points.txt"]);

    refused("broken-1.0-py3-none-any.whl", b"not a zip", &["zip"]);
    let err = refused(
        "broken.zip",
        &WheelBuilder::new("broken-1.0").build(),
        &[".whl"],
    );
    assert!(matches!(err, WheelError::Filename(_)), "{err:?}");
}

/// fuzz/ wheel_files crash-1d3dc68f: a file and entries below the same path, the file second,
/// were both staged; the venv then got the wheel's files up to the clash before the error.
#[test]
fn fuzz_crash_a_file_over_the_wheels_own_directory() {
    let builder = WheelBuilder::new("evil-1.0")
        .file("pkg/a/b.py", b"")
        .file("pkg/a", b"");
    hostile(&builder, &["pkg/a", "`pkg/a/b.py`", "is below it"]);
    let builder = WheelBuilder::new("evil-1.0")
        .file("pkg/a", b"")
        .file("pkg/a/b.py", b"");
    hostile(&builder, &["pkg/a", "needed as a directory"]);
}
