//! The leaves of the configuration tree: strings, booleans, lists of packages, ports, env
//! values; each checked, and converted the way Grocker (PyYAML and Python's `str`) read them.

use std::collections::BTreeMap;

use serde_norway::{Mapping, Value};

use crate::schema::{Problem, ProblemKind};
use crate::tree::{KeyPath, describe};

const BOOLEAN: &str = "true or false";
const PACKAGES: &str = "a list of Debian package names";

pub(crate) type Check<T> = Result<T, Problem>;

pub(crate) fn problem<T>(path: &KeyPath, kind: ProblemKind) -> Check<T> {
    Err(Problem {
        path: path.clone(),
        kind,
    })
}

pub(crate) fn wrong<T>(path: &KeyPath, expected: &'static str, found: &Value) -> Check<T> {
    let found = describe(found);
    problem(path, ProblemKind::WrongType { expected, found })
}

/// The name of a mapping key and the path to its value; only strings name keys.
pub(crate) fn key_of(
    key: &Value,
    parent: &KeyPath,
    valid: &'static [&'static str],
) -> Check<(String, KeyPath)> {
    match key {
        Value::String(name) => Ok((name.clone(), parent.key(name))),
        other => {
            let name = serde_norway::to_string(other).unwrap_or_default();
            problem(&parent.key(name.trim()), ProblemKind::UnknownKey { valid })
        }
    }
}

pub(crate) fn mapping<'v>(
    value: &'v Value,
    path: &KeyPath,
    expected: &'static str,
) -> Check<Option<&'v Mapping>> {
    match value {
        Value::Null => Ok(None),
        Value::Mapping(map) => Ok(Some(map)),
        other => wrong(path, expected, other),
    }
}

pub(crate) fn string(
    value: &Value,
    path: &KeyPath,
    expected: &'static str,
) -> Check<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => wrong(path, expected, other),
    }
}

/// YAML 1.1 (PyYAML, hence Grocker) also spelled booleans `yes`/`no`/`on`/`off`; Grocker's own
/// defaults say `deprecated: yes`.
pub(crate) fn boolean(value: &Value, path: &KeyPath) -> Check<Option<bool>> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "yes" | "y" | "on" | "true" => Ok(Some(true)),
            "no" | "n" | "off" | "false" => Ok(Some(false)),
            _ => wrong(path, BOOLEAN, value),
        },
        other => wrong(path, BOOLEAN, other),
    }
}

/// Grocker handed `' '.join(packages)` to the package manager, so `- libpq5 libpq-dev` meant
/// two packages; so it does here.
pub(crate) fn packages(value: &Value, path: &KeyPath) -> Check<Option<Vec<String>>> {
    let Some(items) = sequence(value, path, PACKAGES)? else {
        return Ok(None);
    };
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = path.index(i);
        let Some(item) = string(item, &path, "a Debian package name")? else {
            return wrong(&path, "a Debian package name", item);
        };
        if item.trim().is_empty() {
            return problem(
                &path,
                ProblemKind::Invalid("the package name is empty".into()),
            );
        }
        names.extend(item.split_whitespace().map(str::to_string));
    }
    Ok(Some(names))
}

/// `platforms`: OCI platforms, a list or one comma-separated string (`linux/amd64,linux/arm64`),
/// each one grocker builds for.
pub(crate) fn platforms(value: &Value, path: &KeyPath) -> Check<Option<Vec<String>>> {
    const EXPECTED: &str = "platforms such as [linux/amd64, linux/arm64]";
    let items: Vec<(KeyPath, &Value)> = match value {
        Value::Null => return Ok(None),
        Value::String(_) => vec![(path.clone(), value)],
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (path.index(i), item))
            .collect(),
        other => return wrong(path, EXPECTED, other),
    };
    let mut out = Vec::new();
    for (path, item) in items {
        let Some(text) = string(item, &path, "a platform such as linux/arm64")? else {
            return wrong(&path, "a platform such as linux/arm64", item);
        };
        for platform in text.split(',').map(str::trim) {
            if !matches!(
                platform,
                "linux/amd64" | "linux/arm64" | "linux/arm64/v8" | "amd64" | "arm64"
            ) {
                return problem(
                    &path,
                    ProblemKind::Invalid(format!(
                        "`{platform}` is not a platform grocker builds for: use linux/amd64 or \
                         linux/arm64"
                    )),
                );
            }
            out.push(platform.to_string());
        }
    }
    Ok(Some(out))
}

