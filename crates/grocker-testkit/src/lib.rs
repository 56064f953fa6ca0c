//! Hermetic fixtures for grocker's integration tests (DESIGN §8).
//!
//! grocker fetches a Debian runtime from an archive it must not trust blindly: `InRelease`
//! signed by an archive key (with a signing subkey), `Packages` pinned by the Release hashes,
//! each `.deb` pinned by `Packages`. These fixtures rebuild that whole chain in a temporary
//! directory, byte for byte in the formats Debian uses, and serve it on 127.0.0.1 so tests
//! never touch the network:
//!
//! - [`TestKey`]: a throw-away OpenPGP key (Ed25519 primary + signing subkey), its keyrings,
//!   clear-signing as in `InRelease`.
//! - [`DebBuilder`]: real `.deb` files (ar + `control.tar.xz` + `data.tar.xz`), including
//!   hostile ones (`..`, absolute names, escaping links, devices, maintainer scripts).
//! - [`RepoBuilder`]: `dists/` and `pool/` as on deb.debian.org, signed.
//! - [`tamper`]: breaks one link of the chain (signature, Packages hash, .deb hash, key).
//! - [`ScriptedServer`]: the one HTTP/1.1 test server, every request answered by a closure
//!   (faults, delays, ranges, redirects), plain or TLS, one request per connection or
//!   keep-alive.
//! - [`FileServer`]: a static file handler on it, with a request log and fault injection.
//! - [`LogCapture`]: what the code under test logged through `tracing`.
//!
//! Everything here panics on I/O errors: it only runs inside tests.
//!
//! ```no_run
//! use grocker_testkit::{DebBuilder, FileServer, RepoBuilder, TestKey};
//!
//! let key = TestKey::generate("Test Archive Key <archive@test.invalid>");
//! let hello = DebBuilder::new("hello", "2.10-3", "amd64")
//!     .depends("libc6 (>= 2.34)")
//!     .file("usr/bin/hello", b"#!/bin/sh\necho hi\n", 0o755);
//! let dir = tempfile::tempdir().unwrap();
//! let layout = RepoBuilder::new(&key)
//!     .suite("bookworm", "bookworm")
//!     .add("bookworm", &hello)
//!     .write(dir.path())
//!     .unwrap();
//! let server = FileServer::serve(layout.root());
//! let mirror = server.url(); // e.g. http://127.0.0.1:40123, with dists/ and pool/ inside
//! # let _ = (mirror, key.public_keyring_binary());
//! ```
#![deny(missing_docs)]

pub use archive::{FakeArchive, runtime_packages};
pub use deb::DebBuilder;
pub use key::TestKey;
pub use logs::LogCapture;
pub use repo::{RepoBuilder, RepoLayout, rfc2822};
pub use script::{Exchange, Reply, Request, ScriptedServer, ScriptedServerBuilder};
pub use server::FileServer;
pub use tarball::{Compression, RawKind, xz};

mod archive;
mod deb;
mod key;
mod logs;
pub mod pytools;
mod repo;
mod script;
mod server;
pub mod tamper;
mod tarball;
