//! `ImageConfig` (what the user asks for) and `Image` (the exact config and manifest bytes).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::{Descriptor, Digest, Layer, MediaType, OciError, Platform, json};

/// What goes into the image configuration (OCI image spec, config.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageConfig {
    /// `uid[:gid]` (grocker uses numeric ids); empty means root, the engine's default.
    pub user: String,
    /// The command always run.
    pub entrypoint: Vec<String>,
    /// Default arguments to the entrypoint.
    pub cmd: Vec<String>,
    /// Environment, in order (later entries may refer to earlier ones in the user's mind).
    pub env: Vec<(String, String)>,
    /// Working directory; empty means `/`.
    pub working_dir: String,
    /// Image labels (`org.opencontainers.image.*` and the user's).
    pub labels: BTreeMap<String, String>,
    /// `8080/tcp`, `53/udp`; a bare `8080` means tcp, as in a Dockerfile.
    pub exposed_ports: BTreeSet<String>,
    /// Volume mount points.
    pub volumes: BTreeSet<String>,
    /// Creation time in seconds since the epoch: `SOURCE_DATE_EPOCH`, never the clock.
    pub created: u64,
    /// GOARCH spelling: `amd64`, `arm64`.
    pub architecture: String,
    /// GOOS spelling: `linux`.
    pub os: String,
    /// CPU variant (`v8` for arm64, as buildx and ko write it), if any.
    pub variant: Option<String>,
    /// Author, if any.
    pub author: Option<String>,
}

impl Default for ImageConfig {
    /// An empty `linux/amd64` configuration created at the epoch.
    fn default() -> Self {
        Self {
            user: String::new(),
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            env: Vec::new(),
            working_dir: String::new(),
            labels: BTreeMap::new(),
            exposed_ports: BTreeSet::new(),
            volumes: BTreeSet::new(),
            created: 0,
            architecture: "amd64".to_string(),
            os: "linux".to_string(),
            variant: None,
            author: None,
        }
    }
}

impl ImageConfig {
    /// The platform this configuration declares.
    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone(),
        }
    }

    /// The config JSON. Empty fields are left out, as in the spec's examples.
    fn to_json(&self, layers: &[Layer]) -> Result<Value, OciError> {
        let created = rfc3339(self.created);
        let mut config = Map::new();
        if !self.user.is_empty() {
            config.insert("User".into(), json!(self.user));
        }
        if !self.exposed_ports.is_empty() {
            let ports: Map<String, Value> = self
                .exposed_ports
                .iter()
                .map(|p| {
                    let p = if p.contains('/') {
                        p.clone()
                    } else {
                        format!("{p}/tcp")
                    };
                    (p, json!({}))
                })
                .collect();
            config.insert("ExposedPorts".into(), Value::Object(ports));
        }
        if !self.env.is_empty() {
            let mut env = Vec::with_capacity(self.env.len());
            for (key, value) in &self.env {
                if key.is_empty() || key.contains('=') || key.contains('\0') {
                    return Err(OciError::InvalidConfig {
                        reason: format!("environment variable name `{key}` is empty or has `=`"),
                    });
                }
                env.push(format!("{key}={value}"));
            }
            config.insert("Env".into(), json!(env));
        }
        if !self.entrypoint.is_empty() {
            config.insert("Entrypoint".into(), json!(self.entrypoint));
        }
        if !self.cmd.is_empty() {
            config.insert("Cmd".into(), json!(self.cmd));
        }
        if !self.volumes.is_empty() {
            let volumes: Map<String, Value> = self
                .volumes
                .iter()
                .map(|v| (v.clone(), json!({})))
                .collect();
            config.insert("Volumes".into(), Value::Object(volumes));
        }
        if !self.working_dir.is_empty() {
            config.insert("WorkingDir".into(), json!(self.working_dir));
        }
        if !self.labels.is_empty() {
            config.insert("Labels".into(), json!(self.labels));
        }

        let history: Vec<Value> = layers
            .iter()
            .map(|l| json!({"created": created, "created_by": l.created_by}))
            .collect();
        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
        let mut root = Map::new();
        root.insert("architecture".into(), json!(self.architecture));
        root.insert("os".into(), json!(self.os));
        if let Some(variant) = &self.variant {
            root.insert("variant".into(), json!(variant));
        }
        if let Some(author) = &self.author {
            root.insert("author".into(), json!(author));
        }
        root.insert("created".into(), json!(created));
        root.insert("config".into(), Value::Object(config));
        root.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": diff_ids}),
        );
        root.insert("history".into(), json!(history));
        Ok(Value::Object(root))
    }
}

/// A finished image: the exact config and manifest bytes, computed once, and its layers.
///
/// Every sink writes these same bytes, so the digest is the same in an OCI layout, a
/// docker-archive, a registry and (for the config) the engine's image ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    config: Vec<u8>,
    config_digest: Digest,
    manifest: Vec<u8>,
    digest: Digest,
    layers: Vec<Layer>,
    platform: Platform,
}

