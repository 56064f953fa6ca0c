//! The builder against a real engine (DESIGN §8): a builder image made by grocker, wheelhouses
//! and an sdist from PyPI (downloaded by the host's pip), builds run with no network.
//! These fail when no engine answers, unless GROCKER_TEST_NO_ENGINE=1 says to skip them.

mod builds;
mod common;
