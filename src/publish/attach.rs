//! Attachments: each record pushed as an OCI artifact (an image manifest with an `artifactType`, the
//! empty config, the record as its one layer) whose `subject` is the manifest it describes. A registry
//! with the referrers API indexes it from the `subject`; for one without (it answers the manifest PUT
//! with no `OCI-Subject` header), the artifact is added to the referrers tag `sha256-<hex>` of its
//! subject, as the distribution spec's fallback defines.
//!
//! An artifact already among its subject's referrers (same type, same title, same layer) is not pushed
//! again; a signed provenance already there with the same payload and key id is reused, so a second
//! push of the same image changes nothing in the registry.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde_json::{Value, json};

use super::PublishError;
use super::layout::{MANIFEST_TYPE, Node};
use crate::registry::{BlobSource, Client, Descriptor, EMPTY_DIGEST, OCI_EMPTY as EMPTY_TYPE, ReferrersVia};
use crate::sign::{ENVELOPE_MEDIA_TYPE, Envelope, PAYLOAD_TYPE_IN_TOTO, SigningKey};

pub const SPDX_TYPE: &str = "application/spdx+json";
pub const CYCLONEDX_TYPE: &str = "application/vnd.cyclonedx+json";
/// The artifact type of compose's image signature: a DSSE envelope of an in-toto statement whose subject
/// is the image's digest (see `super::sign`).
pub const SIGNATURE_TYPE: &str = "application/vnd.compose.signature.v1+json";
pub const TITLE: &str = "org.opencontainers.image.title";
/// The largest envelope already in the registry that a push reads to see whether it can reuse it.
const MAX_ENVELOPE: u64 = 256 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Spdx,
    CycloneDx,
    Provenance,
    Signature,
}

impl Kind {
    pub fn artifact_type(self) -> &'static str {
        match self {
            Kind::Spdx => SPDX_TYPE,
            Kind::CycloneDx => CYCLONEDX_TYPE,
            Kind::Provenance => PAYLOAD_TYPE_IN_TOTO,
            Kind::Signature => SIGNATURE_TYPE,
        }
    }

    /// The record file's suffix after `NAME.`.
    pub fn suffix(self) -> &'static str {
        match self {
            Kind::Spdx => "spdx.json",
            Kind::CycloneDx => "cdx.json",
            Kind::Provenance => "provenance.json",
            Kind::Signature => "signature.json",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Spdx => "SPDX SBOM",
            Kind::CycloneDx => "CycloneDX SBOM",
            Kind::Provenance => "provenance",
            Kind::Signature => "signature",
        }
    }

    pub fn of_artifact_type(t: &str) -> Option<Kind> {
        [Kind::Spdx, Kind::CycloneDx, Kind::Provenance, Kind::Signature].into_iter().find(|k| k.artifact_type() == t)
    }
}

/// A record to attach.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub kind: Kind,
    pub path: PathBuf,
    /// The manifest it describes; `None`: what the tag names (the index of a multi-platform image).
    pub subject: Option<String>,
}

/// An attachment in the registry.
#[derive(Debug, Clone)]
pub struct Attached {
    pub kind: Kind,
    pub title: String,
    pub subject: String,
    /// The artifact manifest.
    pub manifest: String,
    /// Its one layer: the record (or its envelope).
    pub layer: Descriptor,
    /// false: it was there already and nothing was pushed.
    pub pushed: bool,
    pub via: &'static str,
}

/// Pushes artifacts to one repository, remembering each subject's referrers.
pub struct Attacher<'c> {
    pub client: &'c Client,
    referrers: HashMap<String, (Vec<Descriptor>, ReferrersVia)>,
    empty_pushed: bool,
}

impl<'c> Attacher<'c> {
    pub fn new(client: &'c Client) -> Self {
        Attacher { client, referrers: HashMap::new(), empty_pushed: false }
    }

