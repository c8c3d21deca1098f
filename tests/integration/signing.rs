//! `compose keygen` and `compose sign`: key files (modes, never overwritten, exit 20), the DSSE
//! envelope's shape; and, in the `validators` tier, an independent implementation (Python's
//! `cryptography`) verifying compose's signatures and making keys compose signs with.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::harness::{Run, Test};

const KEY_EXIT: i32 = 20;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

/// The key id `compose keygen` printed (`key id   HEX  (kind)`).
#[track_caller]
fn key_id(run: &Run) -> String {
    let line = run.stdout.lines().find(|l| l.starts_with("key id")).expect("a `key id` line on stdout");
    let id = line.split_whitespace().nth(2).unwrap().to_string();
    assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{line}");
    id
}

fn envelope(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

#[test]
fn keygen_writes_a_private_and_a_public_key_and_never_overwrites_them() {
    let t = Test::new();
    let run = t.run_with(&["keygen"], &[]);
    run.success().stdout_has("compose.key").stdout_has("compose.pub").stdout_has("(ecdsa-p256)");
    key_id(&run);
    let (private, public) = (t.path("compose.key"), t.path("compose.pub"));
    assert_eq!((mode(&private), mode(&public)), (0o600, 0o644));
    assert!(std::fs::read_to_string(&private).unwrap().starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(std::fs::read_to_string(&public).unwrap().starts_with("-----BEGIN PUBLIC KEY-----\n"));

    let before = (std::fs::read(&private).unwrap(), std::fs::read(&public).unwrap());
    let again = t.run_with(&["keygen", "--type", "ed25519"], &[]);
    again.code(KEY_EXIT).stderr_has("compose.key` already exists").stderr_has("hint:");
    assert_eq!((std::fs::read(&private).unwrap(), std::fs::read(&public).unwrap()), before);

    // Only the public half there: still refused, and no private key is left behind.
    std::fs::write(t.path("half.pub"), "x").unwrap();
    t.run_with(&["keygen", "--output", "half"], &[]).code(KEY_EXIT).stderr_has("half.pub` already exists");
    assert!(!t.path("half.key").exists());

    let ed = t.run_with(&["keygen", "--type", "ed25519", "--output", "keys-ed"], &[]);
    ed.success().stdout_has("keys-ed.key").stdout_has("keys-ed.pub").stdout_has("(ed25519)");
    assert_ne!(key_id(&ed), key_id(&run));
    let names: Vec<String> =
        std::fs::read_dir(t.dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert!(!names.iter().any(|n| n.contains("partial")), "a temp file was left: {names:?}");
}

#[test]
fn sign_writes_a_dsse_envelope_of_the_file_beside_it() {
    let t = Test::new().file("out/busybox.provenance.json", "{\"_type\": \"https://in-toto.io/Statement/v1\"}\n");
    let keygen = t.run_with(&["keygen", "--type", "ed25519"], &[]);
    let id = key_id(keygen.success());
    let run = t.run_with(&["sign", "out/busybox.provenance.json", "--key", "compose.key"], &[]);
    run.success();
    assert_eq!(run.stdout.trim(), "out/busybox.provenance.dsse.json");
    let env = envelope(&t.path("out/busybox.provenance.dsse.json"));
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
    let payload = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload, std::fs::read(t.path("out/busybox.provenance.json")).unwrap());
    let sigs = env["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0]["keyid"], id.as_str());
    assert_eq!(STANDARD.decode(sigs[0]["sig"].as_str().unwrap()).unwrap().len(), 64, "an Ed25519 signature");

    let run = t.run_with(
        &[
            "sign",
            "out/busybox.provenance.json",
            "--key",
            "compose.key",
            "--payload-type",
            "text/x-test",
            "-o",
            "x.json",
        ],
        &[],
    );
    run.success().stdout_has("x.json");
    assert_eq!(envelope(&t.path("x.json"))["payloadType"], "text/x-test");
}

#[test]
fn sign_refuses_missing_public_and_unsupported_keys_with_exit_20() {
    let t = Test::new()
        .file("p.json", "{}")
        .file("rsa.key", "-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n");
    t.run_with(&["keygen"], &[]).success();
    let sign = |key: &str| t.run_with(&["sign", "p.json", "--key", key], &[]);
    sign("missing.key").code(KEY_EXIT).stderr_has("cannot read the key file `missing.key`");
    sign("compose.pub").code(KEY_EXIT).stderr_has("`compose.pub` is not a usable key: it is a public key");
    sign("rsa.key").code(KEY_EXIT).stderr_has("holds an RSA key").stderr_has("hint: make a supported key");
    let run = t.run_with(&["sign", "nope.json", "--key", "compose.key"], &[]);
    run.code(1).stderr_has("cannot read `nope.json`");
    assert!(!t.path("p.dsse.json").exists() && !t.path("nope.dsse.json").exists());
}

// ---- validators tier: Python's `cryptography`, independent of aws-lc-rs ----

const DSSE_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/validators/dsse.py");

/// Fails unless python3 can import `cryptography` (.ci/run installs it).
fn require_cryptography() {
    crate::engines::require("python3", "python3");
    let o = Command::new("python3").args(["-c", "import cryptography"]).output().expect("python3 runs");
    assert!(
        o.status.success(),
        "Python's `cryptography` is required for this test: pip install cryptography (see .ci/run)\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn dsse_py(t: &Test, args: &[&str]) -> std::process::Output {
    Command::new("python3").arg(DSSE_PY).args(args).current_dir(t.dir.path()).output().expect("python3 runs")
}

#[track_caller]
fn python_accepts(t: &Test, envelope: &str, public: &str) -> String {
    let o = dsse_py(t, &["verify", envelope, public]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "cryptography rejected {envelope}:\n{out}{}", String::from_utf8_lossy(&o.stderr));
    out.trim().strip_prefix("valid ").expect("`valid KEYID`").to_string()
}

#[track_caller]
fn python_rejects(t: &Test, envelope: &str, public: &str) {
    let o = dsse_py(t, &["verify", envelope, public]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "cryptography accepted the tampered {envelope}");
    assert!(err.contains("no signature verifies"), "{err}");
}

/// Writes a copy of `src` changed by `edit`.
fn tamper(t: &Test, src: &str, dst: &str, edit: impl Fn(&mut Value)) {
    let mut env = envelope(&t.path(src));
    edit(&mut env);
    std::fs::write(t.path(dst), serde_json::to_vec(&env).unwrap()).unwrap();
}

#[test]
#[ignore = "tier: validators"]
fn validators_python_cryptography_verifies_compose_envelopes_and_rejects_tampered_ones() {
    require_cryptography();
    let t = Test::new().file("a.provenance.json", "{\"_type\": \"https://in-toto.io/Statement/v1\", \"n\": 1}\n");
    for kind in ["ecdsa-p256", "ed25519"] {
        let keygen = t.run_with(&["keygen", "--type", kind, "--output", kind], &[]);
        let id = key_id(keygen.success());
        let out = format!("{kind}.dsse.json");
        let key = format!("{kind}.key");
        t.run_with(&["sign", "a.provenance.json", "--key", &key, "-o", &out], &[]).success();
        let public = format!("{kind}.pub");
        assert_eq!(python_accepts(&t, &out, &public), id, "{kind}: compose's key id is the SPKI's sha256");

        tamper(&t, &out, "payload.json", |e| {
            e["payload"] = STANDARD.encode(b"{\"_type\": \"https://in-toto.io/Statement/v1\", \"n\": 2}\n").into()
        });
        python_rejects(&t, "payload.json", &public);
        tamper(&t, &out, "type.json", |e| e["payloadType"] = "application/json".into());
        python_rejects(&t, "type.json", &public);
    }
    // Each kind's envelope under the other kind's key.
    python_rejects(&t, "ed25519.dsse.json", "ecdsa-p256.pub");
}

#[test]
#[ignore = "tier: validators"]
fn validators_compose_signs_with_keys_made_by_python_cryptography() {
    require_cryptography();
    let t = Test::new().file("p.json", "{\"x\": [1, 2, 3]}");
    for kind in ["ecdsa-p256", "ed25519", "ecdsa-p256-sec1"] {
        let o = dsse_py(&t, &["keygen", kind, kind]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let python_id = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let (key, out) = (format!("{kind}.key"), format!("{kind}.dsse.json"));
        t.run_with(&["sign", "p.json", "--key", &key, "-o", &out], &[]).success().stderr_has(&python_id);
        assert_eq!(python_accepts(&t, &out, &format!("{kind}.pub")), python_id, "{kind}");
    }
}
