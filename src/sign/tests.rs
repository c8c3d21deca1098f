use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;

/// `openssl genpkey -algorithm ed25519`; its key id is
/// `openssl pkey -in ed.key -pubout -outform DER | sha256sum`.
const OPENSSL_ED25519: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIMzKsrYfYmUZJ8uLSkg+gR0nu97cuztjVB+Nj4f9u/rQ
-----END PRIVATE KEY-----
";
const OPENSSL_ED25519_ID: &str = "1aaac39900edfd9004ffa5f91534fc42f8587e454f21f4b67ed91542c6e52b16";

/// `openssl ecparam -name prime256v1 -genkey` (SEC1, with its EC PARAMETERS block first).
const OPENSSL_SEC1_P256: &str = "-----BEGIN EC PARAMETERS-----
BggqhkjOPQMBBw==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIBB5TZ1VFSIf8XkWXO27T6TTZvro+erKgNvN1OQixydFoAoGCCqGSM49
AwEHoUQDQgAEc5W8p4eh4U+G9gFjSssf9KXzRHb5ogRBY3yaGPN81Z/UHMnhySwP
wJ1ueH+AwJGPKIt2j+BOkWJ1Xm3O/9W1xQ==
-----END EC PRIVATE KEY-----
";
const OPENSSL_SEC1_P256_ID: &str = "ca9f32c933d284f3f9bd2ff5e89057c3e05f88313b2e497460b82fc472647890";

/// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384`.
const OPENSSL_P384: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDA/Qg5IA+6YD8lZjfMs
dNQ/Wmd7CNB3vEnOHFOrKOgWIadXuz0mLmttEMIGjY/wgWmhZANiAATU/HKI2ZXg
CJMkn1B9q9zjeKmqQwZynD6qlWvYl83xP7ZU+XQywPbTNtoSe0i0hATUL9q1Tp96
UgQU0+wPaJeHq/gQIDsRmb1bAdddYLJ00pVSJLfvM2K9Dc+bltx4k7g=
-----END PRIVATE KEY-----
";

/// `openssl ec -aes128`: the traditional encrypted form.
const OPENSSL_ENCRYPTED_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: AES-128-CBC,D18A3049241912127E3759C21007A660

MAA=
-----END EC PRIVATE KEY-----
";

fn pair(dir: &Path, kind: KeyKind) -> (SigningKey, PublicKey) {
    let (private, public) = (dir.join(format!("{}.key", kind.name())), dir.join(format!("{}.pub", kind.name())));
    generate(kind, &private, &public).unwrap();
    (SigningKey::load(&private).unwrap(), PublicKey::load(&public).unwrap())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[track_caller]
fn verify_fails(key: &PublicKey, envelope: &Envelope, needle: &str) {
    match key.verify(envelope) {
        Err(e @ SignError::Verify { .. }) => assert!(e.to_string().contains(needle), "{e} lacks {needle:?}"),
        other => panic!("expected a Verify error with {needle:?}, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn pae_of_the_dsse_spec_example() {
    assert_eq!(
        pae("http://example.com/HelloWorld", b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    );
    assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
}

#[test]
fn sign_and_verify_round_trip_for_both_kinds() {
    let dir = tempfile::tempdir().unwrap();
    for kind in [KeyKind::EcdsaP256, KeyKind::Ed25519] {
        let (signer, public) = pair(dir.path(), kind);
        assert_eq!((signer.kind(), public.kind()), (kind, kind));
        assert_eq!(signer.key_id(), public.key_id());
        let env = signer.sign(PAYLOAD_TYPE_IN_TOTO, b"{\"_type\":\"x\"}").unwrap();
        assert_eq!(env.payload, "eyJfdHlwZSI6IngifQ==");
        assert_eq!(env.signatures.len(), 1);
        assert_eq!(env.signatures[0].keyid, public.key_id());
        assert_eq!(public.verify(&env).unwrap(), b"{\"_type\":\"x\"}");
        // Through JSON too, with the spec's field names.
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(json["payloadType"], PAYLOAD_TYPE_IN_TOTO);
        let back: Envelope = serde_json::from_value(json).unwrap();
        assert_eq!(public.verify(&back).unwrap(), b"{\"_type\":\"x\"}");
    }
}

#[test]
fn a_changed_payload_type_or_key_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, public) = pair(dir.path(), KeyKind::EcdsaP256);
    let (_, other) = pair(dir.path(), KeyKind::Ed25519);
    let env = signer.sign(PAYLOAD_TYPE_IN_TOTO, b"payload").unwrap();

    let mut changed = env.clone();
    changed.payload = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"pAyload");
    verify_fails(&public, &changed, "does not verify");
    let mut changed = env.clone();
    changed.payload_type = "application/json".into();
    verify_fails(&public, &changed, "does not verify");
    verify_fails(&other, &env, "no signature by this key");
    // Without a keyid hint, the wrong key is tried and fails on the signature itself.
    let mut anonymous = env.clone();
    anonymous.signatures[0].keyid.clear();
    assert!(public.verify(&anonymous).is_ok());
    verify_fails(&other, &anonymous, "does not verify");

    let mut bad = env.clone();
    bad.payload = "not base64!".into();
    verify_fails(&public, &bad, "payload is not valid base64");
    let mut bad = env.clone();
    bad.signatures[0].sig = "%%%".into();
    verify_fails(&public, &bad, "signature 0 is not valid base64");
    let mut none = env.clone();
    none.signatures.clear();
    verify_fails(&public, &none, "no signatures");
}

#[test]
fn a_second_signature_by_this_key_is_found_and_url_safe_base64_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, public) = pair(dir.path(), KeyKind::Ed25519);
    let (other_signer, _) = pair(dir.path(), KeyKind::EcdsaP256);
    let mut env = other_signer.sign("t", &[0xfb, 0xff, 0xfe]).unwrap();
    let mine = signer.sign("t", &[0xfb, 0xff, 0xfe]).unwrap();
    env.signatures.push(mine.signatures[0].clone());
    env.payload = env.payload.replace('+', "-").replace('/', "_");
    assert_eq!(public.verify(&env).unwrap(), [0xfb, 0xff, 0xfe]);
}

