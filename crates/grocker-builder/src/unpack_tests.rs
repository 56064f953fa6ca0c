use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use super::*;

/// One tar member; the name is written raw, so hostile names get through the writer.
struct Member<'a> {
    name: &'a str,
    kind: tar::EntryType,
    link: &'a str,
    mode: u32,
    data: &'a [u8],
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> Member<'a> {
    Member {
        name,
        kind: tar::EntryType::Regular,
        link: "",
        mode: 0o600,
        data,
    }
}

fn link<'a>(name: &'a str, kind: tar::EntryType, target: &'a str) -> Member<'a> {
    Member {
        name,
        kind,
        link: target,
        mode: 0o777,
        data: b"",
    }
}

fn tar_gz(dir: &Path, members: &[Member]) -> PathBuf {
    let mut tar = tar::Builder::new(Vec::new());
    for m in members {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..m.name.len()].copy_from_slice(m.name.as_bytes());
        header.as_old_mut().linkname[..m.link.len()].copy_from_slice(m.link.as_bytes());
        header.set_entry_type(m.kind);
        header.set_mode(m.mode);
        header.set_size(m.data.len() as u64);
        header.set_cksum();
        tar.append(&header, m.data).unwrap();
    }
    let path = dir.join("pkg-1.0.tar.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar.into_inner().unwrap()).unwrap();
    fs::write(&path, gz.finish().unwrap()).unwrap();
    path
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn unpacks_an_sdist_with_normalized_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut exe = file("pkg-1.0/bin/run.sh", b"#!/bin/sh\n");
    exe.mode = 0o700;
    let archive = tar_gz(
        tmp.path(),
        &[
            file(
                "pkg-1.0/setup.py",
                b"from setuptools import setup\nsetup()\n",
            ),
            exe,
            file("./pkg-1.0/pkg/__init__.py", b"X = 1\n"),
            link(
                "pkg-1.0/pkg/alias.py",
                tar::EntryType::Symlink,
                "__init__.py",
            ),
            link(
                "pkg-1.0/copy.py",
                tar::EntryType::Link,
                "pkg-1.0/pkg/__init__.py",
            ),
        ],
    );
    let dest = tmp.path().join("work");
    let root = unpack_sdist(&archive, &dest).unwrap();
    assert_eq!(root, dest.join("pkg-1.0"));
    assert_eq!(mode(&root.join("setup.py")), 0o644);
    assert_eq!(mode(&root.join("bin/run.sh")), 0o755);
    assert_eq!(mode(&root.join("bin")), 0o755);
    assert_eq!(
        fs::read_link(root.join("pkg/alias.py")).unwrap(),
        Path::new("__init__.py")
    );
    assert_eq!(fs::read(root.join("copy.py")).unwrap(), b"X = 1\n");
}

#[test]
fn refuses_hostile_tar_entries() {
    let ok = || file("pkg-1.0/setup.py", b"");
    let cases: Vec<(Vec<Member>, &str, &str)> = vec![
        (
            vec![ok(), file("/etc/evil", b"x")],
            "/etc/evil",
            "absolute path",
        ),
        (
            vec![ok(), file("pkg-1.0/../../evil", b"x")],
            "pkg-1.0/../../evil",
            "`..`",
        ),
        (
            vec![
                ok(),
                link("pkg-1.0/out", tar::EntryType::Symlink, "../../etc"),
            ],
            "pkg-1.0/out",
            "outside",
        ),
        (
            vec![
                ok(),
                link("pkg-1.0/abs", tar::EntryType::Symlink, "/etc/passwd"),
            ],
            "pkg-1.0/abs",
            "absolute",
        ),
        (
            vec![
                ok(),
                link("pkg-1.0/hl", tar::EntryType::Link, "/etc/shadow"),
            ],
            "pkg-1.0/hl",
            "hard link",
        ),
        (
            vec![ok(), link("pkg-1.0/null", tar::EntryType::Char, "")],
            "pkg-1.0/null",
            "device",
        ),
        // Through a symlink: `lnk` is only made at the end, so `lnk/evil` would need `lnk` to be
        // a directory as well.
        (
            vec![
                ok(),
                link("pkg-1.0/lnk", tar::EntryType::Symlink, "."),
                file("pkg-1.0/lnk/evil", b"x"),
            ],
            "pkg-1.0/lnk/evil",
            "used as a directory",
        ),
        (vec![ok(), ok()], "pkg-1.0/setup.py", "two entries"),
    ];
    for (members, entry, reason) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tar_gz(tmp.path(), &members);
        let err = unpack_sdist(&archive, &tmp.path().join("work")).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, BuilderError::HostileArchive { .. }),
            "{entry}: {text}"
        );
        assert!(
            text.contains(&format!("entry `{entry}`")) && text.contains(reason),
            "{text}"
        );
        assert!(text.contains("pkg-1.0.tar.gz"), "{text}");
        // Nothing escaped the unpack directory.
        assert!(!tmp.path().join("evil").exists());
    }
}

#[test]
fn unpacks_zip_sdists_and_refuses_hostile_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let zip_of = |name: &str, entries: &[(&str, &[u8])]| {
        let path = tmp.path().join(name);
        let mut zip = zip::ZipWriter::new(fs_err::File::create(&path).unwrap());
        for (entry, data) in entries {
            zip.start_file(*entry, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap();
        path
    };
    let good = zip_of("old-0.1.zip", &[("old-0.1/setup.py", b"")]);
    let root = unpack_sdist(&good, &tmp.path().join("good")).unwrap();
    assert!(root.ends_with("old-0.1") && root.join("setup.py").is_file());

    let bad = zip_of(
        "bad-0.1.zip",
        &[("bad-0.1/setup.py", b""), ("../evil", b"x")],
    );
    let err = unpack_sdist(&bad, &tmp.path().join("bad")).unwrap_err();
    assert!(err.to_string().contains("entry `../evil`"), "{err}");
}

#[test]
fn refuses_what_is_not_an_sdist() {
    let tmp = tempfile::tempdir().unwrap();
    let no_project = tar_gz(tmp.path(), &[file("pkg-1.0/README", b"")]);
    let err = unpack_sdist(&no_project, &tmp.path().join("a")).unwrap_err();
    assert!(
        err.to_string()
            .contains("neither pyproject.toml nor setup.py"),
        "{err}"
    );
    let wheel = tmp.path().join("pkg-1.0-py3-none-any.whl");
    fs::write(&wheel, b"").unwrap();
    let err = unpack_sdist(&wheel, &tmp.path().join("b")).unwrap_err();
    assert!(
        err.to_string().contains("not a .tar.gz or .zip sdist"),
        "{err}"
    );
    let garbage = tmp.path().join("x-1.tar.gz");
    fs::write(&garbage, b"not gzip at all").unwrap();
    let err = unpack_sdist(&garbage, &tmp.path().join("c")).unwrap_err();
    assert!(matches!(err, BuilderError::BadArchive { .. }), "{err}");
}

#[test]
fn refuses_a_non_empty_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tar_gz(tmp.path(), &[file("pkg-1.0/setup.py", b"")]);
    let err = unpack_sdist(&archive, tmp.path()).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}
