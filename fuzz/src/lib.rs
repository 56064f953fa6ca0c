//! What grocker's fuzz targets share: the invariants every parser of hostile bytes must keep,
//! and the small builders that let the fuzzer reach past checksums it cannot forge.
//!
//! The targets (`fuzz_targets/*.rs`, run by `scripts/fuzz`) feed libFuzzer's bytes to the
//! real parsers. A parser may refuse its input — an error is a value — but it must never panic,
//! and what it accepts must be safe to use: every path of a filesystem it produces relative to
//! the image root with no `..`, every symlink resolving inside the root, grocker's own venv
//! files untouched. Some formats protect their content with a checksum the fuzzer cannot
//! produce (tar headers, zip CRCs, RECORD hashes); the structured targets take plain sections
//! and compute those here, so mutations reach the code behind them.

use std::io::{Cursor, Write};

use grocker_fs::{Entry, Kind, RelPath, Tree};
use grocker_hash::Sha256;

/// Panics unless `path` is a normalized relative path: not empty, no leading `/`, no empty,
/// `.` or `..` component, no NUL. Checked on the string itself, not through [`RelPath::new`],
/// so that a bug in `RelPath` is caught too.
pub fn assert_contained(path: &RelPath) {
    let s = path.as_str();
    assert!(!s.is_empty(), "empty path in the result");
    assert!(!s.starts_with('/'), "absolute path `{s}` in the result");
    assert!(!s.contains('\0'), "NUL in path `{s:?}`");
    for part in s.split('/') {
        assert!(
            !matches!(part, "" | "." | ".."),
            "path `{s}` has a `{part}` component"
        );
    }
}

/// Panics unless the relative symlink `target` of `path` stays inside the root when resolved
/// from the link's directory (absolute targets are resolved inside the container's root).
pub fn assert_symlink_contained(path: &RelPath, target: &str) {
    assert!(!target.is_empty(), "empty symlink target at {path}");
    if target.starts_with('/') {
        return;
    }
    let mut depth = path.as_str().split('/').count() as isize - 1;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                assert!(
                    depth >= 0,
                    "symlink {path} -> {target} climbs out of the root"
                );
            }
            _ => depth += 1,
        }
    }
}

/// Every entry of a produced filesystem: contained paths, contained symlinks, hard links to
/// files of the same set.
pub fn assert_entries_contained<'a>(entries: impl IntoIterator<Item = (&'a RelPath, &'a Entry)>) {
    let entries: Vec<_> = entries.into_iter().collect();
    for (path, entry) in &entries {
        assert_contained(path);
        match &entry.kind {
            Kind::Symlink(target) => assert_symlink_contained(path, target),
            Kind::Hardlink(target) => {
                assert_contained(target);
                assert!(
                    entries
                        .iter()
                        .any(|(p, e)| *p == target && matches!(e.kind, Kind::File(_))),
                    "hard link {path} -> {target}, which is not a file of the result"
                );
            }
            Kind::File(_) | Kind::Dir => {}
        }
        assert_eq!(entry.mode & 0o6000, 0, "setuid/setgid bit on {path}");
    }
}

/// [`assert_entries_contained`] for a whole tree.
pub fn assert_tree_contained(tree: &Tree) {
    assert_entries_contained(tree.iter());
}

/// Splits `data` into named sections: each starts with a line `=== NAME`, and runs to the next
/// such line (its final newline belongs to the section). Bytes before the first header are
/// ignored. Names are lossily decoded; the structured targets decide what a name means.
pub fn sections(data: &[u8]) -> Vec<(String, &[u8])> {
    const HEADER: &[u8] = b"=== ";
    let mut starts = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let line_end = data[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| at + i + 1);
        if data[at..line_end].starts_with(HEADER) {
            starts.push((at, line_end));
        }
        at = line_end;
    }
    let mut out = Vec::with_capacity(starts.len());
    for (i, &(header, body)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(data.len(), |&(next, _)| next);
        let name = &data[header + HEADER.len()..body];
        let name = String::from_utf8_lossy(name)
            .trim_end_matches('\n')
            .to_string();
        out.push((name, &data[body..end]));
    }
    out
}

