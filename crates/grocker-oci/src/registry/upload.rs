//! Getting one blob into a repository, then the manifest (OCI distribution spec v1.1, "Push").
//!
//! For each blob: "Checking if content exists in the registry" (`HEAD …/blobs/<digest>`); else
//! "Mounting a blob from another repository" when this sink put it in one on the same registry;
//! else an upload: "Pushing a blob monolithically" ("POST then PUT") up to 64 MiB, "Pushing a
//! blob in chunks" (`PATCH` with `Content-Range`, then `PUT ?digest=`) above that or when the
//! registry announces an `OCI-Chunk-Min-Length`. Bodies stream from the blob file; a layer is
//! never held in memory. A failed upload starts over with a new session (`POST`): a broken one
//! cannot be trusted to be where we think it is.

use std::io::{Read, Seek, SeekFrom};

use reqwest::StatusCode;
use reqwest::Url;
use reqwest::blocking::{Body, Response};
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, HeaderMap, LOCATION, RANGE};

use super::client::{Failure, Session, error_message, upload_timeout};
use crate::{Digest, Image, Layer, OciError};

/// Largest blob sent in one request; bigger ones go in chunks.
pub(crate) const MONOLITHIC_MAX: u64 = 64 << 20;
/// Chunk size, unless the registry asks for more.
const CHUNK: u64 = 16 << 20;
const OCTET_STREAM: &str = "application/octet-stream";

/// A blob of an image: a layer (a file) or the config (bytes); or of a cache entry: a file or
/// bytes whose digest the caller computed.
pub(crate) enum Blob<'a> {
    Layer(&'a Layer),
    Config(&'a Image),
    File {
        digest: Digest,
        size: u64,
        path: &'a std::path::Path,
    },
    Bytes(Digest, &'a [u8]),
}

/// What became of a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Existing,
    Mounted,
    Uploaded,
}

/// An upload session: where to send the next request.
struct Upload {
    location: Url,
    /// `OCI-Chunk-Min-Length`, if the registry sent one.
    min_chunk: Option<u64>,
}

impl Blob<'_> {
    pub(crate) fn digest(&self) -> Digest {
        match self {
            Blob::Layer(layer) => layer.digest(),
            Blob::Config(image) => image.config_digest(),
            Blob::File { digest, .. } | Blob::Bytes(digest, _) => *digest,
        }
    }

    fn size(&self) -> u64 {
        match self {
            Blob::Layer(layer) => layer.descriptor.size,
            Blob::Config(image) => image.config_bytes().len() as u64,
            Blob::File { size, .. } => *size,
            Blob::Bytes(_, bytes) => bytes.len() as u64,
        }
    }

    /// `len` bytes from `offset`, streamed from the file for a layer.
    fn body(&self, offset: u64, len: u64) -> Result<Body, OciError> {
        match self {
            Blob::Layer(layer) => {
                let mut file = layer.open_file()?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(OciError::io(&layer.blob))?;
                Ok(Body::sized(file.take(len), len))
            }
            Blob::File { path, .. } => {
                let mut file = fs_err::File::open(path).map_err(OciError::io(path))?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(OciError::io(path))?;
                Ok(Body::sized(file.take(len), len))
            }
            Blob::Config(_) | Blob::Bytes(..) => {
                let all = match self {
                    Blob::Config(image) => image.config_bytes(),
                    Blob::Bytes(_, bytes) => bytes,
                    _ => &[],
                };
                let range = usize::try_from(offset).unwrap_or(usize::MAX)
                    ..usize::try_from(offset + len).unwrap_or(usize::MAX);
                let bytes = all.get(range).unwrap_or_default();
                Ok(Body::from(bytes.to_vec()))
            }
        }
    }
}

