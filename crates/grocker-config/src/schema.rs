//! Grocker 8's configuration keys: checks an untyped tree and turns it into a [`FileConfig`].
//!
//! Hand-written rather than `#[derive(Deserialize)]` so that every message names the key, says
//! what it takes in words, and accepts what Grocker (PyYAML) accepted: ports as numbers or
//! strings, env values as numbers or booleans, `envs: []`, `deprecated: yes`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use grocker_runtime::Runtime;
use serde_norway::Value;

use crate::leaves::{
    Check, boolean, cmd, envs, key_of, mapping, packages, platforms, ports, problem, public_key,
    string, volumes, wrong,
};
use crate::tree::KeyPath;
use crate::{Dependencies, FileConfig, Repository, RuntimeOverride};

/// The keys of a Grocker 8 file. `manifest` (Grocker 6.9: fetch the digest from the registry)
/// is accepted and ignored: grocker always knows the manifest digest it pushed.
pub(crate) const TOP_KEYS: &[&str] = &[
    "runtime",
    "runtimes",
    "dependencies",
    "pip_constraint",
    "volumes",
    "ports",
    "envs",
    "repositories",
    "docker_image_prefix",
    "image_base_name",
    "entrypoint_name",
    "cmd",
    "auto_packages",
    "platforms",
    "cache_repo",
    "python",
    "manifest",
];
const DEPENDENCY_KEYS: &[&str] = &["run", "build"];
const RUNTIME_KEYS: &[&str] = &["dependencies", "deprecated"];
const REPOSITORY_KEYS: &[&str] = &["uri", "key"];

/// What is wrong, and where in the tree.
#[derive(Debug)]
pub(crate) struct Problem {
    pub(crate) path: KeyPath,
    pub(crate) kind: ProblemKind,
}

#[derive(Debug)]
pub(crate) enum ProblemKind {
    UnknownKey {
        valid: &'static [&'static str],
    },
    WrongType {
        expected: &'static str,
        found: String,
    },
    Invalid(String),
    UnknownRuntime(String),
    Unsupported(&'static str),
    Missing {
        field: &'static str,
        what: &'static str,
    },
}

/// How to read one tree.
pub(crate) struct Walk {
    /// Whether entries must be complete: false for one file of several, which the next file
    /// may complete (a repository's `uri` in one file, its `key` in another).
    pub(crate) complete: bool,
}

impl Walk {
    pub(crate) fn file(&self, root: &Value) -> Check<FileConfig> {
        let top = KeyPath::default();
        let mut cfg = FileConfig::default();
        let Some(map) = mapping(root, &top, "a mapping of Grocker settings")? else {
            return Ok(cfg);
        };
        for (key, value) in map {
            let (name, path) = key_of(key, &top, TOP_KEYS)?;
            match name.as_str() {
                "runtime" => {
                    let expected = "a runtime name such as \"bookworm/3.11\"";
                    if let Some(given) = string(value, &path, expected)? {
                        cfg.runtime = Some(runtime(&given, &path)?);
                    }
                }
                "python" => {
                    let expected = "`debian` or `source`";
                    cfg.python = string(value, &path, expected)?;
                    if let Some(given) = &cfg.python
                        && !matches!(given.as_str(), "debian" | "source")
                    {
                        return problem(
                            &path,
                            ProblemKind::Invalid(format!(
                                "`{given}`: the interpreter comes from `debian` or `source`"
                            )),
                        );
                    }
                }
                "runtimes" => cfg.runtimes = runtimes(value, &path)?,
                "dependencies" => cfg.dependencies = dependencies(value, &path)?,
                "pip_constraint" => {
                    // Made relative to its file's directory before files merge (`load`).
                    let file = string(value, &path, "a path to a pip constraints file")?;
                    cfg.pip_constraint = file.map(PathBuf::from);
                }
                "volumes" => cfg.volumes = volumes(value, &path)?,
                "ports" => cfg.ports = ports(value, &path)?,
                "envs" => cfg.envs = envs(value, &path)?,
                "repositories" => cfg.repositories = self.repositories(value, &path)?,
                "docker_image_prefix" => {
                    let expected = "a registry prefix such as \"registry.example.com/team\"";
                    cfg.docker_image_prefix = string(value, &path, expected)?;
                }
                "image_base_name" => {
                    cfg.image_base_name = string(value, &path, "an image name")?;
                }
                "entrypoint_name" => {
                    let expected = "the name of a console script";
                    cfg.entrypoint_name = string(value, &path, expected)?;
                }
                "cmd" => cfg.cmd = cmd(value, &path)?,
                "auto_packages" => cfg.auto_packages = boolean(value, &path)?,
                "platforms" => cfg.platforms = platforms(value, &path)?,
                "cache_repo" => {
                    let expected =
                        "a registry repository such as \"registry.example.com/team/cache\"";
                    cfg.cache_repo = string(value, &path, expected)?;
                }
                "manifest" => {
                    boolean(value, &path)?;
                }
                _ => return problem(&path, ProblemKind::UnknownKey { valid: TOP_KEYS }),
            }
        }
        Ok(cfg)
    }

