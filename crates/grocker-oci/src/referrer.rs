//! Artifacts attached to an image — an SBOM, a signature — as OCI 1.1 referrers: an image
//! manifest whose `artifactType` says what it carries, whose one layer is the artifact, whose
//! config is the empty descriptor, and whose `subject` names the image's manifest (OCI image
//! spec 1.1, manifest.md "Guidelines for Artifact Usage"). A registry finds it through the
//! referrers API (`GET /v2/<name>/referrers/<digest>`) or, for registries without one, through
//! the referrers tag schema: an index tagged `sha256-<hex of the subject>` listing the
//! referrers (OCI distribution spec 1.1, "Referrers Tag Schema").

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::{Descriptor, Digest, MediaType};

/// The empty config of an artifact manifest (OCI image spec 1.1, "Guidance for an Empty
/// Descriptor"): the two bytes `{}`.
pub(crate) const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub(crate) const EMPTY: &[u8] = b"{}";

/// An artifact and the manifest that attaches it to its subject; the manifest's bytes are
/// computed once, canonically, so every sink stores the same digest.
#[derive(Clone, Debug)]
pub struct Referrer {
    artifact_type: String,
    blob: Vec<u8>,
    blob_digest: Digest,
    subject: Descriptor,
    manifest: Vec<u8>,
    digest: Digest,
}

impl Referrer {
    /// `blob` (of media type `artifact_type`, e.g. `application/vnd.cyclonedx+json`) attached to
    /// the manifest or index `subject` describes.
    pub fn new(subject: Descriptor, artifact_type: &str, blob: Vec<u8>) -> Self {
        let blob_digest = Digest::of(&blob);
        let mut subject_json = subject.clone();
        subject_json.platform = None;
        subject_json.annotations = BTreeMap::new();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MediaType::OciManifest.as_str(),
            "artifactType": artifact_type,
            "config": {
                "mediaType": EMPTY_MEDIA_TYPE,
                "digest": Digest::of(EMPTY).to_string(),
                "size": EMPTY.len(),
            },
            "layers": [{
                "mediaType": artifact_type,
                "digest": blob_digest.to_string(),
                "size": blob.len(),
            }],
            "subject": subject_json.to_json(),
        });
        let manifest = crate::json::to_vec(&manifest);
        Self {
            artifact_type: artifact_type.to_string(),
            blob,
            blob_digest,
            subject,
            digest: Digest::of(&manifest),
            manifest,
        }
    }

    /// What the artifact is (its media type).
    pub fn artifact_type(&self) -> &str {
        &self.artifact_type
    }

    /// The artifact's bytes.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The artifact's digest.
    pub fn blob_digest(&self) -> Digest {
        self.blob_digest
    }

    /// The manifest it is attached to.
    pub fn subject(&self) -> &Descriptor {
        &self.subject
    }

    /// The artifact manifest's exact bytes.
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest
    }

    /// The artifact manifest's digest.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The referrers tag schema's tag for the subject: `sha256-<hex>`.
    pub fn fallback_tag(&self) -> String {
        format!("sha256-{}", self.subject.digest.hex())
    }

    /// The artifact manifest's descriptor as a referrers list (an index) names it: with its
    /// `artifactType`.
    pub(crate) fn descriptor_json(&self) -> Value {
        json!({
            "mediaType": MediaType::OciManifest.as_str(),
            "digest": self.digest.to_string(),
            "size": self.manifest.len(),
            "artifactType": self.artifact_type,
        })
    }

    /// `manifests` (a referrers index's, or a layout's `index.json`'s) with this referrer in,
    /// once: an entry of the same digest is replaced.
    pub(crate) fn listed_in(&self, mut manifests: Vec<Value>) -> Vec<Value> {
        let digest = self.digest.to_string();
        manifests.retain(|m| m["digest"].as_str() != Some(digest.as_str()));
        manifests.push(self.descriptor_json());
        manifests
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_artifact_manifest_names_its_subject_and_type() {
        let subject = Descriptor::new(MediaType::OciManifest, Digest::of(b"image"), 5);
        let r = Referrer::new(
            subject.clone(),
            "application/vnd.cyclonedx+json",
            b"{}\n".to_vec(),
        );
        let manifest: Value = serde_json::from_slice(r.manifest_bytes()).unwrap();
        assert_eq!(manifest["artifactType"], "application/vnd.cyclonedx+json");
        assert_eq!(manifest["subject"]["digest"], subject.digest.to_string());
        assert_eq!(manifest["config"]["mediaType"], EMPTY_MEDIA_TYPE);
        assert_eq!(
            manifest["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(manifest["layers"][0]["digest"], r.blob_digest().to_string());
        assert_eq!(r.digest(), Digest::of(r.manifest_bytes()));
        assert_eq!(r.fallback_tag(), format!("sha256-{}", subject.digest.hex()));
        let again = Referrer::new(subject, "application/vnd.cyclonedx+json", b"{}\n".to_vec());
        assert_eq!(again.manifest_bytes(), r.manifest_bytes());
        let listed = r.listed_in(vec![r.descriptor_json(), json!({"digest": "sha256:other"})]);
        assert_eq!(listed.len(), 2);
    }
}