impl Image {
    /// Assembles the config (history: one entry per layer, `rootfs.diff_ids`) and the OCI
    /// manifest (with `manifest_annotations`, e.g. `org.opencontainers.image.created`).
    pub fn new(
        config: &ImageConfig,
        layers: Vec<Layer>,
        manifest_annotations: BTreeMap<String, String>,
    ) -> Result<Image, OciError> {
        let config_bytes = json::to_vec(&config.to_json(&layers)?);
        let config_digest = Digest::of(&config_bytes);
        let config_descriptor = Descriptor::new(
            MediaType::OciConfig,
            config_digest,
            config_bytes.len() as u64,
        );

        let mut manifest = Map::new();
        manifest.insert("schemaVersion".into(), json!(2));
        manifest.insert("mediaType".into(), json!(MediaType::OciManifest.as_str()));
        manifest.insert("config".into(), config_descriptor.to_json());
        manifest.insert(
            "layers".into(),
            Value::Array(layers.iter().map(|l| l.descriptor.to_json()).collect()),
        );
        if !manifest_annotations.is_empty() {
            manifest.insert("annotations".into(), json!(manifest_annotations));
        }
        let manifest_bytes = json::to_vec(&Value::Object(manifest));
        Ok(Image {
            config_digest,
            config: config_bytes,
            digest: Digest::of(&manifest_bytes),
            manifest: manifest_bytes,
            layers,
            platform: config.platform(),
        })
    }

    /// The exact config JSON.
    pub fn config_bytes(&self) -> &[u8] {
        &self.config
    }

    /// sha256 of the config bytes: what `docker images` shows as IMAGE ID.
    pub fn config_digest(&self) -> Digest {
        self.config_digest
    }

    /// The exact manifest JSON.
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest
    }

    /// sha256 of the manifest bytes: the image digest (`name@sha256:…`).
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The layers, base first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The platform from the config.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The config blob's descriptor.
    pub fn config_descriptor(&self) -> Descriptor {
        Descriptor::new(
            MediaType::OciConfig,
            self.config_digest,
            self.config.len() as u64,
        )
    }

    /// The manifest's descriptor, with its platform, as an index lists it.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            platform: Some(self.platform.clone()),
            ..Descriptor::new(
                MediaType::OciManifest,
                self.digest,
                self.manifest.len() as u64,
            )
        }
    }
}

/// Seconds since the epoch as RFC 3339 UTC (`2024-05-01T12:00:00Z`), the format OCI's
/// `created` uses. Days to civil date: Howard Hinnant's `civil_from_days`.
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
    }

    fn layer(n: u8) -> Layer {
        let d = Digest::of(&[n]);
        Layer::from_parts(
            std::path::Path::new("/nonexistent"),
            Digest::of(&[n, n]),
            Descriptor::new(MediaType::OciLayerGzip, d, 10 + u64::from(n)),
            100,
            &format!("layer {n}"),
        )
    }

    fn config() -> ImageConfig {
        ImageConfig {
            user: "1000:1000".into(),
            entrypoint: vec!["/app/bin/run".into()],
            env: vec![
                ("PATH".into(), "/app/bin:/usr/bin".into()),
                ("A".into(), "b=c".into()),
            ],
            exposed_ports: ["8080".into(), "53/udp".into()].into(),
            volumes: ["/data".into()].into(),
            labels: [("org.opencontainers.image.version".into(), "1.2".into())].into(),
            created: 1_700_000_000,
            ..ImageConfig::default()
        }
    }

    #[test]
    fn bytes_are_canonical_and_stable() {
        let ann = BTreeMap::from([("org.opencontainers.image.created".into(), "x".into())]);
        let a = Image::new(&config(), vec![layer(1), layer(2)], ann.clone()).unwrap();
        let b = Image::new(&config(), vec![layer(1), layer(2)], ann).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.digest(), Digest::of(a.manifest_bytes()));
        assert_eq!(a.config_digest(), Digest::of(a.config_bytes()));

        let cfg: Value = serde_json::from_slice(a.config_bytes()).unwrap();
        assert_eq!(json::to_vec(&cfg), a.config_bytes(), "config is canonical");
        assert_eq!(cfg["created"], "2023-11-14T22:13:20Z");
        assert_eq!(
            cfg["config"]["Env"],
            json!(["PATH=/app/bin:/usr/bin", "A=b=c"])
        );
        assert_eq!(
            cfg["config"]["ExposedPorts"],
            json!({"53/udp": {}, "8080/tcp": {}})
        );
        assert_eq!(
            cfg["rootfs"]["diff_ids"][1],
            Digest::of(&[2, 2]).to_string()
        );
        assert_eq!(cfg["history"][0]["created_by"], "layer 1");
        assert_eq!(cfg["history"].as_array().unwrap().len(), 2);
        assert!(cfg["config"].get("Cmd").is_none() && cfg.get("author").is_none());

        let man: Value = serde_json::from_slice(a.manifest_bytes()).unwrap();
        assert_eq!(
            json::to_vec(&man),
            a.manifest_bytes(),
            "manifest is canonical"
        );
        assert_eq!(man["schemaVersion"], 2);
        assert_eq!(man["config"]["digest"], a.config_digest().to_string());
        assert_eq!(man["layers"][0]["size"], 11);
        assert_eq!(man["annotations"]["org.opencontainers.image.created"], "x");
        assert!(!a.manifest_bytes().contains(&b' '));
    }

    #[test]
    fn any_change_changes_the_digest() {
        let base = Image::new(&config(), vec![layer(1)], BTreeMap::new()).unwrap();
        let mut c = config();
        c.created += 1;
        let other = Image::new(&c, vec![layer(1)], BTreeMap::new()).unwrap();
        assert_ne!(base.config_digest(), other.config_digest());
        assert_ne!(base.digest(), other.digest());
    }

    #[test]
    fn rejects_bad_env_names() {
        let mut c = config();
        c.env.push(("A=B".into(), "x".into()));
        let err = Image::new(&c, vec![], BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("`A=B`"), "{err}");
    }
}
