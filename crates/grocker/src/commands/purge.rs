//! `grocker purge [-a] [-f]`: delete the cache and grocker's images in the engine, with Grocker's
//! flags: builder images of this version by default, `-a` every version's, `-f` application
//! images too.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use grocker_fetch::Cache;

use crate::cli::PurgeArgs;

/// Every image grocker writes carries this label (the grocker version that built it); builder
/// images also carry `grocker.role=builder`.
const LABEL: &str = "grocker.version";
const ROLE: &str = "grocker.role";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which of grocker's engine images go, in Grocker's terms.
struct Selection {
    /// `-a`: images of every grocker version, not only this one's.
    all_versions: bool,
    /// `-f`: application images too, not only builder (Grocker's intermediate) images.
    final_images: bool,
}

impl Selection {
    fn wants(&self, labels: &serde_json::Value) -> bool {
        let Some(version) = labels[LABEL].as_str() else {
            return false; // not grocker's
        };
        let builder = labels[ROLE].as_str() == Some("builder");
        (self.all_versions || version == VERSION) && (self.final_images || builder)
    }
}

pub fn purge(args: &PurgeArgs) -> Result<()> {
    let cache = Cache::from_env()?;
    let freed = cache.purge()?;
    println!(
        "Removed {:.1} MB from {}",
        freed as f64 / 1e6,
        cache.root().display()
    );
    let selection = Selection {
        all_versions: args.all_versions || args.all,
        final_images: args.including_final_images || args.all,
    };
    let asked = selection.all_versions || selection.final_images;
    let engine = match grocker_engine::Client::from_env(
        Duration::from_secs(30),
        "the cache is cleaned; -a and -f remove images from an engine",
    ) {
        Ok(engine) => engine,
        // Plain `purge` needs no engine: the builder images are only there if one answers.
        Err(e) if !asked => {
            tracing::info!("no engine to purge builder images from: {e:#}");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    purge_engine(&engine, &selection)
}

fn purge_engine(engine: &grocker_engine::Client, selection: &Selection) -> Result<()> {
    // GET /images/json?filters={"label":["grocker.version"]} (Docker Engine API, ImageList).
    let path = "/images/json?filters=%7B%22label%22%3A%5B%22grocker.version%22%5D%7D";
    let reply = engine.request("GET", path, None, "list grocker's images")?;
    if reply.status != 200 {
        bail!(
            "the engine at {} would not list its images (HTTP {})",
            engine.host(),
            reply.status
        );
    }
    let images: Vec<serde_json::Value> =
        serde_json::from_slice(&reply.body).context("the engine's image list is not JSON")?;
    let mut removed = 0;
    for image in &images {
        let Some(id) = image["Id"].as_str() else {
            continue;
        };
        if !selection.wants(&image["Labels"]) {
            continue;
        }
        let reply = engine.request(
            "DELETE",
            &format!("/images/{id}?force=1"),
            None,
            "remove an image grocker built",
        )?;
        if reply.status == 200 || reply.status == 404 {
            removed += 1;
        } else {
            bail!(
                "the engine at {} would not remove image {id} (HTTP {}): {}",
                engine.host(),
                reply.status,
                String::from_utf8_lossy(&reply.body)
            );
        }
    }
    println!(
        "Removed {removed} images from the engine at {}",
        engine.host()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_follows_grockers_flags() {
        let builder = serde_json::json!({ LABEL: VERSION, ROLE: "builder" });
        let app = serde_json::json!({ LABEL: VERSION });
        let old_builder = serde_json::json!({ LABEL: "0.0.1", ROLE: "builder" });
        let old_app = serde_json::json!({ LABEL: "0.0.1" });
        let foreign = serde_json::json!({ "maintainer": "someone" });
        let pick = |all_versions, final_images| {
            let s = Selection {
                all_versions,
                final_images,
            };
            [&builder, &app, &old_builder, &old_app, &foreign].map(|l| s.wants(l))
        };
        assert_eq!(pick(false, false), [true, false, false, false, false]);
        assert_eq!(pick(true, false), [true, false, true, false, false]);
        assert_eq!(pick(false, true), [true, true, false, false, false]);
        assert_eq!(pick(true, true), [true, true, true, true, false]);
    }
}
