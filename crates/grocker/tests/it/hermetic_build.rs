//! `grocker build` against the signed Debian repository on 127.0.0.1: what is refused before
//! anything is built.

use crate::common::*;

/// Issue #13 item 5: a wheel named on the command line is checked against the runtime's tags,
/// as pip does ("not a supported wheel on this platform") and as wheels from an index are.
#[test]
fn a_wheel_for_another_platform_is_refused() {
    let archive = FakeArchive::new();
    let s = Scratch::new();
    // A real wheel under a Windows name: its metadata (name, version) still matches.
    let six = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../grocker-wheel/tests/data/six-1.16.0-py2.py3-none-any.whl"
    );
    let windows = "six-1.16.0-py3-none-win_amd64.whl";
    fs_err::copy(six, s.path().join(windows)).unwrap();
    let mut args: Vec<String> = vec!["build".into(), windows.into()];
    args.extend(archive.args());
    args.extend(["-o".into(), "oci:img".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = stderr(&run(s.grocker(&refs), false));
    assert!(
        err.contains(
            "six-1.16.0-py3-none-win_amd64.whl is not a supported wheel on this platform \
             (cp311, manylinux_2_36_x86_64): its tags are py3-none-win_amd64"
        ),
        "{err}"
    );
    assert!(
        !s.path().join("img").exists(),
        "a refused build wrote its image"
    );
}
