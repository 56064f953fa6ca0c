//! `grocker purge [-a] [-f]`: delete the cache and grocker's images in the engine, with Grocker's
//! flags: builder images of this version by default, `-a` every version's, `-f` application
//! images too.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
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
    fn wants(&self, labels: &BTreeMap<String, String>) -> bool {
        let Some(version) = labels.get(LABEL) else {
            return false; // not grocker's
        };
        let builder = labels.get(ROLE).is_some_and(|r| r == "builder");
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
    let mut removed = 0;
    for image in engine.images_labelled(LABEL)? {
        if selection.wants(&image.labels) {
            engine.remove_image(&image.id)?;
            removed += 1;
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
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let builder = labels(&[(LABEL, VERSION), (ROLE, "builder")]);
        let app = labels(&[(LABEL, VERSION)]);
        let old_builder = labels(&[(LABEL, "0.0.1"), (ROLE, "builder")]);
        let old_app = labels(&[(LABEL, "0.0.1")]);
        let foreign = labels(&[("maintainer", "someone")]);
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