    fn repositories(
        &self,
        value: &Value,
        path: &KeyPath,
    ) -> Check<Option<BTreeMap<String, Repository>>> {
        let expected = "a mapping of repository names to {uri, key}";
        let Some(map) = mapping(value, path, expected)? else {
            return Ok(None);
        };
        let mut repositories = BTreeMap::new();
        for (key, entry) in map {
            let Value::String(name) = key else {
                return wrong(path, "a mapping keyed by repository names", key);
            };
            let path = path.key(name);
            let valid_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid_name {
                let why = "repository names may only hold letters, digits, `.`, `_` and `-`";
                return problem(&path, ProblemKind::Invalid(why.to_string()));
            }
            let (mut source, mut signing_key) = (None, None);
            let fields = mapping(entry, &path, "a mapping with `uri` and `key`")?;
            for (field, value) in fields.into_iter().flatten() {
                let (field, path) = key_of(field, &path, REPOSITORY_KEYS)?;
                match field.as_str() {
                    "uri" => {
                        let expected = "a `deb` line such as \"deb http://deb.example.com/debian bookworm main\"";
                        if let Some(line) = string(value, &path, expected)? {
                            match line.parse() {
                                Ok(parsed) => source = Some(parsed),
                                Err(e) => {
                                    return problem(&path, ProblemKind::Invalid(format!("{e}")));
                                }
                            }
                        }
                    }
                    "key" => {
                        let expected = "an ASCII-armored OpenPGP public key";
                        if let Some(armored) = string(value, &path, expected)? {
                            signing_key = Some(public_key(&armored, &path)?);
                        }
                    }
                    _ => {
                        return problem(
                            &path,
                            ProblemKind::UnknownKey {
                                valid: REPOSITORY_KEYS,
                            },
                        );
                    }
                }
            }
            match (source, signing_key) {
                (Some(source), Some(key)) => {
                    repositories.insert(name.clone(), Repository { source, key });
                }
                (source, _) if self.complete => {
                    let (field, what) = if source.is_none() {
                        ("uri", "the repository's `deb` line")
                    } else {
                        (
                            "key",
                            "the ASCII-armored public key its Release file is signed with",
                        )
                    };
                    return problem(&path, ProblemKind::Missing { field, what });
                }
                _ => {}
            }
        }
        Ok(Some(repositories))
    }
}

/// Canonical runtime name: Grocker 8's `SUITE/PYTHON`, or Grocker's older `pythonX.Y` mapped to
/// the runtime that ships that Python.
pub(crate) fn runtime_name(given: &str) -> Option<String> {
    if let Ok(runtime) = given.parse::<Runtime>() {
        return Some(runtime.to_string());
    }
    let python = given.strip_prefix("python")?;
    Runtime::debian_runtimes()
        .into_iter()
        .find(|r| r.python() == python)
        .map(|r| r.to_string())
}

fn runtime(given: &str, path: &KeyPath) -> Check<String> {
    match runtime_name(given) {
        Some(name) => Ok(name),
        None => problem(path, ProblemKind::UnknownRuntime(given.to_string())),
    }
}

fn runtimes(value: &Value, path: &KeyPath) -> Check<BTreeMap<String, RuntimeOverride>> {
    let mut runtimes = BTreeMap::new();
    let Some(map) = mapping(value, path, "a mapping of runtime names to settings")? else {
        return Ok(runtimes);
    };
    let mut spelled: BTreeMap<String, String> = BTreeMap::new();
    for (key, entry) in map {
        let Value::String(given) = key else {
            return wrong(path, "a mapping keyed by runtime names", key);
        };
        let path = path.key(given);
        let name = runtime(given, &path)?;
        if let Some(first) = spelled.insert(name.clone(), given.clone()) {
            let why = format!("`{first}` and `{given}` both name runtime {name}");
            return problem(&path, ProblemKind::Invalid(why));
        }
        let mut settings = RuntimeOverride::default();
        let fields = mapping(
            entry,
            &path,
            "a mapping with `dependencies` and `deprecated`",
        )?;
        for (field, value) in fields.into_iter().flatten() {
            let (field, path) = key_of(field, &path, RUNTIME_KEYS)?;
            match field.as_str() {
                "dependencies" => settings.dependencies = dependencies(value, &path)?,
                "deprecated" => settings.deprecated = boolean(value, &path)?,
                "image" => {
                    let why = "grocker assembles runtimes from Debian packages, not from a base image; remove it";
                    return problem(&path, ProblemKind::Unsupported(why));
                }
                "runtime" => {
                    let why = "the interpreter is Debian's python3.X of the runtime; remove it";
                    return problem(&path, ProblemKind::Unsupported(why));
                }
                _ => {
                    return problem(
                        &path,
                        ProblemKind::UnknownKey {
                            valid: RUNTIME_KEYS,
                        },
                    );
                }
            }
        }
        runtimes.insert(name, settings);
    }
    Ok(runtimes)
}

fn dependencies(value: &Value, path: &KeyPath) -> Check<Dependencies> {
    let expected = "a mapping with `run` and `build` lists of Debian packages";
    let mut deps = Dependencies::default();
    for (key, value) in mapping(value, path, expected)?.into_iter().flatten() {
        let (name, path) = key_of(key, path, DEPENDENCY_KEYS)?;
        let list = match name.as_str() {
            "run" => &mut deps.run,
            "build" => &mut deps.build,
            _ => {
                return problem(
                    &path,
                    ProblemKind::UnknownKey {
                        valid: DEPENDENCY_KEYS,
                    },
                );
            }
        };
        *list = packages(value, &path)?;
    }
    Ok(deps)
}
