//! The Python stage: the application's dependency tree resolved against the index (or taken
//! from the plan), then installed into the venv and cut into layers.

mod install;
mod resolve;

pub use install::{DepsAhead, VenvLayers, WrittenLayer};
pub use resolve::{
    LocalApp, PythonRequest, VENV, download, read_wheel_metadata, resolve, resolve_wheels, target,
    venv,
};
