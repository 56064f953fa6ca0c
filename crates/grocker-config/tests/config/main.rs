//! Reading, checking and merging Grocker configuration files (one test binary).

mod errors;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use grocker_config::{Dependencies, FileConfig, SystemPackages, load, parse_pyproject, parse_yaml};

const KEY: &str =
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBE5O\n-----END PGP PUBLIC KEY BLOCK-----\n";

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }
    dir
}

fn strings(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| s.to_string()).collect())
}

#[test]
fn every_key_is_read() {
    let text = format!(
        r#"
runtime: trixie/3.13
runtimes:
  trixie/3.13:
    deprecated: yes
    dependencies: {{run: [libssl3t64], build: [libssl-dev]}}
dependencies:
  run: [libpq5, "libxml2 libxslt1.1"]
  build: [libpq-dev]
pip_constraint: constraints.txt
volumes: [/data, /cache]
ports: [8080, "53/udp"]
envs: {{NAME: app, WORKERS: 4, RATIO: 1.50, ROUND: 2.0, DEBUG: true, QUIET: false}}
repositories:
  nginx:
    uri: deb http://nginx.org/packages/debian/ bookworm nginx
    key: |
{key}docker_image_prefix: registry.example.com/team
image_base_name: demo-app
entrypoint_name: my-runner
manifest: false
"#,
        key = KEY
            .lines()
            .map(|l| format!("      {l}\n"))
            .collect::<String>()
    );
    let cfg = parse_yaml(&text, Path::new("proj/.grocker.yml")).unwrap();
    assert_eq!(cfg.runtime.as_deref(), Some("trixie/3.13"));
    let trixie = &cfg.runtimes["trixie/3.13"];
    assert_eq!(trixie.deprecated, Some(true));
    assert_eq!(trixie.dependencies.run, strings(&["libssl3t64"]));
    // Grocker joined the list with spaces, so one item may hold several packages.
    let deps = Dependencies {
        run: strings(&["libpq5", "libxml2", "libxslt1.1"]),
        build: strings(&["libpq-dev"]),
    };
    assert_eq!(cfg.dependencies, deps);
    assert_eq!(
        cfg.pip_constraint,
        Some(PathBuf::from("proj/constraints.txt"))
    );
    assert_eq!(cfg.volumes, strings(&["/data", "/cache"]));
    assert_eq!(cfg.ports, strings(&["8080", "53/udp"]));
    let envs: BTreeMap<_, _> = [
        ("DEBUG", "True"),
        ("NAME", "app"),
        ("QUIET", "False"),
        ("RATIO", "1.5"),
        ("ROUND", "2.0"),
        ("WORKERS", "4"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(cfg.envs, Some(envs));
    let nginx = &cfg.repositories.as_ref().unwrap()["nginx"];
    assert_eq!(nginx.source.url, "http://nginx.org/packages/debian/");
    assert_eq!(nginx.source.components, ["nginx"]);
    assert_eq!(nginx.key, KEY);
    assert_eq!(
        cfg.docker_image_prefix.as_deref(),
        Some("registry.example.com/team")
    );
    assert_eq!(cfg.image_base_name.as_deref(), Some("demo-app"));
    assert_eq!(cfg.entrypoint_name.as_deref(), Some("my-runner"));
    assert!(cfg.is_deprecated("trixie/3.13"));
    // The runtime's own packages come first, then the project's (Grocker's get_dependencies).
    let want = SystemPackages {
        run: ["libssl3t64", "libpq5", "libxml2", "libxslt1.1"]
            .map(String::from)
            .to_vec(),
        build: ["libssl-dev", "libpq-dev"].map(String::from).to_vec(),
    };
    assert_eq!(cfg.dependencies_for("trixie/3.13"), want);
}

#[test]
fn two_config_files_merge_later_wins() {
    let first = "runtime: bookworm/3.11\nports: [80, 443]\nentrypoint_name: first\n\
         dependencies: {run: [libpq5], build: [libpq-dev]}\n\
         runtimes: {bookworm/3.11: {deprecated: yes, dependencies: {run: [a]}}}\n\
         envs: {A: '1', B: '1'}\n\
         repositories: {nginx: {uri: 'deb http://nginx.org/packages/debian/ bookworm nginx'}}\n";
    let second = format!(
        "runtime: python3.13\nports: [8080]\n\
         dependencies: {{run: [libpq5, libjpeg62-turbo]}}\n\
         runtimes: {{python3.11: {{dependencies: {{build: [b]}}}}}}\n\
         envs: {{B: '2'}}\n\
         repositories: {{nginx: {{key: {KEY:?}}}}}\n"
    );
    let dir = project(&[
        ("a.yml", first),
        ("sub/b.yml", &second),
        (".grocker.yml", "foo: 1"),
    ]);
    let (a, b) = (dir.path().join("a.yml"), dir.path().join("sub/b.yml"));
    let loaded = load(dir.path(), &[a.clone(), b.clone()]).unwrap();
    assert_eq!(loaded.sources, [a, b]);
    let cfg = loaded.config;
    assert_eq!(cfg.runtime.as_deref(), Some("trixie/3.13"));
    assert_eq!(
        cfg.ports,
        strings(&["8080"]),
        "lists are replaced, not appended"
    );
    assert_eq!(
        cfg.entrypoint_name.as_deref(),
        Some("first"),
        "keys only in the first file stay"
    );
    let deps = Dependencies {
        run: strings(&["libpq5", "libjpeg62-turbo"]),
        build: strings(&["libpq-dev"]),
    };
    assert_eq!(cfg.dependencies, deps, "nested mappings merge key by key");
    // `python3.11` and `bookworm/3.11` name the same runtime, so their settings merge.
    let rt = &cfg.runtimes["bookworm/3.11"];
    assert_eq!(rt.deprecated, Some(true));
    assert_eq!(rt.dependencies.run, strings(&["a"]));
    assert_eq!(rt.dependencies.build, strings(&["b"]));
    let envs = cfg.envs.unwrap();
    assert_eq!((envs["A"].as_str(), envs["B"].as_str()), ("1", "2"));
    assert_eq!(cfg.repositories.unwrap()["nginx"].key, KEY);
}

#[test]
fn empty_files_are_empty_configs() {
    for text in ["", "# only a comment\n", "{}\n", "---\n"] {
        assert_eq!(
            parse_yaml(text, Path::new("e.yml")).unwrap(),
            FileConfig::default()
        );
    }
    // ... and an empty later file keeps what earlier files said.
    let dir = project(&[("a.yml", "runtime: trixie/3.13\n"), ("b.yml", "")]);
    let files = [dir.path().join("a.yml"), dir.path().join("b.yml")];
    let cfg = load(dir.path(), &files).unwrap().config;
    assert_eq!(cfg.runtime.as_deref(), Some("trixie/3.13"));
    let toml = parse_pyproject("[tool.grocker]\n", Path::new("pyproject.toml")).unwrap();
    assert_eq!(toml, Some(FileConfig::default()));
}

#[test]
fn no_file_means_defaults() {
    let dir = project(&[]);
    let loaded = load(dir.path(), &[]).unwrap();
    assert_eq!(loaded.config, FileConfig::default());
    assert!(loaded.sources.is_empty());
}

#[test]
fn implicit_grocker_yml_is_read_only_without_c() {
    let dir = project(&[
        (".grocker.yml", "entrypoint_name: implicit\n"),
        ("c.yml", "ports: [1]\n"),
    ]);
    let implicit = load(dir.path(), &[]).unwrap();
    assert_eq!(implicit.config.entrypoint_name.as_deref(), Some("implicit"));
    assert_eq!(implicit.sources, [dir.path().join(".grocker.yml")]);
    let explicit = load(dir.path(), &[dir.path().join("c.yml")]).unwrap();
    assert_eq!(explicit.config.entrypoint_name, None);
    assert_eq!(explicit.sources, [dir.path().join("c.yml")]);
}

#[test]
fn pyproject_tool_grocker_is_read_and_grocker_yml_wins_over_it() {
    let pyproject = "[project]\nname = 'demo'\n\n[tool.grocker]\nruntime = 'trixie/3.13'\n\
                     ports = [8080]\nentrypoint_name = 'from-pyproject'\npip_constraint = 'c.txt'\n\
                     [tool.grocker.envs]\nDEBUG = true\nN = 3\n[tool.other]\nx = 1\n";
    let dir = project(&[("pyproject.toml", pyproject)]);
    let only = load(dir.path(), &[]).unwrap();
    assert_eq!(only.sources, [dir.path().join("pyproject.toml")]);
    assert_eq!(only.config.runtime.as_deref(), Some("trixie/3.13"));
    assert_eq!(only.config.ports, strings(&["8080"]));
    assert_eq!(only.config.pip_constraint, Some(dir.path().join("c.txt")));
    let envs = only.config.envs.unwrap();
    assert_eq!((envs["DEBUG"].as_str(), envs["N"].as_str()), ("True", "3"));

    fs_err::write(
        dir.path().join(".grocker.yml"),
        "entrypoint_name: from-yml\n",
    )
    .unwrap();
    let both = load(dir.path(), &[]).unwrap();
    let sources = [
        dir.path().join("pyproject.toml"),
        dir.path().join(".grocker.yml"),
    ];
    assert_eq!(both.sources, sources);
    assert_eq!(both.config.entrypoint_name.as_deref(), Some("from-yml"));
    assert_eq!(both.config.runtime.as_deref(), Some("trixie/3.13"));

    // A pyproject.toml without the table contributes nothing; given with -c, it is an error.
    let plain = project(&[("pyproject.toml", "[project]\nname = 'demo'\n")]);
    assert!(load(plain.path(), &[]).unwrap().sources.is_empty());
    let path = plain.path().join("pyproject.toml");
    let err = load(plain.path(), std::slice::from_ref(&path)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{} has no [tool.grocker] table", path.display())
    );
    assert_eq!(parse_pyproject("[project]\n", &path).unwrap(), None);
}

#[test]
fn relative_pip_constraint_is_relative_to_its_file() {
    let dir = project(&[
        ("conf/a.yml", "pip_constraint: ../constraints/prod.txt\n"),
        ("conf/abs.yml", "pip_constraint: /etc/constraints.txt\n"),
    ]);
    let a = dir.path().join("conf/a.yml");
    let cfg = load(dir.path(), &[a]).unwrap().config;
    assert_eq!(
        cfg.pip_constraint,
        Some(dir.path().join("conf/../constraints/prod.txt"))
    );
    let abs = dir.path().join("conf/abs.yml");
    let cfg = load(dir.path(), &[abs]).unwrap().config;
    assert_eq!(
        cfg.pip_constraint,
        Some(PathBuf::from("/etc/constraints.txt"))
    );
}

#[test]
fn grockers_documented_example_is_read() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/grocker-docs-example.yml");
    let text = fs_err::read_to_string(&path).unwrap();
    // Its runtime, python2.7, is one grocker cannot build: the message says what to use.
    let err = parse_yaml(&text, Path::new("example.yml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "example.yml:13: `runtime`: unknown runtime `python2.7`: choose one of bookworm/3.11, trixie/3.13 (Debian's Python), or SUITE/3.X with SUITE one of bookworm, trixie (CPython built from source) (Grocker's `pythonX.Y` names work when one of these runtimes ships that Python)"
    );
    let text = text.replace("runtime: python2.7", "runtime: python3.11");
    let cfg = parse_yaml(&text, Path::new("example/.grocker.yml")).unwrap();
    assert_eq!(cfg.runtime.as_deref(), Some("bookworm/3.11"));
    assert_eq!(
        cfg.pip_constraint,
        Some(PathBuf::from("example/constraints.txt"))
    );
    assert_eq!(cfg.volumes, strings(&["/data", "/cache"]));
    assert_eq!(cfg.ports, strings(&["8080", "8081"]));
    let nginx = &cfg.repositories.as_ref().unwrap()["nginx"];
    assert_eq!(
        nginx.source.to_string(),
        "deb http://nginx.org/packages/debian/ jessie nginx"
    );
    assert!(
        nginx
            .key
            .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----\nVersion: GnuPG")
    );
    assert_eq!(cfg.dependencies.run.as_ref().map(Vec::len), Some(5));
    assert_eq!(cfg.dependencies.build.as_ref().map(Vec::len), Some(4));
    assert_eq!(
        cfg.docker_image_prefix.as_deref(),
        Some("docker.example.com")
    );
    assert_eq!(cfg.entrypoint_name.as_deref(), Some("my-runner"));
    assert_eq!(cfg.image_base_name, None);
}

#[test]
fn grockers_own_defaults_spelling_is_accepted() {
    // Grocker 6's resources/grocker.yaml project section: nulls, `envs: []`, `manifest`.
    let text = "runtime: python3.11\npip_constraint:\nvolumes: []\nports: []\nenvs: []\n\
                repositories: {}\ndependencies:\n  run: []\n  build: []\n\
                docker_image_prefix:\nimage_base_name:\nentrypoint_name: grocker-runner\nmanifest: False\n";
    let cfg = parse_yaml(text, Path::new("g.yml")).unwrap();
    assert_eq!(cfg.envs, Some(BTreeMap::new()));
    assert_eq!(cfg.pip_constraint, None);
    assert_eq!(cfg.entrypoint_name.as_deref(), Some("grocker-runner"));
}

#[test]
fn cmd_is_a_list_or_a_shell_line() {
    let line = parse_yaml(
        "cmd: \"mysite.wsgi -b '0.0.0.0:8000' --name \\\"my app\\\"\"\n",
        Path::new(".grocker.yml"),
    )
    .unwrap();
    assert_eq!(
        line.cmd,
        strings(&["mysite.wsgi", "-b", "0.0.0.0:8000", "--name", "my app"])
    );
    let list = parse_yaml(
        "cmd: [manage.py, runserver, \"0.0.0.0:8000\"]\n",
        Path::new(".grocker.yml"),
    )
    .unwrap();
    assert_eq!(
        list.cmd,
        strings(&["manage.py", "runserver", "0.0.0.0:8000"])
    );
    let err = parse_yaml("cmd: \"run 'unclosed\"\n", Path::new(".grocker.yml")).unwrap_err();
    assert!(err.to_string().contains("unclosed quote"), "{err}");
    let err = parse_yaml("cmd: {a: 1}\n", Path::new(".grocker.yml")).unwrap_err();
    assert!(err.to_string().contains("a command line"), "{err}");
}
