//! The command line as typed: clap types only. Validation and defaults live in `settings`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// grocker builds small, secure, reproducible container images for Python applications,
/// straight from Debian's archive and Python's package index — no Docker daemon, no Dockerfile.
///
/// Every downloaded byte is verified (Debian's signatures, SHA-256 everywhere), images run as a
/// non-root user with no shell, no package manager and no compiler, and the same grocker.lock
/// gives the same image digest on any machine.
#[derive(Debug, Parser)]
#[command(
    name = "grocker",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print what grocker does in detail (-vv for every request).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print only errors and the result.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the image of a Python application: a release from a package index, a wheel, or a
    /// project directory.
    ///
    /// RELEASE is Grocker's form: NAME==VERSION or NAME[EXTRA,...]==VERSION, or with version
    /// specifiers (`'httpie>=3.2,<3.3'`, or a bare `httpie`): the newest version allowed, kept
    /// in grocker.lock until --upgrade, names the image. grocker resolves its whole dependency tree for the image's Python (markers, extras,
    /// Requires-Python, yanked files skipped), picks the best wheel of each package for the
    /// runtime (manylinux up to its glibc), and installs them itself into a virtual environment
    /// at /opt/venv — no pip, no Python on this machine. Layers: `os` (the runtime), `deps`
    /// (third-party wheels), `app` (the release itself), so a new version of the app changes
    /// only the `app` layer.
    ///
    /// No container engine is needed, unless something must be compiled: packages with only an
    /// sdist, and projects with native code, are built in an offline builder container (Docker,
    /// or Podman through DOCKER_HOST); `dependencies.build` goes there, never into the image.
    /// Your own pure-Python project (hatchling, uv_build, flit, poetry-core, pdm, setuptools
    /// without extensions) is built on this machine by the image's own Python in a sandbox
    /// (Linux namespaces: offline, chroot) into the same wheel; GROCKER_SANDBOX=0 sends it to
    /// the builder container too.
    ///
    /// Examples:
    ///   grocker build httpie==3.2.4 -e http -o docker-archive:httpie.tar
    ///   grocker build "uvicorn[standard]==0.32.1" -e python --port 8000
    ///   grocker build ipython==8.31.0 --pip-constraint constraints.txt -o docker
    ///   grocker build ./my-project -o oci:./image
    ///   grocker build ./django-site -e gunicorn --cmd "mysite.wsgi -b 0.0.0.0:8000" --port 8000
    ///   grocker build ./workspace --member api --group prod
    ///
    /// A project directory with a lock (uv.lock, poetry.lock, pylock.toml, requirements.txt, or
    /// --requirements FILE) gets exactly what the lock pins, verified by the lock's hashes: no
    /// resolution. A project with no build system (uv's `package = false`, a Django site with a
    /// requirements.txt) ships as a read-only source tree in /app, its working directory, run by
    /// `python` unless -e says otherwise. grocker.lock goes next to the project.
    #[command(verbatim_doc_comment)]
    Build(Box<BuildArgs>),

    /// Build the runtime ("root") image alone: Debian's Python and the libraries it needs.
    ///
    /// The packages come from Debian's archive (suite, -updates and -security; newest wins),
    /// checked against Debian's signing keys. No maintainer script runs: grocker writes what they
    /// would have (/etc/passwd with a non-root user, the CA bundle, /tmp, dpkg status for
    /// scanners). The pinned package set is kept in ./grocker.lock; a later build with the same
    /// request fetches exactly those files and gives the same image digest.
    ///
    /// Examples:
    ///   grocker root -o docker-archive:root.tar      then: docker load -i root.tar
    ///   grocker root -r trixie/3.13 -o oci:./root-oci
    ///   grocker root --package libpq5 -o docker
    ///   grocker root -r bookworm/3.13 -o docker   CPython 3.13 built from source on bookworm
    ///   grocker root --list                      the runtimes, and where each Python comes from
    #[command(verbatim_doc_comment)]
    Root(Box<RootArgs>),

    /// Write or refresh grocker.lock without building: the runtime's Debian packages and the
    /// application's Python packages, every file pinned with its SHA-256.
    ///
    /// Takes what `grocker build` takes. For a project directory the lock goes next to the
    /// project, and its Python part comes from the project's own lock (uv.lock, poetry.lock,
    /// pylock.toml, requirements files): nothing is resolved, the team's pins are kept.
    ///
    /// Examples:
    ///   grocker lock ./service                 writes ./service/grocker.lock
    ///   grocker lock httpie==3.2.4 --upgrade   newest packages (Debian and Python) for that release
    ///   grocker lock httpie==3.2.4 --upgrade-os   newest Debian packages, Python pins kept
    ///   grocker lock ./service --locked        fails when the lock is missing or out of date
    #[command(verbatim_doc_comment)]
    Lock(Box<BuildArgs>),

    /// Report what grocker.lock is behind, without building: Debian packages with a newer
    /// version in the suite's -security or -updates archive (with the CVE ids the newer
    /// package's changelog.Debian names since the locked version), and Python packages with a
    /// newer release on the index (the newest the lock's constraints allow, and the newest).
    ///
    /// Examples:
    ///   grocker outdated                              a table, for people
    ///   grocker outdated --format json                for machines
    ///   grocker outdated --fail-on security           exit 1 when a security update is pending (CI)
    ///   grocker build httpie==3.2.4 --upgrade-os      then apply the Debian updates alone
    #[command(verbatim_doc_comment)]
    Outdated(OutdatedArgs),

    /// Delete grocker's cache (downloads, built wheels, layers) and the builder images this
    /// grocker version loaded into the engine (Grocker's intermediate images).
    ///
    /// Examples:
    ///   grocker purge          the cache, and this version's builder images if an engine answers
    ///   grocker purge -a -f    also every grocker version's images, application images included
    #[command(verbatim_doc_comment)]
    Purge(PurgeArgs),
}

