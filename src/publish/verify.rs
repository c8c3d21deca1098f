//! `compose verify-image REF --key PUB`: what a consumer checks before running an image. From the
//! registry alone, with the public key:
//!
//! 1. a signature attached to the digest REF names verifies with the key, and its statement's subject is
//!    that digest;
//! 2. the statement names REF itself (registry, repository and tag): a signed image re-tagged or copied
//!    elsewhere fails;
//! 3. the image's manifests are the ones signed;
//! 4. every attachment the statement lists is still attached, with the signed digest (the client checks
//!    each blob against its digest as it downloads);
//! 5. the provenance's envelope verifies with the key, and its subjects include every manifest;
//! 6. each manifest has an SPDX and a CycloneDX SBOM that name that manifest's digest.

use std::collections::HashMap;

use serde_json::Value;

use super::PublishError;
use super::attach::{Kind, SIGNATURE_TYPE, layer_of};
use super::layout::INDEX_TYPE;
use super::sign::{PREDICATE_TYPE, STATEMENT_TYPE, signed_name};
use crate::registry::{Client, Descriptor, Options, Reference, RegistryError};
use crate::sign::{Envelope, PublicKey};

pub struct VerifyRequest<'a> {
    pub reference: Reference,
    pub key: &'a PublicKey,
    pub options: Options,
}

/// One check that passed, for the report.
#[derive(Debug, Clone)]
pub struct Check {
    pub what: String,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub reference: Reference,
    pub digest: String,
    pub checks: Vec<Check>,
}

/// The most signatures of one digest tried, and the largest attachment read (an SBOM of a large image
/// is tens of MiB): referrers are listed by whoever can push, so neither is left unbounded.
const MAX_SIGNATURES: usize = 16;
const MAX_ATTACHMENT: u64 = 256 << 20;

struct Verifier<'a> {
    client: Client,
    key: &'a PublicKey,
    reference: String,
    referrers: HashMap<String, Vec<Descriptor>>,
    checks: Vec<Check>,
}

/// Runs every check; the first that fails is the error (`PublishError::Verification`).
pub fn verify_image(req: &VerifyRequest) -> Result<VerifyReport, PublishError> {
    let reference = req.reference.to_string();
    let client = Client::connect(&req.reference, &req.options)
        .map_err(PublishError::registry(format!("reach `{reference}`")))?;
    let op = format!("read the manifest of `{reference}`");
    let top = client
        .get_manifest(req.reference.tag_or_digest())
        .map_err(PublishError::registry(op))?
        .ok_or_else(|| PublishError::NotFound { reference: reference.clone() })?;
    let mut v = Verifier { client, key: req.key, reference, referrers: HashMap::new(), checks: Vec::new() };
    // Asked by digest alone, any tag the image was signed under will do; otherwise (no tag means
    // `latest`) the signature must name this very reference.
    let wanted = match (&req.reference.tag, &req.reference.digest) {
        (None, Some(_)) => None,
        _ => Some(signed_name(&req.reference)),
    };
    let predicate = v.signature(&top.digest, wanted.as_deref())?;
    let manifests = v.manifests(&top.media_type, &top.bytes, &top.digest, &predicate)?;
    v.attachments(&predicate, &manifests)?;
    Ok(VerifyReport { reference: req.reference.clone(), digest: top.digest, checks: v.checks })
}