    /// Attaches the record `a` (its subject found in `top`), as a DSSE envelope when it is the
    /// provenance and a key is given.
    pub fn attach_record(
        &mut self,
        top: &Node,
        a: &Attachment,
        key: Option<&SigningKey>,
    ) -> Result<Attached, PublishError> {
        let bytes =
            std::fs::read(&a.path).map_err(|source| PublishError::ReadRecord { path: a.path.clone(), source })?;
        let subject = subject_of(top, a.subject.as_deref())?;
        let title = a.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        match (a.kind, key) {
            (Kind::Provenance, Some(key)) => {
                let signed = crate::sign::default_output(&a.path);
                let title = signed.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                self.attach_signed(&subject, Kind::Provenance, &title, PAYLOAD_TYPE_IN_TOTO, &bytes, key)
            }
            (kind, _) => self.attach(&subject, kind, &title, kind.artifact_type(), &bytes),
        }
    }

    /// Attaches `payload` signed with `key`, unless an envelope of the same payload by the same key id is
    /// already there (ECDSA signatures differ each time: re-signing would change the registry).
    pub fn attach_signed(
        &mut self,
        subject: &Descriptor,
        kind: Kind,
        title: &str,
        payload_type: &str,
        payload: &[u8],
        key: &SigningKey,
    ) -> Result<Attached, PublishError> {
        let key_id = key.key_id();
        for (d, manifest) in self.existing(subject, kind, title)? {
            let Some(layer) = layer_of(&manifest).filter(|l| l.size <= MAX_ENVELOPE) else { continue };
            let mut bytes = crate::registry::AtMost::new(Vec::new(), layer.size);
            if self.client.get_blob(&layer.digest, &mut bytes).is_err() {
                continue;
            }
            let Ok(env) = serde_json::from_slice::<Envelope>(&bytes.inner) else { continue };
            // Reused only if it really verifies: an envelope planted with our key id and a bad
            // signature would otherwise be signed into every later statement.
            let same = env.decode_payload().is_ok_and(|p| p == payload)
                && env.payload_type == payload_type
                && env.signatures.iter().any(|s| s.keyid == key_id)
                && key.public_key().verify(&env).is_ok();
            if same {
                return Ok(self.attached(kind, title, subject, &d.digest, layer, false));
            }
        }
        let what = format!("the {} of {}", kind.label(), subject.digest);
        let env = key.sign(payload_type, payload).map_err(|source| PublishError::Sign { what, source })?;
        let bytes = serde_json::to_vec_pretty(&env).expect("an envelope serialises");
        self.attach(subject, kind, title, ENVELOPE_MEDIA_TYPE, &bytes)
    }

    /// Pushes one artifact of `bytes` about `subject`, unless the same is there.
    pub fn attach(
        &mut self,
        subject: &Descriptor,
        kind: Kind,
        title: &str,
        layer_type: &str,
        bytes: &[u8],
    ) -> Result<Attached, PublishError> {
        let layer = descriptor(layer_type, bytes, Some(title));
        for (d, manifest) in self.existing(subject, kind, title)? {
            if layer_of(&manifest).is_some_and(|l| l.digest == layer.digest) {
                return Ok(self.attached(kind, title, subject, &d.digest, layer, false));
            }
        }
        let repo = format!("{}/{}", self.client.registry(), self.client.repository());
        if !self.empty_pushed {
            let op = format!("push the empty config to `{repo}`");
            self.client
                .push_blob(EMPTY_DIGEST, 2, BlobSource::Bytes(b"{}"), None)
                .map_err(PublishError::registry(op))?;
            self.empty_pushed = true;
        }
        let op = format!("push the {} `{title}` to `{repo}`", kind.label());
        self.client
            .push_blob(&layer.digest, layer.size, BlobSource::Bytes(bytes), None)
            .map_err(PublishError::registry(op.clone()))?;
        let manifest = crate::export::canonical(&artifact_manifest(kind, subject, &layer, title));
        let mut d = descriptor(MANIFEST_TYPE, &manifest, Some(title));
        d.artifact_type = Some(kind.artifact_type().to_string());
        let put = self
            .client
            .put_manifest(&d.digest, MANIFEST_TYPE, &manifest)
            .map_err(PublishError::registry(op.clone()))?;
        if !put.subject_accepted {
            self.client.add_to_referrers_tag(&subject.digest, &d).map_err(PublishError::registry(op))?;
        }
        self.referrers.remove(&subject.digest);
        let mut a = self.attached(kind, title, subject, &d.digest, layer, true);
        a.via = if put.subject_accepted { "referrers API" } else { "referrers tag" };
        Ok(a)
    }

