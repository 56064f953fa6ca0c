//! The real thing: pip (the host's, through `pip --python`) installs the same wheels into a
//! real venv, and grocker must have written the same files with the same content and
//! executable bits, the same RECORD, and the same launchers (modulo the shebang).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use grocker_fs::{Kind, Tree};

use crate::common::*;

/// Path relative to the venv root → (content, executable).
type Files = BTreeMap<String, (Vec<u8>, bool)>;

/// What pip writes that grocker deliberately does not: bytecode (grocker compiles nothing),
/// PEP 376 `REQUESTED` and PEP 610 `direct_url.json` (the wheel came from a local path here).
fn pip_only(path: &str) -> bool {
    path.contains("__pycache__")
        || path.ends_with(".dist-info/REQUESTED")
        || path.ends_with(".dist-info/direct_url.json")
}

fn walk(root: &Path, dir: &Path, out: &mut Files) {
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs_err::symlink_metadata(&path).unwrap();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        if meta.is_dir() {
            walk(root, &path, out);
        } else if meta.is_file() && !pip_only(&rel) {
            let exec = meta.permissions().mode() & 0o111 != 0;
            out.insert(rel, (fs_err::read(&path).unwrap(), exec));
        }
    }
}

/// A wheel using every `.data` scheme, and a `#!python` script.
fn demo_wheel() -> WheelBuilder {
    let d = "demo-1.0";
    WheelBuilder::new(d)
        .file("demo/__init__.py", b"")
        .file(
            &format!("{d}.dist-info/entry_points.txt"),
            b"[console_scripts]\ndemo = demo.cli:App.main [color]\n",
        )
        // Executable in the zip, as build backends write scripts (pip keeps a 0644 script 0644).
        .file_mode(
            &format!("{d}.data/scripts/tool"),
            b"#!python\nprint('hi')\n",
            0o100755,
        )
        .file(&format!("{d}.data/headers/demo.h"), b"#define DEMO 1\n")
        .file(&format!("{d}.data/data/share/demo/x.txt"), b"x\n")
        .file_mode(
            &format!("{d}.data/platlib/demo_ext.so"),
            b"\x7fELF",
            0o100755,
        )
        .file(&format!("{d}.data/purelib/demo_pure.py"), b"X = 1\n")
}

#[test]
fn same_files_as_pip() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = demo_wheel();
    let demo_path = tmp.path().join(demo.file_name());
    fs_err::write(&demo_path, demo.build()).unwrap();
    let wheels = [
        data_path(SIX),
        data_path(HTTPIE),
        data_path(CHARSET),
        demo_path.to_str().unwrap().to_string(),
    ];

    let venv_dir = tmp.path().join("venv");
    let status = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv_dir)
        .status()
        .expect("python3 is needed to compare with pip");
    assert!(status.success());
    let skeleton = {
        let mut files = Files::new();
        walk(&venv_dir, &venv_dir, &mut files);
        files
    };
    let out = Command::new("python3")
        .args(["-m", "pip", "--python"])
        .arg(venv_dir.join("bin/python"))
        .args([
            "install",
            "--no-deps",
            "--no-index",
            "--no-compile",
            "--disable-pip-version-check",
        ])
        .args(&wheels)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pip = Files::new();
    walk(&venv_dir, &venv_dir, &mut pip);
    pip.retain(|path, _| !skeleton.contains_key(path));

    let mut tree = Tree::new();
    for wheel in &wheels {
        let name = Path::new(wheel).file_name().unwrap().to_str().unwrap();
        install_into(&mut tree, name, &fs_err::read(wheel).unwrap()).unwrap();
    }
    let ours: Files = tree
        .iter()
        .filter_map(|(path, entry)| {
            let Kind::File(data) = &entry.kind else {
                return None;
            };
            let rel = path.as_str().strip_prefix("opt/venv/").unwrap().to_string();
            Some((
                rel,
                (data.read_all().unwrap().to_vec(), entry.mode & 0o111 != 0),
            ))
        })
        .collect();

    let pip_paths: Vec<&String> = pip.keys().collect();
    let our_paths: Vec<&String> = ours.keys().collect();
    assert_eq!(our_paths, pip_paths);
    assert!(ours.contains_key("include/site/python3.11/demo/demo.h"));
    assert!(
        ours.contains_key("share/man/man1/http.1"),
        "httpie's data scheme"
    );

    let pip_python = format!("#!{}/bin/python", venv_dir.display());
    for (path, (ours_data, ours_exec)) in &ours {
        let (pip_data, pip_exec) = &pip[path];
        assert_eq!(ours_exec, pip_exec, "executable bit of {path}");
        if path.ends_with("/INSTALLER") {
            assert_eq!(pip_data, b"pip\n");
            continue;
        }
        if path.ends_with("/RECORD") {
            compare_records(path, ours_data, pip_data);
            continue;
        }
        if let Some(script) = path.strip_prefix("bin/") {
            let (ours_first, ours_body) = split_first_line(ours_data);
            let (pip_first, pip_body) = split_first_line(pip_data);
            assert_eq!(ours_first, "#!/opt/venv/bin/python", "{script}");
            assert_eq!(pip_first, pip_python, "{script}");
            // pip 23's distlib launcher template quotes with `'`, grocker's (uv's) with `"`;
            // the code is otherwise the same. Scripts from `.data/scripts` compare exactly.
            let pip_body = if pip_body.starts_with("# -*- coding: utf-8 -*-\nimport re\n") {
                pip_body.replace('\'', "\"")
            } else {
                pip_body
            };
            assert_eq!(ours_body, pip_body, "{script}");
            continue;
        }
        assert!(ours_data == pip_data, "content of {path}");
    }
}

fn split_first_line(data: &[u8]) -> (String, String) {
    let text = String::from_utf8(data.to_vec()).unwrap();
    let (first, rest) = text.split_once('\n').unwrap();
    (first.to_string(), rest.to_string())
}

/// Same rows; same hashes except for files whose content legitimately differs (INSTALLER and
/// the launchers, which name their venv's python).
fn compare_records(path: &str, ours: &[u8], pip: &[u8]) {
    let rows = |data: &[u8]| -> BTreeMap<String, String> {
        String::from_utf8(data.to_vec())
            .unwrap()
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !pip_only(l.split(',').next().unwrap()))
            .map(|l| {
                let (path, rest) = l.split_once(',').unwrap();
                (path.to_string(), rest.to_string())
            })
            .collect()
    };
    let (ours, pip) = (rows(ours), rows(pip));
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        pip.keys().collect::<Vec<_>>(),
        "{path}"
    );
    for (row, value) in &ours {
        if row.ends_with("/INSTALLER") || row.starts_with("../../../bin/") {
            continue;
        }
        assert_eq!(value, &pip[row], "{path}: {row}");
    }
}
