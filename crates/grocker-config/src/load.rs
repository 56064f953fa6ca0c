//! Finding, reading and merging the files: Grocker's `utils.parse_config`.

use std::path::{Path, PathBuf};

use serde_norway::Value;

use crate::error::Location;
use crate::schema::{Problem, ProblemKind, Walk, runtime_name};
use crate::tree::{KeyPath, Seg, deep_merge, depth_in, from_toml, toml_line, yaml_line};
use crate::{ConfigError, FileConfig, Loaded};

/// The implicit project file Grocker read from the working directory.
pub const GROCKER_YML: &str = ".grocker.yml";
/// The project metadata file whose `[tool.grocker]` table grocker also reads.
pub const PYPROJECT_TOML: &str = "pyproject.toml";

/// Reads the configuration of the project in `dir`.
///
/// Grocker's rule (`utils.parse_config`): with no `-c`, the implicit files of `dir`; with one
/// or more `-c FILE`, exactly those files in order and no implicit file. The implicit files are
/// `pyproject.toml` (its `[tool.grocker]` table) and then `.grocker.yml`, so the Grocker file
/// wins over the newer one. A `-c` file ending in `.toml` is read as a `pyproject.toml`.
///
/// Later files win with Grocker's deep merge, done on the values before they are checked as a
/// whole: mappings merge key by key, lists and scalars are replaced. Each file is checked on
/// its own first, so errors name the file (and line) to fix.
pub fn load(dir: &Path, explicit: &[PathBuf]) -> Result<Loaded, ConfigError> {
    let mut docs = Vec::new();
    if explicit.is_empty() {
        let pyproject = dir.join(PYPROJECT_TOML);
        if pyproject.exists() {
            docs.extend(Doc::toml(&read(&pyproject)?, &pyproject)?);
        }
        let yml = dir.join(GROCKER_YML);
        if yml.exists() {
            docs.push(Doc::yaml(&read(&yml)?, &yml)?);
        }
    } else {
        for path in explicit {
            let text = read(path)?;
            if path.extension().is_some_and(|e| e == "toml") {
                let doc = Doc::toml(&text, path)?;
                docs.push(doc.ok_or_else(|| ConfigError::NoToolTable { path: path.clone() })?);
            } else {
                docs.push(Doc::yaml(&text, path)?);
            }
        }
    }

    let mut merged = Value::Mapping(Default::default());
    for doc in &docs {
        // An empty file says nothing (Grocker merged `project_config or {}`).
        if !doc.value.is_null() {
            deep_merge(&mut merged, doc.value.clone());
        }
    }
    let walk = Walk { complete: true };
    let config = walk.file(&merged).map_err(|p| blame(&docs, p))?;
    Ok(Loaded {
        config,
        sources: docs.into_iter().map(|d| d.path).collect(),
    })
}

/// Reads one YAML file (`.grocker.yml`, or any `-c` file). `path` names the file in errors and
/// is where a relative `pip_constraint` starts.
pub fn parse_yaml(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    Doc::yaml(text, path)?.check()
}

/// Reads the `[tool.grocker]` table of a `pyproject.toml`; `None` when it has none.
pub fn parse_pyproject(text: &str, path: &Path) -> Result<Option<FileConfig>, ConfigError> {
    Doc::toml(text, path)?.map(|doc| doc.check()).transpose()
}

fn read(path: &Path) -> Result<String, ConfigError> {
    fs_err::read_to_string(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ConfigError::MissingFile {
            path: path.to_path_buf(),
        },
        std::io::ErrorKind::InvalidData => ConfigError::Read {
            path: path.to_path_buf(),
            reason: "it is not UTF-8 text; save it as UTF-8".to_string(),
        },
        _ => ConfigError::Read {
            path: path.to_path_buf(),
            // fs-err's message names the path again: say only what the system said.
            reason: std::error::Error::source(&source)
                .map_or_else(|| source.to_string(), ToString::to_string),
        },
    })
}

#[derive(Clone, Copy)]
enum Format {
    Yaml,
    /// A TOML document, addressed from its root.
    Toml,
    /// A `pyproject.toml`: the settings live under `tool.grocker`.
    Pyproject,
}

/// One file, checked on its own and normalized so that it merges with the others.
struct Doc {
    path: PathBuf,
    text: String,
    format: Format,
    value: Value,
}

impl Doc {
    fn yaml(text: &str, path: &Path) -> Result<Doc, ConfigError> {
        let syntax = |e: serde_norway::Error| {
            let line = e.location().map(|l| l.line());
            let mut message = e.to_string();
            if let Some(l) = e.location() {
                message =
                    message.replace(&format!(" at line {} column {}", l.line(), l.column()), "");
            }
            ConfigError::Syntax {
                at: Location {
                    path: path.to_path_buf(),
                    line,
                },
                format: "YAML",
                message,
            }
        };
        let mut value: Value = serde_norway::from_str(text).map_err(syntax)?;
        // PyYAML, which Grocker used, applies `<<: *anchor` merge keys.
        value.apply_merge().map_err(syntax)?;
        Doc::new(text, path, Format::Yaml, value)
    }

