//! From the command line as typed to validated settings: defaults filled in, strings parsed into
//! types, every problem reported once with what to do about it. The only place defaults live.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use grocker_oci::ImageName;
use grocker_runtime::Runtime;
use url::Url;

use crate::cli::{DebianArgs, LockArgs, OutputArgs, RootArgs};

/// Debian's own CDN, which redirects to a nearby mirror.
const DEBIAN_MIRROR: &str = "https://deb.debian.org/debian";
const DEBIAN_SECURITY_MIRROR: &str = "https://deb.debian.org/debian-security";

/// Where an image goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The local engine, through its API.
    Docker,
    /// An OCI image layout directory.
    Oci(PathBuf),
    /// A tarball for `docker load` / `podman load`.
    DockerArchive(PathBuf),
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
            Some(("oci", rest)) => Ok(Output::Oci(nonempty("oci", rest)?)),
            Some(("docker-archive", rest)) => {
                Ok(Output::DockerArchive(nonempty("docker-archive", rest)?))
            }
            _ => bail!(
                "unknown output `{s}`: use `docker` (the local engine), `oci:DIR` or `docker-archive:FILE`"
            ),
        }
    }
}

/// Where the Debian archive is and whom to trust.
#[derive(Clone, Debug)]
pub struct DebianSettings {
    pub mirror: Url,
    pub security_mirror: Url,
    pub extra_keyrings: Vec<PathBuf>,
}

/// What `grocker.lock` handling the user asked for.
#[derive(Clone, Debug)]
pub struct LockSettings {
    pub path: PathBuf,
    pub upgrade: bool,
    pub locked: bool,
}

/// `grocker root`, validated.
#[derive(Clone, Debug)]
pub struct RootSettings {
    pub runtime: Runtime,
    pub packages: Vec<String>,
    pub output: Option<Output>,
    pub image_name: ImageName,
    pub lock: LockSettings,
    pub debian: DebianSettings,
    pub epoch: u64,
}

impl RootSettings {
    pub fn resolve(args: RootArgs) -> Result<Self> {
        let runtime = match &args.runtime {
            Some(r) => r.parse()?,
            None => Runtime::default(),
        };
        let mut packages = args.packages;
        for p in &packages {
            if p.is_empty() || p.contains(char::is_whitespace) {
                bail!("`--package {p:?}` is not a Debian package name");
            }
        }
        packages.sort();
        packages.dedup();
        let default_name = format!("grocker-root:{}-{}", runtime.suite(), runtime.python());
        Ok(Self {
            runtime,
            packages,
            output: output(&args.output)?,
            image_name: image_name(&args.output, &default_name)?,
            lock: lock(args.lock),
            debian: debian(args.debian)?,
            epoch: source_date_epoch()?,
        })
    }
}

fn output(args: &OutputArgs) -> Result<Option<Output>> {
    args.output.as_deref().map(str::parse).transpose()
}

fn image_name(args: &OutputArgs, default: &str) -> Result<ImageName> {
    let name = args.image_name.as_deref().unwrap_or(default);
    name.parse()
        .with_context(|| format!("invalid image name `{name}` (-n/--image-name)"))
}

fn lock(args: LockArgs) -> LockSettings {
    LockSettings {
        path: args.lock_file,
        upgrade: args.upgrade,
        locked: args.locked,
    }
}

fn debian(args: DebianArgs) -> Result<DebianSettings> {
    let url = |flag: &str, value: Option<String>, default: &str| -> Result<Url> {
        let value = value.unwrap_or_else(|| default.to_string());
        let url = Url::parse(value.trim_end_matches('/'))
            .with_context(|| format!("{flag} `{value}` is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("{flag} `{value}` must be an http:// or https:// URL");
        }
        Ok(url)
    };
    Ok(DebianSettings {
        mirror: url("--debian-mirror", args.debian_mirror, DEBIAN_MIRROR)?,
        security_mirror: url(
            "--debian-security-mirror",
            args.debian_security_mirror,
            DEBIAN_SECURITY_MIRROR,
        )?,
        extra_keyrings: args.debian_keyring,
    })
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org) stamps every file and the image's creation
/// date. Unset, it is 0, like ko: a build date would make every build a different image.
fn source_date_epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().with_context(|| {
            format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970")
        }),
        _ => Ok(0),
    }
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
}