pub(crate) fn sequence<'v>(
    value: &'v Value,
    path: &KeyPath,
    expected: &'static str,
) -> Check<Option<&'v [Value]>> {
    match value {
        Value::Null => Ok(None),
        Value::Sequence(items) => Ok(Some(items)),
        other => wrong(path, expected, other),
    }
}

/// `cmd`: a list of arguments, or one string split as a POSIX shell splits it.
pub(crate) fn cmd(value: &Value, path: &KeyPath) -> Check<Option<Vec<String>>> {
    const EXPECTED: &str = "a command line (a string, or a list of arguments)";
    match value {
        Value::Null => Ok(None),
        Value::String(line) => match shlex::split(line) {
            Some(args) => Ok(Some(args)),
            None => problem(
                path,
                ProblemKind::Invalid(format!("`{line}` has an unclosed quote")),
            ),
        },
        Value::Sequence(items) => {
            let mut args = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(arg) => args.push(arg.clone()),
                    other => return wrong(&path.index(i), "a string argument", other),
                }
            }
            Ok(Some(args))
        }
        other => wrong(path, EXPECTED, other),
    }
}

pub(crate) fn volumes(value: &Value, path: &KeyPath) -> Check<Option<Vec<String>>> {
    let Some(items) = sequence(value, path, "a list of absolute paths")? else {
        return Ok(None);
    };
    let mut volumes = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = path.index(i);
        match item {
            Value::String(v) if v.starts_with('/') => volumes.push(v.clone()),
            Value::String(v) => {
                let why = format!("`{v}` is not an absolute path inside the image");
                return problem(&path, ProblemKind::Invalid(why));
            }
            other => return wrong(&path, "an absolute path", other),
        }
    }
    Ok(Some(volumes))
}

pub(crate) fn ports(value: &Value, path: &KeyPath) -> Check<Option<Vec<String>>> {
    let Some(items) = sequence(value, path, "a list of ports")? else {
        return Ok(None);
    };
    let mut ports = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = path.index(i);
        let port = match item {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            other => {
                return wrong(
                    &path,
                    "a port number or a string such as \"8080/udp\"",
                    other,
                );
            }
        };
        let (number, protocol) = port.split_once('/').unwrap_or((&port, "tcp"));
        let number_ok = number.parse::<u16>().is_ok_and(|n| n > 0);
        if !number_ok || !matches!(protocol, "tcp" | "udp" | "sctp") {
            let why = format!(
                "`{port}` is not a port: expected a number from 1 to 65535, optionally followed by /tcp, /udp or /sctp"
            );
            return problem(&path, ProblemKind::Invalid(why));
        }
        ports.push(port);
    }
    Ok(Some(ports))
}

pub(crate) fn envs(value: &Value, path: &KeyPath) -> Check<Option<BTreeMap<String, String>>> {
    let expected = "a mapping of variable names to values";
    let map = match value {
        Value::Null => return Ok(None),
        // Grocker's own defaults said `envs: []`.
        Value::Sequence(items) if items.is_empty() => return Ok(Some(BTreeMap::new())),
        Value::Mapping(map) => map,
        other => return wrong(path, expected, other),
    };
    let mut envs = BTreeMap::new();
    for (key, value) in map {
        let Value::String(name) = key else {
            return wrong(path, "a mapping keyed by variable names", key);
        };
        let path = path.key(name);
        if name.is_empty() || name.contains(['=', '\0']) {
            let why = "a variable name must be non-empty, without `=`".to_string();
            return problem(&path, ProblemKind::Invalid(why));
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Bool(true) => "True".to_string(),
            Value::Bool(false) => "False".to_string(),
            Value::Number(n) => match n.as_f64() {
                Some(x) if n.is_f64() => python_float(x),
                _ => n.to_string(),
            },
            other => return wrong(&path, "a string, number or boolean", other),
        };
        envs.insert(name.clone(), text);
    }
    Ok(Some(envs))
}

/// Python's `str(float)` for the values a config holds: `1.0`, `1.5`, `inf`, `nan`.
fn python_float(x: f64) -> String {
    if x.is_nan() {
        "nan".to_string()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_string()
    } else if x == x.trunc() && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

pub(crate) fn public_key(armored: &str, path: &KeyPath) -> Check<String> {
    let key = armored.trim();
    let armored = key.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        && key.ends_with("-----END PGP PUBLIC KEY BLOCK-----");
    if !armored {
        let why = "expected an ASCII-armored OpenPGP public key, from `-----BEGIN PGP PUBLIC KEY BLOCK-----` to `-----END PGP PUBLIC KEY BLOCK-----`";
        return problem(path, ProblemKind::Invalid(why.to_string()));
    }
    Ok(format!("{key}\n"))
}