impl Verifier<'_> {
    fn fail(&self, reason: impl Into<String>) -> PublishError {
        PublishError::Verification { reference: self.reference.clone(), reason: reason.into() }
    }

    fn pass(&mut self, what: &str, detail: String) {
        self.checks.push(Check { what: what.to_string(), detail });
    }

    fn referrers_of(&mut self, digest: &str) -> Result<Vec<Descriptor>, PublishError> {
        if !self.referrers.contains_key(digest) {
            let op = format!("list the referrers of {digest}");
            let r = self.client.referrers(digest).map_err(PublishError::registry(op))?;
            self.referrers.insert(digest.to_string(), r.descriptors);
        }
        Ok(self.referrers[digest].clone())
    }

    /// The bytes of an artifact's one layer, and the layer. A blob whose bytes do not match its digest
    /// is a failed check, not a registry error: someone changed what was signed.
    fn artifact(&self, what: &str, manifest_digest: &str) -> Result<(Descriptor, Vec<u8>), PublishError> {
        let op = format!("read {what} ({manifest_digest})");
        let m = match self.client.get_manifest(manifest_digest) {
            Ok(Some(m)) => m,
            Ok(None) => return Err(self.fail(format!("{what} ({manifest_digest}) is gone from the registry"))),
            Err(e @ RegistryError::DigestMismatch { .. }) => return Err(self.fail(format!("{what}: {e}"))),
            Err(e) => return Err(PublishError::registry(op)(e)),
        };
        let v: Value = serde_json::from_slice(&m.bytes).map_err(|e| self.fail(format!("{what}: {e}")))?;
        let layer = layer_of(&v).ok_or_else(|| self.fail(format!("{what} ({manifest_digest}) has no layer")))?;
        if layer.size > MAX_ATTACHMENT {
            return Err(self.fail(format!(
                "{what} ({manifest_digest}) is {} bytes, over the limit of {MAX_ATTACHMENT}",
                layer.size
            )));
        }
        let mut bytes = crate::registry::AtMost::new(Vec::new(), layer.size);
        match self.client.get_blob(&layer.digest, &mut bytes) {
            Ok(_) => Ok((layer, bytes.inner)),
            Err(e @ RegistryError::DigestMismatch { .. }) => {
                Err(self.fail(format!("{what}: its content no longer matches its digest: {e}")))
            }
            Err(e) => Err(PublishError::registry(format!("read the blob {} of {what}", layer.digest))(e)),
        }
    }

    /// The payload of an envelope that verifies with the key.
    fn open(&self, bytes: &[u8], what: &str) -> Result<Vec<u8>, String> {
        let env: Envelope = serde_json::from_slice(bytes).map_err(|e| format!("{what} is not a DSSE envelope: {e}"))?;
        self.key.verify(&env).map_err(|e| format!("{what}: {e}"))?;
        env.decode_payload().map_err(|e| format!("{what}: {e}"))
    }

    /// Checks 1 and 2: the predicate of a signature of `digest` that verifies with the key and names
    /// `wanted` (any, when `None`). A registry error is the registry's (exit 18), not a failed check.
    fn signature(&mut self, digest: &str, wanted: Option<&str>) -> Result<Value, PublishError> {
        let sigs: Vec<Descriptor> = self
            .referrers_of(digest)?
            .into_iter()
            .filter(|d| d.artifact_type.as_deref() == Some(SIGNATURE_TYPE))
            .collect();
        if sigs.is_empty() {
            return Err(self.fail(format!("no signature is attached to {digest}")));
        }
        let (mut reasons, mut signed_as) = (Vec::new(), Vec::new());
        for s in sigs.iter().take(MAX_SIGNATURES) {
            let bytes = match self.artifact("the signature", &s.digest) {
                Ok((_, bytes)) => bytes,
                Err(e @ PublishError::Registry { .. }) => return Err(e),
                Err(e) => {
                    reasons.push(e.to_string());
                    continue;
                }
            };
            let statement = match self.open(&bytes, &format!("signature {}", s.digest)) {
                Ok(p) => p,
                Err(r) => {
                    reasons.push(r);
                    continue;
                }
            };
            let v: Value = serde_json::from_slice(&statement).unwrap_or(Value::Null);
            let subject = v["subject"][0]["digest"]["sha256"].as_str().map(|h| format!("sha256:{h}"));
            if v["_type"] != STATEMENT_TYPE || v["predicateType"] != PREDICATE_TYPE {
                reasons.push(format!("signature {}: not a compose image statement", s.digest));
                continue;
            }
            if subject.as_deref() != Some(digest) {
                reasons.push(format!("signature {}: signs {}, not {digest}", s.digest, subject.unwrap_or_default()));
                continue;
            }
            let named = v["predicate"]["reference"].as_str().unwrap_or_default().to_string();
            if wanted.is_some_and(|w| w != named) {
                signed_as.push(named);
                continue;
            }
            self.pass("signature", format!("{digest} signed by key {}", self.key.key_id()));
            let how = match wanted {
                Some(_) => format!("signed as `{named}`"),
                None => format!("asked by digest; signed as `{named}`"),
            };
            self.pass("reference", how);
            return Ok(v["predicate"].clone());
        }
        if let Some(w) = wanted.filter(|_| !signed_as.is_empty()) {
            let list: Vec<String> = signed_as.iter().map(|n| format!("`{n}`")).collect();
            return Err(self.fail(format!(
                "the signature is for {}, not `{w}`: the image was re-tagged or copied after signing",
                list.join(", ")
            )));
        }
        Err(self.fail(format!(
            "no signature of {digest} verifies with key {} ({} found: {})",
            self.key.key_id(),
            sigs.len(),
            reasons.join("; ")
        )))
    }

    /// Check 3: the manifests under the tag are the ones signed.
    fn manifests(
        &mut self,
        media_type: &str,
        bytes: &[u8],
        digest: &str,
        predicate: &Value,
    ) -> Result<Vec<String>, PublishError> {
        let now: Vec<String> = if media_type == INDEX_TYPE {
            let v: Value = serde_json::from_slice(bytes).map_err(|e| self.fail(format!("the index: {e}")))?;
            v["manifests"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["digest"].as_str().map(String::from))
                .collect()
        } else {
            vec![digest.to_string()]
        };
        let signed: Vec<String> = predicate["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str().map(String::from))
            .collect();
        if now != signed {
            return Err(self.fail(format!("the image's manifests {now:?} are not the ones signed {signed:?}")));
        }
        self.pass("manifests", format!("{} manifest(s) as signed", now.len()));
        Ok(now)
    }

    /// Checks 4 to 6.
    fn attachments(&mut self, predicate: &Value, manifests: &[String]) -> Result<(), PublishError> {
        let mut seen: Vec<(Kind, String)> = Vec::new();
        for a in predicate["attachments"].as_array().into_iter().flatten() {
            let field = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            let (title, subject, manifest, digest) =
                (field("title"), field("subject"), field("manifest"), field("digest"));
            let Some(kind) = Kind::of_artifact_type(&field("artifactType")) else { continue };
            if !self.referrers_of(&subject)?.iter().any(|d| d.digest == manifest) {
                return Err(self.fail(format!(
                    "the signed {} `{title}` ({manifest}) is no longer attached to {subject}",
                    kind.label()
                )));
            }
            let (layer, bytes) = self.artifact(&format!("the {} `{title}`", kind.label()), &manifest)?;
            if layer.digest != digest {
                return Err(self.fail(format!(
                    "the {} `{title}` is {}, not the signed {digest}",
                    kind.label(),
                    layer.digest
                )));
            }
            match kind {
                Kind::Provenance => self.provenance(&title, &bytes, manifests)?,
                Kind::Spdx | Kind::CycloneDx => self.sbom(kind, &title, &bytes, &subject)?,
                Kind::Signature => {}
            }
            seen.push((kind, subject));
        }
        if !seen.iter().any(|(k, _)| *k == Kind::Provenance) {
            return Err(self.fail("no provenance is attached"));
        }
        for m in manifests {
            for kind in [Kind::Spdx, Kind::CycloneDx] {
                if !seen.iter().any(|(k, s)| *k == kind && s == m) {
                    return Err(self.fail(format!("no {} describes the manifest {m}", kind.label())));
                }
            }
        }
        Ok(())
    }

    fn provenance(&mut self, title: &str, bytes: &[u8], manifests: &[String]) -> Result<(), PublishError> {
        let statement = self.open(bytes, &format!("the provenance `{title}`")).map_err(|r| self.fail(r))?;
        let v: Value = serde_json::from_slice(&statement).map_err(|e| self.fail(format!("the provenance: {e}")))?;
        let subjects: Vec<String> = v["subject"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["digest"]["sha256"].as_str().map(|h| format!("sha256:{h}")))
            .collect();
        for m in manifests {
            if !subjects.contains(m) {
                return Err(self.fail(format!("the provenance's subjects do not include the manifest {m}")));
            }
        }
        self.pass("provenance", format!("`{title}` signed; its subjects include {} manifest(s)", manifests.len()));
        Ok(())
    }

    fn sbom(&mut self, kind: Kind, title: &str, bytes: &[u8], subject: &str) -> Result<(), PublishError> {
        let text = std::str::from_utf8(bytes).map_err(|_| self.fail(format!("`{title}` is not UTF-8")))?;
        serde_json::from_str::<Value>(text).map_err(|e| self.fail(format!("`{title}` is not JSON: {e}")))?;
        let hex = subject.trim_start_matches("sha256:");
        if !text.contains(hex) {
            return Err(self.fail(format!(
                "the {} `{title}` does not name the manifest {subject} it is attached to",
                kind.label()
            )));
        }
        self.pass("sbom", format!("`{title}` describes {subject}"));
        Ok(())
    }
}
