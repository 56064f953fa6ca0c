//! Installing real wheels and synthetic ones: where files land, RECORD, scripts, modes.

use std::collections::BTreeMap;

use grocker_fs::{Kind, RelPath, Tree};
use grocker_wheel::{InstallOptions, WheelError, install_wheel, install_wheel_file};

use crate::common::*;

const SITE: &str = "opt/venv/lib/python3.11/site-packages";

/// RECORD as a map path → (hash, size), checking it lists exactly the installed files with
/// their true hashes and sizes, and itself without a hash.
fn check_record(tree: &Tree, dist_info: &str) -> BTreeMap<String, (String, String)> {
    let (record, mode) = file(tree, &format!("{SITE}/{dist_info}/RECORD"));
    assert_eq!(mode, 0o644);
    let text = std::str::from_utf8(record).unwrap();
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        let [path, hash, size] = fields[..] else {
            panic!("bad RECORD line {line:?}");
        };
        rows.insert(path.to_string(), (hash.to_string(), size.to_string()));
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "RECORD is sorted");
    let mut installed = Vec::new();
    for (path, entry) in tree.iter() {
        let Kind::File(data) = &entry.kind else {
            continue;
        };
        let relative = match path.as_str().strip_prefix(&format!("{SITE}/")) {
            Some(r) => r.to_string(),
            None => format!(
                "../../../{}",
                path.as_str().strip_prefix("opt/venv/").unwrap()
            ),
        };
        installed.push(relative.clone());
        let (hash, size) = &rows[&relative];
        if relative == format!("{dist_info}/RECORD") {
            assert_eq!((hash.as_str(), size.as_str()), ("", ""));
        } else {
            let data = data.read_all().unwrap();
            assert_eq!(hash, &record_hash(&data), "{relative}");
            assert_eq!(size, &data.len().to_string(), "{relative}");
        }
    }
    installed.sort();
    let listed: Vec<&String> = rows.keys().collect();
    assert_eq!(listed, installed.iter().collect::<Vec<_>>());
    rows
}

#[test]
fn six_goes_to_site_packages() {
    let (tree, installed) = install(SIX, &real_wheel(SIX)).unwrap();
    assert_eq!(installed.name.as_ref(), "six");
    assert_eq!(installed.version.to_string(), "1.16.0");
    assert!(installed.console_scripts.is_empty());
    let paths: Vec<&str> = tree.iter().map(|(p, _)| p.as_str()).collect();
    let d = "six-1.16.0.dist-info";
    let expected: Vec<String> = [
        format!("{d}/INSTALLER"),
        format!("{d}/LICENSE"),
        format!("{d}/METADATA"),
        format!("{d}/RECORD"),
        format!("{d}/WHEEL"),
        format!("{d}/top_level.txt"),
        "six.py".to_string(),
    ]
    .iter()
    .map(|p| format!("{SITE}/{p}"))
    .collect();
    assert_eq!(paths, expected);
    assert_eq!(installed.files, 7);
    assert_eq!(installed.size, tree.content_size());
    assert_eq!(
        file(&tree, &format!("{SITE}/{d}/INSTALLER")),
        (&b"grocker\n"[..], 0o644)
    );
    // The wheel's own files keep their bytes (RECORD verified them).
    let (six, mode) = file(&tree, &format!("{SITE}/six.py"));
    assert!(six.starts_with(b"# Copyright (c) 2010-2020 Benjamin Peterson"));
    assert_eq!(mode, 0o644);
    check_record(&tree, d);
}

#[test]
fn httpie_console_scripts() {
    let (tree, installed) = install(HTTPIE, &real_wheel(HTTPIE)).unwrap();
    assert_eq!(installed.console_scripts, ["http", "httpie", "https"]);
    let (http, mode) = file(&tree, "opt/venv/bin/http");
    assert_eq!(mode, 0o755);
    assert_eq!(
        std::str::from_utf8(http).unwrap(),
        "#!/opt/venv/bin/python\n# -*- coding: utf-8 -*-\nimport re\nimport sys\n\
         from httpie.__main__ import main\nif __name__ == \"__main__\":\n    \
         sys.argv[0] = re.sub(r\"(-script\\.pyw|\\.exe)?$\", \"\", sys.argv[0])\n    \
         sys.exit(main())\n"
    );
    let (manager, _) = file(&tree, "opt/venv/bin/httpie");
    assert!(
        std::str::from_utf8(manager)
            .unwrap()
            .contains("from httpie.manager.__main__ import main\n")
    );
    let rows = check_record(&tree, "httpie-3.2.4.dist-info");
    assert!(rows.contains_key("../../../bin/https"));
    assert!(rows.contains_key("httpie/cli/argparser.py"));
}