/// What the `os` layer is made of; shared by every command that builds one.
#[derive(Debug, Args)]
pub struct RuntimeArgs {
    /// Runtime as SUITE/PYTHON: bookworm/3.11 (default), trixie/3.13 — Debian's own Python —
    /// or any CPython on bookworm or trixie (bookworm/3.13, trixie/3.14…), built by grocker from
    /// sources verified through Debian's archive. `grocker root --list` lists them.
    #[arg(short, long, value_name = "SUITE/PY")]
    pub runtime: Option<String>,

    /// Where the interpreter comes from: `debian` (the default where the suite ships that
    /// Python: it gets Debian's security updates) or `source` (upstream CPython, without
    /// Debian's patches, compiled in the offline builder container against the suite's own
    /// libraries, installed under /opt/python/3.X in a layer of its own; cached, so its minutes
    /// are spent once). Config: `python: source`.
    #[arg(long, value_name = "debian|source", value_parser = ["debian", "source"])]
    pub python_from: Option<String>,

    /// CPython source tarball (a file, or a URL such as a python.org download) for a Python
    /// Debian has no source of (e.g. 3.12); needs --python-sha256.
    #[arg(long, value_name = "FILE|URL")]
    pub python_source: Option<String>,

    /// SHA-256 of the --python-source tarball (python.org lists it beside each download).
    #[arg(long, value_name = "SHA256")]
    pub python_sha256: Option<String>,

    /// Build CPython with profile-guided and link-time optimization (PGO + LTO): much slower to
    /// build (it runs CPython's training suite; tens of minutes on two cores, once), ~10–20%
    /// faster to run.
    #[arg(long)]
    pub python_optimize: bool,

    /// Accept a signed Sources index past its Valid-Until when looking for CPython sources
    /// (apt's Check-Valid-Until=false), for a mirror or snapshot that lags testing/unstable
    /// (forky, sid: a week of validity). The signature and the tarball's SHA-256 are checked.
    #[arg(long)]
    pub python_allow_expired: bool,

