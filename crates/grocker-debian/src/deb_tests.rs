use std::io::Write;

use super::*;

const LIBBZ2: &[u8] = include_bytes!("../tests/data/libbz2-1.0_1.0.8-5+b1_amd64.deb");
const NETBASE: &[u8] = include_bytes!("../tests/data/netbase_6.4_all.deb");

fn find<'a>(contents: &'a DebContents, path: &str) -> Option<&'a Entry> {
    contents
        .files
        .iter()
        .find(|(p, _)| p.as_str() == path)
        .map(|(_, e)| e)
}

#[test]
fn real_libbz2_xz() {
    let deb = read_deb(LIBBZ2, "libbz2-1.0", &DebOptions::default()).unwrap();
    assert!(deb.control.starts_with("Package: libbz2-1.0\n"));
    assert!(deb.md5sums.as_deref().unwrap().contains("libbz2.so.1.0.4"));
    // merged-/usr: ./lib/x86_64-linux-gnu/... moved under usr/
    let so = find(&deb, "usr/lib/x86_64-linux-gnu/libbz2.so.1.0.4").unwrap();
    assert!(matches!(&so.kind, Kind::File(data) if data.head(4).unwrap() == b"\x7fELF"));
    assert_eq!(so.mode, 0o644);
    let link = find(&deb, "usr/lib/x86_64-linux-gnu/libbz2.so.1").unwrap();
    assert_eq!(link.kind, Kind::Symlink("libbz2.so.1.0.4".to_string()));
    assert!(
        deb.files
            .iter()
            .all(|(p, e)| e.uid == 0 && e.gid == 0 && !p.starts_with("lib"))
    );
    // docs dropped but the copyright
    assert!(find(&deb, "usr/share/doc/libbz2-1.0/copyright").is_some());
    assert!(find(&deb, "usr/share/doc/libbz2-1.0").is_some());
    assert!(find(&deb, "usr/share/doc/libbz2-1.0/changelog.Debian.gz").is_none());
    // archive order, each path once (`lib/` and `usr/` both hold `usr/lib`-like dirs)
    let paths: Vec<&str> = deb.files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths[0], "usr/lib");
    let unique: std::collections::BTreeSet<_> = paths.iter().collect();
    assert_eq!(unique.len(), paths.len());

    let all = read_deb(
        LIBBZ2,
        "libbz2-1.0",
        &DebOptions {
            drop_docs: false,
            ..DebOptions::default()
        },
    )
    .unwrap();
    assert!(find(&all, "usr/share/doc/libbz2-1.0/changelog.Debian.gz").is_some());

    // With a spool, the library (over SPOOL_FROM) is on disk, the small files in memory:
    // the same entries either way.
    let dir = tempfile::tempdir().unwrap();
    let options = DebOptions {
        spool: Some(Spool::new_in(dir.path()).unwrap()),
        ..DebOptions::default()
    };
    let spooled = read_deb(LIBBZ2, "libbz2-1.0", &options).unwrap();
    assert_eq!(spooled.files, deb.files);
    let Kind::File(lib) = &find(&spooled, "usr/lib/x86_64-linux-gnu/libbz2.so.1.0.4")
        .unwrap()
        .kind
    else {
        panic!("not a file")
    };
    assert!(lib.len() >= SPOOL_FROM && lib.as_inline().is_none());
    let Kind::File(copyright) = &find(&spooled, "usr/share/doc/libbz2-1.0/copyright")
        .unwrap()
        .kind
    else {
        panic!("not a file")
    };
    assert!(copyright.as_inline().is_some());
}

#[test]
fn real_netbase_conffiles_from_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netbase_6.4_all.deb");
    fs_err::write(&path, NETBASE).unwrap();
    let deb = read_deb_file(&path, &DebOptions::default()).unwrap();
    assert!(
        deb.conffiles.contains(&"/etc/services".to_string()),
        "{:?}",
        deb.conffiles
    );
    let services = find(&deb, "etc/services").unwrap();
    assert!(matches!(&services.kind, Kind::File(d) if d.len() > 10_000));
    assert!(!deb.control.contains("postinst"));
}

// ---- hand-made archives -------------------------------------------------------------------

enum T<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Char(&'a str),
    Fifo(&'a str),
}

/// A tar with raw headers, so names `tar::Builder` would refuse (absolute, `..`) can be written.
fn tar(entries: &[T<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, link, data, mode, ty): (&str, &str, &[u8], u32, tar::EntryType) = match *e {
            T::File(n, d, m) => (n, "", d, m, tar::EntryType::Regular),
            T::Dir(n) => (n, "", b"", 0o755, tar::EntryType::Directory),
            T::Symlink(n, t) => (n, t, b"", 0o777, tar::EntryType::Symlink),
            T::Hardlink(n, t) => (n, t, b"", 0o644, tar::EntryType::Link),
            T::Char(n) => (n, "", b"", 0o644, tar::EntryType::Char),
            T::Fifo(n) => (n, "", b"", 0o644, tar::EntryType::Fifo),
        };
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(ty);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn compress(ext: &str, data: &[u8]) -> Vec<u8> {
    match ext {
        "" => data.to_vec(),
        ".gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        ".xz" => {
            let mut w =
                lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1))
                    .unwrap();
            w.write_all(data).unwrap();
            w.finish().unwrap()
        }
        ".zst" => zstd::encode_all(data, 3).unwrap(),
        ".bz2" => b"BZh91AY&SY".to_vec(),
        _ => unreachable!(),
    }
}