    fn toml(text: &str, path: &Path) -> Result<Option<Doc>, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            at: Location {
                path: path.to_path_buf(),
                line: e
                    .span()
                    .and_then(|s| text.get(..s.start))
                    .map(|before| before.matches('\n').count() + 1),
            },
            format: "TOML",
            message: e.message().to_string(),
        })?;
        let Some(tool) = table.remove("tool") else {
            return Ok(None);
        };
        let toml::Value::Table(mut tool) = tool else {
            return Err(doc_error(
                path,
                text,
                Format::Toml,
                wrong_table(&["tool"], &tool),
            ));
        };
        let Some(grocker) = tool.remove("grocker") else {
            return Ok(None);
        };
        if !grocker.is_table() {
            let problem = wrong_table(&["tool", "grocker"], &grocker);
            return Err(doc_error(path, text, Format::Toml, problem));
        }
        Doc::new(text, path, Format::Pyproject, from_toml(grocker)).map(Some)
    }

    fn new(text: &str, path: &Path, format: Format, mut value: Value) -> Result<Doc, ConfigError> {
        let doc = Doc {
            path: path.to_path_buf(),
            text: text.to_string(),
            format,
            value: Value::Null,
        };
        let walk = Walk { complete: false };
        walk.file(&value).map_err(|p| doc.error(p))?;
        normalize(&mut value, doc.dir());
        Ok(Doc { value, ..doc })
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }

    /// This file alone, as a complete configuration.
    fn check(&self) -> Result<FileConfig, ConfigError> {
        let walk = Walk { complete: true };
        walk.file(&self.value).map_err(|p| self.error(p))
    }

    fn error(&self, problem: Problem) -> ConfigError {
        doc_error(&self.path, &self.text, self.format, problem)
    }
}

fn wrong_table(path: &[&str], value: &toml::Value) -> Problem {
    Problem {
        path: KeyPath(path.iter().map(|k| Seg::Key(k.to_string())).collect()),
        kind: ProblemKind::WrongType {
            expected: "a table",
            found: format!("a {}", value.type_str()),
        },
    }
}

/// Rewrites what must compare equal across files before they merge: runtime names to their
/// canonical spelling, and `pip_constraint` to a path from the file's directory. Runs on a
/// checked tree, so anything unexpected is left alone.
fn normalize(value: &mut Value, dir: &Path) {
    let Value::Mapping(map) = value else { return };
    if let Some(Value::String(rt)) = map.get_mut("runtime")
        && let Some(name) = runtime_name(rt)
    {
        *rt = name;
    }
    if let Some(Value::Mapping(runtimes)) = map.get_mut("runtimes") {
        *runtimes = std::mem::take(runtimes)
            .into_iter()
            .map(|(k, v)| match k.as_str().and_then(runtime_name) {
                Some(name) => (Value::String(name), v),
                None => (k, v),
            })
            .collect();
    }
    if let Some(Value::String(file)) = map.get_mut("pip_constraint") {
        *file = dir.join(&*file).to_string_lossy().into_owned();
    }
}

/// An error found once the files are merged concerns an entry several files may have
/// written: it is blamed on the last file that has the longest part of its path.
fn blame(docs: &[Doc], problem: Problem) -> ConfigError {
    // `max_by_key` keeps the last of equals: the latest file.
    let best = docs
        .iter()
        .max_by_key(|d| depth_in(&d.value, &problem.path));
    match best {
        Some(doc) => doc.error(problem),
        None => doc_error(Path::new("(defaults)"), "", Format::Yaml, problem),
    }
}

fn doc_error(path: &Path, text: &str, format: Format, problem: Problem) -> ConfigError {
    let prefix = match format {
        Format::Yaml | Format::Toml => KeyPath::default(),
        Format::Pyproject => KeyPath::default().key("tool").key("grocker"),
    };
    let full = prefix.join(&problem.path);
    let line = match format {
        Format::Yaml => yaml_line(text, &full),
        Format::Toml | Format::Pyproject => toml_line(text, &full),
    };
    let at = Location {
        path: path.to_path_buf(),
        line,
    };
    let key = full.to_string();
    match problem.kind {
        ProblemKind::UnknownKey { valid } => {
            let typed = match problem.path.0.last() {
                Some(Seg::Key(k)) => k.as_str(),
                _ => "",
            };
            ConfigError::UnknownKey {
                at,
                key,
                suggestion: suggest(typed, valid),
                valid,
            }
        }
        ProblemKind::WrongType { expected, found } => ConfigError::WrongType {
            at,
            key,
            expected,
            found,
        },
        ProblemKind::Invalid(problem) => ConfigError::InvalidValue { at, key, problem },
        ProblemKind::UnknownRuntime(given) => ConfigError::UnknownRuntime { at, key, given },
        ProblemKind::Unsupported(reason) => ConfigError::Unsupported { at, key, reason },
        ProblemKind::Missing { field, what } => ConfigError::Missing {
            at,
            key,
            field,
            what,
        },
    }
}

/// The valid key a typo most likely meant: one containing the other (`entrypoint` →
/// `entrypoint_name`), else one within two edits (`dependancies` → `dependencies`).
fn suggest(typed: &str, valid: &'static [&'static str]) -> Option<&'static str> {
    let typed = typed.to_ascii_lowercase();
    if typed.len() >= 3 {
        let containing = valid
            .iter()
            .filter(|v| v.contains(typed.as_str()) || typed.contains(**v))
            .min_by_key(|v| v.len().abs_diff(typed.len()));
        if containing.is_some() {
            return containing.copied();
        }
    }
    valid
        .iter()
        .map(|v| (edit_distance(&typed, v), *v))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}
