//! One module per subcommand.

pub mod build;
pub mod purge;
pub mod root;
