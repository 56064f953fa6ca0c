//! [`BuildSystem`]: what `pyproject.toml` says about building a source tree (PEP 517, PEP 518).

use std::path::Path;

use fs_err as fs;

use crate::BuilderError;

/// PEP 517: "If the pyproject.toml file is absent, or the build-backend key is missing, the source
/// tree is not using this specification, and tools should revert to the legacy behaviour of
/// running setup.py (either directly, or by implicitly invoking the
/// setuptools.build_meta:__legacy__ backend)."
pub const LEGACY_BACKEND: &str = "setuptools.build_meta:__legacy__";
/// PEP 518's requirements for a tree without `[build-system]`, as pip uses them.
pub const LEGACY_REQUIRES: &str = "setuptools>=40.8.0";

/// The `[build-system]` table of a source tree, with PEP 517's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildSystem {
    /// PEP 518's static build requirements (`requires`), as PEP 508 strings.
    pub requires: Vec<String>,
    /// The backend object, `module:object`.
    pub backend: String,
    /// In-tree backend directories, relative to the source tree.
    pub backend_path: Vec<String>,
}

impl BuildSystem {
    /// Reads `source/pyproject.toml`; a tree without it, or without `[build-system]`, builds
    /// with setuptools' legacy backend.
    pub fn read(source: &Path) -> Result<BuildSystem, BuilderError> {
        let path = source.join("pyproject.toml");
        let legacy = BuildSystem {
            requires: vec![LEGACY_REQUIRES.to_string()],
            backend: LEGACY_BACKEND.to_string(),
            backend_path: Vec::new(),
        };
        if !path.is_file() {
            return Ok(legacy);
        }
        let bad = |reason: String| BuilderError::BadProject {
            path: path.clone(),
            reason,
        };
        let text = fs::read_to_string(&path).map_err(BuilderError::io(&path))?;
        let value: toml::Table = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let Some(table) = value.get("build-system") else {
            return Ok(legacy);
        };
        let table = table
            .as_table()
            .ok_or_else(|| bad("[build-system] is not a table".into()))?;
        let strings = |key: &str| -> Result<Option<Vec<String>>, BuilderError> {
            let Some(value) = table.get(key) else {
                return Ok(None);
            };
            value
                .as_array()
                .and_then(|a| a.iter().map(|v| v.as_str().map(String::from)).collect())
                .map(Some)
                .ok_or_else(|| bad(format!("[build-system] {key} must be a list of strings")))
        };
        // PEP 518: "If the table is specified but is missing required fields then the tool
        // should consider it an error."
        let requires = strings("requires")?
            .ok_or_else(|| bad("[build-system] has no `requires` list".into()))?;
        let backend = match table.get("build-backend") {
            None => LEGACY_BACKEND.to_string(),
            Some(v) => v
                .as_str()
                .map(String::from)
                .ok_or_else(|| bad("[build-system] build-backend must be a string".into()))?,
        };
        let backend_path = strings("backend-path")?.unwrap_or_default();
        for dir in &backend_path {
            // PEP 517: backend-path entries are relative and must stay within the source tree.
            if dir.starts_with('/') || dir.split('/').any(|part| part == "..") {
                return Err(bad(format!(
                    "[build-system] backend-path `{dir}` leaves the source tree"
                )));
            }
        }
        Ok(BuildSystem {
            requires,
            backend,
            backend_path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pyproject: Option<&str>) -> Result<BuildSystem, BuilderError> {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = pyproject {
            fs_err::write(dir.path().join("pyproject.toml"), text).unwrap();
        }
        BuildSystem::read(dir.path())
    }

    #[test]
    fn defaults_and_declared_values() {
        let legacy = read(None).unwrap();
        assert_eq!(legacy.requires, [LEGACY_REQUIRES]);
        assert_eq!(legacy.backend, LEGACY_BACKEND);
        assert_eq!(read(Some("[project]\nname = 'x'\n")).unwrap(), legacy);

        let hatch = read(Some(
            "[build-system]\nrequires = [\"hatchling>=1.20\", \"hatch-vcs\"]\n\
             build-backend = \"hatchling.build\"\n",
        ))
        .unwrap();
        assert_eq!(hatch.requires, ["hatchling>=1.20", "hatch-vcs"]);
        assert_eq!(hatch.backend, "hatchling.build");

        let in_tree = read(Some(
            "[build-system]\nrequires = []\nbuild-backend = \"b\"\nbackend-path = [\"_b\"]\n",
        ))
        .unwrap();
        assert_eq!(in_tree.backend_path, ["_b"]);
        // A table without build-backend: the legacy backend with the declared requirements.
        let no_backend = read(Some("[build-system]\nrequires = [\"setuptools\"]\n")).unwrap();
        assert_eq!(
            (no_backend.requires, no_backend.backend.as_str()),
            (vec!["setuptools".to_string()], LEGACY_BACKEND)
        );
    }

    #[test]
    fn malformed_tables_are_named() {
        for (text, says) in [
            ("[build-system\n", "pyproject.toml"),
            (
                "[build-system]\nbuild-backend = \"b\"\n",
                "has no `requires` list",
            ),
            (
                "[build-system]\nrequires = \"setuptools\"\n",
                "requires must be a list",
            ),
            (
                "[build-system]\nrequires = [1]\n",
                "requires must be a list",
            ),
            (
                "[build-system]\nrequires = []\nbuild-backend = 3\n",
                "must be a string",
            ),
            (
                "[build-system]\nrequires = []\nbuild-backend = \"b\"\nbackend-path = [\"../x\"]\n",
                "leaves the source tree",
            ),
        ] {
            let err = read(Some(text)).unwrap_err().to_string();
            assert!(err.contains(says), "{text:?}: {err}");
            assert!(err.contains("pyproject.toml"), "{err}");
        }
    }
}