#[test]
fn charset_normalizer_platlib_keeps_exec_bits() {
    let (tree, installed) = install(CHARSET, &real_wheel(CHARSET)).unwrap();
    assert_eq!(installed.console_scripts, ["normalizer"]);
    let so = "charset_normalizer/md.cpython-311-x86_64-linux-gnu.so";
    let (data, mode) = file(&tree, &format!("{SITE}/{so}"));
    assert!(data.starts_with(b"\x7fELF"));
    assert_eq!(mode, 0o755, "the zip marks it 0755");
    let (_, mode) = file(&tree, &format!("{SITE}/charset_normalizer/api.py"));
    assert_eq!(mode, 0o644, "0664 in the zip: group write dropped");
    check_record(&tree, "charset_normalizer-3.4.0.dist-info");
    for (_, entry) in tree.iter() {
        assert_eq!(
            entry.mode & 0o7022,
            0,
            "no setuid/sticky/group-or-other write"
        );
    }
}

#[test]
fn data_directory_schemes() {
    let d = "demo-1.0";
    let builder = WheelBuilder::new(d)
        .file("demo/__init__.py", b"")
        .file(
            &format!("{d}.dist-info/entry_points.txt"),
            b"[console_scripts]\ndemo = demo.cli:App.main [color]\n[gui_scripts]\ndemo-gui = demo.gui:run\n",
        )
        .file(&format!("{d}.data/scripts/tool"), b"#!python\nprint('hi')\n")
        .file(&format!("{d}.data/scripts/toolw"), b"#!pythonw -u\r\nprint('w')\n")
        .file(&format!("{d}.data/scripts/plain.sh"), b"#!/bin/sh\necho python\n")
        .file(&format!("{d}.data/headers/demo.h"), b"#define DEMO 1\n")
        .file(&format!("{d}.data/data/share/demo/x.txt"), b"x\n")
        .file_mode(&format!("{d}.data/platlib/demo_ext.so"), b"\x7fELF", 0o100755)
        .file(&format!("{d}.data/purelib/demo_pure.py"), b"X = 1\n");
    let (tree, installed) = install(&builder.file_name(), &builder.build()).unwrap();
    assert_eq!(installed.console_scripts, ["demo"]);
    assert_eq!(installed.gui_scripts, ["demo-gui"]);
    let text = |path: &str| String::from_utf8(file(&tree, path).0.to_vec()).unwrap();
    assert_eq!(
        text("opt/venv/bin/tool"),
        "#!/opt/venv/bin/python\nprint('hi')\n"
    );
    assert_eq!(
        text("opt/venv/bin/toolw"),
        "#!/opt/venv/bin/python\nprint('w')\n"
    );
    assert_eq!(text("opt/venv/bin/plain.sh"), "#!/bin/sh\necho python\n");
    // 0644 in the zip: pip would leave a script in bin/ that cannot run; uv and grocker make
    // every script executable.
    assert_eq!(file(&tree, "opt/venv/bin/plain.sh").1, 0o755);
    assert!(text("opt/venv/bin/demo").contains("from demo.cli import App\n"));
    assert!(text("opt/venv/bin/demo").contains("    sys.exit(App.main())\n"));
    assert!(text("opt/venv/bin/demo-gui").contains("from demo.gui import run\n"));
    assert_eq!(
        text("opt/venv/include/site/python3.11/demo/demo.h"),
        "#define DEMO 1\n"
    );
    assert_eq!(text("opt/venv/share/demo/x.txt"), "x\n");
    assert_eq!(file(&tree, &format!("{SITE}/demo_ext.so")).1, 0o755);
    assert_eq!(text(&format!("{SITE}/demo_pure.py")), "X = 1\n");
    let rows = check_record(&tree, "demo-1.0.dist-info");
    for listed in [
        "../../../bin/tool",
        "../../../include/site/python3.11/demo/demo.h",
        "../../../share/demo/x.txt",
        "demo_ext.so",
    ] {
        assert!(rows.contains_key(listed), "{listed} missing from RECORD");
    }
    assert!(!tree.iter().any(|(p, _)| p.as_str().contains(".data")));
}

