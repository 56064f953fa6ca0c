//! What every stage shares: the verified fetcher and its cache, the reporter, the build date.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use grocker_fetch::{Cache, FetchOptions, Fetcher, Progress};
use grocker_oci::{Compression, RemoteCache};

use crate::ahead::Ahead;
use crate::report::Reporter;

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org): every file's mtime and the image's `created`
/// date. Unset, it is 0, like ko: a build date would make every build a different image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceDateEpoch(u64);

impl SourceDateEpoch {
    /// A fixed date, in seconds since 1970.
    pub fn new(seconds: u64) -> Self {
        Self(seconds)
    }

    /// From the `SOURCE_DATE_EPOCH` environment variable, 0 when unset or empty.
    pub fn from_env() -> Result<Self> {
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.trim().is_empty() => v.trim().parse().map(Self).with_context(|| {
                format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970")
            }),
            _ => Ok(Self(0)),
        }
    }

    /// Seconds since 1970.
    pub fn seconds(self) -> u64 {
        self.0
    }
}

/// One build's shared services, instead of a fetcher, a reporter and a date in every signature.
#[derive(Clone)]
pub struct Context {
    /// HTTP with verification and grocker's content-addressed cache.
    pub fetcher: Fetcher,
    /// What the person at the terminal sees.
    pub report: Reporter,
    /// The date stamped on every file and on the image.
    pub epoch: SourceDateEpoch,
    /// The shared cache (`--cache-repo`), which the layer and built-wheel caches consult on a
    /// miss and fill after a build.
    pub remote: Option<Arc<RemoteCache>>,
    /// Work started before the stage that needs it (see [`Ahead`]).
    pub(crate) ahead: Ahead,
    /// How the image's layers are written and cached (see [`Context::with_layer_compression`]).
    pub layer_compression: Compression,
}

impl Context {
    /// grocker's cache (`GROCKER_CACHE_DIR`), progress bars on a terminal. `refresh`
    /// (`--upgrade`) asks the indexes again instead of reusing what was fetched minutes ago.
    pub fn new(report: Reporter, refresh: bool, epoch: SourceDateEpoch) -> Result<Self> {
        Self::with_cache(Cache::from_env()?, report, refresh, epoch)
    }

    /// The same, with the cache at hand rather than `GROCKER_CACHE_DIR`'s.
    pub fn with_cache(
        cache: Cache,
        report: Reporter,
        refresh: bool,
        epoch: SourceDateEpoch,
    ) -> Result<Self> {
        let progress = if report.bars() {
            Progress::Bars(report.multi())
        } else {
            Progress::Hidden
        };
        let mut options = FetchOptions {
            progress,
            ..FetchOptions::default()
        };
        if refresh {
            options.index_ttl = std::time::Duration::ZERO;
        }
        let fetcher = Fetcher::new(cache, options)?;
        Ok(Self {
            fetcher,
            report,
            epoch,
            remote: None,
            ahead: Ahead::default(),
            layer_compression: Compression::Gzip,
        })
    }

    /// The same, sharing its cache through `remote` (`--cache-repo`).
    pub fn with_remote(mut self, remote: Option<RemoteCache>) -> Self {
        self.remote = remote.map(Arc::new);
        self
    }

    /// The same, starting no work ahead of the stage that needs it (see [`Ahead`]): for
    /// commands that stop after the plan.
    pub fn without_work_ahead(mut self) -> Self {
        self.ahead = Ahead::off();
        self
    }

    /// The same, writing the image's layers with `compression`: gzip (the default) for images
    /// that travel (a registry, an archive, an OCI layout, the shared cache), none for an image
    /// only loaded into the local engine, which stores layers uncompressed and gives the image
    /// the same ID either way (DESIGN §4) — as `docker build` compresses nothing until a push.
    /// The layer cache keeps the two apart: a later build for a registry writes its own.
    pub fn with_layer_compression(mut self, compression: Compression) -> Self {
        self.layer_compression = compression;
        self
    }

    /// A new spool for file contents too large to keep in memory (DESIGN §1.5), an unnamed
    /// file in the cache's temporary directory: gone when the last content using it is, or
    /// the process dies.
    pub fn spool(&self) -> Result<grocker_fs::Spool> {
        spool_in(self.fetcher.cache())
    }
}

/// [`Context::spool`], for code that has the cache but not the context.
pub fn spool_in(cache: &Cache) -> Result<grocker_fs::Spool> {
    let dir = cache.root().join("tmp");
    grocker_fs::Spool::new_in(&dir)
        .with_context(|| format!("creating a spool in {}", dir.display()))
}
