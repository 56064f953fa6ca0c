use std::io::Read;

use super::*;
use crate::{Arch, Target};

fn metadata_of(wheel: &str, dist_info: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{wheel}", env!("CARGO_MANIFEST_DIR"));
    let mut zip = zip::ZipArchive::new(fs_err::File::open(path).unwrap()).unwrap();
    let mut file = zip.by_name(&format!("{dist_info}/METADATA")).unwrap();
    let mut out = Vec::new();
    file.read_to_end(&mut out).unwrap();
    out
}

fn env() -> crate::MarkerEnvironment {
    Target {
        python: (3, 11),
        python_full: "3.11.2".parse().unwrap(),
        glibc: (2, 36),
        arch: Arch::X86_64,
    }
    .marker_environment()
}

fn extra(name: &str) -> ExtraName {
    name.parse().unwrap()
}

/// fuzz/ wheel_files crash-1d3dc68f: a METADATA byte that is not UTF-8 after a marker (read
/// as U+FFFD) made pep508_rs panic; a wheel on any index could stop grocker so.
#[test]
fn fuzz_crash_non_utf8_after_requires_dist_marker() {
    let metadata = b"Name: demo\nVersion: 1.0\nRequires-Dist: idna; extra == \"x\"\xa8\n";
    let err = CoreMetadata::parse(metadata).unwrap_err();
    assert!(err.to_string().contains("is not ASCII"), "{err}");
    let metadata = b"Name: demo\nVersion: 1.0\nRequires-Dist: idna.=3.10\n";
    let err = CoreMetadata::parse(metadata).unwrap_err();
    assert!(
        err.to_string().contains("must end with a letter or digit"),
        "{err}"
    );
}

#[test]
fn requests_extras() {
    let m = CoreMetadata::parse(&metadata_of(
        "requests-2.32.3-py3-none-any.whl",
        "requests-2.32.3.dist-info",
    ))
    .unwrap();
    assert_eq!(m.name.as_ref(), "requests");
    assert_eq!(m.version.to_string(), "2.32.3");
    assert_eq!(m.requires_python.unwrap().to_string(), ">=3.8");
    assert_eq!(
        m.provides_extra,
        [
            extra("security"),
            extra("socks"),
            extra("use-chardet-on-py3")
        ]
    );
    let names: Vec<&str> = m.requires_dist.iter().map(|r| r.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "charset-normalizer",
            "idna",
            "urllib3",
            "certifi",
            "pysocks",
            "chardet"
        ]
    );
    let pysocks = &m.requires_dist[4];
    // `extra == 'socks'`: only when the extra is requested.
    assert!(!pysocks.evaluate_markers(&env(), &[]));
    assert!(pysocks.evaluate_markers(&env(), &[extra("socks")]));
    assert!(m.requires_dist[0].evaluate_markers(&env(), &[]));
}

#[test]
fn click_python_version_markers() {
    let m = CoreMetadata::parse(&metadata_of(
        "click-8.1.7-py3-none-any.whl",
        "click-8.1.7.dist-info",
    ))
    .unwrap();
    let [colorama, importlib] = &m.requires_dist[..] else {
        panic!("{:?}", m.requires_dist);
    };
    assert_eq!(importlib.name.as_ref(), "importlib-metadata");
    // `python_version < "3.8"` and `platform_system == "Windows"`: not on bookworm's 3.11.
    assert!(!importlib.evaluate_markers(&env(), &[]));
    assert!(!colorama.evaluate_markers(&env(), &[]));
    assert!(m.provides_extra.is_empty());
}

#[test]
fn six_legacy_requires_python() {
    let m = CoreMetadata::parse(&metadata_of(
        "six-1.16.0-py2.py3-none-any.whl",
        "six-1.16.0.dist-info",
    ))
    .unwrap();
    let rp = m.requires_python.unwrap();
    assert!(rp.contains(&"3.11.2".parse().unwrap()));
    assert!(!rp.contains(&"3.1.0".parse().unwrap()));
}

#[test]
fn tolerates_real_world_quirks() {
    let text = "Name: Foo.Bar\r\nVersion: 1.0\r\nRequires-Dist: baz (>=1.0)\r\n\
                Requires-Dist: qux (>=2.0.*,)\r\nRequires-Dist: long-name\r\n  >=3 ; extra == 'x'\r\n\
                Requires-Python: >=3.6.*,\r\nProvides-Extra: x\r\nProvides-Extra: !!bad\r\n\
                Description: first\r\n        |second\r\n\r\nRequires-Dist: in-the-body\r\n";
    let m = CoreMetadata::parse(text.as_bytes()).unwrap();
    assert_eq!(m.name.as_ref(), "foo-bar");
    let reqs: Vec<String> = m.requires_dist.iter().map(ToString::to_string).collect();
    assert_eq!(
        reqs,
        ["baz>=1.0", "qux>=2.0", "long-name>=3 ; extra == 'x'"]
    );
    assert_eq!(m.requires_python.unwrap().to_string(), ">=3.6");
    assert_eq!(m.provides_extra, [extra("x")]);
}

#[test]
fn errors_name_the_field() {
    let err = CoreMetadata::parse(b"Version: 1.0\n").unwrap_err();
    assert!(err.to_string().contains("Name: missing"), "{err}");
    let err = CoreMetadata::parse(b"Name: x\nVersion: one\n").unwrap_err();
    assert!(err.to_string().contains("Version"), "{err}");
    let err = CoreMetadata::parse(b"Name: x\nVersion: 1\nRequires-Dist: ???\n").unwrap_err();
    assert!(err.to_string().contains("`???`"), "{err}");
}

#[test]
fn declared_licenses_prefer_the_expression_then_the_field_then_classifiers() {
    use crate::{DeclaredLicenses, declared_licenses};
    let pep639 = b"Name: a\nVersion: 1\nLicense-Expression: MIT OR Apache-2.0\nLicense: MIT\n";
    assert_eq!(
        declared_licenses(pep639),
        DeclaredLicenses::Expression("MIT OR Apache-2.0".into())
    );
    let field =
        b"Name: a\nVersion: 1\nLicense: BSD\nClassifier: License :: OSI Approved :: MIT License\n";
    assert_eq!(
        declared_licenses(field),
        DeclaredLicenses::Names(vec!["BSD".into()])
    );
    let classifiers = b"Name: a\nVersion: 1\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: MIT License\nClassifier: Programming Language :: Python\n";
    assert_eq!(
        declared_licenses(classifiers),
        DeclaredLicenses::Names(vec!["MIT License".into()])
    );
    assert_eq!(
        declared_licenses(b"Name: a\nVersion: 1\n"),
        DeclaredLicenses::Names(vec![])
    );
}
