//! `compose push` and `compose verify-image` against the real distribution server (Debian's
//! `docker-registry`), with a fixture image from the stub toolchain. Tier `registry`: needs the
//! `docker-registry` package, and skopeo. What is in the registry is read back with plain HTTP requests
//! (not compose's client) and with skopeo.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::engines::{require, tool};
use crate::harness::{E, Test, recipe, sha256_bytes};
use crate::registry_server::{self, TestRegistry};

const DSSE_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/validators/dsse.py");

const INSTALL: &str = r#"mkdir -p "$DESTDIR/bin" && cp hello.sh "$DESTDIR/bin/hello""#;

/// The fixture image `hello:1.0` as an OCI layout and archive, with its records, in `out/`.
fn built() -> Test {
    assert!(registry_server::available(), "the registry tier needs Debian's `docker-registry` package");
    let t = Test::new()
        .tarball(
            "hello-1.0.tar.gz",
            &[E::Dir("hello-1.0"), E::File("hello-1.0/hello.sh", "#!/bin/sh\necho hi\n", 0o755)],
        )
        .recipe("hello", &recipe("hello", "hello-1.0.tar.gz", &[], &[], INSTALL))
        .build("hello", &["--format", "oci,oci-archive"]);
    t.run().success();
    t
}

/// Environment that keeps the user's own credentials out: no auth file but the test's.
fn env(t: &Test) -> Vec<(String, String)> {
    vec![
        ("HOME".into(), t.path("home").display().to_string()),
        ("XDG_RUNTIME_DIR".into(), t.path("run").display().to_string()),
        ("REGISTRY_AUTH_FILE".into(), t.path("auth.json").display().to_string()),
    ]
}

fn compose(t: &Test, args: &[&str], extra: &[(&str, &str)]) -> crate::harness::Run {
    let mut e = env(t);
    e.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    t.run_with(args, &e)
}

/// `--cert-dir DIR` for a TLS registry.
fn cert_args(r: &TestRegistry) -> Vec<String> {
    r.cert_dir.iter().flat_map(|d| ["--cert-dir".to_string(), d.display().to_string()]).collect()
}

