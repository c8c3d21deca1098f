//! Signatures: DSSE envelopes (the in-toto envelope format) made and checked with an ECDSA P-256 or an
//! Ed25519 key kept in PEM.
//!
//! Why it exists: a provenance or an image digest carried away from the machine that built it is only
//! worth what its signature is; `compose sign`, `build --sign-key` and `verify-image` share this one
//! implementation. What it guarantees:
//! - an envelope is `{"payloadType", "payload" (standard base64), "signatures": [{"keyid", "sig"}]}`
//!   and each signature is over `pae(payloadType, payload)` (DSSE v1, `dsse.rs`);
//! - ECDSA P-256 signs with SHA-256 and writes the ASN.1 DER signature (as securesystemslib and cosign
//!   do); Ed25519 signs the PAE itself;
//! - a key id is the lowercase hex SHA-256 of the public key's DER SubjectPublicKeyInfo, so anyone with
//!   the `.pub` file computes the same id (`openssl pkey -pubin -in K.pub -outform DER | sha256sum`);
//! - keys are unencrypted PKCS#8 PEM (`PRIVATE KEY`), or SEC1 (`EC PRIVATE KEY`) for P-256, as OpenSSL,
//!   Python's `cryptography` and cosign write them; public keys are SPKI PEM (`PUBLIC KEY`). Anything
//!   else (encrypted, RSA, other curves, OpenSSH) is `UnsupportedKey`, naming the file and what it holds;
//! - key files are written through a temp file and a rename that never replaces an existing file.

mod der;
mod dsse;
mod keys;
mod pem;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use dsse::{Envelope, Signature, pae};
pub use keys::{PublicKey, SigningKey, generate};

/// The DSSE payload type of an in-toto statement (a provenance).
pub const PAYLOAD_TYPE_IN_TOTO: &str = "application/vnd.in-toto+json";
/// The media type of a DSSE envelope (as an OCI artifact or layer).
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// The two kinds of key compose signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA on NIST P-256 with SHA-256, ASN.1 DER signatures (the default).
    EcdsaP256,
    Ed25519,
}

impl KeyKind {
    /// The name used on the command line and in messages: `ecdsa-p256`, `ed25519`.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::EcdsaP256 => "ecdsa-p256",
            KeyKind::Ed25519 => "ed25519",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot read the key file `{path}`")]
    ReadKey { path: PathBuf, source: std::io::Error },
    #[error("`{path}` is not a usable key: {reason}")]
    ParseKey { path: PathBuf, reason: String },
    #[error("`{path}` holds {what}, which compose does not support (ECDSA P-256 or Ed25519, unencrypted PEM)")]
    UnsupportedKey { path: PathBuf, what: String },
    #[error("cannot write the key file `{path}`")]
    WriteKey { path: PathBuf, source: std::io::Error },
    #[error("`{path}` already exists; compose never overwrites a key file")]
    Exists { path: PathBuf },
    #[error("cannot generate a {kind} key")]
    Generate { kind: &'static str },
    #[error("cannot sign with the key `{path}`")]
    Sign { path: PathBuf },
    #[error("the envelope does not verify: {reason}")]
    Verify { reason: String },
    #[error("cannot read `{path}` to sign it")]
    ReadPayload { path: PathBuf, source: std::io::Error },
    #[error("cannot write the envelope `{path}`")]
    WriteEnvelope { path: PathBuf, source: std::io::Error },
}

/// `compose sign`'s default output: FILE with its `.json` suffix replaced by `.dsse.json`
/// (`out/busybox.provenance.json` -> `out/busybox.provenance.dsse.json`); a FILE without `.json` gets
/// `.dsse.json` appended.
pub fn default_output(file: &Path) -> PathBuf {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".json").unwrap_or(&name);
    file.with_file_name(format!("{stem}.dsse.json"))
}

/// Signs the bytes of `file` as `payload_type` and writes the envelope to `output` (temp file, then
/// rename; an existing envelope is replaced). Returns the envelope written.
pub fn sign_file(key: &SigningKey, payload_type: &str, file: &Path, output: &Path) -> Result<Envelope, SignError> {
    let payload = std::fs::read(file).map_err(|source| SignError::ReadPayload { path: file.to_path_buf(), source })?;
    let envelope = key.sign(payload_type, &payload)?;
    let write = |source| SignError::WriteEnvelope { path: output.to_path_buf(), source };
    let mut json = serde_json::to_vec_pretty(&envelope).map_err(|e| write(e.into()))?;
    json.push(b'\n');
    write_file(output, &json, 0o644, true).map_err(write)?;
    Ok(envelope)
}

/// Writes `bytes` to `path` with `mode` through a temp file in the same directory, fsynced, then
/// renamed into place; with `replace` false an existing `path` is never replaced (the rename fails with
/// `AlreadyExists` instead, so two runs cannot race past a check).
fn write_file(path: &Path, bytes: &[u8], mode: u32, replace: bool) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".compose-").suffix(".partial").tempfile_in(dir)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    let placed = if replace { tmp.persist(path) } else { tmp.persist_noclobber(path) };
    placed.map(drop).map_err(|e| e.error)
}