    /// Extra Debian package for the image's os layer (repeatable), e.g. --package libpq5.
    #[arg(long = "package", value_name = "NAME")]
    pub packages: Vec<String>,

    /// The image's platforms, comma-separated: linux/amd64, linux/arm64, or both — one image
    /// each under an OCI image index, from each platform's own Debian packages and wheels (no
    /// emulation). Default: this machine's platform. `-o docker` and `-o docker-archive:` hold
    /// one platform; `-o oci:DIR` and registries hold them all.
    #[arg(long, value_name = "PLATFORMS", value_delimiter = ',')]
    pub platform: Vec<String>,
}

#[derive(Debug, Args)]
pub struct OutdatedArgs {
    /// The lock file to read (default: grocker.lock in the current directory).
    #[arg(long, value_name = "FILE", default_value = "grocker.lock")]
    pub lock_file: PathBuf,

    /// `table` (for people, default) or `json`.
    #[arg(long, value_name = "FORMAT", default_value = "table", value_parser = ["table", "json"])]
    pub format: String,

    /// Exit with status 1 when a Debian security update is pending (the report is printed
    /// first), for a scheduled CI job.
    #[arg(long, value_name = "WHAT", value_parser = ["security"])]
    pub fail_on: Option<String>,

    /// Package index (PEP 503/691) instead of PyPI; default from PIP_INDEX_URL or pip.conf.
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,

    #[command(flatten)]
    pub debian: DebianArgs,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Also remove the engine images of every grocker version, not only this one's.
    #[arg(short = 'a', long)]
    pub all_versions: bool,

    /// Also remove the application images grocker loaded into the engine (`-o docker`), not
    /// only its builder images.
    #[arg(short = 'f', long)]
    pub including_final_images: bool,

    /// Both of the above: every image grocker put into the engine.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct RootArgs {
    /// List the runtimes: each suite with the Python it ships, and the CPython versions whose
    /// sources Debian's archive has (read from the suites' signed Sources indexes), then exit.
    #[arg(long)]
    pub list: bool,

    #[command(flatten)]
    pub runtime: RuntimeArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    #[command(flatten)]
    pub debian: DebianArgs,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// What to package: a release NAME==VERSION or NAME[EXTRA,...]==VERSION from the index, a
    /// wheel file (FILE.whl, optionally FILE.whl[EXTRA,...]), or a project directory
    /// (pyproject.toml or setup.py; built in the builder, installed as the app layer).
    #[arg(value_name = "RELEASE | WHEEL | PROJECT_DIR", default_value = ".")]
    pub release: String,

    #[command(flatten)]
    pub runtime: RuntimeArgs,

    /// What the container runs: a console script of the venv (e.g. `http`), or `python` for the
    /// venv's interpreter. Default: `grocker-runner` if the app defines it, else the app's only
    /// console script, else the one named like the project.
    #[arg(short, long, value_name = "NAME")]
    pub entrypoint: Option<String>,

    /// Environment variable for the image, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub envs: Vec<String>,

    /// Port the application listens on, e.g. 8000 or 53/udp (repeatable).
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<String>,

    /// Volume mount point, e.g. /data (repeatable).
    #[arg(long = "volume", value_name = "PATH")]
    pub volumes: Vec<String>,

    /// pip constraints file applied to the resolution (pip's `-c` format).
    #[arg(long, value_name = "FILE")]
    pub pip_constraint: Option<PathBuf>,

    /// Package index (PEP 503/691) instead of PyPI; default from PIP_INDEX_URL or pip.conf.
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,

    /// Additional package index (repeatable); also PIP_EXTRA_INDEX_URL and pip.conf.
    #[arg(long, value_name = "URL")]
    pub extra_index_url: Vec<String>,

    /// Read pip's settings (index-url, extra-index-url) from this pip.conf only, instead of the
    /// usual ones (/etc/pip.conf, ~/.config/pip/pip.conf, $PIP_CONFIG_FILE), as Grocker did.
    #[arg(long, value_name = "FILE")]
    pub pip_conf: Option<PathBuf>,

