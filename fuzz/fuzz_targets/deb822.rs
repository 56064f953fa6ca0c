//! deb822 as grocker reads it from a Debian mirror: a clear-signed `InRelease`, the `Release`
//! text inside, `Packages` paragraphs with their relation fields and versions, and `Sources`
//! paragraphs; every file they name stays below the archive root.
#![no_main]

use std::sync::{Arc, LazyLock};

use grocker_debian::{
    DebianVersion, Keyring, PackageIndex, Release, parse_relations, parse_sources,
    verify_inrelease,
};
use libfuzzer_sys::fuzz_target;

static KEYRING: LazyLock<Keyring> =
    LazyLock::new(|| Keyring::debian().expect("the shipped Debian keyring reads"));
static BASE: LazyLock<url::Url> =
    LazyLock::new(|| url::Url::parse("https://deb.example/debian/").expect("a valid URL"));

fuzz_target!(|data: &[u8]| {
    // Only a signature by a Debian key makes this succeed, which the fuzzer cannot forge: what
    // is checked is that the armor and packet parsers refuse everything else with an error.
    if let Ok(text) = verify_inrelease("fuzz/InRelease", data, &KEYRING) {
        assert!(
            !text.contains("-----BEGIN PGP"),
            "armor returned as signed text"
        );
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(release) = Release::parse("fuzz/Release", text) {
        assert!(
            !release.sha256.is_empty(),
            "a Release without SHA256 list accepted"
        );
    }
    let mut index = PackageIndex::new();
    if index
        .add_packages(&BASE, "fuzz/Packages", Arc::from(text))
        .is_ok()
    {
        for package in index.iter() {
            // The paragraph slice is the package's own text.
            assert!(text.contains(package.paragraph()));
            // Versions round-trip through their text (STYLE: parsed strings are types).
            let again: DebianVersion = package
                .version
                .to_string()
                .parse()
                .expect("a parsed version's text parses again");
            assert_eq!(
                again, package.version,
                "version {} does not round-trip",
                package.version
            );
            for field in [&package.depends, &package.pre_depends, &package.provides] {
                let _ = parse_relations(field);
            }
            if let Ok(url) = package.deb_url() {
                assert!(url.as_str().starts_with(BASE.as_str()), "{url} left the archive");
            }
        }
    }
    if let Ok(sources) = parse_sources(text, "fuzz/Sources", &BASE, "bookworm", &|_| true) {
        for package in &sources {
            for file in &package.files {
                if let Ok(url) = package.url_of(file) {
                    assert!(url.as_str().starts_with(BASE.as_str()), "{url} left the archive");
                }
            }
            let _ = package.orig_tarball();
        }
    }
});