fn push(t: &Test, r: &TestRegistry, repo: &str, extra: &[&str]) -> crate::harness::Run {
    let reference = format!("{}/{repo}", r.addr);
    let mut args = vec!["push".to_string(), "out/hello.oci".into(), reference];
    args.extend(cert_args(r));
    args.extend(extra.iter().map(|s| s.to_string()));
    compose(t, &args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
}

/// A client of our own for reading the registry back.
struct Http {
    client: reqwest::blocking::Client,
    base: String,
    auth: Option<(String, String)>,
}

impl Http {
    fn of(r: &TestRegistry) -> Http {
        let mut b = reqwest::blocking::Client::builder();
        let scheme = match &r.cert_dir {
            Some(d) => {
                let pem = std::fs::read(d.join("ca.crt")).unwrap();
                b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
                "https"
            }
            None => "http",
        };
        Http {
            client: b.build().unwrap(),
            base: format!("{scheme}://{}", r.addr),
            auth: Some((r.username.clone(), r.password.clone())),
        }
    }

    fn get(&self, path: &str, accept: &str) -> (u16, Vec<u8>) {
        let mut req = self.client.get(format!("{}{path}", self.base)).header("Accept", accept);
        if let Some((u, p)) = &self.auth {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().unwrap();
        (resp.status().as_u16(), resp.bytes().unwrap().to_vec())
    }

    fn manifest(&self, repo: &str, reference: &str) -> Value {
        let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";
        let (status, body) = self.get(&format!("/v2/{repo}/manifests/{reference}"), accept);
        assert_eq!(status, 200, "manifest {repo}:{reference}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }

    fn blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let (status, body) = self.get(&format!("/v2/{repo}/blobs/{digest}"), "*/*");
        assert_eq!(status, 200, "blob {digest}");
        body
    }

    /// The referrers of `digest`: the API if the registry has it, else the `sha256-<hex>` tag.
    fn referrers(&self, repo: &str, digest: &str) -> Vec<Value> {
        let (status, body) =
            self.get(&format!("/v2/{repo}/referrers/{digest}"), "application/vnd.oci.image.index.v1+json");
        let index: Value = if status == 200 {
            serde_json::from_slice(&body).unwrap()
        } else {
            self.manifest(repo, &digest.replace(':', "-"))
        };
        index["manifests"].as_array().cloned().unwrap_or_default()
    }
}

fn layout_top(t: &Test) -> (String, Vec<u8>) {
    let index: Value = serde_json::from_slice(&std::fs::read(t.path("out/hello.oci/index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_string();
    let bytes = std::fs::read(t.path("out/hello.oci/blobs/sha256").join(&digest[7..])).unwrap();
    (digest, bytes)
}

#[test]
#[ignore = "tier: registry"]
fn registry_push_over_tls_with_basic_auth_attaches_the_records_and_a_second_push_uploads_nothing() {
    require("skopeo", "skopeo");
    let t = built();
    let r = TestRegistry::tls_basic();
    r.write_auth_file(&t.path("auth.json"));
    let first = push(&t, &r, "team/hello", &[]);
    first.success();
    let (digest, bytes) = layout_top(&t);
    assert_eq!(first.stdout.trim(), digest, "stdout is the pushed digest");
    assert!(first.stderr.contains("2 uploaded"), "config and layer uploaded: {}", first.stderr);

    // Read back with our own requests: the manifest under the layout's tag, byte for byte.
    let http = Http::of(&r);
    let (status, served) = http.get("/v2/team/hello/manifests/1.0", "application/vnd.oci.image.manifest.v1+json");
    assert_eq!((status, sha256_bytes(&served)), (200, sha256_bytes(&bytes)));
    // The three records, discoverable from the image digest, each byte-identical to its file in out/.
    let referrers = http.referrers("team/hello", &digest);
    let mut found = Vec::new();
    for (artifact_type, file) in [
        ("application/spdx+json", "hello.spdx.json"),
        ("application/vnd.cyclonedx+json", "hello.cdx.json"),
        ("application/vnd.in-toto+json", "hello.provenance.json"),
    ] {
        let d = referrers
            .iter()
            .find(|d| d["artifactType"] == artifact_type)
            .unwrap_or_else(|| panic!("no {artifact_type} among {referrers:?}"));
        let m = http.manifest("team/hello", d["digest"].as_str().unwrap());
        assert_eq!(m["subject"]["digest"], digest.as_str(), "{file}'s subject is the image");
        let layer = http.blob("team/hello", m["layers"][0]["digest"].as_str().unwrap());
        assert_eq!(layer, std::fs::read(t.path("out").join(file)).unwrap(), "{file} as attached");
        found.push(file);
    }
    assert_eq!(found.len(), 3);

    // skopeo reads it with the same CA and credentials.
    let (ok, out, err) = tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--cert-dir",
            r.cert_dir.as_ref().unwrap().to_str().unwrap(),
            "--creds",
            &format!("{}:{}", r.username, r.password),
            &format!("docker://{}/team/hello:1.0", r.addr),
        ],
    );
    assert!(ok, "skopeo inspect: {err}");
    assert_eq!(sha256_bytes(out.as_bytes()), sha256_bytes(&bytes));

    // Again: nothing moves.
    let second = push(&t, &r, "team/hello", &[]);
    second.success();
    assert_eq!(second.stdout.trim(), digest);
    assert!(second.stderr.contains("0 uploaded"), "{}", second.stderr);
    assert!(second.stderr.contains("nothing uploaded"), "{}", second.stderr);
    assert_eq!(http.referrers("team/hello", &digest).len(), 3, "no duplicate attachments");

    // Another repository of the same registry: the blobs are mounted, not uploaded.
    let other = push(&t, &r, "other/hello:mounted", &[]);
    other.success();
    assert!(other.stderr.contains("0 uploaded") && other.stderr.contains("2 mounted"), "{}", other.stderr);
    assert_eq!(
        sha256_bytes(&http.get("/v2/other/hello/manifests/mounted", "application/vnd.oci.image.manifest.v1+json").1),
        sha256_bytes(&bytes)
    );
}

#[test]
#[ignore = "tier: registry"]
fn registry_push_refuses_plain_http_wrong_credentials_and_an_unknown_ca_with_distinct_errors() {
    let t = built();
    let plain = TestRegistry::plain();
    // https to a plain-HTTP registry fails, and the hint names the flag.
    let refused = push(&t, &plain, "hello", &[]);
    refused.code(18).stderr_has("--tls-verify=false");
    push(&t, &plain, "hello", &["--tls-verify=false"]).success();

    let tls = TestRegistry::tls_basic();
    // No credentials anywhere.
    push(&t, &tls, "hello", &[]).code(18).stderr_has("compose login");
    // Wrong ones.
    push(&t, &tls, "hello", &["--creds", "compose:wrong"]).code(18);
    // The right ones, but the test CA not trusted.
    let mut args = vec!["push", "out/hello.oci", &tls.addr];
    let reference = format!("{}/hello", tls.addr);
    args[2] = &reference;
    let creds = format!("{}:{}", tls.username, tls.password);
    let untrusted = compose(&t, &[args.as_slice(), &["--creds", &creds]].concat(), &[]);
    untrusted.code(18).stderr_has("--cert-dir");
    // A malformed reference is a usage error.
    compose(&t, &["push", "out/hello.oci", "UPPER CASE/x"], &[]).code(2);
}

#[test]
#[ignore = "tier: registry"]
fn registry_login_then_push_through_the_bearer_token_flow_in_chunks() {
    let t = built();
    let r = TestRegistry::tls_token();
    let certs = cert_args(&r);
    let mut login: Vec<&str> = vec!["login", &r.addr, "--username", &r.username, "--password-stdin"];
    login.extend(certs.iter().map(String::as_str));
    let mut child = t.command(&login, &env(&t).iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>());
    child.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = child.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(r.password.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "login: {}", String::from_utf8_lossy(&out.stderr));
    let auth: Value = serde_json::from_slice(&std::fs::read(t.path("auth.json")).unwrap()).unwrap();
    assert!(auth["auths"][&r.addr]["auth"].is_string(), "login wrote {auth}");

    let before = r.token_requests();
    let pushed = compose(
        &t,
        &[
            &["push", "out/hello.oci", &format!("{}/hello:chunked", r.addr)],
            &certs.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ]
        .concat(),
        &[("COMPOSE_REGISTRY_CHUNK_SIZE", "512")],
    );
    pushed.success();
    assert!(r.token_requests() > before, "the push asked the token endpoint");
    let chunks: u32 = pushed
        .stderr
        .split(" request(s)")
        .next()
        .and_then(|s| s.rsplit(" in ").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no chunk count in {}", pushed.stderr));
    assert!(chunks > 2, "the layer went in several 512-byte chunks: {}", pushed.stderr);
    // What arrived in chunks is the layer, byte for byte.
    let (digest, bytes) = layout_top(&t);
    assert_eq!(pushed.stdout.trim(), digest);
    let manifest: Value = serde_json::from_slice(&bytes).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let data = std::fs::read(
        r.storage().join("docker/registry/v2/blobs/sha256").join(&layer[7..9]).join(&layer[7..]).join("data"),
    )
    .unwrap();
    assert_eq!(format!("sha256:{}", sha256_bytes(&data)), layer);
}

/// `skopeo copy` of `hello:FROM` to `hello:TO` in the TLS registry `r`: an image re-tagged behind the
/// signer's back.
fn retag(r: &TestRegistry, from: &str, to: &str) {
    let creds = format!("{}:{}", r.username, r.password);
    let cert_dir = r.cert_dir.as_ref().unwrap().to_str().unwrap();
    let (src, dest) = (format!("docker://{}/hello:{from}", r.addr), format!("docker://{}/hello:{to}", r.addr));
    let certs = ["--src-cert-dir", cert_dir, "--dest-cert-dir", cert_dir];
    let (ok, _, err) = tool(
        "skopeo",
        &[&["copy"][..], &certs, &["--src-creds", &creds, "--dest-creds", &creds, &src, &dest]].concat(),
    );
    assert!(ok, "skopeo copy {src} {dest}: {err}");
}

fn keygen(t: &Test, prefix: &str) -> (PathBuf, PathBuf) {
    compose(t, &["keygen", "--output", prefix], &[]).success();
    (t.path(&format!("{prefix}.key")), t.path(&format!("{prefix}.pub")))
}

fn verify(t: &Test, r: &TestRegistry, reference: &str, key: &Path) -> crate::harness::Run {
    let mut args =
        vec!["verify-image".to_string(), format!("{}/{reference}", r.addr), "--key".into(), key.display().to_string()];
    args.extend(cert_args(r));
    compose(t, &args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
}

#[test]
#[ignore = "tier: registry"]
fn registry_signed_push_verifies_and_fails_with_a_wrong_key_a_changed_provenance_and_a_changed_tag() {
    require("skopeo", "skopeo");
    let t = built();
    let r = TestRegistry::tls_basic();
    r.write_auth_file(&t.path("auth.json"));
    let (key, public) = keygen(&t, "release");
    let (_, stranger) = keygen(&t, "stranger");
    push(&t, &r, "hello", &["--sign-key", key.to_str().unwrap()]).success().stderr_has("signed with key");
    let ok = verify(&t, &r, "hello:1.0", &public);
    ok.success().stdout_has("verified").stdout_has("signature").stdout_has("provenance");
    assert_eq!(ok.stdout.matches("sbom").count(), 2, "{}", ok.stdout);

    // A second signed push reuses the signatures: nothing new in the registry.
    let again = push(&t, &r, "hello", &["--sign-key", key.to_str().unwrap()]);
    again.success().stderr_has("nothing uploaded");

    verify(&t, &r, "hello:1.0", &stranger).code(19).stderr_has("verifies with key");

    // An implementation independent of compose's (Python's `cryptography`) accepts both envelopes as the
    // registry serves them, and the provenance inside is the file in out/, byte for byte.
    let http = Http::of(&r);
    let (digest, _) = layout_top(&t);
    for artifact_type in ["application/vnd.compose.signature.v1+json", "application/vnd.in-toto+json"] {
        let d = http.referrers("hello", &digest).into_iter().find(|d| d["artifactType"] == artifact_type).unwrap();
        let m = http.manifest("hello", d["digest"].as_str().unwrap());
        let envelope = http.blob("hello", m["layers"][0]["digest"].as_str().unwrap());
        let file = t.path("served.dsse.json");
        std::fs::write(&file, &envelope).unwrap();
        let o =
            std::process::Command::new("python3").arg(DSSE_PY).arg("verify").arg(&file).arg(&public).output().unwrap();
        assert!(
            o.status.success(),
            "cryptography rejected the {artifact_type} envelope: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let parsed: Value = serde_json::from_slice(&envelope).unwrap();
        use base64::Engine;
        let payload = base64::engine::general_purpose::STANDARD.decode(parsed["payload"].as_str().unwrap()).unwrap();
        if artifact_type == "application/vnd.in-toto+json" {
            assert_eq!(payload, std::fs::read(t.path("out/hello.provenance.json")).unwrap());
        } else {
            let statement: Value = serde_json::from_slice(&payload).unwrap();
            assert_eq!(statement["subject"][0]["digest"]["sha256"], &digest[7..]);
            assert_eq!(statement["predicate"]["reference"], format!("{}/hello:1.0", r.addr));
            assert_eq!(statement["predicate"]["attachments"].as_array().unwrap().len(), 3);
        }
    }

    // The same image under another tag: the signature names the tag it was pushed as.
    retag(&r, "1.0", "evil");
    verify(&t, &r, "hello:evil", &public).code(19).stderr_has("re-tagged");
    // No tag means `latest`, which was never signed either.
    retag(&r, "1.0", "latest");
    verify(&t, &r, "hello", &public).code(19).stderr_has("re-tagged");
    // Signed under a second tag too: each tag verifies (the signature naming it is found among both).
    push(&t, &r, "hello:stable", &["--sign-key", key.to_str().unwrap()]).success();
    verify(&t, &r, "hello:stable", &public).success().stdout_has("signed as");
    verify(&t, &r, "hello:1.0", &public).success();
    // By digest alone: any tag it was signed under will do.
    verify(&t, &r, &format!("hello@{}", layout_top(&t).0), &public).success().stdout_has("asked by digest");

    // The provenance changed in the registry's storage: its bytes no longer match what was signed.
    let prov = http
        .referrers("hello", &digest)
        .into_iter()
        .find(|d| d["artifactType"] == "application/vnd.in-toto+json")
        .expect("a provenance referrer");
    let m = http.manifest("hello", prov["digest"].as_str().unwrap());
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let data = r.storage().join("docker/registry/v2/blobs/sha256").join(&layer[7..9]).join(&layer[7..]).join("data");
    // Same length (the registry serves the size it recorded): one base64 character of the payload changed.
    let mut bytes = std::fs::read(&data).unwrap();
    let at = String::from_utf8_lossy(&bytes).find("\"payload\"").expect("an envelope") + 40;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&data, &bytes).unwrap();
    verify(&t, &r, "hello:1.0", &public).code(19).stderr_has("provenance");
}

/// Checked before anything is built, so these need no registry (fast tier).
#[test]
fn push_to_a_digest_and_shared_credentials_for_two_registries_are_usage_errors() {
    let t = Test::new()
        .tarball("hello-1.0.tar.gz", &[E::Dir("hello-1.0"), E::File("hello-1.0/hello.sh", "#!/bin/sh\n", 0o755)])
        .recipe("hello", &recipe("hello", "hello-1.0.tar.gz", &[], &[], INSTALL));
    let digest = format!("127.0.0.1:5000/hello@sha256:{}", "a".repeat(64));
    let r = compose(&t, &["build", "recipes/hello.toml", "--toolchain", "stub", "--push", &digest], &[]);
    r.code(2).stderr_has("not a digest");
    let r = compose(
        &t,
        &[
            "build",
            "recipes/hello.toml",
            "--toolchain",
            "stub",
            "--push",
            "127.0.0.1:5000/hello",
            "--cache",
            "127.0.0.1:6000/cache",
            "--creds",
            "u:p",
        ],
        &[],
    );
    r.code(2).stderr_has("would apply to both");
    assert!(!t.path("out").exists(), "nothing was built");
    compose(&t, &["push", "out/hello.oci", &digest], &[]).code(2);
}
