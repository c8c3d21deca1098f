//! Manifests by tag or digest, and referrers: the referrers API where the registry has it, else the
//! distribution spec's fallback, an image index tagged `sha256-<hex of the subject>`.

use reqwest::{Method, StatusCode};

use super::blobs::check_digest;
use super::client::Client;
use super::http::{Payload, Req, protocol, read_body, status_error};
use super::reference::valid_tag;
use super::session::scope;
use super::{
    DOCKER_LIST, DOCKER_MANIFEST, Descriptor, Manifest, ManifestPut, OCI_INDEX, OCI_MANIFEST, Referrers, ReferrersVia,
    RegistryError, sha256_digest, valid_digest,
};

/// Larger manifests are refused (the distribution server's own limit is 4 MiB).
const MANIFEST_LIMIT: u64 = 4 << 20;

#[derive(serde::Deserialize)]
struct IndexJson {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

impl Client {
    /// PUT /v2/<repo>/manifests/<reference> (a tag or a digest; a digest must be the bytes').
    pub fn put_manifest(&self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<ManifestPut, RegistryError> {
        check_reference(reference)?;
        let digest = sha256_digest(bytes);
        if reference.contains(':') && reference != digest {
            check_digest(reference)?;
            return Err(RegistryError::DigestMismatch { digest: reference.to_string(), actual: digest });
        }
        let op = format!("put manifest `{reference}`");
        let req = Req::new(
            Method::PUT,
            self.repo_url(&format!("manifests/{reference}")),
            vec![scope(&self.repository, true)],
        )
        .header("Content-Type", media_type)
        .body(Payload::Bytes(bytes));
        let resp = self.session.send(&op, &req)?;
        if !resp.status().is_success() {
            return Err(status_error(&op, resp));
        }
        let subject_accepted = resp.headers().contains_key("OCI-Subject");
        Ok(ManifestPut { digest, subject_accepted })
    }

    /// GET, accepting OCI manifest/index and Docker v2 manifest/list; None on 404. Checks the digest
    /// when `reference` is a digest (DigestMismatch).
    pub fn get_manifest(&self, reference: &str) -> Result<Option<Manifest>, RegistryError> {
        check_reference(reference)?;
        let op = format!("get manifest `{reference}`");
        let url = self.repo_url(&format!("manifests/{reference}"));
        let accept = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", ");
        let req = Req::new(Method::GET, url.clone(), vec![scope(&self.repository, false)]).header("Accept", accept);
        let resp = self.session.send(&op, &req)?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(status_error(&op, resp)),
        }
        let header_type = resp
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_string());
        let bytes = read_body(&op, resp, MANIFEST_LIMIT + 1)?;
        if bytes.len() as u64 > MANIFEST_LIMIT {
            return Err(protocol(&op, &url, "the manifest is larger than 4 MiB"));
        }
        let digest = sha256_digest(&bytes);
        if valid_digest(reference) && reference != digest {
            return Err(RegistryError::DigestMismatch { digest: reference.to_string(), actual: digest });
        }
        let media_type = match header_type {
            Some(t) if t.starts_with("application/vnd.") => t,
            _ => media_type_in(&bytes)
                .ok_or_else(|| protocol(&op, &url, "no media type in the header or the manifest"))?,
        };
        Ok(Some(Manifest { media_type, digest, bytes }))
    }

    /// The referrers of `digest`: the referrers API (`GET /v2/<repo>/referrers/<digest>`) when the
    /// registry has it (200 with an image index), else the referrers tag schema (`sha256-<hex>` tag).
    pub fn referrers(&self, digest: &str) -> Result<Referrers, RegistryError> {
        check_digest(digest)?;
        let op = format!("list the referrers of {digest}");
        let url = self.repo_url(&format!("referrers/{digest}"));
        let req = Req::new(Method::GET, url, vec![scope(&self.repository, false)]).header("Accept", OCI_INDEX);
        let resp = self.session.send(&op, &req)?;
        match resp.status() {
            StatusCode::OK => {
                let body = read_body(&op, resp, MANIFEST_LIMIT)?;
                if let Ok(index) = serde_json::from_slice::<IndexJson>(&body) {
                    return Ok(Referrers { descriptors: index.manifests, via: ReferrersVia::Api });
                }
            }
            // Registries without the API: 404 is what the spec prescribes, the others are seen too.
            StatusCode::NOT_FOUND
            | StatusCode::BAD_REQUEST
            | StatusCode::METHOD_NOT_ALLOWED
            | StatusCode::NOT_ACCEPTABLE => {}
            _ => return Err(status_error(&op, resp)),
        }
        let descriptors = match self.get_manifest(&referrers_tag(digest))? {
            None => Vec::new(),
            Some(m) => parse_index(&m.bytes).map_err(|reason| protocol(&op, &self.repo_url("manifests/"), reason))?,
        };
        Ok(Referrers { descriptors, via: ReferrersVia::TagSchema })
    }

    /// For registries without the referrers API: adds `descriptor` to the image index tagged
    /// `sha256-<hex of subject>` (creating it; an entry already there is not added twice). Other fields
    /// of an existing index are kept.
    pub fn add_to_referrers_tag(&self, subject: &str, descriptor: &Descriptor) -> Result<(), RegistryError> {
        check_digest(subject)?;
        // Read, add, write, then read back: another pusher of the same subject may have written the tag
        // between our read and our write (the registry has no conditional PUT), and ours would have
        // replaced theirs. Whoever finds its entry gone adds it again, after a short, varying wait.
        // The entry must still be there after a settling wait longer than another writer's read-to-write
        // window (milliseconds), since a writer that read before ours wrote would drop it when it writes.
        // Best effort: the registry offers nothing stronger.
        let jitter = || {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            u64::from((nanos.subsec_nanos() ^ std::process::id()) % 100)
        };
        for attempt in 0..8u64 {
            if !self.add_once(subject, descriptor)? && attempt == 0 {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(100 + 50 * attempt + jitter()));
            if self.referrers_in_tag(subject)?.iter().any(|d| d.digest == descriptor.digest) {
                return Ok(());
            }
        }
        let tag = referrers_tag(subject);
        let op = format!("add {} to the referrers tag `{tag}`", descriptor.digest);
        Err(protocol(&op, &self.repo_url(&format!("manifests/{tag}")), "other writers kept replacing it (8 tries)"))
    }

    /// The entries of the referrers tag of `subject` (none if there is no tag).
    fn referrers_in_tag(&self, subject: &str) -> Result<Vec<Descriptor>, RegistryError> {
        let tag = referrers_tag(subject);
        match self.get_manifest(&tag)? {
            None => Ok(Vec::new()),
            Some(m) => parse_index(&m.bytes).map_err(|reason| {
                protocol(&format!("read the referrers tag `{tag}`"), &self.repo_url("manifests/"), reason)
            }),
        }
    }

    /// One read-modify-write of the referrers tag; false when the entry was there already.
    fn add_once(&self, subject: &str, descriptor: &Descriptor) -> Result<bool, RegistryError> {
        let tag = referrers_tag(subject);
        let op = format!("add {} to the referrers tag `{tag}`", descriptor.digest);
        let existing = self.get_manifest(&tag)?;
        let mut index = match &existing {
            Some(m) => serde_json::from_slice::<serde_json::Value>(&m.bytes)
                .ok()
                .filter(serde_json::Value::is_object)
                .ok_or_else(|| {
                    protocol(&op, &self.repo_url(&format!("manifests/{tag}")), "the tag is not a JSON object")
                })?,
            None => serde_json::json!({}),
        };
        let updated = add_descriptor(&mut index, descriptor)
            .map_err(|reason| protocol(&op, &self.repo_url(&format!("manifests/{tag}")), reason))?;
        if updated {
            let bytes = serde_json::to_vec(&index).expect("a JSON value serializes");
            self.put_manifest(&tag, OCI_INDEX, &bytes)?;
        }
        Ok(updated)
    }
}

