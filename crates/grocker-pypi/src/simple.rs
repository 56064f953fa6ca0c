//! The simple repository API: one project page → the files it lists. PEP 691 JSON or PEP 503
//! HTML (picked by Content-Type), with PEP 592 yanking, PEP 658/714 metadata files and PEP 629
//! API versions.

use std::collections::BTreeMap;

use grocker_fetch::redact_url;
use grocker_hash::Sha256;
use serde::Deserialize;
use url::Url;

use crate::{PypiError, html};

/// What we send: PEP 691's recommended header, JSON first, HTML as a fallback.
pub const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// One file of a project on an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFile {
    /// `six-1.16.0-py2.py3-none-any.whl`, `httpie-3.2.4.tar.gz`.
    pub filename: String,
    /// Absolute, fragment stripped.
    pub url: Url,
    /// From the PEP 691 `hashes` or the PEP 503 `#sha256=` fragment.
    pub sha256: Option<Sha256>,
    /// PEP 503 `data-requires-python` / PEP 691 `requires-python`, entities decoded.
    pub requires_python: Option<String>,
    /// PEP 592: `Some(reason)` when yanked (`""` without a reason).
    pub yanked: Option<String>,
    /// PEP 658/714: the index serves `<url>.metadata`.
    pub core_metadata: Option<MetadataHint>,
    /// Size in bytes (PEP 700, JSON only).
    pub size: Option<u64>,
    /// PEP 700 upload time as written by the index (`data-upload-time` or `upload-time`).
    pub upload_time: Option<String>,
    /// The index that listed it (without credentials).
    pub index: Url,
}

/// PEP 658/714: the core metadata file of a distribution is available at `<url>.metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataHint {
    /// Its SHA-256 when the index gives one.
    pub sha256: Option<Sha256>,
}

impl DistFile {
    /// Whether this is a wheel (`.whl`).
    pub fn is_wheel(&self) -> bool {
        self.filename.to_ascii_lowercase().ends_with(".whl")
    }

    /// PEP 658: the metadata file's URL, the distribution's URL with `.metadata` appended.
    pub fn metadata_url(&self) -> Url {
        let mut url = self.url.clone();
        let path = format!("{}.metadata", url.path());
        url.set_path(&path);
        url
    }
}

/// A page as fetched: the final URL, its Content-Type and body.
pub(crate) struct RawPage<'a> {
    pub name: &'a str,
    pub url: &'a Url,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    pub index: &'a Url,
}

enum Format {
    Json,
    Html,
}

/// Parses a project page according to its Content-Type (PEP 691); without one, by its first
/// non-blank character.
pub(crate) fn parse_page(page: &RawPage<'_>) -> Result<Vec<DistFile>, PypiError> {
    let bad = |reason: String| PypiError::BadPage {
        name: page.name.to_string(),
        url: redact_url(page.url),
        reason,
    };
    let mime = page.content_type.map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    let format = match mime.as_deref() {
        Some("application/vnd.pypi.simple.v1+json" | "application/vnd.pypi.simple.latest+json") => {
            Format::Json
        }
        Some(
            "application/vnd.pypi.simple.v1+html"
            | "application/vnd.pypi.simple.latest+html"
            | "text/html",
        ) => Format::Html,
        other => {
            let first = page.body.iter().find(|b| !b.is_ascii_whitespace());
            match (other, first) {
                (None | Some("application/json"), Some(b'{')) => Format::Json,
                (None | Some("application/octet-stream" | "text/plain"), Some(b'<')) => {
                    Format::Html
                }
                _ => {
                    return Err(bad(format!(
                        "is neither PEP 691 JSON nor HTML (Content-Type: {}) — check that the \
                         index URL points at a simple repository API (e.g. …/simple)",
                        page.content_type.unwrap_or("none")
                    )));
                }
            }
        }
    };
    let text =
        std::str::from_utf8(page.body).map_err(|e| bad(format!("is not valid UTF-8: {e}")))?;
    match format {
        Format::Json => parse_json(page, text).map_err(bad),
        Format::Html => parse_html(page, text).map_err(bad),
    }
}

/// PEP 629/691: major version 1 is all we (and every index today) speak.
fn check_api_version(version: &str) -> Result<(), String> {
    let major = version.split('.').next().unwrap_or("");
    if major == "1" {
        Ok(())
    } else {
        Err(format!(
            "uses simple repository API version {version}; grocker supports version 1.x"
        ))
    }
}

#[derive(Deserialize)]
struct JsonPage {
    meta: JsonMeta,
    #[serde(default)]
    files: Vec<JsonFile>,
}

