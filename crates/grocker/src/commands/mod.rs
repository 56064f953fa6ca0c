//! One module per subcommand.

pub mod purge;
pub mod root;
