//! Keys: loading PEM private and public keys, generating a pair, signing and verifying with them.

use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
    ParsedPublicKey,
};

use super::der::{self, Algorithm};
use super::dsse::{self, Envelope};
use super::{KeyKind, SignError, pem, write_file};

/// A private key to sign with, loaded from a PEM file.
pub struct SigningKey {
    path: PathBuf,
    pair: Pair,
    public: PublicKey,
}

enum Pair {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A public key to verify with, loaded from a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) file.
pub struct PublicKey {
    kind: KeyKind,
    /// The DER SubjectPublicKeyInfo as aws-lc-rs writes it (canonical: the key id hashes this).
    spki: Vec<u8>,
    key: ParsedPublicKey,
}

impl SigningKey {
    /// Reads an unencrypted private key: PKCS#8 `PRIVATE KEY` (P-256 or Ed25519) or SEC1
    /// `EC PRIVATE KEY` (P-256).
    pub fn load(path: &Path) -> Result<Self, SignError> {
        let block = read_block(path)?;
        let unsupported = |what: &str| SignError::UnsupportedKey { path: path.to_path_buf(), what: what.into() };
        if block.encrypted || block.label == "ENCRYPTED PRIVATE KEY" {
            return Err(unsupported("an encrypted private key"));
        }
        let pair = match block.label.as_str() {
            "PRIVATE KEY" => pkcs8_pair(path, &block.der)?,
            "EC PRIVATE KEY" => sec1_pair(path, &block.der)?,
            "RSA PRIVATE KEY" => return Err(unsupported("an RSA key")),
            "DSA PRIVATE KEY" => return Err(unsupported("a DSA key")),
            "OPENSSH PRIVATE KEY" => return Err(unsupported("an OpenSSH-format key")),
            "PUBLIC KEY" => return Err(parse_err(path, "it is a public key; signing needs the private key")),
            other => return Err(parse_err(path, format!("a `{other}` block, not a private key"))),
        };
        let public = match &pair {
            Pair::Ecdsa(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Pair::Ed25519(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
        };
        let spki = public.map_err(|_| parse_err(path, "its public key cannot be encoded"))?;
        let public = PublicKey::from_spki(path, &spki)?;
        Ok(SigningKey { path: path.to_path_buf(), pair, public })
    }

    /// The lowercase hex SHA-256 of the public key's DER SubjectPublicKeyInfo.
    pub fn key_id(&self) -> String {
        self.public.key_id()
    }

    pub fn kind(&self) -> KeyKind {
        self.public.kind
    }

    /// The public half, e.g. to check an envelope just made.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// A DSSE envelope of `payload` as `payload_type` with one signature by this key.
    pub fn sign(&self, payload_type: &str, payload: &[u8]) -> Result<Envelope, SignError> {
        let message = dsse::pae(payload_type, payload);
        let sig = match &self.pair {
            Pair::Ecdsa(k) => k.sign(&SystemRandom::new(), &message).map(|s| s.as_ref().to_vec()),
            Pair::Ed25519(k) => k.try_sign(&message).map(|s| s.as_ref().to_vec()),
        };
        let sig = sig.map_err(|_| SignError::Sign { path: self.path.clone() })?;
        Ok(dsse::envelope(payload_type, payload, &self.key_id(), &sig))
    }
}

impl PublicKey {
    /// Reads a PEM `PUBLIC KEY` (DER SubjectPublicKeyInfo) of P-256 or Ed25519.
    pub fn load(path: &Path) -> Result<Self, SignError> {
        let block = read_block(path)?;
        match block.label.as_str() {
            "PUBLIC KEY" => PublicKey::from_spki(path, &block.der),
            "RSA PUBLIC KEY" => Err(SignError::UnsupportedKey { path: path.to_path_buf(), what: "an RSA key".into() }),
            l if l.contains("PRIVATE KEY") => {
                Err(parse_err(path, "it is a private key; verifying takes the public key (the `.pub` file)"))
            }
            other => Err(parse_err(path, format!("a `{other}` block, not a public key"))),
        }
    }

    /// The lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.
    pub fn key_id(&self) -> String {
        crate::digest::Sha256::hex_of(&self.spki)
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Checks that one signature of the envelope verifies with this key; returns the decoded payload.
    /// Signatures whose `keyid` is set to another key's id are skipped (the key id is only a hint:
    /// it selects, it never vouches).
    pub fn verify(&self, envelope: &Envelope) -> Result<Vec<u8>, SignError> {
        dsse::verify(envelope, &self.key_id(), |message, sig| self.key.verify_sig(message, sig).is_ok())
    }

    fn from_spki(path: &Path, spki: &[u8]) -> Result<Self, SignError> {
        let (kind, alg): (_, &'static dyn signature::VerificationAlgorithm) = match der::algorithm(spki, false) {
            Some(Algorithm::EcdsaP256) => (KeyKind::EcdsaP256, &ECDSA_P256_SHA256_ASN1),
            Some(Algorithm::Ed25519) => (KeyKind::Ed25519, &ED25519),
            Some(Algorithm::Other(what)) => return Err(SignError::UnsupportedKey { path: path.to_path_buf(), what }),
            None => return Err(parse_err(path, "the PUBLIC KEY block is not a DER SubjectPublicKeyInfo")),
        };
        let key = ParsedPublicKey::new(alg, spki).map_err(|e| rejected(path, kind, e))?;
        let spki = key.as_der().map_err(|_| parse_err(path, "the public key cannot be encoded"))?.as_ref().to_vec();
        Ok(PublicKey { kind, spki, key })
    }
}

/// Generates a key pair of `kind`: `private` gets the PKCS#8 PEM (`PRIVATE KEY`, mode 0600), `public`
/// the SubjectPublicKeyInfo PEM (`PUBLIC KEY`, mode 0644). Neither file may exist (`Exists`); each is
/// written to a temp file and renamed without replacing anything, and if the public key cannot be
/// written the private key just written is removed again.
pub fn generate(kind: KeyKind, private: &Path, public: &Path) -> Result<(), SignError> {
    for path in [private, public] {
        if path.symlink_metadata().is_ok() {
            return Err(SignError::Exists { path: path.to_path_buf() });
        }
    }
    let rng = SystemRandom::new();
    let pkcs8 = match kind {
        KeyKind::EcdsaP256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng),
        KeyKind::Ed25519 => Ed25519KeyPair::generate_pkcs8v1(&rng),
    }
    .map_err(|_| SignError::Generate { kind: kind.name() })?;
    let spki = match pkcs8_pair(private, pkcs8.as_ref())? {
        Pair::Ecdsa(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
        Pair::Ed25519(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
    }
    .map_err(|_| SignError::Generate { kind: kind.name() })?;
    write_key(private, &pem::encode("PRIVATE KEY", pkcs8.as_ref()), 0o600)?;
    if let Err(e) = write_key(public, &pem::encode("PUBLIC KEY", &spki), 0o644) {
        let _ = std::fs::remove_file(private);
        return Err(e);
    }
    Ok(())
}

fn write_key(path: &Path, text: &str, mode: u32) -> Result<(), SignError> {
    write_file(path, text.as_bytes(), mode, false).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => SignError::Exists { path: path.to_path_buf() },
        _ => SignError::WriteKey { path: path.to_path_buf(), source },
    })
}

/// The first key block of the PEM file at `path` (OpenSSL puts `EC PARAMETERS` before an EC key).
fn read_block(path: &Path) -> Result<pem::Block, SignError> {
    let bytes = std::fs::read(path).map_err(|source| SignError::ReadKey { path: path.to_path_buf(), source })?;
    let text = String::from_utf8(bytes).map_err(|_| parse_err(path, "not a PEM file (binary data; DER?)"))?;
    let blocks = pem::parse(&text).map_err(|reason| parse_err(path, reason))?;
    let mut keys = blocks.into_iter().filter(|b| b.label != "EC PARAMETERS");
    keys.next().ok_or_else(|| parse_err(path, "it has EC parameters but no key"))
}

fn pkcs8_pair(path: &Path, der: &[u8]) -> Result<Pair, SignError> {
    match der::algorithm(der, true) {
        Some(Algorithm::EcdsaP256) => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
            .map(Pair::Ecdsa)
            .map_err(|e| rejected(path, KeyKind::EcdsaP256, e)),
        Some(Algorithm::Ed25519) => {
            Ed25519KeyPair::from_pkcs8(der).map(Pair::Ed25519).map_err(|e| rejected(path, KeyKind::Ed25519, e))
        }
        Some(Algorithm::Other(what)) => Err(SignError::UnsupportedKey { path: path.to_path_buf(), what }),
        None => Err(parse_err(path, "the PRIVATE KEY block is not a DER PKCS#8 PrivateKeyInfo")),
    }
}

fn sec1_pair(path: &Path, der: &[u8]) -> Result<Pair, SignError> {
    if let Some(Algorithm::Other(what)) = der::sec1_curve(der) {
        return Err(SignError::UnsupportedKey { path: path.to_path_buf(), what });
    }
    EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
        .map(Pair::Ecdsa)
        .map_err(|e| rejected(path, KeyKind::EcdsaP256, e))
}

fn rejected(path: &Path, kind: KeyKind, e: aws_lc_rs::error::KeyRejected) -> SignError {
    parse_err(path, format!("not a valid {} key ({e})", kind.name()))
}

fn parse_err(path: &Path, reason: impl Into<String>) -> SignError {
    SignError::ParseKey { path: path.to_path_buf(), reason: reason.into() }
}
