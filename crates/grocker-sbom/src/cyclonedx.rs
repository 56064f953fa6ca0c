//! CycloneDX 1.6 (JSON): <https://cyclonedx.org/docs/1.6/json/>.

use serde_json::{Map, Value, json};

use crate::{DebianComponent, License, PythonComponent, Sbom, hex_of, purl, rfc3339};

pub fn document(sbom: &Sbom) -> Value {
    let components: Vec<Value> = sbom
        .debian
        .iter()
        .map(debian)
        .chain(sbom.python.iter().map(python))
        .collect();
    let metadata = json!({
        "timestamp": rfc3339(sbom.created),
        "tools": {
            "components": [{
                "type": "application",
                "author": "grocker",
                "name": "grocker",
                "version": sbom.tool_version,
            }]
        },
        "component": image(sbom),
    });
    let body = json!({ "metadata": metadata, "components": components });
    // The serial number names this content: a BOM of the same image is the same BOM.
    let serial = serial_number(&serde_json::to_vec(&body).unwrap_or_default());
    let mut doc = Map::new();
    doc.insert(
        "$schema".into(),
        "http://cyclonedx.org/schema/bom-1.6.schema.json".into(),
    );
    doc.insert("bomFormat".into(), "CycloneDX".into());
    doc.insert("specVersion".into(), "1.6".into());
    doc.insert("serialNumber".into(), serial.into());
    doc.insert("version".into(), 1.into());
    if let Value::Object(body) = body {
        doc.extend(body);
    }
    Value::Object(doc)
}

/// `urn:uuid:` with a version-5-shaped UUID from the content's SHA-256.
fn serial_number(content: &[u8]) -> String {
    let hash = grocker_hash::Sha256::digest(content).to_string();
    let mut hex: Vec<char> = hash[..32].chars().collect();
    hex[12] = '5';
    hex[16] = match hex[16].to_digit(16).unwrap_or(0) & 0x3 {
        0 => '8',
        1 => '9',
        2 => 'a',
        _ => 'b',
    };
    let s: String = hex.into_iter().collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &s[..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

fn image(sbom: &Sbom) -> Value {
    let (name, tag) = split_tag(&sbom.image.name);
    let main = sbom
        .image
        .index
        .as_deref()
        .or(sbom.image.digests.first().map(|(_, d)| d.as_str()))
        .unwrap_or_default();
    let mut properties = Vec::new();
    if let Some(index) = &sbom.image.index {
        properties.push(property("grocker:image:index-digest", index));
    }
    for (platform, digest) in &sbom.image.digests {
        properties.push(property(
            &format!("grocker:image:manifest-digest:{platform}"),
            digest,
        ));
    }
    json!({
        "type": "container",
        "bom-ref": format!("image:{main}"),
        "name": name,
        "version": tag,
        "hashes": [{ "alg": "SHA-256", "content": hex_of(main) }],
        "properties": properties,
    })
}

/// `registry/repo:tag` → (`registry/repo`, `tag`); a name without a tag has `latest`.
fn split_tag(name: &str) -> (&str, &str) {
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rsplit_once(':') {
        Some((_, tag)) => (&name[..name.len() - tag.len() - 1], tag),
        None => (name, "latest"),
    }
}

fn property(name: &str, value: &str) -> Value {
    json!({ "name": name, "value": value })
}

fn debian(p: &DebianComponent) -> Value {
    let purl = purl::debian_purl(&p.name, &p.version, &p.architecture, &p.distro);
    let licenses: Vec<Value> = p
        .licenses
        .iter()
        .flatten()
        .map(|name| json!({ "license": { "name": name } }))
        .collect();
    let mut c = json!({
        "type": "library",
        "bom-ref": purl,
        "publisher": "Debian",
        "name": p.name,
        "version": p.version,
        "hashes": [{ "alg": "SHA-256", "content": p.sha256.to_string() }],
        "licenses": licenses,
        "purl": purl,
        "properties": [
            property("grocker:debian:source", &p.source),
            property("grocker:debian:source-version", &p.source_version),
            property("grocker:debian:architecture", &p.architecture),
            property(
                "grocker:debian:copyright",
                if p.licenses.is_some() { "machine-readable" } else { "free-form" },
            ),
        ],
    });
    drop_empty(&mut c, "licenses");
    c
}

fn python(p: &PythonComponent) -> Value {
    let purl = purl::pypi_purl(&p.name, &p.version);
    let licenses: Vec<Value> = match &p.license {
        License::Expression(e) => vec![json!({ "expression": e })],
        License::Names(names) => names
            .iter()
            .map(|name| json!({ "license": { "name": name } }))
            .collect(),
    };
    let mut properties = vec![property("grocker:python:file", &p.filename)];
    if let Some(by) = &p.vendored_by {
        properties.push(property("grocker:python:vendored-by", by));
    }
    if let Some((wheel, sha256)) = &p.built_from_sdist {
        properties.push(property("grocker:python:built-from-sdist", "true"));
        properties.push(property("grocker:python:built-wheel", wheel));
        properties.push(property(
            "grocker:python:built-wheel-sha256",
            &sha256.to_string(),
        ));
    }
    let mut c = json!({
        "type": if p.application { "application" } else { "library" },
        "bom-ref": format!("{purl}#{}", p.filename),
        "name": p.name,
        "version": p.version,
        "hashes": p.sha256.iter().map(|h| json!({ "alg": "SHA-256", "content": h.to_string() })).collect::<Vec<_>>(),
        "licenses": licenses,
        "purl": purl,
        "properties": properties,
    });
    drop_empty(&mut c, "licenses");
    drop_empty(&mut c, "hashes");
    c
}

/// Leaves out an empty array (CycloneDX readers take a missing list better than an empty one).
fn drop_empty(value: &mut Value, key: &str) {
    if let Value::Object(map) = value
        && map
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
    {
        map.shift_remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_and_serials() {
        assert_eq!(
            split_tag("127.0.0.1:5000/team/httpie:3.2.4"),
            ("127.0.0.1:5000/team/httpie", "3.2.4")
        );
        assert_eq!(
            split_tag("127.0.0.1:5000/team/httpie"),
            ("127.0.0.1:5000/team/httpie", "latest")
        );
        let serial = serial_number(b"x");
        assert_eq!(serial, serial_number(b"x"));
        assert_ne!(serial, serial_number(b"y"));
        assert_eq!(serial.len(), "urn:uuid:".len() + 36);
        assert_eq!(&serial[23..24], "5");
    }
}
