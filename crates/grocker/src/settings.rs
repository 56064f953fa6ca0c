//! From the command line as typed to validated settings: defaults filled in, strings parsed into
//! types, every problem reported once with what to do about it. The only place defaults live.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use grocker_oci::ImageName;
use grocker_runtime::Runtime;
use url::Url;

use crate::cli::{BuildArgs, DebianArgs, LockArgs, OutputArgs, RootArgs};
use crate::python::Release;

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

/// Where the Debian archive is and whom to trust.
#[derive(Clone, Debug)]
pub struct DebianSettings {
    pub mirror: Url,
    pub security_mirror: Url,
    pub extra_keyrings: Vec<PathBuf>,
    /// Grocker's `repositories`: extra apt sources, each trusted only with its own key.
    pub repositories: Vec<ExtraRepository>,
}

#[derive(Clone, Debug)]
pub struct ExtraRepository {
    pub name: String,
    pub url: Url,
    pub suite: String,
    pub components: Vec<String>,
    /// The armored OpenPGP public key its InRelease must be signed with.
    pub key: String,
}

impl ExtraRepository {
    /// How the lock records it, so that changing it re-resolves.
    pub fn describe(&self) -> String {
        format!(
            "{}: deb {} {} {}",
            self.name,
            self.url,
            self.suite,
            self.components.join(" ")
        )
    }
}

