//! The Python stage: the application's dependency tree resolved against the index (or taken
//! from the plan), then installed into the venv and cut into layers.

mod install;
mod resolve;

pub use install::VenvLayers;
pub use resolve::{LocalApp, PythonRequest, VENV, download, resolve, resolve_wheels, target, venv};
