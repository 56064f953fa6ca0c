//! `grocker purge`: delete the cache, and with `--all` the images grocker loaded into the engine.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use grocker_fetch::Cache;

/// Every image grocker writes carries this label (the grocker version that built it).
const LABEL: &str = "grocker.version";

pub fn purge(all: bool) -> Result<()> {
    let cache = Cache::from_env()?;
    let freed = cache.purge()?;
    println!(
        "Removed {:.1} MB from {}",
        freed as f64 / 1e6,
        cache.root().display()
    );
    if all {
        purge_engine()?;
    }
    Ok(())
}

fn purge_engine() -> Result<()> {
    let engine = grocker_engine::Client::from_env(
        Duration::from_secs(30),
        "the cache is cleaned; without --all, grocker purge needs no engine",
    )?;
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
        let labelled = image["Labels"][LABEL].is_string();
        if !labelled {
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
