//! `ImageIndex`: one image per platform under an OCI image index (OCI image spec,
//! image-index.md), its exact bytes computed once like an [`Image`]'s.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::{Descriptor, Digest, Image, MediaType, OciError, json};

/// A multi-platform image: the images, one per platform, and the index over them.
///
/// Every sink that holds an index (an OCI layout, a registry) writes these same bytes, so the
/// index digest (`name@sha256:…`, what `docker pull` resolves) is the same everywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageIndex {
    images: Vec<Image>,
    bytes: Vec<u8>,
    digest: Digest,
}

impl ImageIndex {
    /// The index over `images`, in the order given (each descriptor with its platform), with
    /// `annotations` (e.g. `org.opencontainers.image.version`). Two images for one platform
    /// make no index: a client could not tell which one to pull.
    pub fn new(
        images: Vec<Image>,
        annotations: BTreeMap<String, String>,
    ) -> Result<ImageIndex, OciError> {
        if images.is_empty() {
            return Err(OciError::InvalidConfig {
                reason: "an image index needs at least one image".into(),
            });
        }
        let mut platforms = BTreeSet::new();
        for image in &images {
            let p = image.platform();
            if !platforms.insert((&p.os, &p.architecture, &p.variant)) {
                return Err(OciError::InvalidConfig {
                    reason: format!("two images for {}/{} in one index", p.os, p.architecture),
                });
            }
        }
        let manifests: Vec<Value> = images.iter().map(|i| i.descriptor().to_json()).collect();
        let mut index = Map::new();
        index.insert("schemaVersion".into(), json!(2));
        index.insert("mediaType".into(), json!(MediaType::OciIndex.as_str()));
        index.insert("manifests".into(), Value::Array(manifests));
        if !annotations.is_empty() {
            index.insert("annotations".into(), json!(annotations));
        }
        let bytes = json::to_vec(&Value::Object(index));
        Ok(ImageIndex {
            digest: Digest::of(&bytes),
            bytes,
            images,
        })
    }

    /// The images, in index order.
    pub fn images(&self) -> &[Image] {
        &self.images
    }

    /// The exact index JSON.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// sha256 of the index bytes: the digest a multi-platform pull resolves.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The index's own descriptor (no platform: it has them all).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(MediaType::OciIndex, self.digest, self.bytes.len() as u64)
    }
}

/// What a build gives: one platform's image, or an index over several.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Artifact {
    /// A single-platform image.
    Image(Image),
    /// A multi-platform image.
    Index(ImageIndex),
}

impl Artifact {
    /// The digest a pull by name resolves: the manifest's, or the index's.
    pub fn digest(&self) -> Digest {
        match self {
            Artifact::Image(image) => image.digest(),
            Artifact::Index(index) => index.digest(),
        }
    }

    /// The descriptor of what a pull by name resolves: the manifest, or the index.
    pub fn descriptor(&self) -> crate::Descriptor {
        match self {
            Artifact::Image(image) => image.descriptor(),
            Artifact::Index(index) => index.descriptor(),
        }
    }

    /// Every platform's image.
    pub fn images(&self) -> &[Image] {
        match self {
            Artifact::Image(image) => std::slice::from_ref(image),
            Artifact::Index(index) => index.images(),
        }
    }

    /// Each platform's manifest digest, as `(os/architecture, sha256:…)` in the index's order.
    pub fn platform_digests(&self) -> Vec<(String, String)> {
        self.images()
            .iter()
            .map(|image| {
                let p = image.platform();
                (
                    format!("{}/{}", p.os, p.architecture),
                    image.digest().to_string(),
                )
            })
            .collect()
    }

    /// Hands it to `sink` under `name`.
    pub fn publish(
        &self,
        sink: &mut dyn crate::Sink,
        name: &crate::ImageName,
    ) -> Result<crate::Published, OciError> {
        match self {
            Artifact::Image(image) => sink.publish(image, name),
            Artifact::Index(index) => sink.publish_index(index, name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImageConfig;

    fn image(arch: &str, variant: Option<&str>) -> Image {
        let config = ImageConfig {
            architecture: arch.into(),
            variant: variant.map(str::to_string),
            ..ImageConfig::default()
        };
        Image::new(&config, vec![], BTreeMap::new()).unwrap()
    }

    #[test]
    fn lists_each_platform_canonically() {
        let (amd, arm) = (image("amd64", None), image("arm64", Some("v8")));
        let index = ImageIndex::new(vec![amd.clone(), arm.clone()], BTreeMap::new()).unwrap();
        assert_eq!(index.digest(), Digest::of(index.bytes()));
        let value: Value = serde_json::from_slice(index.bytes()).unwrap();
        assert_eq!(json::to_vec(&value), index.bytes(), "canonical");
        assert_eq!(value["mediaType"], MediaType::OciIndex.as_str());
        let manifests = value["manifests"].as_array().unwrap();
        assert_eq!(manifests[0]["digest"], amd.digest().to_string());
        assert_eq!(manifests[1]["platform"]["architecture"], "arm64");
        assert_eq!(manifests[1]["platform"]["variant"], "v8");
        assert_eq!(manifests[0]["platform"].get("variant"), None);
        let again = ImageIndex::new(vec![amd, arm], BTreeMap::new()).unwrap();
        assert_eq!(again.digest(), index.digest());
    }

    #[test]
    fn one_platform_twice_is_refused() {
        let err = ImageIndex::new(
            vec![image("amd64", None), image("amd64", None)],
            BTreeMap::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("linux/amd64"), "{err}");
        assert!(ImageIndex::new(vec![], BTreeMap::new()).is_err());
    }
}