#[derive(Deserialize)]
struct JsonMeta {
    #[serde(rename = "api-version")]
    api_version: String,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
    #[serde(rename = "requires-python")]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<BoolOr<String>>,
    #[serde(rename = "core-metadata")]
    core_metadata: Option<BoolOr<BTreeMap<String, String>>>,
    /// The PEP 658 spelling that PEP 714 renamed; indexes may still send only this one.
    #[serde(rename = "dist-info-metadata")]
    dist_info_metadata: Option<BoolOr<BTreeMap<String, String>>>,
    size: Option<u64>,
    #[serde(rename = "upload-time")]
    upload_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BoolOr<T> {
    Bool(bool),
    Value(T),
}

fn parse_json(page: &RawPage<'_>, text: &str) -> Result<Vec<DistFile>, String> {
    let parsed: JsonPage =
        serde_json::from_str(text).map_err(|e| format!("is not valid PEP 691 JSON: {e}"))?;
    check_api_version(&parsed.meta.api_version)?;
    parsed
        .files
        .into_iter()
        .map(|f| {
            let mut url = page
                .url
                .join(&f.url)
                .map_err(|e| format!("lists `{}` with a bad URL: {e}", f.filename))?;
            url.set_fragment(None);
            let sha256 = sha256_of(&f.filename, f.hashes.get("sha256").map(String::as_str))?;
            let yanked = match f.yanked {
                None | Some(BoolOr::Bool(false)) => None,
                Some(BoolOr::Bool(true)) => Some(String::new()),
                Some(BoolOr::Value(reason)) => Some(reason),
            };
            let core_metadata = match f.core_metadata.or(f.dist_info_metadata) {
                None | Some(BoolOr::Bool(false)) => None,
                Some(BoolOr::Bool(true)) => Some(MetadataHint { sha256: None }),
                Some(BoolOr::Value(hashes)) => Some(MetadataHint {
                    sha256: sha256_of(&f.filename, hashes.get("sha256").map(String::as_str))?,
                }),
            };
            Ok(DistFile {
                filename: f.filename,
                url,
                sha256,
                requires_python: f.requires_python.filter(|r| !r.trim().is_empty()),
                yanked,
                core_metadata,
                size: f.size,
                upload_time: f.upload_time,
                index: page.index.clone(),
            })
        })
        .collect()
}

fn parse_html(page: &RawPage<'_>, text: &str) -> Result<Vec<DistFile>, String> {
    let parsed = html::parse(text);
    if let Some(version) = &parsed.repository_version {
        check_api_version(version)?;
    }
    // Relative links resolve against <base href> if present, itself relative to the page.
    let base = match &parsed.base {
        Some(href) => page
            .url
            .join(href)
            .map_err(|e| format!("has a bad <base href=\"{href}\">: {e}"))?,
        None => page.url.clone(),
    };
    let mut files = Vec::new();
    for anchor in &parsed.anchors {
        let Some(href) = anchor.attr("href") else {
            continue;
        };
        let mut url = base
            .join(href)
            .map_err(|e| format!("has a link with a bad URL `{href}`: {e}"))?;
        let fragment = url.fragment().map(str::to_string);
        url.set_fragment(None);
        let filename = if anchor.text.is_empty() {
            let last = url.path_segments().and_then(|mut s| s.next_back());
            percent_decode(last.unwrap_or_default())
        } else {
            anchor.text.clone()
        };
        if filename.is_empty() {
            continue;
        }
        // PEP 503: `#<hashname>=<hex>`; we only use sha256 (PyPI and every mirror send it).
        let hash = fragment.as_deref().and_then(|f| f.strip_prefix("sha256="));
        let sha256 = sha256_of(&filename, hash)?;
        // PEP 714: `data-core-metadata`, falling back to the PEP 658 `data-dist-info-metadata`.
        let hint = anchor
            .attr("data-core-metadata")
            .or_else(|| anchor.attr("data-dist-info-metadata"));
        let core_metadata = match hint {
            None | Some("false") => None,
            Some(value) => Some(MetadataHint {
                sha256: sha256_of(&filename, value.strip_prefix("sha256="))?,
            }),
        };
        files.push(DistFile {
            filename,
            url,
            sha256,
            requires_python: anchor
                .attr("data-requires-python")
                .filter(|r| !r.trim().is_empty())
                .map(str::to_string),
            yanked: anchor.attr("data-yanked").map(str::to_string),
            core_metadata,
            size: None,
            upload_time: anchor.attr("data-upload-time").map(str::to_string),
            index: page.index.clone(),
        });
    }
    Ok(files)
}

fn sha256_of(filename: &str, hex: Option<&str>) -> Result<Option<Sha256>, String> {
    hex.map(|h| {
        h.parse()
            .map_err(|e| format!("lists `{filename}` with a bad sha256: {e}"))
    })
    .transpose()
}

/// `%XX` escapes in a URL path segment (a file name from a link without text).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[path = "simple_tests.rs"]
mod tests;
