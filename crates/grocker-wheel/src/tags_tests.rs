use std::process::Command;

use super::*;

fn bookworm(arch: Arch) -> Target {
    Target {
        python: (3, 11),
        python_full: "3.11.2".parse().unwrap(),
        glibc: (2, 36),
        arch,
    }
}

fn priority(target: &Target, wheel: &str) -> Option<TagPriority> {
    target.tags().priority(&wheel.parse().unwrap())
}

#[test]
fn accepts_what_bookworm_python_can_load() {
    let t = bookworm(Arch::X86_64);
    let yes = [
        "numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "cryptography-43.0.3-cp37-abi3-manylinux_2_28_x86_64.whl",
        "cffi-1.17.1-cp38-abi3-manylinux1_x86_64.whl",
        "foo-1.0-cp311-cp311-manylinux_2_36_x86_64.whl",
        "foo-1.0-cp311-cp311-linux_x86_64.whl",
        "foo-1.0-py3-none-manylinux2010_x86_64.whl",
        "six-1.16.0-py2.py3-none-any.whl",
        "foo-1.0-cp311-none-any.whl",
        "foo-1.0-py310-none-any.whl",
    ];
    for wheel in yes {
        assert!(priority(&t, wheel).is_some(), "{wheel} rejected");
    }
    let no = [
        "foo-1.0-cp311-cp311-manylinux_2_39_x86_64.whl",
        "numpy-2.1.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "foo-1.0-cp312-abi3-manylinux_2_17_x86_64.whl",
        "numpy-2.1.3-cp311-cp311-musllinux_1_2_x86_64.whl",
        "numpy-2.1.3-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "foo-1.0-cp311-cp311-win_amd64.whl",
        "foo-1.0-py2-none-any.whl",
        "foo-1.0-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl",
        "foo-1.0-cp311-cp311d-manylinux_2_17_x86_64.whl",
    ];
    for wheel in no {
        assert!(priority(&t, wheel).is_none(), "{wheel} accepted");
    }
}

#[test]
fn prefers_specific_wheels() {
    let t = bookworm(Arch::X86_64);
    let cp311 = priority(&t, "x-1-cp311-cp311-manylinux_2_17_x86_64.whl").unwrap();
    let abi3 = priority(&t, "x-1-cp38-abi3-manylinux_2_17_x86_64.whl").unwrap();
    let any = priority(&t, "x-1-py3-none-any.whl").unwrap();
    let newer_glibc = priority(&t, "x-1-cp311-cp311-manylinux_2_28_x86_64.whl").unwrap();
    let linux = priority(&t, "x-1-cp311-cp311-linux_x86_64.whl").unwrap();
    assert!(cp311 > abi3 && abi3 > any, "{cp311:?} {abi3:?} {any:?}");
    assert!(newer_glibc > cp311 && cp311 > linux);
    // A compressed tag set scores its best member.
    let both = priority(&t, "x-1-py2.py3-none-any.whl").unwrap();
    assert_eq!(both, any);
}

#[test]
fn aarch64_starts_at_manylinux2014() {
    let t = bookworm(Arch::Aarch64);
    assert!(priority(&t, "x-1-cp311-cp311-manylinux2014_aarch64.whl").is_some());
    assert!(priority(&t, "x-1-cp311-cp311-manylinux_2_17_x86_64.whl").is_none());
    assert!(priority(&t, "x-1-cp311-cp311-manylinux2010_aarch64.whl").is_none());
}

/// The whole ordered list against `packaging.tags` itself (pip's vendored copy on the host),
/// with glibc and the architecture pinned to the target's.
#[test]
fn same_order_as_packaging_tags() {
    for (arch, glibc) in [(Arch::X86_64, (2, 36)), (Arch::Aarch64, (2, 41))] {
        let target = Target {
            glibc,
            ..bookworm(arch)
        };
        let script = format!(
            r#"
from pip._vendor.packaging import tags, _manylinux
_manylinux._get_glibc_version = lambda: {glibc:?}
_manylinux._have_compatible_abi = lambda *a: True
arch = "{arch}"
plats = list(_manylinux.platform_tags("linux_" + arch, arch)) + ["linux_" + arch]
for t in tags.cpython_tags((3, 11), ["cp311"], plats):
    print(t)
for t in tags.compatible_tags((3, 11), "cp311", plats):
    print(t)
"#
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .expect("python3 with pip is needed to compare tag lists");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = String::from_utf8(out.stdout).unwrap();
        let ours: Vec<String> = target
            .tags()
            .iter()
            .map(|(p, a, pl)| format!("{p}-{a}-{pl}"))
            .collect();
        let expected: Vec<&str> = expected.lines().collect();
        assert_eq!(ours, expected, "{arch}");
    }
}

#[test]
fn marker_environment_is_debian_cpython() {
    let env = bookworm(Arch::Aarch64).marker_environment();
    assert_eq!(env.python_version().string, "3.11");
    assert_eq!(env.python_full_version().string, "3.11.2");
    assert_eq!(env.implementation_version().string, "3.11.2");
    assert_eq!(env.platform_machine(), "aarch64");
    assert_eq!(env.sys_platform(), "linux");
    assert_eq!(env.os_name(), "posix");
    assert_eq!(env.platform_system(), "Linux");
    assert_eq!(env.implementation_name(), "cpython");
    assert_eq!(env.platform_python_implementation(), "CPython");
    assert_eq!(env.platform_release(), "");

    let req: crate::Requirement = r#"importlib-metadata; python_version < "3.8""#.parse().unwrap();
    assert!(!req.evaluate_markers(&env, &[]));
    let req: crate::Requirement = r#"tomli; python_full_version < "3.11.3""#.parse().unwrap();
    assert!(req.evaluate_markers(&env, &[]));
}

#[test]
fn arch_names() {
    assert_eq!("amd64".parse::<Arch>().unwrap(), Arch::X86_64);
    assert_eq!("aarch64".parse::<Arch>().unwrap().oci_name(), "arm64");
    assert!("s390x".parse::<Arch>().is_err());
}

#[test]
fn check_refuses_a_wheel_for_another_platform_naming_both() {
    let tags = bookworm(Arch::X86_64).tags();
    for ok in [
        "six-1.16.0-py2.py3-none-any.whl",
        "numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    ] {
        tags.check(&ok.parse().unwrap()).unwrap();
    }
    let err = tags
        .check(&"numpy-2.1.3-cp311-cp311-win_amd64.whl".parse().unwrap())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "numpy-2.1.3-cp311-cp311-win_amd64.whl is not a supported wheel on this platform \
         (cp311, manylinux_2_36_x86_64): its tags are cp311-cp311-win_amd64; use a wheel built \
         for this runtime and architecture (or choose the runtime it was built for with \
         --runtime/--platform)"
    );
    let err = tags
        .check(
            &"foo-1.0-cp311-cp311-macosx_11_0_arm64.macosx_11_0_universal2.whl"
                .parse()
                .unwrap(),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("its tags are cp311-cp311-macosx_11_0_arm64.macosx_11_0_universal2"),
        "{err}"
    );
}