impl Session<'_> {
    /// Makes sure the repository has `blob`, mounting it from `mount_from` (another repository
    /// of this registry that has it) if given, else uploading it.
    pub(crate) fn push_blob(
        &mut self,
        blob: &Blob<'_>,
        mount_from: Option<&str>,
    ) -> Result<Outcome, OciError> {
        let digest = blob.digest();
        self.retrying(&format!("push blob {digest}"), |s| {
            if s.blob_exists(blob)? {
                return Ok(Outcome::Existing);
            }
            let upload = match mount_from {
                Some(from) => match s.mount(blob, from)? {
                    Some(upload) => upload,
                    None => return Ok(Outcome::Mounted),
                },
                None => s.start_upload()?,
            };
            // Sent in parts (and resumed), so the bytes are checked whole first: a damaged blob
            // is named here, not left to the registry's bare DIGEST_INVALID.
            if let Blob::Layer(layer) = blob {
                layer.verify_blob().map_err(Failure::Final)?;
            }
            s.upload(blob, upload)?;
            Ok(Outcome::Uploaded)
        })
    }

    /// Puts a manifest (or an index) of `media_type` under `reference` (the tag, or its digest
    /// for the manifests an index lists); returns the registry's `Docker-Content-Digest`, if
    /// any.
    pub(crate) fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Option<String>, OciError> {
        let target = self.cx.target;
        let action = format!("put manifest {reference}");
        let url = target.api(&format!("manifests/{reference}"))?;
        let scopes = [target.push_scope()];
        self.retrying(&action, |s| {
            let put = |s: &mut Self| {
                s.send(&scopes, |http| {
                    Ok(http
                        .put(url.clone())
                        .header(CONTENT_TYPE, media_type)
                        .body(bytes.to_vec()))
                })
            };
            let mut response = put(s)?;
            // Every blob the manifest names was pushed, or found there, just before: a registry
            // calling one unknown is catching up ([`super::client::LINK_REWRITE`]).
            if response.status() == StatusCode::BAD_REQUEST {
                let message = error_message(response);
                if !message.contains("MANIFEST_BLOB_UNKNOWN") {
                    return Err(Failure::Final(s.cx.protocol(&action, message)));
                }
                tracing::debug!("{action}: {message}; once more");
                std::thread::sleep(super::client::LINK_REWRITE);
                response = put(s)?;
            }
            if !response.status().is_success() {
                return Err(Failure::Final(s.unexpected(&action, response)));
            }
            Ok(header(response.headers(), "docker-content-digest"))
        })
    }

    fn blob_exists(&mut self, blob: &Blob<'_>) -> Result<bool, Failure> {
        let target = self.cx.target;
        let url = target.api(&format!("blobs/{}", blob.digest()))?;
        let response =
            self.send_lookup(&[target.push_scope()], |http| Ok(http.head(url.clone())))?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(Failure::Final(
                self.unexpected(&format!("check blob {}", blob.digest()), response),
            )),
        }
    }

    /// `POST …/blobs/uploads/?mount=<digest>&from=<repo>`: `None` once mounted (201); the upload
    /// session the registry opened instead (202) otherwise.
    fn mount(&mut self, blob: &Blob<'_>, from: &str) -> Result<Option<Upload>, Failure> {
        let target = self.cx.target;
        let mut url = target.api("blobs/uploads/")?;
        url.query_pairs_mut()
            .append_pair("mount", &blob.digest().to_string())
            .append_pair("from", from);
        let scopes = [target.push_scope(), format!("repository:{from}:pull")];
        let response = self.send(&scopes, |http| Ok(http.post(url.clone())))?;
        let action = format!("mount blob {} from {from}", blob.digest());
        match response.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => {
                tracing::debug!(
                    "{} did not mount {}; uploading it",
                    target.registry,
                    blob.digest()
                );
                self.session(&action, &response).map(Some)
            }
            _ => Err(Failure::Final(self.unexpected(&action, response))),
        }
    }

    /// `POST …/blobs/uploads/`: a new upload session.
    fn start_upload(&mut self) -> Result<Upload, Failure> {
        let target = self.cx.target;
        let url = target.api("blobs/uploads/")?;
        let response = self.send(&[target.push_scope()], |http| Ok(http.post(url.clone())))?;
        let action = "start a blob upload";
        if response.status() != StatusCode::ACCEPTED {
            return Err(Failure::Final(self.unexpected(action, response)));
        }
        self.session(action, &response)
    }

    /// The session a 202 opened: its `Location` (which may be relative to the request).
    fn session(&self, action: &str, response: &Response) -> Result<Upload, Failure> {
        let location = self.location(action, response)?;
        let min_chunk = header(response.headers(), "oci-chunk-min-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&n| n > 0);
        Ok(Upload {
            location,
            min_chunk,
        })
    }

    fn location(&self, action: &str, response: &Response) -> Result<Url, Failure> {
        let location = header(response.headers(), LOCATION.as_str()).ok_or_else(|| {
            self.cx
                .protocol(action, format!("{} without a Location", response.status()))
        })?;
        response.url().join(&location).map_err(|_| {
            Failure::Final(self.cx.protocol(
                action,
                format!("the upload location `{location}` is not a URL"),
            ))
        })
    }

    fn upload(&mut self, blob: &Blob<'_>, upload: Upload) -> Result<(), Failure> {
        let size = blob.size();
        let action = format!("upload blob {}", blob.digest());
        let mut location = upload.location;
        let chunked = size > MONOLITHIC_MAX || upload.min_chunk.is_some();
        tracing::debug!(
            "uploading {} ({size} bytes{})",
            blob.digest(),
            if chunked { ", in chunks" } else { "" }
        );
        let scopes = [self.cx.target.push_scope()];
        let mut offset = 0;
        if chunked {
            let chunk = upload.min_chunk.map_or(CHUNK, |min| min.max(CHUNK));
            while offset < size {
                let len = chunk.min(size - offset);
                let end = offset + len - 1;
                let url = location.clone();
                let response = self.send(&scopes, |http| {
                    Ok(http
                        .patch(url.clone())
                        .header(CONTENT_TYPE, OCTET_STREAM)
                        .header(CONTENT_RANGE, format!("{offset}-{end}"))
                        .timeout(upload_timeout(len))
                        .body(blob.body(offset, len)?))
                })?;
                if response.status() != StatusCode::ACCEPTED {
                    return Err(self.upload_failed(&action, response));
                }
                // The registry says how much it holds ("Range: 0-<end>"); anything else means
                // the session is not where we think, and only a new one can be trusted.
                if let Some(range) = header(response.headers(), RANGE.as_str())
                    && range.trim() != format!("0-{end}")
                {
                    return Err(Failure::Transient {
                        error: self.cx.protocol(
                            &action,
                            format!("the registry holds bytes {range} after sending 0-{end}"),
                        ),
                        retry_after: None,
                    });
                }
                location = self.location(&action, &response)?;
                offset += len;
            }
        }
        // The closing PUT carries the rest of the blob: all of it when monolithic, none after
        // chunks.
        let len = size - offset;
        let mut url = location;
        url.query_pairs_mut()
            .append_pair("digest", &blob.digest().to_string());
        let response = self.send(&scopes, |http| {
            Ok(http
                .put(url.clone())
                .header(CONTENT_TYPE, OCTET_STREAM)
                .timeout(upload_timeout(len))
                .body(blob.body(offset, len)?))
        })?;
        if !response.status().is_success() {
            return Err(self.upload_failed(&action, response));
        }
        Ok(())
    }

    /// A PATCH or PUT into a session that failed: a session the registry lost (404, e.g. after
    /// a restart) or out of step (416) is worth a new one; anything else is not.
    fn upload_failed(&self, action: &str, response: Response) -> Failure {
        match response.status() {
            StatusCode::NOT_FOUND | StatusCode::RANGE_NOT_SATISFIABLE => Failure::Transient {
                error: self.cx.protocol(action, error_message(response)),
                retry_after: None,
            },
            _ => Failure::Final(self.unexpected(action, response)),
        }
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