    /// Configuration file, Grocker's format (repeatable; later files win). Without -c,
    /// `.grocker.yml` and `[tool.grocker]` of pyproject.toml in the current directory are read.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub configs: Vec<PathBuf>,

    /// Registry and namespace for the image name, e.g. registry.example.com/team.
    #[arg(long, value_name = "URI")]
    pub image_prefix: Option<String>,

    /// Image name without prefix and tag (default: the project name, plus its extras).
    #[arg(long, value_name = "NAME")]
    pub image_base_name: Option<String>,

    /// Write the result (release, image, digest) to this YAML file, as Grocker did.
    #[arg(long, value_name = "FILE")]
    pub result_file: Option<PathBuf>,

    /// Push the image to its registry (default, as Grocker). Only names with a registry part
    /// (from --image-prefix or -n) are pushed; others are skipped with a warning.
    #[arg(long, overrides_with = "no_push")]
    pub push: bool,

    /// Do not push the image.
    #[arg(long, overrides_with = "push")]
    pub no_push: bool,

    /// Compile what needs compiling (Grocker's dependency stage; default).
    #[arg(long, overrides_with = "no_build_dependencies")]
    pub build_dependencies: bool,

    /// Never run the compiler stage: fail if a package has no wheel (nor one built earlier).
    #[arg(long, overrides_with = "build_dependencies")]
    pub no_build_dependencies: bool,

    /// Build the image (default).
    #[arg(long, overrides_with = "no_build_image")]
    pub build_image: bool,

    /// Stop after the dependencies: resolve, fetch, compile and write grocker.lock, but make no
    /// image (Grocker's dependency-only build, e.g. to warm a CI cache).
    #[arg(long, overrides_with = "build_image")]
    pub no_build_image: bool,

    /// The image's default arguments (Docker's CMD), after the entrypoint, split as a shell
    /// would: `-e gunicorn --cmd "mysite.wsgi -b 0.0.0.0:8000"`, `--cmd "manage.py runserver"`.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub cmd: Option<String>,

    #[command(flatten)]
    pub project: ProjectArgs,

    /// Do not add Debian packages for libraries the image lacks: fail, naming them. By default
    /// a library that one package of the suite ships (numba's libgomp.so.1 → libgomp1) is
    /// added to the os layer and the lock, and said so.
    #[arg(long)]
    pub no_auto_packages: bool,

    /// Put `.pyc` files in the image (the standard library's and the venv's), compiled by the
    /// image's own Python run on this machine (for another platform's image, this machine's
    /// build of the same Debian python3.X: the bytes are the same): containers start faster (httpie:
    /// 0.35 s instead of 1.1 s) and images are larger (httpie: 91 MB instead of 63 MB). Off by
    /// default, as with pip's `--no-compile` and uv.
    #[arg(long)]
    pub compile_bytecode: bool,

    /// Write the image's software bill of materials to FILE: every Debian package (purl,
    /// source package, the .deb's SHA-256, licenses from a machine-readable copyright file) and
    /// every Python distribution (purl, the file's SHA-256, declared license, whether compiled
    /// from an sdist), the image's digests. The same lock gives the same bytes. It is also
    /// attached to the image as an OCI referrer in a registry (`--push`, `-o registry`) and in
    /// `-o oci:DIR`.
    #[arg(long, value_name = "FILE")]
    pub sbom: Option<PathBuf>,