fn repositories(
    configured: Option<&std::collections::BTreeMap<String, grocker_config::Repository>>,
) -> Result<Vec<ExtraRepository>> {
    let mut out = Vec::new();
    for (name, repo) in configured.into_iter().flatten() {
        let source = &repo.source;
        if source.suite.ends_with('/') || source.components.is_empty() {
            bail!(
                "repository `{name}`: flat repositories (`deb URL ./`) are not supported; \
                 give a suite and components, as in `deb URL bookworm main`"
            );
        }
        if name == "debian" || name == "debian-security" {
            bail!("repository name `{name}` is reserved for Debian's own archives: choose another");
        }
        let url = Url::parse(source.url.trim_end_matches('/'))
            .with_context(|| format!("repository `{name}`: `{}` is not a URL", source.url))?;
        out.push(ExtraRepository {
            name: name.clone(),
            url,
            suite: source.suite.clone(),
            components: source.components.clone(),
            key: repo.key.clone(),
        });
    }
    Ok(out)
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
        let runtime = match &args.runtime.runtime {
            Some(r) => r.parse()?,
            None => Runtime::default(),
        };
        let mut packages = args.runtime.packages;
        for p in &packages {
            check_package_name(p)?;
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

/// What to package.
#[derive(Clone, Debug)]
pub enum AppInput {
    /// `NAME[EXTRAS]==VERSION` from the index.
    Release(Box<Release>),
    /// A project directory (`pyproject.toml` or `setup.py`), built in the builder.
    Project(PathBuf),
    /// A wheel file, with extras (`app-1.0-py3-none-any.whl[pg]`).
    Wheel {
        path: PathBuf,
        extras: Vec<grocker_wheel::ExtraName>,
    },
}

impl AppInput {
    fn parse(arg: &str) -> Result<Self> {
        let (file, extras) = match arg.strip_suffix(']').and_then(|a| a.rsplit_once('[')) {
            Some((file, extras)) if file.ends_with(".whl") => (file, extras),
            _ => (arg, ""),
        };
        if file.ends_with(".whl") {
            let path = PathBuf::from(file);
            if !path.is_file() {
                bail!("{file}: no such wheel file");
            }
            let extras = extras
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| {
                    grocker_wheel::ExtraName::from_str(e)
                        .map_err(|err| anyhow::anyhow!("`{e}` is not an extra name: {err}"))
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(AppInput::Wheel { path, extras });
        }
        let path = std::path::Path::new(arg);
        if path.is_dir() {
            return Ok(AppInput::Project(path.to_path_buf()));
        }
        if arg.contains('/') && !arg.contains("==") {
            bail!("{arg}: no such project directory");
        }
        Ok(AppInput::Release(Box::new(arg.parse()?)))
    }
}

/// `grocker build`, validated: CLI > configuration files > defaults.
#[derive(Clone, Debug)]
pub struct BuildSettings {
    pub input: AppInput,
    pub runtime: Runtime,
    /// Debian packages for the os layer (config `dependencies.run`, then `--package`).
    pub packages: Vec<String>,
    /// Debian packages for the builder only (config `dependencies.build`).
    pub build_packages: Vec<String>,
    pub entrypoint: Option<String>,
    pub env: Vec<(String, String)>,
    pub ports: Vec<String>,
    pub volumes: Vec<String>,
    pub constraints: Vec<grocker_wheel::Requirement>,
    pub indexes: grocker_pypi::IndexUrls,
    pub output: Option<Output>,
    /// `-n`, or `None` for Grocker's default name (known once the app's version is).
    pub image_name: Option<ImageName>,
    pub image_prefix: Option<String>,
    pub image_base_name: Option<String>,
    pub push: bool,
    /// Whether the compiler stage may run (`--no-build-dependencies` forbids it).
    pub build_dependencies: bool,
    /// Whether to make the image (`--no-build-image`: dependencies and lock only).
    pub build_image: bool,
    /// `--compile-bytecode`: `.pyc` files in the image.
    pub compile_bytecode: bool,
    pub insecure_registries: Vec<String>,
    pub result_file: Option<PathBuf>,
    pub lock: LockSettings,
    pub debian: DebianSettings,
    pub epoch: u64,
}

impl BuildSettings {
    pub fn resolve(args: BuildArgs) -> Result<Self> {
        let input = AppInput::parse(&args.release)?;
        // A project's own .grocker.yml / [tool.grocker] applies to it; otherwise the current
        // directory's, as Grocker read it.
        let config_dir = match &input {
            AppInput::Project(dir) => dir.clone(),
            _ => std::env::current_dir().context("cannot read the current directory")?,
        };
        let files = grocker_config::load(&config_dir, &args.configs)?;
        for source in &files.sources {
            tracing::debug!("configuration from {}", source.display());
        }
        let file = files.config;
        let mut debian = debian(args.debian)?;
        debian.repositories = repositories(file.repositories.as_ref())?;

        let runtime: Runtime = match args.runtime.runtime.as_deref().or(file.runtime.as_deref()) {
            Some(r) => r.parse()?,
            None => Runtime::default(),
        };
        let system = file.dependencies_for(&runtime.to_string());
        let mut packages = system.run;
        packages.extend(args.runtime.packages);
        packages.sort();
        packages.dedup();
        for p in &packages {
            check_package_name(p)?;
        }
        let mut build_packages = system.build;
        build_packages.sort();
        build_packages.dedup();

        // Environment: the files' `envs`, then each --env over them.
        let mut env: Vec<(String, String)> =
            file.envs.clone().unwrap_or_default().into_iter().collect();
        for kv in &args.envs {
            let (k, v) = match kv.split_once('=') {
                Some((k, v)) if !k.is_empty() => (k.to_string(), v.to_string()),
                _ => bail!("`--env {kv}` must be KEY=VALUE"),
            };
            env.retain(|(key, _)| key != &k);
            env.push((k, v));
        }
        let ports = if args.ports.is_empty() {
            file.ports.clone().unwrap_or_default()
        } else {
            args.ports
        };
        for port in &ports {
            let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
            if number.parse::<u16>().map_or(true, |n| n == 0)
                || !matches!(proto, "tcp" | "udp" | "sctp")
            {
                bail!(
                    "port `{port}` must be a port number, optionally /tcp or /udp (e.g. 8000, 53/udp)"
                );
            }
        }
        let volumes = if args.volumes.is_empty() {
            file.volumes.clone().unwrap_or_default()
        } else {
            args.volumes
        };
        for volume in &volumes {
            if !volume.starts_with('/') {
                bail!("volume `{volume}` must be an absolute path inside the image, e.g. /data");
            }
        }
        let constraints = match args
            .pip_constraint
            .as_ref()
            .or(file.pip_constraint.as_ref())
        {
            Some(path) => grocker_resolver::parse_constraints_file(path)?,
            None => Vec::new(),
        };
        let home = dirs::home_dir();
        let indexes = grocker_pypi::IndexUrls::resolve(
            args.index_url.as_deref(),
            &args.extra_index_url,
            &|k| std::env::var(k).ok(),
            home.as_deref(),
        )?;
        let image_prefix = args.image_prefix.or(file.docker_image_prefix);
        let image_base_name = args.image_base_name.or(file.image_base_name);
        let image_name = match &args.output.image_name {
            Some(name) => Some(
                name.parse()
                    .with_context(|| format!("invalid image name `{name}` (-n/--image-name)"))?,
            ),
            None => None,
        };
        Ok(Self {
            input,
            runtime,
            packages,
            build_packages,
            entrypoint: args.entrypoint.or(file.entrypoint_name),
            env,
            ports,
            volumes,
            constraints,
            indexes,
            output: output(&args.output)?,
            image_name,
            image_prefix,
            image_base_name,
            push: !args.no_push,
            build_dependencies: !args.no_build_dependencies,
            build_image: !args.no_build_image,
            compile_bytecode: args.compile_bytecode,
            insecure_registries: args.insecure_registry,
            result_file: args.result_file,
            lock: lock(args.lock),
            debian,
            epoch: source_date_epoch()?,
        })
    }
}

impl BuildSettings {
    /// The image's name: `-n`, else Grocker's default for `release`.
    pub fn image_name_for(&self, release: &Release) -> Result<ImageName> {
        if let Some(name) = &self.image_name {
            return Ok(name.clone());
        }
        let name = default_image_name(
            release,
            self.image_prefix.as_deref(),
            self.image_base_name.as_deref(),
        );
        name.parse()
            .with_context(|| format!("the default image name `{name}` is not valid: pass -n"))
    }
}

fn check_package_name(p: &str) -> Result<()> {
    if p.is_empty() || p.contains(char::is_whitespace) {
        bail!("`{p}` is not a Debian package name");
    }
    Ok(())
}

/// Grocker's default name: `[<prefix>/]<base name, or project[-<extra>…]>:<version>`, with `+`
/// (local versions) made `-` since tags cannot hold it.
pub fn default_image_name(release: &Release, prefix: Option<&str>, base: Option<&str>) -> String {
    let name = match base {
        Some(base) => base.to_string(),
        None => {
            let mut name = release.name.to_string();
            for extra in &release.extras {
                name.push('-');
                name.push_str(extra.as_ref());
            }
            name
        }
    };
    let tag = release.version.to_string().replace('+', "-");
    match prefix.map(|p| p.trim_end_matches('/')) {
        Some(prefix) if !prefix.is_empty() => format!("{prefix}/{name}:{tag}"),
        _ => format!("{name}:{tag}"),
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
        repositories: Vec::new(),
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
    fn default_names_follow_grocker() {
        let name = |release: &str, prefix, base| {
            default_image_name(&release.parse().unwrap(), prefix, base)
        };
        assert_eq!(name("httpie==3.2.4", None, None), "httpie:3.2.4");
        assert_eq!(
            name("uvicorn[standard,foo]==0.32.1", None, None),
            "uvicorn-foo-standard:0.32.1"
        );
        assert_eq!(
            name("app==1.0+local.2", Some("registry.example.com/team/"), None),
            "registry.example.com/team/app:1.0-local.2"
        );
        assert_eq!(
            name("app[x]==2", Some("127.0.0.1:5000/t"), Some("svc")),
            "127.0.0.1:5000/t/svc:2"
        );
    }

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
