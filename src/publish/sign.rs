//! The image signature: a DSSE envelope of an in-toto Statement v1 whose subject is the digest the tag
//! names, and whose predicate names the reference it was pushed as, every platform manifest, and the
//! digest of every attachment. One signature thus covers the image, where it was published, the SBOMs
//! and the (itself signed) provenance: `verify_image` checks each against it.

use serde_json::{Value, json};

use super::PublishError;
use super::attach::{Attached, Attacher, Kind};
use super::layout::Node;
use crate::registry::Reference;
use crate::sign::{PAYLOAD_TYPE_IN_TOTO, SigningKey};

pub const PREDICATE_TYPE: &str = "https://compose.invalid/image-signature/v1";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const TITLE: &str = "signature.dsse.json";

/// Signs and attaches the statement about `top`, pushed as `reference`, with `attached`.
pub fn attach_signature(
    attacher: &mut Attacher,
    top: &Node,
    reference: &Reference,
    attached: &[Attached],
    key: &SigningKey,
) -> Result<Attached, PublishError> {
    let statement = statement(top, reference, attached);
    let payload = crate::export::canonical(&statement);
    let subject = super::attach::subject_of(top, None)?;
    attacher.attach_signed(&subject, Kind::Signature, TITLE, PAYLOAD_TYPE_IN_TOTO, &payload, key)
}

/// The reference as the statement names it: `REGISTRY/REPO:TAG`.
pub fn signed_name(reference: &Reference) -> String {
    format!("{}/{}:{}", reference.registry, reference.repository, reference.tag.as_deref().unwrap_or("latest"))
}

fn statement(top: &Node, reference: &Reference, attached: &[Attached]) -> Value {
    let hex = top.descriptor.digest.trim_start_matches("sha256:");
    let manifests: Vec<&str> = top.manifests().iter().map(|m| m.descriptor.digest.as_str()).collect();
    let attachments: Vec<Value> = attached
        .iter()
        .map(|a| {
            json!({
                "artifactType": a.kind.artifact_type(),
                "title": a.title,
                "subject": a.subject,
                "manifest": a.manifest,
                "digest": a.layer.digest,
                "size": a.layer.size,
            })
        })
        .collect();
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": format!("{}/{}", reference.registry, reference.repository), "digest": {"sha256": hex}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "reference": signed_name(reference),
            "mediaType": top.descriptor.media_type,
            "manifests": manifests,
            "attachments": attachments,
        },
    })
}
