//! Poetry's `content-hash`: the SHA-256 of `json.dumps(relevant, sort_keys=True)` over the parts
//! of `pyproject.toml` that change what is locked. Exactly `Locker._get_content_hash` of Poetry
//! 2.x (`poetry/packages/locker.py`), which for a `[tool.poetry]`-only project also gives what
//! Poetry 1.x computed.

use grocker_hash::Sha256;

use crate::locked::Stale;
use crate::pyproject::PyProject;

const LEGACY_KEYS: [&str; 4] = ["dependencies", "source", "extras", "dev-dependencies"];
const RELEVANT_KEYS: [&str; 5] = [
    "dependencies",
    "source",
    "extras",
    "dev-dependencies",
    "group",
];
const PROJECT_KEYS: [&str; 3] = ["requires-python", "dependencies", "optional-dependencies"];

/// The content hash of `pyproject`; `with_groups: false` is the form before Poetry 2.3, which
/// left `[dependency-groups]` out.
pub fn content_hash(pyproject: &PyProject, with_groups: bool) -> String {
    let table = &pyproject.table;
    let empty = toml::Table::new();
    let project = table
        .get("project")
        .and_then(toml::Value::as_table)
        .unwrap_or(&empty);
    let groups = if with_groups {
        table
            .get("dependency-groups")
            .and_then(toml::Value::as_table)
            .filter(|g| !g.is_empty())
    } else {
        None
    };
    let poetry = table
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(toml::Value::as_table)
        .unwrap_or(&empty);

    let mut relevant_project = toml::Table::new();
    for key in PROJECT_KEYS {
        if let Some(value) = project.get(key) {
            relevant_project.insert(key.into(), value.clone());
        }
    }
    // `None` stands for Python's `None`, which the legacy keys keep (`"source": null`).
    let mut relevant_poetry: Vec<(&str, Option<&toml::Value>)> = Vec::new();
    for key in RELEVANT_KEYS {
        let value = poetry.get(key);
        if value.is_none()
            && (!LEGACY_KEYS.contains(&key) || !relevant_project.is_empty() || groups.is_some())
        {
            continue;
        }
        relevant_poetry.push((key, value));
    }
    let poetry_json = object(
        relevant_poetry
            .iter()
            .map(|(k, v)| (k.to_string(), v.map_or_else(|| "null".to_string(), json)))
            .collect(),
    );
    let text = if relevant_project.is_empty() && groups.is_none() {
        poetry_json
    } else {
        let mut top = Vec::new();
        if !relevant_project.is_empty() {
            top.push((
                "project".to_string(),
                json(&toml::Value::Table(relevant_project)),
            ));
        }
        if let Some(groups) = groups {
            top.push((
                "dependency-groups".to_string(),
                json(&toml::Value::Table(groups.clone())),
            ));
        }
        top.push((
            "tool".to_string(),
            object(vec![("poetry".to_string(), poetry_json)]),
        ));
        object(top)
    };
    Sha256::digest(text.as_bytes()).to_string()
}

/// A stale reason when `recorded` is neither form of the hash Poetry would write now (the
/// generator comment says which Poetry wrote the lock).
pub(crate) fn stale(pyproject: &PyProject, recorded: &str, first_line: &str) -> Option<Stale> {
    if content_hash(pyproject, true) == recorded {
        return None;
    }
    let before_2_3 = first_line
        .split("Poetry ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse::<grocker_wheel::Version>().ok())
        .is_some_and(|v| v < grocker_wheel::Version::new([2, 3]));
    if before_2_3 && content_hash(pyproject, false) == recorded {
        return None;
    }
    Some(Stale {
        reason: "pyproject.toml changed since poetry.lock was written (its content-hash differs)"
            .into(),
        command: "poetry lock",
    })
}

/// `{"k": v, ...}` with keys sorted, Python's `json.dumps` separators.
fn object(mut entries: Vec<(String, String)>) -> String {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let inner: Vec<String> = entries
        .into_iter()
        .map(|(k, v)| format!("{}: {v}", string(&k)))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// A TOML value as Python's `json.dumps(..., sort_keys=True)` writes what `tomllib` read.
fn json(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => string(s),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => python_float(*f),
        toml::Value::Boolean(b) => if *b { "true" } else { "false" }.to_string(),
        toml::Value::Datetime(d) => string(&d.to_string()),
        toml::Value::Array(items) => format!(
            "[{}]",
            items.iter().map(json).collect::<Vec<_>>().join(", ")
        ),
        toml::Value::Table(t) => object(t.iter().map(|(k, v)| (k.clone(), json(v))).collect()),
    }
}

fn python_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// A JSON string with `ensure_ascii`: printable ASCII as is, everything else escaped.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}
