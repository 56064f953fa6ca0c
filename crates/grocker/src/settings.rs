//! From the command line as typed to validated settings: defaults filled in, strings parsed into
//! types, every problem reported once with what to do about it. The only place defaults live.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use grocker_build::{
    AppInput, DebianSources, ExtraRepository, ImageSettings, Inputs, LockSettings, Output,
    PlannedApp, ProjectLockSettings, PythonInputs, PythonSourceInputs, SourceDateEpoch,
    default_image_name,
};
use grocker_oci::ImageName;
use grocker_runtime::Runtime;
use grocker_wheel::{Arch, ExtraName, PackageName};
use url::Url;

use crate::cli::{BuildArgs, DebianArgs, LockArgs, OutputArgs, ProjectArgs, RootArgs, RuntimeArgs};

/// Debian's own CDN, which redirects to a nearby mirror.
const DEBIAN_MIRROR: &str = "https://deb.debian.org/debian";
const DEBIAN_SECURITY_MIRROR: &str = "https://deb.debian.org/debian-security";

/// The image's platforms: `--platform`, else the configuration's `platforms`, else this
/// machine's; sorted, without duplicates, so that the same set gives the same index whatever
/// order it was written in.
fn platforms(cli: &[String], file: Option<&Vec<String>>) -> Result<Vec<Arch>> {
    let given: Vec<&String> = match (cli.is_empty(), file) {
        (false, _) => cli.iter().collect(),
        (true, Some(file)) => file.iter().collect(),
        (true, None) => Vec::new(),
    };
    let mut out = given
        .iter()
        .map(|p| Arch::from_platform(p).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    if out.is_empty() {
        out.push(Arch::host().ok_or_else(|| {
            anyhow::anyhow!(
                "this machine ({}) is not a platform grocker builds for: give --platform \
                 linux/amd64 or linux/arm64",
                std::env::consts::ARCH
            )
        })?);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Where the runtime's interpreter comes from (`--python-from`, config `python:`, else
/// Debian's where the suite ships it), and how to build it from source.
fn python_source(
    args: &RuntimeArgs,
    file: Option<&str>,
    runtime: Runtime,
) -> Result<(Runtime, PythonSourceInputs)> {
    let from = args.python_from.as_deref().or(file);
    let sha256 = match &args.python_sha256 {
        Some(text) => Some(text.trim_start_matches("sha256:").parse().map_err(|e| {
            anyhow::anyhow!("--python-sha256 `{text}` is not a SHA-256 (64 hex digits): {e}")
        })?),
        None => None,
    };
    let inputs = PythonSourceInputs {
        source: args.python_source.clone(),
        sha256,
        optimize: args.python_optimize,
        allow_expired: args.python_allow_expired,
    };
    let wants_source = inputs.source.is_some() || inputs.sha256.is_some() || inputs.optimize;
    let runtime = match from {
        Some("debian") if runtime.from_source() => bail!(
            "runtime {runtime}: Debian {} ships no Python {} (its own is {}); drop \
             --python-from debian (config `python: debian`) to build {} from source",
            runtime.suite(),
            runtime.python(),
            Runtime::debian_runtimes()
                .iter()
                .find(|r| r.suite() == runtime.suite())
                .map_or_else(String::new, |r| r.python()),
            runtime.python()
        ),
        Some("debian") if wants_source => bail!(
            "--python-source, --python-sha256 and --python-optimize build CPython from source, \
             and --python-from debian (config `python: debian`) asks for Debian's"
        ),
        Some("source") => runtime.with_python_from_source(),
        _ if wants_source => runtime.with_python_from_source(),
        _ => runtime,
    };
    Ok((runtime, inputs))
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

/// `grocker root`, validated.
#[derive(Clone, Debug)]
pub struct RootSettings {
    /// `--list`: list the runtimes instead of building.
    pub list: bool,
    pub inputs: Inputs,
    pub output: Option<Output>,
    pub image_name: ImageName,
    pub epoch: SourceDateEpoch,
}

impl RootSettings {
    pub fn resolve(args: RootArgs) -> Result<Self> {
        let runtime = match &args.runtime.runtime {
            Some(r) => r.parse()?,
            None => Runtime::default(),
        };
        let (runtime, python_source) = python_source(&args.runtime, None, runtime)?;
        let auto_packages = runtime.from_source();
        let mut packages = args.runtime.packages;
        for p in &packages {
            check_package_name(p)?;
        }
        packages.sort();
        packages.dedup();
        let default_name = format!("grocker-root:{}-{}", runtime.suite(), runtime.python());
        let platforms = platforms(&args.runtime.platform, None)?;
        let output = output(&args.output)?;
        Ok(Self {
            list: args.list,
            inputs: Inputs {
                runtime,
                platforms,
                packages,
                debian: debian(args.debian)?,
                lock: lock(args.lock, None),
                python: None,
                // The libraries of a CPython grocker builds are found by the native check.
                auto_packages,
                added_packages: Vec::new(),
                python_source,
            },
            output,
            image_name: image_name(&args.output, &default_name)?,
            epoch: SourceDateEpoch::from_env()?,
        })
    }
}

/// `grocker build`, validated: CLI > configuration files > defaults.
#[derive(Clone, Debug)]
pub struct BuildSettings {
    /// What the pipeline starts from.
    pub inputs: Inputs,
    pub output: Option<Output>,
    /// `-n`, or `None` for Grocker's default name (known once the app's version is).
    pub image_name: Option<ImageName>,
    pub image_prefix: Option<String>,
    pub image_base_name: Option<String>,
    pub push: bool,
    /// Whether to make the image (`--no-build-image`: dependencies and lock only).
    pub build_image: bool,
    pub insecure_registries: Vec<String>,
    /// The shared cache's repository (`--cache-repo`, `GROCKER_CACHE_REPO`, `cache_repo`).
    pub cache_repo: Option<String>,
    /// `--cache-repo-read-only`.
    pub cache_repo_read_only: bool,
    pub result_file: Option<PathBuf>,
    /// `--sbom FILE` and its format.
    pub sbom: Option<(PathBuf, grocker_sbom::Format)>,
    pub epoch: SourceDateEpoch,
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
        let indexes = indexes(&args)?;
        let mut debian = debian(args.debian)?;
        debian.repositories = repositories(file.repositories.as_ref())?;

        let runtime: Runtime = match args.runtime.runtime.as_deref().or(file.runtime.as_deref()) {
            Some(r) => r.parse()?,
            None => Runtime::default(),
        };
        let (runtime, python_source) =
            python_source(&args.runtime, file.python.as_deref(), runtime)?;
        let platforms = platforms(&args.runtime.platform, file.platforms.as_ref())?;
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

        let cmd = match &args.cmd {
            Some(line) => shlex::split(line).with_context(|| {
                format!("--cmd `{line}` has an unclosed quote: close it or escape it")
            })?,
            None => file.cmd.clone().unwrap_or_default(),
        };
        let image = ImageSettings {
            entrypoint: args.entrypoint.clone().or(file.entrypoint_name.clone()),
            env: env(&args.envs, file.envs.as_ref())?,
            ports: cli_or_file(args.ports.clone(), file.ports.as_ref()),
            volumes: cli_or_file(args.volumes.clone(), file.volumes.as_ref()),
            cmd,
        };
        image.check()?;
        let project = project_lock(args.project, &input)?;
        let project_dir = match &input {
            AppInput::Project(dir) => Some(dir.clone()),
            _ => None,
        };
        let constraints = match args
            .pip_constraint
            .as_ref()
            .or(file.pip_constraint.as_ref())
        {
            Some(path) => grocker_resolver::parse_constraints_file(path).with_context(|| {
                format!(
                    "the pip constraints file (--pip-constraint, pip_constraint) {}",
                    path.display()
                )
            })?,
            None => Vec::new(),
        };
        let image_prefix = args.image_prefix.or(file.docker_image_prefix);
        let image_base_name = args.image_base_name.or(file.image_base_name);
        let image_name = match &args.output.image_name {
            Some(name) => Some(
                name.parse()
                    .with_context(|| format!("invalid image name `{name}` (-n/--image-name)"))?,
            ),
            None => None,
        };
        let python = PythonInputs {
            app: input,
            constraints,
            indexes,
            build_packages,
            compile: !args.no_build_dependencies,
            bytecode: args.compile_bytecode,
            image,
            project,
        };
        let output = output(&args.output)?;
        Ok(Self {
            inputs: Inputs {
                runtime,
                platforms,
                packages,
                debian,
                lock: lock(args.lock, project_dir.as_deref()),
                python: Some(python),
                auto_packages: !args.no_auto_packages && file.auto_packages.unwrap_or(true),
                added_packages: Vec::new(),
                python_source,
            },
            output,
            image_name,
            image_prefix,
            image_base_name,
            push: !args.no_push,
            build_image: !args.no_build_image,
            insecure_registries: args.insecure_registry,
            cache_repo: args
                .cache_repo
                .or(file.cache_repo)
                .filter(|r| !r.is_empty()),
            cache_repo_read_only: args.cache_repo_read_only,
            result_file: args.result_file,
            sbom: args.sbom.map(|path| (path, args.sbom_format)),
            epoch: SourceDateEpoch::from_env()?,
        })
    }
}

impl BuildSettings {
    /// Whether the image goes to a registry: `-o registry`, or `--push` (Grocker's default)
    /// with a registry part in the name. Known before the plan names the image: the part comes
    /// from `-n`, else from `--image-prefix` or `--image-base-name` (a release's own name is one
    /// path component, never a registry), so the stand-in release `x==0` names it too.
    pub fn pushes(&self) -> bool {
        if self.output == Some(Output::Registry) {
            return true;
        }
        if !self.push {
            return false;
        }
        if let Some(name) = &self.image_name {
            return name.registry().is_some();
        }
        let name = grocker_build::default_image_name(
            &"x==0".parse().expect("a valid release"),
            self.image_prefix.as_deref(),
            self.image_base_name.as_deref(),
        );
        // A name that does not parse is refused later, once the plan gives its real form.
        name.parse::<ImageName>()
            .map_or(true, |name| name.registry().is_some())
    }

    /// The image's name: `-n`, else Grocker's default for the app (tagged `latest` when it has
    /// no version of its own).
    pub fn image_name_for(&self, app: &PlannedApp) -> Result<ImageName> {
        if let Some(name) = &self.image_name {
            return Ok(name.clone());
        }
        let mut name = default_image_name(
            &app.release,
            self.image_prefix.as_deref(),
            self.image_base_name.as_deref(),
        );
        if !app.versioned
            && let Some((repository, _)) = name.rsplit_once(':')
        {
            name = format!("{repository}:latest");
        }
        name.parse()
            .with_context(|| format!("the default image name `{name}` is not valid: pass -n"))
    }
}

/// `--index-url` > `$PIP_INDEX_URL` > pip.conf (`--pip-conf FILE`, else pip's own files).
fn indexes(args: &BuildArgs) -> Result<grocker_pypi::IndexUrls> {
    let env = |k: &str| std::env::var(k).ok();
    let (index, extra) = (args.index_url.as_deref(), &args.extra_index_url);
    Ok(match &args.pip_conf {
        Some(file) => {
            if !file.is_file() {
                bail!("--pip-conf {}: no such file", file.display());
            }
            grocker_pypi::IndexUrls::resolve_with_files(
                index,
                extra,
                &env,
                std::slice::from_ref(file),
            )
            .with_context(|| format!("--pip-conf {}", file.display()))?
        }
        None => grocker_pypi::IndexUrls::resolve(index, extra, &env, dirs::home_dir().as_deref())?,
    })
}

/// The files' `envs`, then each `--env` over them.
fn env(
    args: &[String],
    file: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<Vec<(String, String)>> {
    // Keyed by name, then ordered as given: files first (sorted), each --env after them.
    let mut env: std::collections::BTreeMap<String, (usize, String)> = file
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, (k, v))| (k, (i, v)))
        .collect();
    let base = env.len();
    for (i, kv) in args.iter().enumerate() {
        let (k, v) = match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => (k.to_string(), v.to_string()),
            _ => bail!("`--env {kv}` must be KEY=VALUE"),
        };
        env.insert(k, (base + i, v));
    }
    let mut env: Vec<(usize, String, String)> =
        env.into_iter().map(|(k, (i, v))| (i, k, v)).collect();
    env.sort();
    Ok(env.into_iter().map(|(_, k, v)| (k, v)).collect())
}

/// The `--port`s or `--volume`s given, else the files' list (checked with the rest of the
/// image settings, `ImageSettings::check`).
fn cli_or_file(args: Vec<String>, file: Option<&Vec<String>>) -> Vec<String> {
    if args.is_empty() {
        file.cloned().unwrap_or_default()
    } else {
        args
    }
}

fn check_package_name(p: &str) -> Result<()> {
    if p.is_empty() || p.contains(char::is_whitespace) {
        bail!("`{p}` is not a Debian package name");
    }
    Ok(())
}

fn output(args: &OutputArgs) -> Result<Option<Output>> {
    args.output.as_deref().map(str::parse).transpose()
}

fn image_name(args: &OutputArgs, default: &str) -> Result<ImageName> {
    let name = args.image_name.as_deref().unwrap_or(default);
    name.parse()
        .with_context(|| format!("invalid image name `{name}` (-n/--image-name)"))
}

/// `--lock-file`, else `grocker.lock` next to a project, else in the current directory.
fn lock(args: LockArgs, project: Option<&std::path::Path>) -> LockSettings {
    let default = match project {
        Some(dir) => dir.join("grocker.lock"),
        None => PathBuf::from("grocker.lock"),
    };
    LockSettings {
        path: args.lock_file.unwrap_or(default),
        upgrade: args.upgrade,
        upgrade_os: args.upgrade_os,
        locked: args.locked,
    }
}

/// Which lock of a project, and what of it; these flags mean nothing for a release or a wheel.
fn project_lock(args: ProjectArgs, input: &AppInput) -> Result<ProjectLockSettings> {
    if !matches!(input, AppInput::Project(_)) {
        let given = [
            ("--lock-from", args.lock_from.is_some()),
            ("--requirements", !args.requirements.is_empty()),
            ("--member", args.member.is_some()),
            ("--group", !args.groups.is_empty()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
            bail!(
                "{flag} applies to a project directory; for a release from an index, name its \
                 extras in it (NAME[EXTRA]==VERSION) and constrain it with --pip-constraint"
            );
        }
    }
    let member = args
        .member
        .map(|m| {
            m.parse::<PackageName>()
                .with_context(|| format!("--member `{m}` is not a package name"))
        })
        .transpose()?;
    let extras = args
        .extras
        .iter()
        .map(|e| {
            e.parse::<ExtraName>()
                .with_context(|| format!("--extra `{e}` is not an extra name"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ProjectLockSettings {
        lock_from: args.lock_from,
        requirements: args.requirements,
        member,
        groups: args.groups,
        extras,
    })
}

pub(crate) fn debian(args: DebianArgs) -> Result<DebianSources> {
    let url = |flag: &str, value: Option<String>, default: &str| -> Result<Url> {
        let value = value.unwrap_or_else(|| default.to_string());
        let url = Url::parse(value.trim_end_matches('/'))
            .with_context(|| format!("{flag} `{value}` is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("{flag} `{value}` must be an http:// or https:// URL");
        }
        Ok(url)
    };
    Ok(DebianSources {
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
