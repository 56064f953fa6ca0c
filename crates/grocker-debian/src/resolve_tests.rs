use url::Url;

use super::*;

const SNIPPET: &str = include_str!("../tests/data/Packages-snippet");

fn roots(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn names(packages: &[BinaryPackage]) -> Vec<&str> {
    packages.iter().map(|p| p.name.as_str()).collect()
}

fn snippet_index() -> PackageIndex {
    let mut index = PackageIndex::new();
    let base = Url::parse("https://deb.debian.org/debian").unwrap();
    index
        .add_packages(&base, "snippet", SNIPPET.into())
        .unwrap();
    index
}

/// A tiny index from `name version arch [; field: value]…` lines.
fn index(lines: &[&str]) -> PackageIndex {
    let mut text = String::new();
    for line in lines {
        let mut parts = line.split(" ; ");
        let mut head = parts.next().unwrap().split(' ');
        let (name, version, arch) = (
            head.next().unwrap(),
            head.next().unwrap(),
            head.next().unwrap(),
        );
        text += &format!("Package: {name}\nVersion: {version}\nArchitecture: {arch}\n");
        for field in parts {
            text += field;
            text += "\n";
        }
        text += &format!(
            "Filename: pool/{name}.deb\nSize: 1\nSHA256: {}\n\n",
            grocker_hash::Sha256::digest(name.as_bytes())
        );
    }
    let mut index = PackageIndex::new();
    let base = Url::parse("https://deb.example/debian").unwrap();
    index.add_packages(&base, "test", text.into()).unwrap();
    index
}

#[test]
fn real_python_closure() {
    let index = snippet_index();
    let got = resolve(&index, &roots(&["python3.11", "ca-certificates"]), "amd64").unwrap();
    assert_eq!(
        names(&got),
        [
            "ca-certificates",
            "gcc-12-base",
            "libbz2-1.0",
            "libc6",
            "libcom-err2",
            "libcrypt1",
            "libdb5.3",
            "libexpat1",
            "libffi8",
            "libgcc-s1",
            "libgssapi-krb5-2",
            "libk5crypto3",
            "libkeyutils1",
            "libkrb5-3",
            "libkrb5support0",
            "liblzma5",
            "libncursesw6",
            "libnsl2",
            "libpython3.11-minimal",
            "libpython3.11-stdlib",
            "libreadline8",
            "libsqlite3-0",
            "libssl3",
            "libtinfo6",
            "libtirpc-common",
            "libtirpc3",
            "libuuid1",
            "media-types",
            "python3.11",
            "python3.11-minimal",
            "readline-common",
            "zlib1g",
        ]
    );
    // openssl is cut only as ca-certificates' dependency; asked for by name it is there
    let got = resolve(&index, &roots(&["openssl"]), "amd64").unwrap();
    assert_eq!(
        names(&got),
        ["gcc-12-base", "libc6", "libgcc-s1", "libssl3", "openssl"]
    );
    // a script-only package named as a root is installed, its script-only needs are not
    let got = resolve(&index, &roots(&["debconf"]), "amd64").unwrap();
    assert_eq!(names(&got), ["debconf"]);
}

#[test]
fn deterministic_whatever_the_root_order() {
    let index = snippet_index();
    let a = resolve(
        &index,
        &roots(&["ca-certificates", "python3.11", "tzdata"]),
        "amd64",
    )
    .unwrap();
    let b = resolve(
        &index,
        &roots(&["tzdata", "python3.11", "ca-certificates"]),
        "amd64",
    )
    .unwrap();
    assert_eq!(names(&a), names(&b));
    assert!(names(&a).contains(&"tzdata"));
}

#[test]
fn unknown_root_suggests_close_names() {
    let index = snippet_index();
    let err = resolve(&index, &roots(&["python3.1"]), "amd64").unwrap_err();
    match &err {
        DebianError::UnknownPackage { name, suggestions } => {
            assert_eq!(name, "python3.1");
            assert!(
                suggestions.contains(&"python3.11".to_string()),
                "{suggestions:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("did you mean python3.11"), "{err}");
}

#[test]
fn unsatisfiable_names_the_chain() {
    let index = index(&[
        "app 1 amd64 ; Depends: liba",
        "liba 1 amd64 ; Depends: libb (>= 2)",
        "libb 1.9 amd64",
    ]);
    let err = resolve(&index, &roots(&["app"]), "amd64").unwrap_err();
    match &err {
        DebianError::Unsatisfiable {
            package,
            relation,
            chain,
        } => {
            assert_eq!(package, "liba");
            assert_eq!(relation, "libb (>= 2)");
            assert_eq!(chain, &["app", "liba"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "cannot satisfy `libb (>= 2)`, needed by app → liba"
    );
}

#[test]
fn alternatives_prefer_what_is_selected_then_the_first() {
    let index = index(&[
        "app 1 all ; Depends: awk-a | awk-b, other",
        "other 1 all ; Depends: awk-b",
        "awk-a 1 amd64",
        "awk-b 1 amd64",
        "x 1 all ; Depends: missing | awk-b",
    ]);
    // `other` is processed after `app`, so app picks awk-a (first) and other adds awk-b
    let got = resolve(&index, &roots(&["app"]), "amd64").unwrap();
    assert_eq!(names(&got), ["app", "awk-a", "awk-b", "other"]);
    // awk-b already selected (root) → app does not add awk-a
    let got = resolve(&index, &roots(&["awk-b", "app"]), "amd64").unwrap();
    assert_eq!(names(&got), ["app", "awk-b", "other"]);
    // first satisfiable alternative
    let got = resolve(&index, &roots(&["x"]), "amd64").unwrap();
    assert_eq!(names(&got), ["awk-b", "x"]);
}

#[test]
fn virtual_packages_and_versioned_provides() {
    let index = index(&[
        "app 1 all ; Depends: libgcc1 (>= 1:10), mail-transport-agent",
        "libgcc-s1 12.2.0 amd64 ; Provides: libgcc1 (= 1:12.2.0)",
        "exim4 4 amd64 ; Provides: mail-transport-agent",
        "postfix 3 amd64 ; Provides: mail-transport-agent",
        "old 1 all ; Depends: mail-transport-agent (>= 1)",
    ]);
    let got = resolve(&index, &roots(&["app"]), "amd64").unwrap();
    assert_eq!(names(&got), ["app", "exim4", "libgcc-s1"]);
    // an unversioned Provides never satisfies a versioned dependency
    assert!(matches!(
        resolve(&index, &roots(&["old"]), "amd64"),
        Err(DebianError::Unsatisfiable { .. })
    ));
    // a virtual root resolves to its first provider
    let got = resolve(&index, &roots(&["mail-transport-agent"]), "amd64").unwrap();
    assert_eq!(names(&got), ["exim4"]);
}

#[test]
fn arch_qualifiers_and_foreign_arch() {
    let index = index(&[
        "tool 1 amd64 ; Depends: python3:any, libz:native",
        "python3 3 amd64 ; Multi-Arch: allowed",
        "libz 1 amd64 ; Multi-Arch: same",
        "strict 1 amd64 ; Depends: libz:any",
        "armlib 1 arm64",
        "wants-arm 1 all ; Depends: armlib",
        "restricted 1 all ; Depends: armlib [arm64], libz [amd64]",
    ]);
    let got = resolve(&index, &roots(&["tool"]), "amd64").unwrap();
    assert_eq!(names(&got), ["libz", "python3", "tool"]);
    // libz is not Multi-Arch: allowed, so `libz:any` is not satisfied (as with apt)
    assert!(resolve(&index, &roots(&["strict"]), "amd64").is_err());
    // packages of another architecture do not count
    assert!(resolve(&index, &roots(&["wants-arm"]), "amd64").is_err());
    assert!(matches!(
        resolve(&index, &roots(&["armlib"]), "amd64"),
        Err(DebianError::UnknownPackage { .. })
    ));
    let got = resolve(&index, &roots(&["restricted"]), "amd64").unwrap();
    assert_eq!(names(&got), ["libz", "restricted"]);
}

#[test]
fn pre_depends_are_followed_and_cycles_end() {
    let index = index(&["a 1 all ; Pre-Depends: b", "b 1 all ; Depends: a (= 1)"]);
    let got = resolve(&index, &roots(&["a"]), "amd64").unwrap();
    assert_eq!(names(&got), ["a", "b"]);
}

#[test]
fn every_exclusion_says_why() {
    for (name, _, why) in SCRIPT_ONLY {
        assert!(why.len() > 20, "{name}");
    }
}
