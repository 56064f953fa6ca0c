//! Opening the sink the user chose (or the default one), ko-style: one publish step.

use std::path::PathBuf;

use anyhow::{Result, bail};
use grocker_oci::{
    DockerArchiveSink, DockerEngineSink, Image, ImageName, OciLayoutSink, Published,
    RegistryOptions, RegistrySink, Sink,
};

use crate::report::Reporter;
use crate::settings::Output;

/// Opens the sink for `output`. With no `-o`, the local engine if one answers, else a
/// docker-archive in the current directory; the choice is said out loud.
pub fn open(
    output: Option<&Output>,
    name: &ImageName,
    registry: &RegistryOptions,
    report: &Reporter,
) -> Result<Box<dyn Sink>> {
    let output = match output {
        Some(o) => o.clone(),
        None => match DockerEngineSink::from_env() {
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
        Output::Docker => Box::new(DockerEngineSink::from_env()?),
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

/// ko's `MultiPublisher`, like tee(1): the image goes to every sink, in order. The first
/// sink's result is the one reported, except that a registry's digest (as the registry reports
/// it) is preferred, since that is what a deployment will pull.
pub struct Tee {
    sinks: Vec<(Box<dyn Sink>, bool)>,
}

impl Tee {
    pub fn new(first: Box<dyn Sink>) -> Self {
        Self {
            sinks: vec![(first, false)],
        }
    }

    /// Also push to the image's registry.
    pub fn push(mut self, registry: &RegistryOptions) -> Result<Self> {
        self.sinks
            .push((Box::new(RegistrySink::new(registry.clone())?), true));
        Ok(self)
    }
}

impl Sink for Tee {
    fn publish(
        &mut self,
        image: &Image,
        name: &ImageName,
    ) -> Result<Published, grocker_oci::OciError> {
        let mut first = None;
        let mut pushed = None;
        for (sink, is_registry) in &mut self.sinks {
            let published = sink.publish(image, name)?;
            if *is_registry {
                pushed = Some(published);
            } else if first.is_none() {
                first = Some(published);
            }
        }
        match (first, pushed) {
            (Some(first), Some(pushed)) => Ok(Published {
                digest: pushed.digest,
                location: format!("{} and {}", first.location, pushed.location),
            }),
            (Some(p), None) | (None, Some(p)) => Ok(p),
            (None, None) => Err(grocker_oci::OciError::InvalidConfig {
                reason: "no output was chosen".into(),
            }),
        }
    }

    fn finish(self: Box<Self>) -> Result<(), grocker_oci::OciError> {
        for (sink, _) in self.sinks {
            sink.finish()?;
        }
        Ok(())
    }
}

/// `team/app:1.0` → `app-1.0.tar`.
fn default_archive(name: &ImageName) -> PathBuf {
    let repo = name.repository();
    let last = repo.rsplit('/').next().unwrap_or(repo);
    PathBuf::from(format!("{last}-{}.tar", name.tag()))
}
