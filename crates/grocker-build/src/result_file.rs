//! Grocker's `--result-file`: what was built, under which name, and — once pushed, as Grocker
//! wrote it — with which manifest digest (the index's for several platforms); the builder image
//! when one compiled something. A multi-platform image also lists each platform's manifest
//! digest (`manifests`, by platform), which its index names.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use grocker_oci::{Artifact, ImageName, Published};

use crate::Plan;

/// The file's YAML, field for field.
#[derive(serde::Serialize)]
pub struct ResultFile {
    release: String,
    image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
    runtime: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    compiler_image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platforms: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifests: Option<BTreeMap<String, String>>,
}

impl ResultFile {
    /// What `artifact`, built from `plan`, became once published as `name`; `pushed` when it
    /// went to a registry (Grocker writes `hash` only then).
    pub fn new(
        plan: &Plan,
        name: &ImageName,
        published: &Published,
        artifact: &Artifact,
        pushed: bool,
    ) -> Self {
        let app = plan.app();
        let several = matches!(artifact, Artifact::Index(_));
        let manifests = several.then(|| artifact.platform_digests().into_iter().collect());
        ResultFile {
            release: app.map(|a| a.release.to_string()).unwrap_or_default(),
            image: name.to_string(),
            // An index's digest is the same in every sink that holds it: said for oci:DIR too.
            hash: (pushed || several).then(|| published.digest.to_string()),
            runtime: plan.inputs.runtime.to_string(),
            compiler_image: app.and_then(|a| a.builder_image()),
            platforms: several.then(|| plan.platforms.iter().map(|p| p.arch.platform()).collect()),
            manifests,
        }
    }

    /// Writes it to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        fs_err::write(path, serde_norway::to_string(self)?)?;
        Ok(())
    }
}