fn deb_with(control_ext: &str, data_ext: &str, data: &[T<'_>]) -> Vec<u8> {
    let control = tar(&[
        T::Dir("./"),
        T::File(
            "./control",
            b"Package: t\nVersion: 1\nArchitecture: all\n",
            0o644,
        ),
        T::File("./postinst", b"#!/bin/sh\nrm -rf /\n", 0o755),
        T::File(
            "./conffiles",
            b"/etc/t.conf\nremove-on-upgrade /etc/old.conf\n",
            0o644,
        ),
    ]);
    let members: Vec<(String, Vec<u8>)> = vec![
        ("debian-binary".into(), b"2.0\n".to_vec()),
        (
            format!("control.tar{control_ext}"),
            compress(control_ext, &control),
        ),
        (
            format!("data.tar{data_ext}"),
            compress(data_ext, &tar(data)),
        ),
    ];
    let mut b = ar::Builder::new(Vec::new());
    for (name, bytes) in members {
        let header = ar::Header::new(name.into_bytes(), bytes.len() as u64);
        b.append(&header, &bytes[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn read(data: &[T<'_>]) -> Result<DebContents, DebianError> {
    read_deb(
        &deb_with(".xz", ".xz", data)[..],
        "t_1_all.deb",
        &DebOptions::default(),
    )
}

fn hostile(data: &[T<'_>]) -> String {
    match read(data) {
        Err(e @ DebianError::HostileDeb { .. }) => e.to_string(),
        other => panic!("expected a hostile-archive error, got {other:?}"),
    }
}

#[test]
fn every_compression() {
    let data = [
        T::Dir("./"),
        T::Dir("./etc/"),
        T::File("./etc/t.conf", b"x=1\n", 0o644),
    ];
    for control in ["", ".gz", ".xz", ".zst"] {
        for data_ext in ["", ".gz", ".xz", ".zst"] {
            let deb = deb_with(control, data_ext, &data);
            let c = read_deb(&deb[..], "t", &DebOptions::default()).unwrap();
            assert_eq!(c.conffiles, ["/etc/t.conf", "/etc/old.conf"]);
            assert!(c.control.starts_with("Package: t\n"));
            let paths: Vec<&str> = c.files.iter().map(|(p, _)| p.as_str()).collect();
            assert_eq!(paths, ["etc", "etc/t.conf"], "{control} {data_ext}");
        }
    }
    let err = read_deb(
        &deb_with(".xz", ".bz2", &data)[..],
        "t",
        &DebOptions::default(),
    );
    assert!(
        err.unwrap_err()
            .to_string()
            .contains("unsupported compression")
    );
}

#[test]
fn ownership_and_setuid_are_normalized() {
    let c = read(&[
        T::File("./usr/bin/su", b"x", 0o4755),
        T::File("./usr/bin/wall", b"x", 0o2755),
        T::Dir("./tmp/"),
    ])
    .unwrap();
    let modes: Vec<(&str, u32, u32)> = c
        .files
        .iter()
        .map(|(p, e)| (p.as_str(), e.mode, e.uid))
        .collect();
    assert_eq!(
        modes,
        [
            ("usr/bin/su", 0o755, 0),
            ("usr/bin/wall", 0o755, 0),
            ("tmp", 0o755, 0)
        ]
    );
}

#[test]
fn merged_usr_moves_entries_and_hardlink_targets() {
    let c = read(&[
        T::Dir("./bin/"),
        T::File("./bin/gzip", b"gz", 0o755),
        T::Hardlink("./bin/gunzip", "./bin/gzip"),
        T::Symlink("./sbin/x", "/bin/gzip"),
        T::Dir("./usr/bin/"),
        T::File("./usr/bin/zcat", b"z", 0o755),
    ])
    .unwrap();
    let got: Vec<(&str, &Kind)> = c.files.iter().map(|(p, e)| (p.as_str(), &e.kind)).collect();
    assert_eq!(got[0], ("usr/bin", &Kind::Dir));
    assert_eq!(got[2].0, "usr/bin/gunzip");
    assert_eq!(
        got[2].1,
        &Kind::Hardlink(RelPath::new("usr/bin/gzip").unwrap())
    );
    assert_eq!(got[3], ("usr/sbin/x", &Kind::Symlink("/bin/gzip".into())));
    assert_eq!(got.len(), 5, "usr/bin listed once: {got:?}");
}

#[test]
fn merged_usr_links_shipped_by_the_package_are_left_to_the_caller() {
    // trixie's base-files ships the links itself.
    let c = read(&[
        T::Symlink("./bin", "usr/bin"),
        T::Symlink("./lib64", "/usr/lib64"),
        T::Dir("./usr/bin/"),
    ])
    .unwrap();
    let got: Vec<&str> = c.files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(got, ["usr/bin"]);
    // A top-level link pointing elsewhere is not ours to drop, and clashes as before.
    assert!(read(&[T::Symlink("./bin", "opt/bin"), T::Dir("./usr/bin/")]).is_err());
}

#[test]
fn hardlink_to_a_dropped_doc_carries_the_content() {
    let c = read(&[
        T::File("./usr/share/doc/t/README", b"readme", 0o644),
        T::Hardlink("./usr/share/t/README", "./usr/share/doc/t/README"),
    ])
    .unwrap();
    assert_eq!(c.files.len(), 1);
    assert_eq!(c.files[0].0.as_str(), "usr/share/t/README");
    assert_eq!(
        c.files[0].1.kind,
        Kind::File(Content::inline(&b"readme"[..]))
    );
}

#[test]
fn doc_filters() {
    let c = read(&[
        T::File("./usr/share/man/man1/t.1.gz", b"m", 0o644),
        T::File("./usr/share/locale/fr/LC_MESSAGES/t.mo", b"m", 0o644),
        T::File("./usr/share/info/t.info.gz", b"m", 0o644),
        T::File("./usr/share/lintian/overrides/t", b"m", 0o644),
        T::Symlink("./usr/share/doc/t-data", "t"),
        T::File("./usr/share/doc/t/copyright", b"c", 0o644),
        T::File("./usr/share/doc/t/examples/copyright", b"c", 0o644),
        T::File("./usr/share/doc-base/t", b"c", 0o644),
        T::File("./usr/share/manual", b"kept", 0o644),
    ])
    .unwrap();
    let paths: Vec<&str> = c.files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "usr/share/doc/t-data",
            "usr/share/doc/t/copyright",
            "usr/share/doc-base/t",
            "usr/share/manual"
        ]
    );
}

#[test]
fn hostile_archives_are_refused_naming_deb_and_entry() {
    let cases: Vec<(Vec<T<'_>>, &str)> = vec![
        (vec![T::File("/etc/passwd", b"x", 0o644)], "/etc/passwd"),
        (
            vec![T::File("./usr/../../etc/passwd", b"x", 0o644)],
            "./usr/../../etc/passwd",
        ),
        (
            vec![T::Symlink("./usr/lib/x", "../../../etc/shadow")],
            "./usr/lib/x",
        ),
        (vec![T::Hardlink("./a", "./missing")], "./a"),
        (
            vec![T::Hardlink("./a", "./b"), T::File("./b", b"x", 0o644)],
            "./a",
        ),
        (vec![T::Dir("./d/"), T::Hardlink("./a", "./d")], "./a"),
        (vec![T::Hardlink("./a", "/etc/shadow")], "./a"),
        (vec![T::Char("./dev/null")], "./dev/null"),
        (vec![T::Fifo("./run/fifo")], "./run/fifo"),
        (
            vec![T::File("./a", b"1", 0o644), T::File("./a", b"2", 0o644)],
            "./a",
        ),
        (
            vec![
                T::File("./bin/a", b"1", 0o644),
                T::File("./usr/bin/a", b"2", 0o644),
            ],
            "./usr/bin/a",
        ),
        (vec![T::File("./a", b"1", 0o644), T::Dir("./a/")], "./a/"),
        (vec![T::Dir("./a/"), T::Symlink("./a", "b")], "./a"),
    ];
    for (entries, entry) in cases {
        let message = hostile(&entries);
        assert!(message.contains("t_1_all.deb"), "{message}");
        assert!(message.contains(&format!("`{entry}`")), "{message}");
    }
}

#[test]
fn malformed_debs() {
    let opts = DebOptions::default();
    let err = read_deb(&b"not an ar archive"[..], "x.deb", &opts).unwrap_err();
    assert!(err.to_string().contains("x.deb"), "{err}");
    // no data.tar
    let mut b = ar::Builder::new(Vec::new());
    b.append(
        &ar::Header::new(b"debian-binary".to_vec(), 4),
        &b"2.0\n"[..],
    )
    .unwrap();
    let control = compress(".gz", &tar(&[T::File("./control", b"Package: t\n", 0o644)]));
    let header = ar::Header::new(b"control.tar.gz".to_vec(), control.len() as u64);
    b.append(&header, &control[..]).unwrap();
    let err = read_deb(&b.into_inner().unwrap()[..], "x.deb", &opts).unwrap_err();
    assert!(err.to_string().contains("no data.tar"), "{err}");
}
