//! Work started before the stage that needs it, so that it overlaps what is slow in between:
//! with a team lock the deps layer depends only on the lock's pins, so it is written (and the
//! runtime filesystem read back for the native check) while the project's own wheel is built.
//!
//! Each piece is named by the key of what it makes (a layer key's ID). The stage that needs it
//! takes it, waiting if it is still being made; a piece nobody started, or one that failed, is
//! made by that stage itself, which then reports its own error: work done ahead never decides
//! an outcome, it only saves time.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use grocker_fs::Tree;
use tokio::task::JoinHandle;

use crate::python::WrittenLayer;

/// The pieces started ahead in one build.
#[derive(Clone, Default)]
pub struct Ahead {
    /// Nothing is started: a command that makes no image (`grocker lock`) has no use for it.
    off: bool,
    layers: Pending<WrittenLayer>,
    trees: Pending<Tree>,
}

impl Ahead {
    /// Starts nothing.
    pub(crate) fn off() -> Self {
        Self {
            off: true,
            ..Self::default()
        }
    }

    /// Starts writing the venv layer named `key` in the background, and says whether it did
    /// (not when work ahead is off).
    pub(crate) fn start_layer(
        &self,
        key: String,
        work: impl Future<Output = Result<WrittenLayer>> + Send + 'static,
    ) -> bool {
        if !self.off {
            self.layers.start(key, work);
        }
        !self.off
    }

    /// The venv layer named `key`, if it was started ahead and made.
    pub(crate) async fn layer(&self, key: &str) -> Option<WrittenLayer> {
        self.layers.take(key).await
    }

    /// Starts making the tree named `key` (a runtime filesystem) in the background.
    pub(crate) fn start_tree(
        &self,
        key: String,
        work: impl Future<Output = Result<Tree>> + Send + 'static,
    ) {
        if !self.off {
            self.trees.start(key, work);
        }
    }

    /// The tree named `key`, if it was started ahead and made.
    pub(crate) async fn tree(&self, key: &str) -> Option<Tree> {
        self.trees.take(key).await
    }
}

/// Background tasks by the key of what they make; each is taken once.
struct Pending<T>(Arc<Mutex<HashMap<String, JoinHandle<Result<T>>>>>);

impl<T> Clone for Pending<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T: Send + 'static> Pending<T> {
    fn start(&self, key: String, work: impl Future<Output = Result<T>> + Send + 'static) {
        let mut pending = self.0.lock().unwrap_or_else(|e| e.into_inner());
        pending.entry(key).or_insert_with(|| tokio::spawn(work));
    }

    async fn take(&self, key: &str) -> Option<T> {
        let handle = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)?;
        match handle.await {
            Ok(Ok(made)) => Some(made),
            Ok(Err(e)) => {
                tracing::debug!("work started ahead failed, done again in its stage: {e:#}");
                None
            }
            Err(e) => {
                tracing::debug!("work started ahead stopped, done again in its stage: {e}");
                None
            }
        }
    }
}
