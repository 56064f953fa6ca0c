use std::io::Read;
use std::process::Command;

use grocker_testkit::{Compression, DebBuilder, RawKind};

fn hello() -> DebBuilder {
    DebBuilder::new("hello", "1:2.10-3", "amd64")
        .depends("libc6 (>= 2.34), libfoo | libbar")
        .pre_depends("dpkg (>= 1.17)")
        .provides("greeter")
        .field("Homepage", "https://example.invalid/hello")
        .file("usr/bin/hello", b"#!/bin/sh\necho hello\n", 0o755)
        .file("usr/share/doc/hello/copyright", b"free\n", 0o644)
        .symlink("usr/bin/hi", "hello")
        .hardlink("usr/bin/hello2", "usr/bin/hello")
        .postinst("#!/bin/sh\nexit 1\n")
}

fn dpkg_deb(args: &[&str], deb: &std::path::Path) -> String {
    let out = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .expect("run dpkg-deb");
    assert!(
        out.status.success(),
        "dpkg-deb {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn write_deb(dir: &std::path::Path, deb: &DebBuilder) -> std::path::PathBuf {
    let path = dir.join(deb.file_name());
    fs_err::write(&path, deb.build()).unwrap();
    path
}

#[test]
fn dpkg_deb_reads_control_fields_and_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let deb = hello();
    assert_eq!(deb.file_name(), "hello_2.10-3_amd64.deb");
    assert_eq!(deb.pool_path(), "pool/main/h/hello/hello_2.10-3_amd64.deb");
    let path = write_deb(dir.path(), &deb);
    let info = dpkg_deb(&["--info"], &path);
    for needle in [
        "new Debian package, version 2.0.",
        " Package: hello\n",
        " Version: 1:2.10-3\n",
        " Architecture: amd64\n",
        " Depends: libc6 (>= 2.34), libfoo | libbar\n",
        " Pre-Depends: dpkg (>= 1.17)\n",
        " Provides: greeter\n",
        " Homepage: https://example.invalid/hello\n",
        " Installed-Size: 1\n",
        " Description: test package hello\n",
        "postinst",
    ] {
        assert!(info.contains(needle), "missing {needle:?} in:\n{info}");
    }
    assert_eq!(dpkg_deb(&["--field"], &path), deb.control_paragraph());
    let one = Command::new("dpkg-deb")
        .arg("--field")
        .arg(&path)
        .arg("Depends")
        .output()
        .unwrap();
    assert_eq!(one.stdout, b"libc6 (>= 2.34), libfoo | libbar\n");
}

#[test]
fn dpkg_deb_lists_files_links_and_parents() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_deb(dir.path(), &hello());
    let listing = dpkg_deb(&["-c"], &path);
    let lines: Vec<&str> = listing.lines().collect();
    let names: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(5).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "./",
            "./usr/",
            "./usr/bin/",
            "./usr/bin/hello",
            "./usr/share/",
            "./usr/share/doc/",
            "./usr/share/doc/hello/",
            "./usr/share/doc/hello/copyright",
            "./usr/bin/hi",
            "./usr/bin/hello2",
        ]
    );
    assert!(lines[3].starts_with("-rwxr-xr-x root/root"), "{}", lines[3]);
    assert!(lines[8].starts_with("lrwxrwxrwx") && lines[8].ends_with("./usr/bin/hi -> hello"));
    assert!(
        lines[9].ends_with("./usr/bin/hello2 link to ./usr/bin/hello"),
        "{}",
        lines[9]
    );
}

#[test]
fn gzip_and_uncompressed_data_members_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    for c in [Compression::Gzip, Compression::None] {
        let deb = DebBuilder::new("z", "1", "all")
            .file("etc/z.conf", b"z=1\n", 0o644)
            .data_compression(c);
        let path = write_deb(dir.path(), &deb);
        assert!(dpkg_deb(&["-c"], &path).contains("./etc/z.conf"));
        let members = ar_members(&deb.build());
        assert_eq!(members[2].0, c.member_name("data"));
    }
}

#[test]
fn members_are_in_deb_order() {
    let members = ar_members(&hello().build());
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["debian-binary", "control.tar.xz", "data.tar.xz"]);
    assert_eq!(members[0].1, b"2.0\n");
}

#[test]
fn hostile_entries_are_written_verbatim() {
    let long = format!("./usr/share/{}/file", "d".repeat(120));
    let deb = DebBuilder::new("evil", "1", "amd64")
        .raw_data_entry("../../etc/evil", RawKind::File, b"pwned\n")
        .raw_data_entry("/etc/passwd", RawKind::File, b"root::0:0::/:/bin/sh\n")
        .raw_data_entry(
            "./usr/lib/escape",
            RawKind::Symlink,
            b"../../../../etc/shadow",
        )
        .raw_data_entry("./usr/lib/hard", RawKind::Hardlink, b"/etc/shadow")
        .raw_data_entry("./dev/null", RawKind::CharDevice, b"")
        .raw_data_entry("./dup", RawKind::File, b"one")
        .raw_data_entry("./dup", RawKind::File, b"two")
        .raw_data_entry(&long, RawKind::File, b"long");
    let members = ar_members(&deb.build());
    let mut tar_bytes = Vec::new();
    lzma_rust2::XzReader::new(&members[2].1[..], false)
        .read_to_end(&mut tar_bytes)
        .unwrap();
    assert_eq!(tar_bytes, deb.data_tar());
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let got: Vec<(Vec<u8>, tar::EntryType, Option<Vec<u8>>)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let link = e.link_name_bytes().map(|l| l.into_owned());
            (e.path_bytes().into_owned(), e.header().entry_type(), link)
        })
        .collect();
    let names: Vec<&[u8]> = got.iter().map(|(n, _, _)| n.as_slice()).collect();
    assert_eq!(
        names,
        [
            &b"../../etc/evil"[..],
            b"/etc/passwd",
            b"./usr/lib/escape",
            b"./usr/lib/hard",
            b"./dev/null",
            b"./dup",
            b"./dup",
            long.as_bytes(),
        ]
    );
    assert_eq!(got[2].2.as_deref(), Some(&b"../../../../etc/shadow"[..]));
    assert_eq!(got[3].1, tar::EntryType::Link);
    assert_eq!(got[4].1, tar::EntryType::Char);
}

/// (name, bytes) of each ar member.
fn ar_members(deb: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = ar::Archive::new(deb);
    let mut out = Vec::new();
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.header().identifier().to_vec()).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        out.push((name, bytes));
    }
    out
}
