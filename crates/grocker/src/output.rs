//! Opening the sink the user chose (or the default one), ko-style: one publish step.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use grocker_build::Reporter;
use grocker_oci::{
    DockerArchiveSink, DockerEngineSink, ImageName, OciLayoutSink, RegistryOptions, RegistrySink,
    Sink,
};

use crate::settings::Output;

/// Opens the sink for `output`. With no `-o`, the local engine if one answers, else a
/// docker-archive in the current directory; the choice is said out loud. `cache` is grocker's
/// cache directory, where the engine sink remembers which layers the engine was given.
pub fn open(
    output: Option<&Output>,
    name: &ImageName,
    registry: &RegistryOptions,
    cache: &Path,
    report: &Reporter,
) -> Result<Box<dyn Sink>> {
    let engine = || -> Result<DockerEngineSink, grocker_oci::OciError> {
        Ok(DockerEngineSink::from_env()?.remembering_in(&cache.join("engine-layers")))
    };
    let output = match output {
        Some(o) => o.clone(),
        None => match engine() {
            Ok(engine) => {
                report.note("No -o given: loading the image into the local engine.");
                return Ok(Box::new(engine));
            }
            Err(e) => {
                let file = default_archive(name);
                report.note(format!(
                    "No -o given and no engine reachable ({e}): writing docker-archive:{}",
                    file.display()
                ));
                Output::DockerArchive(file)
            }
        },
    };
    Ok(match output {
        Output::Docker => Box::new(engine()?),
        Output::Oci(dir) => Box::new(OciLayoutSink::new(&dir)?),
        Output::DockerArchive(file) => Box::new(DockerArchiveSink::new(&file)?),
        Output::Registry => {
            if name.registry().is_none() {
                bail!(
                    "-o registry: `{name}` names no registry; give one with --image-prefix \
                     (e.g. registry.example.com/team) or -n"
                );
            }
            Box::new(RegistrySink::new(registry.clone())?)
        }
    })
}

/// `team/app:1.0` → `app-1.0.tar`.
fn default_archive(name: &ImageName) -> PathBuf {
    let repo = name.repository();
    let last = repo.rsplit('/').next().unwrap_or(repo);
    PathBuf::from(format!("{last}-{}.tar", name.tag()))
}
