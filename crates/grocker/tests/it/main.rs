//! grocker's integration tests, one binary (STYLE.md): hermetic tests against a signed Debian
//! repository served on 127.0.0.1, and end-to-end tests against the real Debian archive and a
//! real Docker engine.

mod common;
mod e2e_build;
mod e2e_cache;
mod e2e_compile;
mod e2e_locks;
mod e2e_platforms;
mod e2e_push;
mod e2e_python_source;
mod e2e_root;
mod e2e_sbom;
mod e2e_updates;
mod hermetic_build;
mod hermetic_root;
