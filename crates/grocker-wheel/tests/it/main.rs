//! Integration tests of the wheel installer on real wheels (tests/data, downloaded once from
//! PyPI), on wheels built here with the zip crate, and against pip itself.

mod common;
mod hostile;
mod install;
mod pip;
