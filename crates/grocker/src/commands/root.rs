//! `grocker root`: the runtime image alone (Grocker's "root image").

use std::collections::BTreeMap;

use anyhow::Result;
use grocker_lock::{Lock, Request};
use grocker_oci::{Image, ImageConfig};

use crate::os::{self, OsRequest};
use crate::report::Reporter;
use crate::settings::RootSettings;
use crate::{fetcher, output, plan, publish};

/// Debian's default PATH, with sbin for tools images may add.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub async fn root(settings: RootSettings, report: &Reporter) -> Result<()> {
    let fetcher = fetcher(report, settings.lock.upgrade)?;
    let request = OsRequest {
        runtime: settings.runtime,
        architecture: "amd64",
        packages: &settings.packages,
        debian: &settings.debian,
    };
    // Open the destination first: a bad destination is reported before minutes of work.
    let sink = output::open(
        settings.output.as_ref(),
        &settings.image_name,
        &grocker_oci::RegistryOptions::default(),
        report,
    )?;

    let wanted = Request {
        runtime: settings.runtime.to_string(),
        architecture: request.architecture.to_string(),
        packages: settings.packages.clone(),
        application: None,
        constraints: vec![],
        indexes: vec![],
        repositories: vec![],
        requires: vec![],
    };
    let (lock, lock_changed) = plan::plan(&wanted, &settings.lock, || async {
        let mut lock = Lock::new(wanted.clone());
        lock.debian = os::resolve_packages(&request, &fetcher, report).await?;
        Ok(lock)
    })
    .await?;
    // A base for anything: glibc's charset modules included.
    let os = os::layers(&request, &lock, &fetcher, settings.epoch, false, report).await?;

    let user = grocker_runtime::User::default();
    let config = ImageConfig {
        user: format!("{}:{}", user.uid, user.gid),
        entrypoint: vec!["python3".to_string()],
        env: vec![
            ("PATH".to_string(), PATH.to_string()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
        ],
        working_dir: user.home(),
        labels: BTreeMap::from([
            ("grocker.runtime".to_string(), settings.runtime.to_string()),
            (
                "grocker.version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
        ]),
        created: settings.epoch,
        architecture: request.architecture.to_string(),
        os: "linux".to_string(),
        ..ImageConfig::default()
    };
    let image = Image::new(&config, vec![os.os, os.iconv], BTreeMap::new())?;
    publish(
        sink,
        &image,
        &settings.image_name,
        lock_changed.then_some((&lock, settings.lock.path.as_path())),
        report,
    )
    .map(drop)
}
