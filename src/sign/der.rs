//! Just enough DER to tell which algorithm a key is before aws-lc-rs parses it, so a key compose does
//! not support is named ("an RSA key", "an EC key on secp384r1") instead of failing as garbage.

const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// What a key's AlgorithmIdentifier (or a SEC1 key's curve) says it is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Algorithm {
    EcdsaP256,
    Ed25519,
    /// Anything else, described for an error message.
    Other(String),
}

/// The algorithm of a DER SubjectPublicKeyInfo (`pkcs8` false) or PKCS#8 PrivateKeyInfo (`pkcs8`
/// true: a version INTEGER comes first). None when the structure is not even that.
pub(super) fn algorithm(der: &[u8], pkcs8: bool) -> Option<Algorithm> {
    let (0x30, mut inner, _) = tlv(der)? else { return None };
    if pkcs8 {
        let (0x02, _, rest) = tlv(inner)? else { return None };
        inner = rest;
    }
    let (0x30, id, _) = tlv(inner)? else { return None };
    let (0x06, oid, rest) = tlv(id)? else { return None };
    let params = tlv(rest).filter(|t| t.0 == 0x06).map(|t| t.1);
    Some(classify(oid, params))
}

/// The curve of a SEC1 `ECPrivateKey` (its `[0]` parameters), None when it names none.
pub(super) fn sec1_curve(der: &[u8]) -> Option<Algorithm> {
    let (0x30, mut inner, _) = tlv(der)? else { return None };
    while let Some((tag, content, rest)) = tlv(inner) {
        if tag == 0xa0 {
            let (0x06, oid, _) = tlv(content)? else { return None };
            return Some(classify(EC_PUBLIC_KEY, Some(oid)));
        }
        inner = rest;
    }
    None
}

fn classify(oid: &[u8], params: Option<&[u8]>) -> Algorithm {
    match (oid, params) {
        (ED25519, _) => Algorithm::Ed25519,
        (EC_PUBLIC_KEY, Some(P256)) => Algorithm::EcdsaP256,
        (EC_PUBLIC_KEY, Some(curve)) => Algorithm::Other(format!("an EC key on {}", curve_name(curve))),
        (EC_PUBLIC_KEY, None) => Algorithm::Other("an EC key with explicit curve parameters".into()),
        _ => Algorithm::Other(key_name(oid)),
    }
}

fn curve_name(oid: &[u8]) -> String {
    match dotted(oid).as_str() {
        "1.3.132.0.34" => "P-384 (secp384r1)".into(),
        "1.3.132.0.35" => "P-521 (secp521r1)".into(),
        "1.3.132.0.10" => "secp256k1".into(),
        other => format!("the curve {other}"),
    }
}

fn key_name(oid: &[u8]) -> String {
    match dotted(oid).as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => "an RSA key".into(),
        "1.2.840.10040.4.1" => "a DSA key".into(),
        "1.3.101.113" => "an Ed448 key".into(),
        "1.3.101.110" | "1.3.101.111" => "an X25519/X448 key-agreement key".into(),
        other => format!("a key of algorithm {other}"),
    }
}

/// An OID's content bytes in dotted form (`1.2.840.10045.2.1`).
fn dotted(oid: &[u8]) -> String {
    let Some((&first, rest)) = oid.split_first() else { return String::new() };
    let mut arcs = vec![u64::from(first / 40).min(2), u64::from(first) - 40 * u64::from(first / 40).min(2)];
    let mut acc = 0u64;
    for &b in rest {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(acc);
            acc = 0;
        }
    }
    arcs.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// One DER TLV: (tag, content, what follows). Definite lengths of up to 3 bytes (keys are small).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}