    /// The SBOM's format: `cyclonedx` (CycloneDX 1.6 JSON, default) or `spdx` (SPDX 2.3 JSON).
    #[arg(
        long,
        value_name = "FORMAT",
        default_value = "cyclonedx",
        requires = "sbom"
    )]
    pub sbom_format: grocker_sbom::Format,

    /// Registry (host[:port]) that may be reached over plain HTTP. Loopback registries always may.
    #[arg(long, value_name = "HOST")]
    pub insecure_registry: Vec<String>,

    /// Share grocker's cache through this registry repository (config `cache_repo`), so CI
    /// runners reuse each other's work: built wheels and finished layers are looked up there
    /// before being made, and uploaded after. Entries are checked against the digests their
    /// keys name; an unreachable or refusing registry is a miss with one warning, never a
    /// failed build. Credentials and --insecure-registry as for pushes.
    #[arg(long, value_name = "REGISTRY/REPO", env = "GROCKER_CACHE_REPO")]
    pub cache_repo: Option<String>,

    /// Read the shared cache but never write to it (builds of untrusted branches).
    #[arg(long)]
    pub cache_repo_read_only: bool,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    #[command(flatten)]
    pub debian: DebianArgs,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Where the image goes: `docker` (load into the local engine through its API),
    /// `oci:DIR` (an OCI image layout) or `docker-archive:FILE` (for `docker load -i` /
    /// `podman load -i`). Default: the local engine when one answers, else a docker-archive in
    /// the current directory. An image only loaded into the engine gets its layers
    /// uncompressed, as the engine stores them (the image ID is the same); one that is pushed,
    /// or written with `oci:` or `docker-archive:`, gets gzip layers.
    #[arg(short, long, value_name = "SINK")]
    pub output: Option<String>,

    /// Image name, e.g. `registry.example.com/team/app:1.0`.
    #[arg(short = 'n', long, value_name = "NAME")]
    pub image_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Refresh grocker.lock to the newest packages instead of reusing it.
    #[arg(long, conflicts_with = "locked")]
    pub upgrade: bool,

    /// Refresh only the image's Debian packages (security updates) and keep every Python pin
    /// and the builder's packages: only the `os` layer changes, so a push uploads that layer,
    /// the config and the manifest.
    #[arg(long, conflicts_with_all = ["locked", "upgrade"])]
    pub upgrade_os: bool,

    /// Fail instead of resolving again when grocker.lock is missing or does not match the request.
    #[arg(long)]
    pub locked: bool,

    /// Lock file to read and write (default: grocker.lock next to a project, else in the
    /// current directory).
    #[arg(long, value_name = "FILE")]
    pub lock_file: Option<PathBuf>,
}

/// A project's own lock: which file, and what of it goes into the image.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// Install from this lock file of the project (uv.lock, poetry.lock, pylock[.NAME].toml, or
    /// a requirements file) instead of the first of those found.
    #[arg(long, value_name = "FILE", conflicts_with = "requirements")]
    pub lock_from: Option<PathBuf>,

    /// Install exactly the pins of these pip requirements files (repeatable): with --hash,
    /// each file must have one of the hashes; without, each line must be NAME==VERSION.
    #[arg(long = "requirements", value_name = "FILE")]
    pub requirements: Vec<PathBuf>,

    /// The uv workspace member to package (default: the root project).
    #[arg(long, value_name = "NAME")]
    pub member: Option<String>,

    /// Also install this dependency group (PEP 735, Poetry groups; repeatable). Dev groups
    /// are left out unless named.
    #[arg(long = "group", value_name = "NAME")]
    pub groups: Vec<String>,

    /// Also install this extra of the project (repeatable).
    #[arg(long = "extra", value_name = "NAME")]
    pub extras: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DebianArgs {
    /// Debian mirror (instead of https://deb.debian.org/debian), e.g. a company mirror.
    #[arg(long, value_name = "URL", env = "GROCKER_DEBIAN_MIRROR")]
    pub debian_mirror: Option<String>,

    /// Debian security mirror (instead of https://deb.debian.org/debian-security).
    #[arg(long, value_name = "URL", env = "GROCKER_DEBIAN_SECURITY_MIRROR")]
    pub debian_security_mirror: Option<String>,

    /// Also trust this OpenPGP keyring (binary or armored) for InRelease signatures, e.g. for a
    /// private mirror re-signed with your own key. Debian's own keys are always trusted.
    #[arg(long, value_name = "FILE", env = "GROCKER_DEBIAN_KEYRING")]
    pub debian_keyring: Vec<PathBuf>,
}
