//! `grocker root`: the runtime image alone (Grocker's "root image").

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use grocker_oci::{Compression, Image, ImageConfig, Layer};

use crate::os::{self, OsRequest};
use crate::report::Reporter;
use crate::settings::RootSettings;
use crate::{fetcher, output};

/// Debian's default PATH for a non-root user, plus sbin for tools images may add.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub async fn root(settings: RootSettings, report: &Reporter) -> Result<()> {
    let fetcher = fetcher(report)?;
    let request = OsRequest {
        runtime: settings.runtime,
        architecture: "amd64",
        packages: &settings.packages,
        debian: &settings.debian,
    };
    // Open the destination first: a bad destination is reported before minutes of work.
    let mut sink = output::open(settings.output.as_ref(), &settings.image_name, report)?;

    let (lock, lock_changed) = os::plan(&request, &settings.lock, &fetcher, report).await?;
    let tree = os::build_tree(&request, &lock, &fetcher, report).await?;

    let layers_dir = fetcher.cache().root().join("layers");
    let epoch = settings.epoch;
    let created_by = format!(
        "grocker root {}: {} Debian packages",
        settings.runtime,
        lock.debian.len()
    );
    let layer = {
        let _stage = report.stage("Writing the os layer");
        tokio::task::spawn_blocking(move || {
            Layer::build(&layers_dir, Compression::Gzip, &created_by, |w| {
                tree.write_tar(w, epoch).map(drop)
            })
        })
        .await
        .context("the layer writer stopped unexpectedly")??
    };

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
        created: epoch,
        architecture: request.architecture.to_string(),
        os: "linux".to_string(),
        ..ImageConfig::default()
    };
    let image = Image::new(&config, vec![layer], BTreeMap::new())?;

    let published = {
        let _stage = report.stage("Publishing");
        let published = sink.publish(&image, &settings.image_name)?;
        sink.finish()?;
        published
    };
    if lock_changed {
        lock.write(&settings.lock.path)?;
        report.note(format!("Wrote {}", settings.lock.path.display()));
    }
    println!(
        "{} {} {}",
        settings.image_name,
        image.digest(),
        published.location
    );
    Ok(())
}
