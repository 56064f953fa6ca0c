//! Grocker 8 configuration files, read, checked and merged.
//!
//! A project tells grocker how to build its image in `.grocker.yml` (Grocker's file, same keys)
//! or in the `[tool.grocker]` table of its `pyproject.toml`. This crate is the *files* layer of
//! settings resolution: it turns those files into one [`FileConfig`], and the `grocker` binary
//! merges it with the command line and the defaults (CLI > files > defaults, Grocker's
//! precedence). It knows nothing about defaults: every field says "this file did not say" with
//! `None`.
//!
//! Loading follows Grocker's `utils.parse_config`: without `-c`, the implicit files of the
//! project directory (`pyproject.toml`, then `.grocker.yml` over it); with `-c FILE...`, exactly
//! those files, in order. Later files win through Grocker's deep merge, applied to the raw
//! values: mappings merge key by key, lists and scalars are replaced. Each file is checked on
//! its own first, so an unknown key or a wrong type is reported with its file and line.
//!
//! ```
//! use grocker_config::parse_yaml;
//!
//! let text = "runtime: python3.11\ndependencies:\n  run: [libpq5]\nports: [8080]\n";
//! let config = parse_yaml(text, "project/.grocker.yml".as_ref())?;
//! assert_eq!(config.runtime.as_deref(), Some("bookworm/3.11"));
//! assert_eq!(config.dependencies.run, Some(vec!["libpq5".to_string()]));
//! assert_eq!(config.ports, Some(vec!["8080".to_string()]));
//!
//! let typo = parse_yaml("entrypoint: app\n", ".grocker.yml".as_ref()).unwrap_err();
//! assert!(typo.to_string().contains("unknown key `entrypoint` (did you mean `entrypoint_name`?)"));
//! # Ok::<(), grocker_config::ConfigError>(())
//! ```
#![deny(missing_docs)]

pub use apt::{AptSource, AptSourceError};
pub use error::{ConfigError, Location};
pub use load::{GROCKER_YML, PYPROJECT_TOML, load, parse_pyproject, parse_yaml};
pub use model::{Dependencies, FileConfig, Loaded, Repository, RuntimeOverride, SystemPackages};

mod apt;
mod error;
mod leaves;
mod load;
mod model;
mod schema;
mod tree;
