//! Package URLs (purl spec): the names by which scanners match packages to advisories.

/// `pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=DISTRO`.
pub fn debian_purl(name: &str, version: &str, arch: &str, distro: &str) -> String {
    format!(
        "pkg:deb/debian/{}@{}?arch={}&distro={}",
        encode(name),
        encode(version),
        encode(arch),
        encode(distro)
    )
}

/// `pkg:pypi/NAME@VERSION`, the name normalized as the purl spec asks (lowercase, `_` → `-`).
pub fn pypi_purl(name: &str, version: &str) -> String {
    let name = name.to_lowercase().replace(['_', '.'], "-");
    format!("pkg:pypi/{}@{}", encode(&name), encode(version))
}

/// Percent-encodes all but the characters the purl spec leaves as they are (`A-Z a-z 0-9 . -
/// _ ~`): a Debian epoch's `:` and a `+` become `%3A` and `%2B`.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls() {
        assert_eq!(
            debian_purl("libc6", "2.36-9+deb12u13", "amd64", "debian-12"),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u13?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            debian_purl("perl-base", "1:5.36.0-7", "amd64", "debian-12"),
            "pkg:deb/debian/perl-base@1%3A5.36.0-7?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            pypi_purl("Typing_Extensions", "4.12.2"),
            "pkg:pypi/typing-extensions@4.12.2"
        );
    }
}