#[test]
fn deterministic_and_into_a_venv_skeleton() {
    let build = || {
        let mut tree = Tree::new();
        for (path, entry) in venv().skeleton() {
            tree.insert(path, entry).unwrap();
        }
        for wheel in [SIX, HTTPIE, CHARSET] {
            install_into(&mut tree, wheel, &real_wheel(wheel)).unwrap();
        }
        tree
    };
    let a = build();
    assert_eq!(a, build());
    let tar = a.write_tar(Vec::new(), 0).unwrap();
    assert_eq!(tar, build().write_tar(Vec::new(), 0).unwrap());
    // Installed from the files on disk, the members stay in the wheels and are inflated again
    // by the tar writer: the same tree, the same bytes.
    let mut from_disk = Tree::new();
    for (path, entry) in venv().skeleton() {
        from_disk.insert(path, entry).unwrap();
    }
    for wheel in [SIX, HTTPIE, CHARSET] {
        let path = std::path::PathBuf::from(data_path(wheel));
        let options = InstallOptions::default();
        install_wheel_file(&path, wheel, &venv(), &mut from_disk, &options).unwrap();
    }
    assert_eq!(a, from_disk);
    assert!(from_disk.iter().any(|(_, e)| match &e.kind {
        Kind::File(content) => content.as_inline().is_none(),
        _ => false,
    }));
    assert_eq!(from_disk.write_tar(Vec::new(), 0).unwrap(), tar);
    assert!(
        a.get(&RelPath::new("opt/venv/bin/normalizer").unwrap())
            .is_some()
    );
}

/// Issue #12 item 1: every `nvidia-*` wheel ships the same empty namespace `__init__.py`; pip
/// installs them all, and so must grocker.
#[test]
fn byte_identical_files_of_two_distributions_are_no_conflict() {
    let init = "nvidia/__init__.py";
    let a = WheelBuilder::new("nvidia_cublas_cu12-12.4.5.8").file(init, b"");
    let b = WheelBuilder::new("nvidia_cudnn_cu12-9.1.0.70")
        .file(init, b"")
        .file("nvidia/cudnn/__init__.py", b"");
    let mut tree = Tree::new();
    install_into(&mut tree, &a.file_name(), &a.build()).unwrap();
    let installed = install_into(&mut tree, &b.file_name(), &b.build()).unwrap();
    assert_eq!(installed.replaced, vec![]);
    let path = format!("{SITE}/nvidia/__init__.py");
    assert_eq!(file(&tree, &path), (&b""[..], 0o644));
    assert!(
        !installed.written.iter().any(|(p, _)| p.as_str() == path),
        "an identical file is not written again"
    );
    // Both RECORDs list it, as pip's do.
    for dist_info in ["nvidia_cublas_cu12-12.4.5.8", "nvidia_cudnn_cu12-9.1.0.70"] {
        let (record, _) = file(&tree, &format!("{SITE}/{dist_info}.dist-info/RECORD"));
        let record = String::from_utf8_lossy(record);
        assert!(
            record.lines().any(|l| l.starts_with("nvidia/__init__.py,")),
            "{record}"
        );
    }
    // The same wheel twice changes nothing either.
    let before = tree.clone();
    let again = install_into(&mut tree, &a.file_name(), &a.build()).unwrap();
    assert_eq!((again.replaced, again.written), (vec![], vec![]));
    assert_eq!(tree, before);
}

/// A file with other content, or a console script two distributions declare differently:
/// the later install wins, as with pip, and is reported for one warning naming both.
#[test]
fn a_differing_file_is_replaced_by_the_later_install_and_reported() {
    let a = WheelBuilder::new("alpha-1.0")
        .file("common/util.py", b"a\n")
        .file(
            "alpha-1.0.dist-info/entry_points.txt",
            b"[console_scripts]\ntool = alpha:main\n",
        );
    let b = WheelBuilder::new("beta-2.0")
        .file("common/util.py", b"b\n")
        .file(
            "beta-2.0.dist-info/entry_points.txt",
            b"[console_scripts]\ntool = beta:main\n",
        );
    let mut tree = Tree::new();
    install_into(&mut tree, &a.file_name(), &a.build()).unwrap();
    let installed = install_into(&mut tree, &b.file_name(), &b.build()).unwrap();
    assert_eq!(file(&tree, &format!("{SITE}/common/util.py")).0, b"b\n");
    let (tool, _) = file(&tree, "opt/venv/bin/tool");
    assert!(String::from_utf8_lossy(tool).contains("from beta import main"));
    let replaced: Vec<(&str, &str, &str)> = installed
        .replaced
        .iter()
        .map(|r| (r.path.as_str(), r.previous.as_str(), r.by.as_str()))
        .collect();
    assert_eq!(
        replaced,
        vec![
            ("/opt/venv/bin/tool", "alpha 1.0", "beta 2.0"),
            (
                "/opt/venv/lib/python3.11/site-packages/common/util.py",
                "alpha 1.0",
                "beta 2.0"
            ),
        ]
    );
    let warnings = grocker_wheel::replaced_warnings(&installed.replaced);
    assert_eq!(warnings.len(), 1, "one warning per pair: {warnings:?}");
    assert!(
        warnings[0].starts_with(
            "beta 2.0 and alpha 1.0 both install `/opt/venv/bin/tool`, \
             `/opt/venv/lib/python3.11/site-packages/common/util.py` with different content: \
             beta 2.0's files kept"
        ),
        "{}",
        warnings[0]
    );
}

