//! What a configuration file says, once read and checked.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::AptSource;

/// Everything a Grocker 8 configuration file may say.
///
/// Every field is optional (or empty) so that files merge: `None` means "this file does not
/// say", and the binary falls back to the next source (CLI > files > defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileConfig {
    /// The runtime, canonical `SUITE/PYTHON` (`bookworm/3.11`). Grocker's `python3.X` names are
    /// mapped to the runtime shipping that Python.
    pub runtime: Option<String>,
    /// Where the interpreter comes from: `debian` or `source` (`--python-from`).
    pub python: Option<String>,
    /// Per-runtime settings, keyed by canonical runtime name. Grocker's internal configuration
    /// declared its runtimes here and a project file could extend them; see [`RuntimeOverride`].
    pub runtimes: BTreeMap<String, RuntimeOverride>,
    /// Debian packages the project needs at run time and at build time.
    pub dependencies: Dependencies,
    /// A pip constraints file; a relative path is resolved against the directory of the file
    /// that named it.
    pub pip_constraint: Option<PathBuf>,
    /// Volumes of the final image (absolute paths).
    pub volumes: Option<Vec<String>>,
    /// Exposed ports: `8080` or `8080/udp`.
    pub ports: Option<Vec<String>>,
    /// Environment of the final image. Numbers and booleans are written the way Grocker
    /// (Python's `str`) wrote them: `8080`, `1.5`, `True`, `False`. YAML is read as YAML 1.2,
    /// so an unquoted `yes` stays the string `yes` where PyYAML would have made it `True`.
    pub envs: Option<BTreeMap<String, String>>,
    /// Extra apt repositories, by name, each with its signing key.
    pub repositories: Option<BTreeMap<String, Repository>>,
    /// Registry (and account) the image is named under: `registry.example.com/team`.
    pub docker_image_prefix: Option<String>,
    /// Replaces `project[-extras]` in the default image name.
    pub image_base_name: Option<String>,
    /// The console script the image runs.
    pub entrypoint_name: Option<String>,
    /// The image's default arguments (Docker's `CMD`), after the entrypoint: a list, or one
    /// string split as a POSIX shell would (`cmd: "mysite.wsgi -b 0.0.0.0:8000"`).
    pub cmd: Option<Vec<String>>,
    /// Whether grocker adds the Debian package that ships a library the image lacks (default
    /// true; `--no-auto-packages` says false).
    pub auto_packages: Option<bool>,
    /// The image's platforms (`[linux/amd64, linux/arm64]`): one image each, under an index
    /// (`--platform` wins). Default: this machine's.
    pub platforms: Option<Vec<String>>,
    /// The shared cache's repository (`REGISTRY/REPOSITORY`, `--cache-repo` wins).
    pub cache_repo: Option<String>,
}

/// Debian packages, Grocker's `dependencies: {run: [...], build: [...]}`.
///
/// `run` packages go into the final image; `build` packages only into the builder, which also
/// gets the `run` ones (Grocker's compiler image was built on the root image).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// Packages the application needs at run time.
    pub run: Option<Vec<String>>,
    /// Packages needed only to compile wheels.
    pub build: Option<Vec<String>>,
}

/// One entry of Grocker's `runtimes` mapping, restricted to what grocker can honour.
///
/// Grocker kept its runtime table (`image`, `runtime` executable, `deprecated`,
/// `dependencies`) in the same mapping a project file deep-merges over. grocker assembles
/// runtimes from Debian itself, so `image` and `runtime` are refused with an explanation;
/// `dependencies` and `deprecated` keep Grocker's meaning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeOverride {
    /// Packages added when this runtime is selected, before the project's own
    /// (Grocker's `get_dependencies`).
    pub dependencies: Dependencies,
    /// Grocker warned when building a runtime marked deprecated.
    pub deprecated: Option<bool>,
}

/// An extra apt repository, Grocker's `{uri: <deb line>, key: <PGP public key>}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    /// The `deb` line (Grocker's `uri`).
    pub source: AptSource,
    /// The ASCII-armored OpenPGP public key the repository's `InRelease` is signed with.
    pub key: String,
}

/// The merged configuration and where it came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// The merged settings.
    pub config: FileConfig,
    /// The files that contributed, in the order they were merged (later wins).
    pub sources: Vec<PathBuf>,
}

/// The Debian packages a runtime plus a project need, in Grocker's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemPackages {
    /// Packages for the final image.
    pub run: Vec<String>,
    /// Packages for the builder only.
    pub build: Vec<String>,
}

impl FileConfig {
    /// The packages to install for `runtime` (canonical name): the runtime's own
    /// `runtimes.<runtime>.dependencies` first, then the project's `dependencies`, as
    /// Grocker's `utils.get_dependencies` concatenated them.
    pub fn dependencies_for(&self, runtime: &str) -> SystemPackages {
        let own = self.runtimes.get(runtime).map(|r| &r.dependencies);
        let pick = |deps: Option<&Dependencies>, build: bool| -> Vec<String> {
            let list = deps.and_then(|d| if build { &d.build } else { &d.run }.as_ref());
            list.cloned().unwrap_or_default()
        };
        let mut run = pick(own, false);
        run.extend(pick(Some(&self.dependencies), false));
        let mut build = pick(own, true);
        build.extend(pick(Some(&self.dependencies), true));
        SystemPackages { run, build }
    }

    /// Whether the file marks `runtime` as deprecated (Grocker printed a warning).
    pub fn is_deprecated(&self, runtime: &str) -> bool {
        self.runtimes
            .get(runtime)
            .and_then(|r| r.deprecated)
            .unwrap_or(false)
    }
}