    fn attached(
        &self,
        kind: Kind,
        title: &str,
        subject: &Descriptor,
        manifest: &str,
        layer: Descriptor,
        pushed: bool,
    ) -> Attached {
        let via = match self.referrers.get(&subject.digest).map(|(_, v)| v) {
            Some(ReferrersVia::Api) => "referrers API",
            _ => "referrers tag",
        };
        Attached {
            kind,
            title: title.to_string(),
            subject: subject.digest.clone(),
            manifest: manifest.to_string(),
            layer,
            pushed,
            via,
        }
    }

    /// The referrers of `subject` of this kind and title, each with its manifest.
    fn existing(
        &mut self,
        subject: &Descriptor,
        kind: Kind,
        title: &str,
    ) -> Result<Vec<(Descriptor, Value)>, PublishError> {
        if !self.referrers.contains_key(&subject.digest) {
            let op = format!("list the referrers of {}", subject.digest);
            let r = self.client.referrers(&subject.digest).map_err(PublishError::registry(op))?;
            self.referrers.insert(subject.digest.clone(), (r.descriptors, r.via));
        }
        let mut out = Vec::new();
        for d in &self.referrers[&subject.digest].0 {
            let same = d.artifact_type.as_deref() == Some(kind.artifact_type())
                && d.annotations.get(TITLE).is_none_or(|t| t == title);
            if !same {
                continue;
            }
            let op = format!("read the referrer {}", d.digest);
            if let Some(m) = self.client.get_manifest(&d.digest).map_err(PublishError::registry(op))?
                && let Ok(v) = serde_json::from_slice::<Value>(&m.bytes)
                && v["layers"][0]["annotations"][TITLE].as_str() == Some(title)
            {
                out.push((d.clone(), v));
            }
        }
        Ok(out)
    }
}

/// The descriptor of `subject` (a manifest digest) in `top`, or `top` itself.
pub fn subject_of(top: &Node, subject: Option<&str>) -> Result<Descriptor, PublishError> {
    let Some(digest) = subject else { return Ok(bare(&top.descriptor)) };
    top.manifests().into_iter().find(|m| m.descriptor.digest == digest).map(|m| bare(&m.descriptor)).ok_or_else(|| {
        PublishError::Layout { path: PathBuf::new(), reason: format!("no manifest {digest} in the image") }
    })
}

/// A descriptor with only media type, digest and size (what a `subject` holds).
fn bare(d: &Descriptor) -> Descriptor {
    Descriptor { annotations: BTreeMap::new(), platform: None, artifact_type: None, ..d.clone() }
}

pub fn descriptor(media_type: &str, bytes: &[u8], title: Option<&str>) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: format!("sha256:{}", crate::digest::Sha256::hex_of(bytes)),
        size: bytes.len() as u64,
        artifact_type: None,
        annotations: title.map(|t| BTreeMap::from([(TITLE.to_string(), t.to_string())])).unwrap_or_default(),
        platform: None,
    }
}

/// The first layer of an artifact manifest.
pub fn layer_of(manifest: &Value) -> Option<Descriptor> {
    serde_json::from_value(manifest["layers"][0].clone()).ok()
}

fn artifact_manifest(kind: Kind, subject: &Descriptor, layer: &Descriptor, title: &str) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": kind.artifact_type(),
        "config": {"mediaType": EMPTY_TYPE, "digest": EMPTY_DIGEST, "size": 2},
        "layers": [layer],
        "subject": subject,
        "annotations": {TITLE: title},
    })
}
