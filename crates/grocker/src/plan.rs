//! The plan stage's lock handling (DESIGN §1.2), shared by every command: reuse `grocker.lock`
//! when it was made for the same request, else resolve again — unless `--locked` forbids it.

use std::future::Future;

use anyhow::{Result, bail};
use grocker_lock::{Lock, Request};

use crate::settings::LockSettings;

/// The lock to build from, and whether it differs from the one on disk (and so must be written
/// once the image is built — never before, so a failed build leaves the old lock in place).
pub async fn plan<F, Fut>(
    wanted: &Request,
    settings: &LockSettings,
    resolve: F,
) -> Result<(Lock, bool)>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Lock>>,
{
    let existing = Lock::read(&settings.path)?;
    if let Some(existing) = existing.as_ref()
        && &existing.request == wanted
        && !settings.upgrade
    {
        tracing::debug!("using {}", settings.path.display());
        return Ok((existing.clone(), false));
    }
    if settings.locked {
        match existing {
            None => bail!(
                "--locked: {} does not exist; run once without --locked to create it",
                settings.path.display()
            ),
            Some(_) => bail!(
                "--locked: {} was made for a different request (runtime, packages, release, \
                 constraints or indexes); run without --locked to update it",
                settings.path.display()
            ),
        }
    }
    let new = resolve().await?;
    let changed = existing.as_ref() != Some(&new);
    Ok((new, changed))
}
