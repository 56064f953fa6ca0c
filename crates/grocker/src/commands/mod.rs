//! One module per subcommand.

pub mod build;
pub mod lock;
pub mod outdated;
pub mod purge;
pub mod root;