/// A tag or a digest: anything else would not name one manifest (or would change the URL).
fn check_reference(reference: &str) -> Result<(), RegistryError> {
    match reference.contains(':') {
        true => check_digest(reference),
        false if valid_tag(reference) => Ok(()),
        false => Err(RegistryError::InvalidReference {
            reference: reference.to_string(),
            reason: "a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'".into(),
        }),
    }
}

/// `sha256:HEX` -> `sha256-HEX`.
pub fn referrers_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

fn media_type_in(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Typed>(bytes).ok()?.media_type
}

fn parse_index(bytes: &[u8]) -> Result<Vec<Descriptor>, String> {
    serde_json::from_slice::<IndexJson>(bytes).map(|i| i.manifests).map_err(|e| format!("not an image index: {e}"))
}

/// Adds `descriptor` to the index's `manifests` unless its digest is there; false when it was.
fn add_descriptor(index: &mut serde_json::Value, descriptor: &Descriptor) -> Result<bool, String> {
    let object = index.as_object_mut().ok_or("the index is not a JSON object")?;
    object.insert("schemaVersion".into(), 2.into());
    object.insert("mediaType".into(), OCI_INDEX.into());
    let manifests = object.entry("manifests").or_insert_with(|| serde_json::json!([]));
    let list = manifests.as_array_mut().ok_or("`manifests` is not an array")?;
    if list.iter().any(|d| d.get("digest").and_then(|d| d.as_str()) == Some(&descriptor.digest)) {
        return Ok(false);
    }
    list.push(serde_json::to_value(descriptor).expect("a descriptor serializes"));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(digest: &str) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: digest.into(),
            size: 10,
            artifact_type: Some("application/spdx+json".into()),
            annotations: Default::default(),
            platform: None,
        }
    }

    #[test]
    fn referrers_tag_of_a_digest() {
        assert_eq!(referrers_tag("sha256:abc"), "sha256-abc");
        assert!(check_reference(&referrers_tag(crate::registry::EMPTY_DIGEST)).is_ok());
        assert!(check_reference(crate::registry::EMPTY_DIGEST).is_ok());
        assert!(check_reference("a/b").is_err());
        assert!(check_reference("sha256:abc").is_err());
    }

    #[test]
    fn adding_to_a_referrers_index_keeps_it_and_skips_duplicates() {
        let mut index = serde_json::json!({});
        assert!(add_descriptor(&mut index, &descriptor("sha256:1")).unwrap());
        assert!(!add_descriptor(&mut index, &descriptor("sha256:1")).unwrap());
        let mut index: serde_json::Value =
            serde_json::from_str(r#"{"schemaVersion":2,"annotations":{"a":"b"},"manifests":[]}"#).unwrap();
        assert!(add_descriptor(&mut index, &descriptor("sha256:2")).unwrap());
        assert_eq!(index["annotations"]["a"], "b");
        assert_eq!(index["mediaType"], OCI_INDEX);
        let parsed = parse_index(&serde_json::to_vec(&index).unwrap()).unwrap();
        assert_eq!(parsed, vec![descriptor("sha256:2")]);
        assert!(add_descriptor(&mut serde_json::json!({"manifests": 1}), &descriptor("x")).is_err());
    }
}
