//! The engine's images, by label: what `grocker purge` lists and removes.

use std::collections::BTreeMap;

use crate::{Client, EngineError};

/// An image in the engine, as its list says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSummary {
    /// Its ID (`sha256:…`).
    pub id: String,
    /// Its config's labels.
    pub labels: BTreeMap<String, String>,
}

impl Client {
    /// The images carrying the label `key` (any value): Docker Engine API `ImageList` with a
    /// `label` filter.
    pub fn images_labelled(&self, key: &str) -> Result<Vec<ImageSummary>, EngineError> {
        const ACTION: &str = "list its images";
        let filters = serde_json::json!({ "label": [key] }).to_string();
        let path = format!("/images/json?filters={}", percent_encode(&filters));
        let response = self.request("GET", &path, None, ACTION)?;
        if response.status != 200 {
            return Err(self.refused(ACTION, &response));
        }
        let images: Vec<serde_json::Value> = serde_json::from_slice(&response.body)
            .map_err(|e| self.failed(ACTION, format_args!("the image list is not JSON: {e}")))?;
        Ok(images
            .iter()
            .filter_map(|image| {
                let labels = image["Labels"]
                    .as_object()
                    .map(|l| {
                        l.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                Some(ImageSummary {
                    id: image["Id"].as_str()?.to_string(),
                    labels,
                })
            })
            .collect())
    }

    /// Removes image `id` (forced: its tags go too); an image already gone is no error.
    pub fn remove_image(&self, id: &str) -> Result<(), EngineError> {
        const ACTION: &str = "remove an image";
        let response = self.request("DELETE", &format!("/images/{id}?force=1"), None, ACTION)?;
        match response.status {
            200 | 404 => Ok(()),
            _ => Err(self.refused(ACTION, &response)),
        }
    }
}

/// A query value with everything but unreserved characters (RFC 3986) percent-encoded.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_are_percent_encoded() {
        assert_eq!(
            super::percent_encode(r#"{"label":["grocker.version"]}"#),
            "%7B%22label%22%3A%5B%22grocker.version%22%5D%7D"
        );
    }
}
