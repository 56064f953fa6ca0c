//! Attaching an artifact to a pushed image (OCI distribution spec 1.1, "Pushing Manifests with
//! Subject"): its blobs, then its manifest by digest; then, when the registry has no referrers
//! API (`GET /v2/<name>/referrers/<digest>` answers 404 — distribution 2.x, Debian's
//! `docker-registry`), the referrers tag schema: the index tagged `sha256-<hex of the subject>`
//! is read, the new manifest added, and the index put back.

use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde_json::Value;

use super::client::{Context, Failure, Session};
use super::upload::Blob;
use super::{RegistrySink, Target};
use crate::referrer::EMPTY;
use crate::{Digest, ImageName, MediaType, OciError, Referrer, sink};

impl RegistrySink {
    /// Pushes `referrer` into the repository of `name`; says where it is listed.
    pub(super) fn push_referrer(
        &mut self,
        referrer: &Referrer,
        name: &ImageName,
    ) -> Result<String, OciError> {
        let target = Target::new(name, &self.options.insecure_registries)?;
        let http = self.clients.get(&target)?;
        let mut session = Session {
            cx: Context {
                http,
                target: &target,
                sources: &self.sources,
                insecure: &self.options.insecure_registries,
            },
            auth: &mut self.auth,
            retries: self.options.retries,
            timeout: super::client::REQUEST_TIMEOUT,
        };
        session.push_blob(&Blob::Bytes(Digest::of(EMPTY), EMPTY), None)?;
        session.push_blob(&Blob::Bytes(referrer.blob_digest(), referrer.blob()), None)?;
        session.put_manifest(
            &referrer.digest().to_string(),
            MediaType::OciManifest.as_str(),
            referrer.manifest_bytes(),
        )?;
        let subject = referrer.subject().digest;
        if session.has_referrers_api(subject)? {
            return Ok(format!(
                "docker://{}/{}@{} (referrers API)",
                target.registry,
                target.repository,
                referrer.digest()
            ));
        }
        let tag = referrer.fallback_tag();
        let listed = session.get_index(&tag)?.unwrap_or_default();
        let index = crate::json::to_vec(&sink::index(referrer.listed_in(listed)));
        session.put_manifest(&tag, MediaType::OciIndex.as_str(), &index)?;
        Ok(format!(
            "docker://{}/{}:{tag} (referrers tag schema)",
            target.registry, target.repository
        ))
    }
}

impl Session<'_> {
    /// Whether the registry answers the referrers API for `subject` (200, even with no
    /// referrer yet); 404 means it has none (OCI distribution spec 1.1, "Listing Referrers").
    fn has_referrers_api(&mut self, subject: Digest) -> Result<bool, OciError> {
        let target = self.cx.target;
        let action = format!("list the referrers of {subject}");
        let url = target.api(&format!("referrers/{subject}"))?;
        let scopes = [target.push_scope()];
        self.retrying(&action, |s| {
            let response = s.send(&scopes, |http| {
                Ok(http
                    .get(url.clone())
                    .header(ACCEPT, MediaType::OciIndex.as_str()))
            })?;
            match response.status() {
                StatusCode::OK => Ok(true),
                StatusCode::NOT_FOUND => Ok(false),
                _ => Err(Failure::Final(s.unexpected(&action, response))),
            }
        })
    }

    /// The `manifests` of the index tagged `tag`, or `None` when there is no such tag.
    fn get_index(&mut self, tag: &str) -> Result<Option<Vec<Value>>, OciError> {
        let target = self.cx.target;
        let action = format!("read the referrers index {tag}");
        let url = target.api(&format!("manifests/{tag}"))?;
        let scopes = [target.push_scope()];
        let bytes = self.retrying(&action, |s| {
            let response = s.send(&scopes, |http| {
                Ok(http
                    .get(url.clone())
                    .header(ACCEPT, MediaType::OciIndex.as_str()))
            })?;
            match response.status() {
                StatusCode::OK => response
                    .bytes()
                    .map(|b| Some(b.to_vec()))
                    .map_err(|e| s.cx.transport(&e)),
                StatusCode::NOT_FOUND => Ok(None),
                _ => Err(Failure::Final(s.unexpected(&action, response))),
            }
        })?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let index: Value = serde_json::from_slice(&bytes)
            .map_err(|e| self.cx.protocol(&action, format!("not JSON: {e}")))?;
        match index.get("manifests") {
            Some(Value::Array(manifests)) => Ok(Some(manifests.clone())),
            _ => Err(self.cx.protocol(
                &action,
                format!("the tag {tag} names no image index; it is the referrers tag schema's"),
            )),
        }
    }
}