/// Gives every header of the tar stream in `tar` a correct checksum, walking the headers the
/// way a reader does (512-byte header, then the entry's data rounded up to 512). The walk stops
/// at a zero block, at the end, or at a size it cannot read; the bytes are otherwise unchanged.
pub fn fix_tar_checksums(tar: &mut [u8]) {
    let mut at = 0usize;
    while at + 512 <= tar.len() {
        let header = &mut tar[at..at + 512];
        if header.iter().all(|&b| b == 0) {
            return;
        }
        // ustar: the checksum is the sum of the header's bytes with the field read as spaces,
        // written as six octal digits, NUL, space.
        header[148..156].fill(b' ');
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let Some(size) = tar_size(&header[124..136]) else {
            return;
        };
        let Some(next) = size
            .checked_add(511)
            .map(|s| s / 512 * 512)
            .and_then(|s| at.checked_add(512)?.checked_add(s))
        else {
            return;
        };
        at = next;
    }
}

/// The size field of a tar header: octal digits, or GNU base-256 when the high bit is set.
fn tar_size(field: &[u8]) -> Option<usize> {
    if field[0] & 0x80 != 0 {
        let mut n: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            n = n.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return usize::try_from(n).ok();
    }
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if digits.is_empty() {
        return Some(0);
    }
    usize::try_from(u64::from_str_radix(digits, 8).ok()?).ok()
}

