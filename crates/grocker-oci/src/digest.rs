//! `Digest`, `MediaType`, `Platform` and `Descriptor`: the vocabulary of the OCI image spec.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use grocker_hash::Sha256;
use serde_json::{Map, Value, json};

/// A content digest as OCI writes it: `sha256:<64 lowercase hex digits>`.
///
/// Only SHA-256 is supported: it is the only algorithm registries and engines require
/// ("Implementations MUST implement SHA-256 digest verification", OCI image spec, descriptor.md).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(Sha256);

/// Text that is not `sha256:<64 hex digits>`.
#[derive(Debug, thiserror::Error)]
#[error("`{value}` is not an OCI digest (expected `sha256:` followed by 64 hex digits)")]
pub struct ParseDigestError {
    /// The rejected text.
    pub value: String,
}

impl Digest {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(Sha256::digest(data))
    }

    /// The underlying SHA-256.
    pub fn sha256(&self) -> Sha256 {
        self.0
    }

    /// The 64 hex digits alone, as used for blob file names.
    pub fn hex(&self) -> String {
        self.0.to_string()
    }
}

impl From<Sha256> for Digest {
    fn from(hash: Sha256) -> Self {
        Self(hash)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = ParseDigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseDigestError {
            value: s.to_string(),
        };
        let hex = s.strip_prefix("sha256:").ok_or_else(err)?;
        // The spec's encoded form for sha256 is lowercase only: /[a-f0-9]{64}/.
        if hex.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err());
        }
        hex.parse::<Sha256>().map(Self).map_err(|_| err())
    }
}

/// The media types grocker writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// `application/vnd.oci.image.manifest.v1+json`
    OciManifest,
    /// `application/vnd.oci.image.index.v1+json`
    OciIndex,
    /// `application/vnd.oci.image.config.v1+json`
    OciConfig,
    /// `application/vnd.oci.image.layer.v1.tar` (uncompressed)
    OciLayer,
    /// `application/vnd.oci.image.layer.v1.tar+gzip`
    OciLayerGzip,
    /// `application/vnd.oci.image.layer.v1.tar+zstd`
    OciLayerZstd,
    /// `application/vnd.docker.distribution.manifest.v2+json`
    DockerManifest,
    /// `application/vnd.docker.distribution.manifest.list.v2+json`
    DockerManifestList,
    /// `application/vnd.docker.container.image.v1+json`
    DockerConfig,
    /// `application/vnd.docker.image.rootfs.diff.tar.gzip`
    DockerLayerGzip,
}

/// A media type grocker does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown media type `{value}`")]
pub struct ParseMediaTypeError {
    /// The rejected text.
    pub value: String,
}

impl MediaType {
    const ALL: [MediaType; 10] = [
        Self::OciManifest,
        Self::OciIndex,
        Self::OciConfig,
        Self::OciLayer,
        Self::OciLayerGzip,
        Self::OciLayerZstd,
        Self::DockerManifest,
        Self::DockerManifestList,
        Self::DockerConfig,
        Self::DockerLayerGzip,
    ];

    /// The registered name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::OciManifest => "application/vnd.oci.image.manifest.v1+json",
            Self::OciIndex => "application/vnd.oci.image.index.v1+json",
            Self::OciConfig => "application/vnd.oci.image.config.v1+json",
            Self::OciLayer => "application/vnd.oci.image.layer.v1.tar",
            Self::OciLayerGzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Self::OciLayerZstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Self::DockerManifest => "application/vnd.docker.distribution.manifest.v2+json",
            Self::DockerManifestList => "application/vnd.docker.distribution.manifest.list.v2+json",
            Self::DockerConfig => "application/vnd.docker.container.image.v1+json",
            Self::DockerLayerGzip => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MediaType {
    type Err = ParseMediaTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| ParseMediaTypeError {
                value: s.to_string(),
            })
    }
}

/// The platform an image runs on (`linux/amd64`, `linux/arm64/v8`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    /// GOARCH spelling: `amd64`, `arm64`, ...
    pub architecture: String,
    /// GOOS spelling: `linux`.
    pub os: String,
    /// CPU variant (`v8`, `v7`), if any.
    pub variant: Option<String>,
}

impl Platform {
    pub(crate) fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("architecture".into(), json!(self.architecture));
        map.insert("os".into(), json!(self.os));
        if let Some(variant) = &self.variant {
            map.insert("variant".into(), json!(variant));
        }
        Value::Object(map)
    }
}

/// A reference to a blob: what it is, its digest and size (OCI image spec, descriptor.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// What the blob is.
    pub media_type: MediaType,
    /// The sha256 of the blob's exact bytes.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// Free-form annotations; omitted from JSON when empty.
    pub annotations: BTreeMap<String, String>,
    /// The platform, for manifests listed in an index.
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor without annotations or platform.
    pub fn new(media_type: MediaType, digest: Digest, size: u64) -> Self {
        Self {
            media_type,
            digest,
            size,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("mediaType".into(), json!(self.media_type.as_str()));
        map.insert("digest".into(), json!(self.digest.to_string()));
        map.insert("size".into(), json!(self.size));
        if !self.annotations.is_empty() {
            map.insert("annotations".into(), json!(self.annotations));
        }
        if let Some(platform) = &self.platform {
            map.insert("platform".into(), platform.to_json());
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_round_trips() {
        let d = Digest::of(b"abc");
        let text = d.to_string();
        assert_eq!(
            text,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(text.parse::<Digest>().unwrap(), d);
        assert_eq!(d.hex(), &text[7..]);
        assert_eq!(Digest::from(d.sha256()), d);
    }

    #[test]
    fn digest_rejects_with_the_text() {
        for bad in [
            "",
            "sha256:",
            "sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
            "sha256:ba7816bf",
        ] {
            let err = bad.parse::<Digest>().unwrap_err();
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn media_types_round_trip() {
        for m in MediaType::ALL {
            assert_eq!(m.to_string().parse::<MediaType>().unwrap(), m);
        }
        assert!("text/plain".parse::<MediaType>().is_err());
    }
}
