//! DSSE v1 (github.com/secure-systems-lab/dsse, protocol.md and envelope.md): the pre-authentication
//! encoding every signature is over, and the JSON envelope.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
use serde::{Deserialize, Serialize};

use super::SignError;

/// The JSON envelope. Unknown fields are ignored when reading, as the spec requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The payload's bytes in standard base64 (URL-safe is accepted when reading).
    pub payload: String,
    pub signatures: Vec<Signature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The signer's key id (compose: hex SHA-256 of the DER SubjectPublicKeyInfo); optional in DSSE,
    /// so unset reads as empty. A hint only, never trusted.
    #[serde(default)]
    pub keyid: String,
    /// The signature over `pae(payloadType, payload)`, base64.
    pub sig: String,
}

impl Envelope {
    /// The payload's bytes (standard or URL-safe base64, padded or not).
    pub fn decode_payload(&self) -> Result<Vec<u8>, SignError> {
        decode(&self.payload).map_err(|e| SignError::Verify { reason: format!("the payload is not valid base64: {e}") })
    }
}

/// `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal
/// bytes: what every signature covers, so neither the payload nor its type can change unseen.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let head = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len());
    let mut out = Vec::with_capacity(head.len() + payload.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(payload);
    out
}

pub(super) fn envelope(payload_type: &str, payload: &[u8], keyid: &str, sig: &[u8]) -> Envelope {
    Envelope {
        payload_type: payload_type.to_string(),
        payload: STANDARD.encode(payload),
        signatures: vec![Signature { keyid: keyid.to_string(), sig: STANDARD.encode(sig) }],
    }
}

/// Accepts the envelope when one signature whose keyid is `key_id` or unset passes `check(pae, sig)`;
/// returns the payload. The error says which step failed.
pub(super) fn verify(
    envelope: &Envelope,
    key_id: &str,
    check: impl Fn(&[u8], &[u8]) -> bool,
) -> Result<Vec<u8>, SignError> {
    let fail = |reason: String| SignError::Verify { reason };
    let payload = envelope.decode_payload()?;
    let message = pae(&envelope.payload_type, &payload);
    let mine: Vec<(usize, &Signature)> =
        envelope.signatures.iter().enumerate().filter(|(_, s)| s.keyid.is_empty() || s.keyid == key_id).collect();
    if mine.is_empty() {
        let ids: Vec<&str> = envelope.signatures.iter().map(|s| s.keyid.as_str()).collect();
        return Err(fail(match ids.is_empty() {
            true => "the envelope has no signatures".to_string(),
            false => format!("no signature by this key (key id {key_id}); it is signed by {}", ids.join(", ")),
        }));
    }
    let mut bad_base64 = Vec::new();
    for (i, s) in &mine {
        match decode(&s.sig) {
            Ok(sig) if check(&message, &sig) => return Ok(payload),
            Ok(_) => {}
            Err(e) => bad_base64.push(format!("signature {i} is not valid base64: {e}")),
        }
    }
    if bad_base64.len() == mine.len() {
        return Err(fail(bad_base64.join("; ")));
    }
    Err(fail(format!(
        "the signature does not verify with key {key_id}: the payload or its type changed, or another key signed it"
    )))
}

fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    match text.contains(['-', '_']) {
        true => URL_SAFE_PAD_INDIFFERENT.decode(text),
        false => STANDARD_PAD_INDIFFERENT.decode(text),
    }
}
