use grocker_fs::Entry;

use super::*;
use crate::{Arch, Target};

fn venv() -> Venv {
    let target = Target {
        python: (3, 11),
        python_full: "3.11.2".parse().unwrap(),
        glibc: (2, 36),
        arch: Arch::X86_64,
    };
    Venv::for_target("/opt/venv", &target)
}

/// An index of one wheel `dist` (`name-version`) that wrote `files` (path, content).
fn layer(dist: &str, files: &[(&str, &[u8])]) -> VenvIndex {
    let (name, version) = dist.split_once('-').unwrap();
    let mut tree = Tree::new();
    let mut written = Vec::new();
    for (path, data) in files {
        let path = RelPath::new(path).unwrap();
        tree.insert(path.clone(), Entry::file(data.to_vec(), 0o644))
            .unwrap();
        written.push((path, Sha256::digest(data)));
    }
    let installed = InstalledWheel {
        name: name.parse().unwrap(),
        version: version.parse().unwrap(),
        console_scripts: vec![],
        gui_scripts: vec![],
        files: files.len(),
        written,
        replaced: vec![],
        size: 0,
    };
    let mut index = VenvIndex::new();
    index.add_wheel(&tree, &format!("{dist}-py3-none-any.whl"), &installed);
    index
}

const INIT: &str = "opt/venv/lib/python3.11/site-packages/nvidia/__init__.py";

#[test]
fn identical_files_across_layers_are_no_conflict() {
    let mut lower = VenvIndex::new();
    lower.add_skeleton(&venv());
    lower
        .overlay(layer("nvidia_cublas_cu12-12.4", &[(INIT, b"")]), &venv())
        .unwrap();
    let replaced = lower
        .overlay(layer("nvidia_cudnn_cu12-9.1", &[(INIT, b"")]), &venv())
        .unwrap();
    assert_eq!(replaced, vec![]);
    // The first installer keeps the file.
    assert_eq!(
        lower.owners[lower.claims[INIT].owner].dist,
        "nvidia-cublas-cu12 12.4"
    );
}

#[test]
fn a_different_file_in_an_upper_layer_replaces_the_lower_one() {
    let mut lower = layer("alpha-1.0", &[(INIT, b"a")]);
    let replaced = lower
        .overlay(layer("beta-2.0", &[(INIT, b"b")]), &venv())
        .unwrap();
    assert_eq!(
        replaced,
        vec![Replaced {
            path: format!("/{INIT}"),
            previous: "alpha 1.0".into(),
            by: "beta 2.0".into(),
        }]
    );
    assert_eq!(lower.owners[lower.claims[INIT].owner].dist, "beta 2.0");
}

#[test]
fn own_files_and_directory_file_clashes_are_errors() {
    let mut lower = VenvIndex::new();
    lower.add_skeleton(&venv());
    for own in [
        "opt/venv/bin/python",
        "opt/venv/pyvenv.cfg",
        "opt/venv/lib64/x",
    ] {
        let err = lower
            .clone()
            .overlay(layer("evil-1.0", &[(own, b"x")]), &venv())
            .unwrap_err();
        assert!(
            matches!(&err, WheelError::OwnFile { wheel, path }
                if wheel == "evil-1.0-py3-none-any.whl" && *path == format!("/{own}")),
            "{err:?}"
        );
    }

    let site = "opt/venv/lib/python3.11/site-packages";
    let mut lower = layer("alpha-1.0", &[(&format!("{site}/pkg/mod.py"), b"")]);
    let file_over_dir = layer("beta-2.0", &[(&format!("{site}/pkg"), b"")]);
    let err = lower.clone().overlay(file_over_dir, &venv()).unwrap_err();
    assert!(
        matches!(&err, WheelError::Conflict { path, owner, .. }
            if path.ends_with("pkg/mod.py") && owner == "alpha 1.0"),
        "{err:?}"
    );
    let below_file = layer("beta-2.0", &[(&format!("{site}/pkg/mod.py/x"), b"")]);
    let err = lower.overlay(below_file, &venv()).unwrap_err();
    assert!(
        matches!(&err, WheelError::Conflict { path, .. } if path.ends_with("pkg/mod.py")),
        "{err:?}"
    );
}

#[test]
fn text_round_trips_and_damage_is_an_error() {
    let mut index = VenvIndex::new();
    index.add_skeleton(&venv());
    index
        .overlay(
            layer("alpha-1.0", &[(INIT, b"a"), ("opt/venv/odd\tna%me\n", b"")]),
            &venv(),
        )
        .unwrap();
    let replaced = index
        .overlay(layer("beta-2.0", &[(INIT, b"b")]), &venv())
        .unwrap();
    index.replaced.extend(replaced);
    let text = index.to_string();
    assert!(text.starts_with("grocker venv index 1\n"), "{text}");
    let back: VenvIndex = text.parse().unwrap();
    assert_eq!(back, index);
    assert_eq!(back.replaced().len(), 1);

    for damaged in [
        "",
        "grocker venv index 2\n",
        "grocker venv index 1\nfile\t0\t644\tabc\tx\n",
        "grocker venv index 1\nowner\tw\td\nfile\t0\t9z\tabc\tx\n",
        "grocker venv index 1\nowner\tw\td\nsomething\n",
    ] {
        assert!(damaged.parse::<VenvIndex>().is_err(), "{damaged:?}");
    }
}
