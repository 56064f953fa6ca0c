//! The publish step (ko's second): where an image goes (`-o docker`, `oci:DIR`,
//! `docker-archive:FILE`, `registry`), checked against the platforms before any work; the
//! sink it names opened — the local engine by default, a docker-archive when none answers —
//! and the image handed to it, the lock written only once it is safely there.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use grocker_oci::{
    Artifact, Compression, DockerArchiveSink, DockerEngineSink, ImageName, OciLayoutSink,
    Published, RecordError, Recorder, Referrer, RegistryOptions, RegistrySink, Sink,
};
use grocker_wheel::Arch;

use crate::{Context, Plan, Reporter};

/// Where an image goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The local engine, through its API.
    Docker,
    /// An OCI image layout directory.
    Oci(PathBuf),
    /// A tarball for `docker load` / `podman load`.
    DockerArchive(PathBuf),
    /// The registry named in the image name, through the distribution API.
    Registry,
}

impl std::str::FromStr for Output {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let nonempty = |kind: &str, rest: &str| -> Result<PathBuf> {
            if rest.is_empty() {
                bail!("`-o {s}` needs a path: `-o {kind}:PATH`");
            }
            Ok(PathBuf::from(rest))
        };
        match s.split_once(':') {
            None if s == "docker" => Ok(Output::Docker),
            None if s == "registry" => Ok(Output::Registry),
            Some(("oci", rest)) => Ok(Output::Oci(nonempty("oci", rest)?)),
            Some(("docker-archive", rest)) => {
                Ok(Output::DockerArchive(nonempty("docker-archive", rest)?))
            }
            _ => bail!(
                "unknown output `{s}`: use `docker` (the local engine), `oci:DIR`, `docker-archive:FILE` or `registry`"
            ),
        }
    }
}

/// Refuses several platforms for an output that holds one platform's image, before any work.
pub fn check_output(output: Option<&Output>, platforms: &[Arch]) -> Result<()> {
    if platforms.len() < 2 {
        return Ok(());
    }
    let one = match output {
        Some(Output::Docker) => "-o docker (the local engine)".to_string(),
        Some(Output::DockerArchive(file)) => format!("-o docker-archive:{}", file.display()),
        None => "the default output (the local engine, or a docker-archive)".to_string(),
        Some(Output::Oci(_) | Output::Registry) => return Ok(()),
    };
    let asked: Vec<String> = platforms.iter().map(|a| a.platform()).collect();
    bail!(
        "{one} holds one platform's image, and --platform asks for {}: give one platform \
         (--platform {}), or write them all with -o oci:DIR or -o registry",
        asked.join(", "),
        asked[0]
    )
}

/// How the image's layers are written for `output`: uncompressed when they only go into the
/// local engine (`-o docker`, or no `-o`, whose fallback archive is then what `docker save`
/// writes), which would decompress them at once; gzip when the image travels — to a registry
/// (`pushed`), an archive, an OCI layout — or its layers are shared (`shared_cache`).
pub fn layer_compression(output: Option<&Output>, pushed: bool, shared_cache: bool) -> Compression {
    match output {
        Some(Output::Docker) | None if !pushed && !shared_cache => Compression::None,
        _ => Compression::Gzip,
    }
}

/// Opens the sink for `output`. With no `-o`, the local engine if one answers, else a
/// docker-archive in the current directory; the choice is said out loud. `cache` is grocker's
/// cache directory, where the engine sink remembers which layers the engine was given.
pub fn open_sink(
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

/// Hands the image (one platform's, or the index over several) to `sink`, attaches
/// `referrers` (an SBOM) to it, then — only once all of it is safely there, through a
/// [`Recorder`] — writes the lock if the plan changed it and calls `record` with each name
/// published (the caller prints it, writes `--result-file`). A failed publish records nothing.
///
/// Sinks block on their I/O: call this outside the async runtime, once the build has returned.
pub fn publish(
    sink: Box<dyn Sink>,
    artifact: &Artifact,
    name: &ImageName,
    plan: &Plan,
    ctx: &Context,
    referrers: &[Referrer],
    mut record: impl FnMut(&ImageName, &Published) -> Result<()>,
) -> Result<()> {
    let stage = ctx.report.stage("Publishing");
    let after = move |published: &[(ImageName, Published)]| -> Result<(), RecordError> {
        drop(stage); // the spinner ends before the caller prints
        plan.write_lock(ctx)?;
        for (name, published) in published {
            record(name, published)?;
        }
        Ok(())
    };
    let mut sink = Box::new(Recorder::new(sink, after));
    artifact.publish(sink.as_mut(), name)?;
    // Attached once the image is there: a referrer's subject must exist (and a registry
    // without the referrers API lists it under a tag named after the image's digest).
    for referrer in referrers {
        if let Some(location) = sink.attach(referrer, name)? {
            tracing::info!(
                "attached {} to {name}: {location}",
                referrer.artifact_type()
            );
        }
    }
    sink.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_outputs() {
        assert_eq!("docker".parse::<Output>().unwrap(), Output::Docker);
        assert_eq!(
            "oci:out/dir".parse::<Output>().unwrap(),
            Output::Oci("out/dir".into())
        );
        assert_eq!(
            "docker-archive:/tmp/a.tar".parse::<Output>().unwrap(),
            Output::DockerArchive("/tmp/a.tar".into())
        );
        let err = "tarball:x".parse::<Output>().unwrap_err().to_string();
        assert!(err.contains("docker-archive:FILE"), "{err}");
        assert!("oci:".parse::<Output>().is_err());
    }

    /// Layers are compressed exactly when the image or its layers leave this machine's engine.
    #[test]
    fn only_an_image_for_the_local_engine_alone_is_left_uncompressed() {
        let docker = Some(&Output::Docker);
        assert_eq!(layer_compression(docker, false, false), Compression::None);
        assert_eq!(layer_compression(None, false, false), Compression::None);
        assert_eq!(layer_compression(docker, true, false), Compression::Gzip);
        assert_eq!(layer_compression(docker, false, true), Compression::Gzip);
        assert_eq!(layer_compression(None, true, false), Compression::Gzip);
        for travels in [
            Output::Registry,
            Output::Oci("out".into()),
            Output::DockerArchive("a.tar".into()),
        ] {
            assert_eq!(
                layer_compression(Some(&travels), false, false),
                Compression::Gzip,
                "{travels:?}"
            );
        }
    }
}
