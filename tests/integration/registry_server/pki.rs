//! The test registry's keys and certificates, made in-process (rcgen on aws-lc-rs) for each instance:
//! a CA, a server certificate for `127.0.0.1` and `localhost` signed by it (the registry's and the token
//! endpoint's), and the token signer: an ECDSA P-256 key with a self-signed certificate, which the
//! registry reads as its `rootcertbundle` and matches a JWT's `kid` against.

use std::net::{IpAddr, Ipv4Addr};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType,
};
use sha2::{Digest, Sha256};

/// A CA and a server certificate it signed, in the forms the registry (PEM files) and rustls (DER) read.
pub struct ServerPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub key_pem: String,
    /// PKCS#8
    pub key_der: Vec<u8>,
}

pub fn server() -> ServerPki {
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::CommonName, "compose test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(ca, key_pair()).expect("self-sign the test CA");

    let key = key_pair();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("server certificate parameters");
    params.subject_alt_names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca).expect("sign the server certificate with the test CA");
    ServerPki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem: key.serialize_pem(),
        key_der: key.serialize_der(),
    }
}

/// The key that signs the token endpoint's JWTs (ES256).
pub struct Signer {
    key: EcdsaKeyPair,
    /// libtrust's key ID of the public key: what distribution looks the key up by.
    pub kid: String,
    /// A self-signed certificate of the key, for the registry's `rootcertbundle`.
    pub cert_pem: String,
}

impl Signer {
    pub fn generate() -> Signer {
        let key = key_pair();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "compose test token signer");
        let cert = params.self_signed(&key).expect("self-sign the token signer's certificate");
        let kid = libtrust_key_id(&key.subject_public_key_info());
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der())
            .expect("load the token signer's key into aws-lc-rs");
        Signer { key, kid, cert_pem: cert.pem() }
    }

    /// The ES256 signature of `data` in JOSE form: r and s, 32 bytes each.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.key.sign(&SystemRandom::new(), data).expect("sign a token").as_ref().to_vec()
    }
}

fn key_pair() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("generate an ECDSA P-256 key")
}

/// libtrust's `keyIDFromCryptoKey` (the registry's `registry/auth/token` looks trusted keys up by it):
/// SHA-256 of the DER SubjectPublicKeyInfo, its first 30 bytes in unpadded standard base32, in groups
/// of four joined by ':'.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    let b32 = base32(&Sha256::digest(spki_der)[..30]);
    let groups: Vec<&str> = b32.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect();
    groups.join(":")
}

/// RFC 4648 base32, standard alphabet, without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = ((acc << 8) | u32::from(b)) & 0xffff;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[test]
fn base32_and_key_id_follow_rfc4648_and_libtrust() {
    // RFC 4648 section 10 test vectors, padding stripped.
    assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    assert_eq!(base32(b"fooba"), "MZXW6YTB");
    assert_eq!(base32(b"f"), "MY");
    let kid = libtrust_key_id(b"any key");
    assert_eq!(kid.len(), 12 * 4 + 11, "{kid}");
    assert!(kid.split(':').all(|g| g.len() == 4), "{kid}");
}