/// A `.deb` whose `control.tar` is a valid minimal one and whose `data.tar` (uncompressed)
/// is `data_tar`, as dpkg-deb lays the ar archive out.
pub fn deb_with_data_tar(data_tar: &[u8]) -> Vec<u8> {
    let mut control = tar::Builder::new(Vec::new());
    let text = b"Package: fuzz\nVersion: 1.0\nArchitecture: all\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    // Writing to a Vec cannot fail.
    let _ = control.append_data(&mut header, "./control", &text[..]);
    let control = control.into_inner().unwrap_or_default();
    let mut deb = b"!<arch>\n".to_vec();
    for (name, data) in [
        ("debian-binary", &b"2.0\n"[..]),
        ("control.tar", &control[..]),
        ("data.tar", data_tar),
    ] {
        // ar(5): name/16, mtime/12, uid/6, gid/6, mode/8, size/10, "`\n"; data padded to even.
        let _ = writeln!(
            deb,
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`",
            name,
            0,
            0,
            0,
            100644,
            data.len()
        );
        deb.extend_from_slice(data);
        if data.len() % 2 == 1 {
            deb.push(b'\n');
        }
    }
    deb
}

/// The RECORD hash placeholder the `wheel_files` target fills in: a RECORD line
/// `path,sha256=?,` gets the real hash and size of the section named `path`.
pub const RECORD_PLACEHOLDER: &str = "sha256=?";

/// A wheel (zip, entries stored) of `files` in order. In a `*.dist-info/RECORD` file, each line
/// whose hash is [`RECORD_PLACEHOLDER`] gets the hash and size of the named file, so that
/// mutations of a file's content reach the installer rather than stopping at the hash check.
/// A name ending in `/` is a directory entry; one starting with `+x ` is an executable file.
pub fn wheel_from_files(files: &[(String, &[u8])]) -> Vec<u8> {
    let find = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, d)| *d);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        let (name, mode) = match name.strip_prefix("+x ") {
            Some(name) => (name, 0o755),
            None => (name.as_str(), 0o644),
        };
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .unix_permissions(mode);
        if name.ends_with('/') {
            if zip.add_directory(name, options).is_err() {
                continue;
            }
            continue;
        }
        // The writer refuses some names (duplicates): the fuzzer then tries another.
        if zip.start_file(name, options).is_err() {
            continue;
        }
        let data: Vec<u8> = if name.ends_with(".dist-info/RECORD") {
            fill_record(data, &|n| find(n).or_else(|| find(&format!("+x {n}"))))
        } else {
            data.to_vec()
        };
        let _ = zip.write_all(&data);
    }
    zip.finish().map(Cursor::into_inner).unwrap_or_default()
}

fn fill_record<'a>(record: &[u8], find: &dyn Fn(&str) -> Option<&'a [u8]>) -> Vec<u8> {
    let text = String::from_utf8_lossy(record);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut fields: Vec<&str> = line.trim_end_matches(['\r', '\n']).split(',').collect();
        if fields.len() == 3
            && fields[1] == RECORD_PLACEHOLDER
            && let Some(data) = find(fields[0])
        {
            let hash = record_hash(&Sha256::digest(data));
            let size = data.len().to_string();
            fields[1] = &hash;
            fields[2] = &size;
            out.push_str(&fields.join(","));
            out.push('\n');
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

/// RECORD's `sha256=` + urlsafe base64 without padding (PEP 376, PEP 427).
fn record_hash(hash: &Sha256) -> String {
    use base64::Engine;
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash.as_bytes())
    )
}

/// A wheel file name for the archive `data`: from the first `NAME-VERSION.dist-info/` it
/// mentions, so that seeds of different wheels (and mutations of their names) get past the
/// file-name check to the installer; `fuzz-1.0` when there is none.
pub fn wheel_file_name(data: &[u8]) -> String {
    const MARK: &[u8] = b".dist-info/";
    let stem = data
        .windows(MARK.len())
        .position(|w| w == MARK)
        .map(|end| {
            let start = data[..end]
                .iter()
                .rposition(|&b| b == b'/' || b <= b' ' || b > b'~')
                .map_or(0, |i| i + 1);
            String::from_utf8_lossy(&data[start..end]).into_owned()
        })
        .filter(|stem| stem.contains('-'))
        .unwrap_or_else(|| "fuzz-1.0".to_string());
    format!("{stem}-py3-none-any.whl")
}

/// Installs the wheel `data` named `file_name` into a fresh venv's tree and checks what the
/// installer promises: no panic; on error, the tree untouched; on success, every path inside
/// the venv, every link inside the root, grocker's own venv files unchanged, every reported
/// file present with the reported hash.
pub fn install_and_check(data: &[u8], file_name: &str) {
    use grocker_wheel::{Arch, InstallOptions, Target, Venv, install_wheel};

    let target = Target {
        python: (3, 11),
        python_full: "3.11.2".parse().expect("a valid version"),
        glibc: (2, 36),
        arch: Arch::X86_64,
    };
    let venv = Venv::for_target("/opt/venv", &target);
    let mut tree = Tree::new();
    for (path, entry) in venv.skeleton() {
        tree.insert(path, entry).expect("the skeleton inserts");
    }
    let before = tree.clone();
    // A small bomb limit so that a zip bomb is refused quickly instead of exhausting memory.
    let options = InstallOptions {
        max_uncompressed: 8 << 20,
        ..InstallOptions::default()
    };
    match install_wheel(Cursor::new(data), file_name, &venv, &mut tree, &options) {
        Err(error) => {
            let changed: Vec<String> = tree
                .iter()
                .filter(|(path, entry)| before.get(path) != Some(*entry))
                .map(|(path, _)| path.to_string())
                .chain(
                    before
                        .iter()
                        .filter(|(path, _)| tree.get(path).is_none())
                        .map(|(path, _)| format!("{path} (removed)")),
                )
                .collect();
            assert!(
                changed.is_empty(),
                "a refused wheel ({error}) changed the tree: {changed:?}"
            );
        }
        Ok(installed) => {
            assert_tree_contained(&tree);
            for (path, entry) in before.iter() {
                assert_eq!(
                    tree.get(path),
                    Some(entry),
                    "the wheel changed grocker's {path}"
                );
            }
            for (path, _) in tree.iter() {
                assert!(
                    path.starts_with("opt/venv"),
                    "the wheel wrote {path}, outside the venv"
                );
            }
            for (path, hash) in &installed.written {
                match tree.get(path).map(|e| &e.kind) {
                    Some(Kind::File(content)) => {
                        let bytes = content.read_all().expect("an inline content reads");
                        assert_eq!(
                            &Sha256::digest(&bytes),
                            hash,
                            "wrong hash reported for {path}"
                        )
                    }
                    other => panic!("reported {path} as written, but the tree has {other:?}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_on_header_lines() {
        let s = sections(b"junk\n=== a\nx\n=== b\n=== c\ny");
        assert_eq!(
            s,
            vec![
                ("a".to_string(), &b"x\n"[..]),
                ("b".to_string(), &b""[..]),
                ("c".to_string(), &b"y"[..])
            ]
        );
    }

    #[test]
    fn escapes_are_caught() {
        let path = RelPath::new("usr/bin/x").unwrap();
        assert_symlink_contained(&path, "../../etc/passwd");
        assert!(
            std::panic::catch_unwind(|| assert_symlink_contained(&path, "../../../x")).is_err()
        );
    }
}
