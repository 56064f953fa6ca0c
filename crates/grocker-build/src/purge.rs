//! What `grocker purge` removes from an engine, in Grocker's terms: builder (intermediate)
//! images of this grocker version by default, every version's with `-a`, application images
//! too with `-f`. Every image grocker writes carries [`VERSION_LABEL`]; builder images also
//! carry [`ROLE_LABEL`]` = builder`.

use std::collections::BTreeMap;

use grocker_engine::{Client, EngineError};

/// The grocker version that wrote an image.
pub const VERSION_LABEL: &str = "grocker.version";
/// `builder` on the images only builds use (the builder, a foreign platform's tool image).
pub const ROLE_LABEL: &str = "grocker.role";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The labels of an intermediate image: removed by a plain `grocker purge`.
pub(crate) fn builder_labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (VERSION_LABEL.into(), VERSION.into()),
        (ROLE_LABEL.into(), "builder".into()),
    ])
}

/// Which of grocker's engine images go.
#[derive(Debug, Clone, Copy, Default)]
pub struct PurgeSelection {
    /// `-a`: images of every grocker version, not only this one's.
    pub all_versions: bool,
    /// `-f`: application images too, not only builder (Grocker's intermediate) images.
    pub final_images: bool,
}

impl PurgeSelection {
    fn wants(&self, labels: &BTreeMap<String, String>) -> bool {
        let Some(version) = labels.get(VERSION_LABEL) else {
            return false; // not grocker's
        };
        let builder = labels.get(ROLE_LABEL).is_some_and(|r| r == "builder");
        (self.all_versions || version == VERSION) && (self.final_images || builder)
    }

    /// Removes the selected images from `engine`; how many went.
    pub fn remove_images(&self, engine: &Client) -> Result<usize, EngineError> {
        let mut removed = 0;
        for image in engine.images_labelled(VERSION_LABEL)? {
            if self.wants(&image.labels) {
                engine.remove_image(&image.id)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
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
        let builder = builder_labels();
        let app = labels(&[(VERSION_LABEL, VERSION)]);
        let old_builder = labels(&[(VERSION_LABEL, "0.0.1"), (ROLE_LABEL, "builder")]);
        let old_app = labels(&[(VERSION_LABEL, "0.0.1")]);
        let foreign = labels(&[("maintainer", "someone")]);
        let pick = |all_versions, final_images| {
            let s = PurgeSelection {
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