/// A path that is a directory for one distribution and a file for the other: no order helps.
#[test]
fn a_file_where_another_distribution_has_a_directory_is_an_error() {
    let a = WheelBuilder::new("alpha-1.0").file("common/util.py", b"a\n");
    let b = WheelBuilder::new("beta-2.0").file("common", b"b\n");
    let mut tree = Tree::new();
    install_into(&mut tree, &a.file_name(), &a.build()).unwrap();
    let before = tree.clone();
    let err = install_into(&mut tree, &b.file_name(), &b.build()).unwrap_err();
    assert!(matches!(err, WheelError::Conflict { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("beta-2.0-py3-none-any.whl"), "{message}");
    assert!(message.contains("common/util.py"), "{message}");
    assert!(message.contains("alpha 1.0"), "{message}");
    assert_eq!(tree, before, "nothing half-written");
}

/// Issue #13 item 1: no wheel may replace grocker's own venv files — with the venv skeleton
/// in the tree or not (the app layer is installed into a tree of its own).
#[test]
fn grockers_own_venv_files_are_never_replaced() {
    let cases = [
        (
            WheelBuilder::new("evil-1.0").file(
                "evil-1.0.dist-info/entry_points.txt",
                b"[console_scripts]\npython = evil:main\n",
            ),
            "opt/venv/bin/python",
        ),
        (
            WheelBuilder::new("evil-1.0").file("evil-1.0.data/scripts/python3.11", b"#!python\n"),
            "opt/venv/bin/python3.11",
        ),
        (
            WheelBuilder::new("evil-1.0").file("evil-1.0.data/data/pyvenv.cfg", b"home = /tmp\n"),
            "opt/venv/pyvenv.cfg",
        ),
        (
            WheelBuilder::new("evil-1.0").file("evil-1.0.data/data/lib64/x.py", b""),
            "opt/venv/lib64",
        ),
    ];
    for (wheel, path) in cases {
        for with_skeleton in [false, true] {
            let mut tree = Tree::new();
            if with_skeleton {
                for (p, entry) in venv().skeleton() {
                    tree.insert(p, entry).unwrap();
                }
            }
            let before = tree.clone();
            let err = install_into(&mut tree, &wheel.file_name(), &wheel.build()).unwrap_err();
            assert!(
                matches!(&err, WheelError::OwnFile { path: p, .. } if p.starts_with(&format!("/{path}"))),
                "{path}: {err:?}"
            );
            let message = err.to_string();
            assert!(message.contains("evil-1.0-py3-none-any.whl"), "{message}");
            assert!(message.contains(path), "{message}");
            assert_eq!(tree, before, "nothing half-written");
        }
    }
}

#[test]
fn tampered_real_wheel_is_refused() {
    // six with one byte of six.py changed, its RECORD untouched.
    let original = real_wheel(SIX);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&original)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if name == "six.py" {
            data[0] = b'$';
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut out, &data).unwrap();
    }
    let tampered = out.finish().unwrap().into_inner();
    let err = install(SIX, &tampered).unwrap_err();
    assert!(
        matches!(err, WheelError::HashMismatch { ref entry, .. } if entry == "six.py"),
        "{err:?}"
    );
    assert!(err.to_string().contains(SIX), "{err}");
}

#[test]
fn installer_name_and_limit_are_options() {
    let mut tree = Tree::new();
    let options = InstallOptions {
        installer: "custom".into(),
        ..InstallOptions::default()
    };
    let bytes = real_wheel(SIX);
    install_wheel(
        std::io::Cursor::new(&bytes),
        SIX,
        &venv(),
        &mut tree,
        &options,
    )
    .unwrap();
    let (installer, _) = file(&tree, &format!("{SITE}/six-1.16.0.dist-info/INSTALLER"));
    assert_eq!(installer, b"custom\n");
}