#[test]
fn key_ids_are_the_sha256_of_the_spki_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let ed = write(dir.path(), "ed.key", OPENSSL_ED25519);
    assert_eq!(SigningKey::load(&ed).unwrap().key_id(), OPENSSL_ED25519_ID);
    assert_eq!(SigningKey::load(&ed).unwrap().key_id(), OPENSSL_ED25519_ID);
    let sec1 = write(dir.path(), "sec1.pem", OPENSSL_SEC1_P256);
    let key = SigningKey::load(&sec1).unwrap();
    assert_eq!((key.kind(), key.key_id().as_str()), (KeyKind::EcdsaP256, OPENSSL_SEC1_P256_ID));
    let env = key.sign("t", b"x").unwrap();
    assert!(key.public_key().verify(&env).is_ok());
}

#[test]
fn generate_writes_modes_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = (dir.path().join("k.key"), dir.path().join("k.pub"));
    generate(KeyKind::Ed25519, &private, &public).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&private), mode(&public)), (0o600, 0o644));
    let text = std::fs::read_to_string(&private).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{text}");
    assert!(std::fs::read_to_string(&public).unwrap().starts_with("-----BEGIN PUBLIC KEY-----\n"));
    let before = std::fs::read(&private).unwrap();
    let err = generate(KeyKind::EcdsaP256, &private, &dir.path().join("other.pub")).unwrap_err();
    assert!(matches!(&err, SignError::Exists { path } if path == &private), "{err}");
    assert_eq!(std::fs::read(&private).unwrap(), before);
    assert!(!dir.path().join("other.pub").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}

#[test]
fn key_errors_name_the_file_and_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("garbage.key", "hello\n", "not a PEM file"),
        ("open.key", "-----BEGIN PRIVATE KEY-----\nMAA=\n", "has no END line"),
        ("b64.key", "-----BEGIN PRIVATE KEY-----\n@@@@\n-----END PRIVATE KEY-----\n", "not valid base64"),
        ("asn1.key", "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n", "not a DER PKCS#8"),
        ("p384.key", OPENSSL_P384, "an EC key on P-384 (secp384r1), which compose does not support"),
        ("enc.key", OPENSSL_ENCRYPTED_SEC1, "an encrypted private key"),
        (
            "pkcs8enc.key",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "encrypted",
        ),
        ("rsa.key", "-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n", "an RSA key"),
        ("ssh.key", "-----BEGIN OPENSSH PRIVATE KEY-----\nMAA=\n-----END OPENSSH PRIVATE KEY-----\n", "OpenSSH"),
    ];
    for (name, text, needle) in cases {
        let p = write(dir.path(), name, text);
        let msg = SigningKey::load(&p).err().unwrap_or_else(|| panic!("{name} loaded")).to_string();
        assert!(msg.contains(&format!("`{}`", p.display())) && msg.contains(needle), "{name}: {msg}");
    }
    let missing = dir.path().join("missing.key");
    let err = SigningKey::load(&missing).err().unwrap();
    assert!(matches!(&err, SignError::ReadKey { path, .. } if path == &missing), "{err}");
    // Each half where the other is expected.
    let ed = write(dir.path(), "ed.key", OPENSSL_ED25519);
    let msg = PublicKey::load(&ed).err().unwrap().to_string();
    assert!(msg.contains("it is a private key"), "{msg}");
    let public = dir.path().join("k.pub");
    generate(KeyKind::Ed25519, &dir.path().join("k.key"), &public).unwrap();
    let msg = SigningKey::load(&public).err().unwrap().to_string();
    assert!(msg.contains("it is a public key"), "{msg}");
}

#[test]
fn sign_file_writes_the_envelope_beside_the_file() {
    assert_eq!(default_output(Path::new("out/busybox.provenance.json")), Path::new("out/busybox.provenance.dsse.json"));
    assert_eq!(default_output(Path::new("notes.txt")), Path::new("notes.txt.dsse.json"));
    let dir = tempfile::tempdir().unwrap();
    let (signer, public) = pair(dir.path(), KeyKind::EcdsaP256);
    let file = write(dir.path(), "a.provenance.json", "{}\n");
    let out = default_output(&file);
    let env = sign_file(&signer, PAYLOAD_TYPE_IN_TOTO, &file, &out).unwrap();
    let read: Envelope = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(read, env);
    assert_eq!(public.verify(&read).unwrap(), b"{}\n");
    let err = sign_file(&signer, PAYLOAD_TYPE_IN_TOTO, &dir.path().join("nope.json"), &out).unwrap_err();
    assert!(matches!(err, SignError::ReadPayload { .. }), "{err}");
}
