//! SPDX 2.3 (JSON): <https://spdx.github.io/spdx-spec/v2.3/>.

use serde_json::{Value, json};

use crate::{DebianComponent, License, PythonComponent, Sbom, hex_of, purl, rfc3339};

const NOASSERTION: &str = "NOASSERTION";

pub fn document(sbom: &Sbom) -> Value {
    let main = sbom
        .image
        .index
        .as_deref()
        .or(sbom.image.digests.first().map(|(_, d)| d.as_str()))
        .unwrap_or_default();
    let image_id = "SPDXRef-image";
    let mut packages = vec![json!({
        "name": sbom.image.name,
        "SPDXID": image_id,
        "versionInfo": main,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "checksums": [{ "algorithm": "SHA256", "checksumValue": hex_of(main) }],
        "primaryPackagePurpose": "CONTAINER",
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_id,
    })];
    let mut contains = |id: &str| {
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    };
    for (i, p) in sbom.debian.iter().enumerate() {
        let id = format!("SPDXRef-deb-{}-{i}", id_part(&p.name));
        packages.push(debian(p, &id));
        contains(&id);
    }
    for (i, p) in sbom.python.iter().enumerate() {
        let id = format!("SPDXRef-pypi-{}-{i}", id_part(&p.name));
        packages.push(python(p, &id));
        contains(&id);
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": sbom.image.name,
        // Unique per image, as the spec asks, and the same for the same image.
        "documentNamespace": format!("https://grocker.invalid/spdx/{}", hex_of(main)),
        "creationInfo": {
            "created": rfc3339(sbom.created),
            "creators": [format!("Tool: grocker-{}", sbom.tool_version)],
        },
        "packages": packages,
        "relationships": relationships,
    })
}

fn debian(p: &DebianComponent, id: &str) -> Value {
    let purl = purl::debian_purl(&p.name, &p.version, &p.architecture, &p.distro);
    let comment = match &p.licenses {
        Some(l) if !l.is_empty() => format!("debian/copyright names: {}", l.join(", ")),
        Some(_) => "debian/copyright names no license".to_string(),
        None => "debian/copyright is not machine-readable".to_string(),
    };
    json!({
        "name": p.name,
        "SPDXID": id,
        "versionInfo": p.version,
        "supplier": "Organization: Debian",
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "checksums": [{ "algorithm": "SHA256", "checksumValue": p.sha256.to_string() }],
        "sourceInfo": format!("built from the Debian source package {} {}", p.source, p.source_version),
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "licenseComments": comment,
        "copyrightText": NOASSERTION,
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl,
        }],
    })
}

fn python(p: &PythonComponent, id: &str) -> Value {
    let purl = purl::pypi_purl(&p.name, &p.version);
    // Only an SPDX expression may stand as the declared license; names go in a comment.
    let (declared, comment) = match &p.license {
        License::Expression(e) => (e.clone(), None),
        License::Names(n) if n.is_empty() => (NOASSERTION.to_string(), None),
        License::Names(n) => (
            NOASSERTION.to_string(),
            Some(format!("the metadata names: {}", n.join(", "))),
        ),
    };
    let source = match (&p.built_from_sdist, &p.vendored_by) {
        (_, Some(by)) => format!("vendored in {by}'s wheel ({})", p.filename),
        (Some((wheel, sha256)), None) => {
            format!(
                "compiled by grocker from the sdist {} into {wheel} (SHA-256 {sha256})",
                p.filename
            )
        }
        (None, None) => format!("installed from the wheel {}", p.filename),
    };
    let checksums: Vec<Value> = p
        .sha256
        .iter()
        .map(|h| json!({ "algorithm": "SHA256", "checksumValue": h.to_string() }))
        .collect();
    let mut package = json!({
        "name": p.name,
        "SPDXID": id,
        "versionInfo": p.version,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "packageFileName": p.filename,
        "checksums": checksums,
        "sourceInfo": source,
        "primaryPackagePurpose": if p.application { "APPLICATION" } else { "LIBRARY" },
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": declared,
        "copyrightText": NOASSERTION,
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl,
        }],
    });
    if let Value::Object(map) = &mut package {
        if let Some(comment) = comment {
            map.insert("licenseComments".into(), comment.into());
        }
        if p.sha256.is_none() {
            map.shift_remove("checksums");
        }
    }
    package
}

/// A name as an SPDX identifier part (letters, digits, `.` and `-`).
fn id_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
