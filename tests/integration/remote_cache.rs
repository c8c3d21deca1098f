//! The remote artifact cache (`--cache`, `--cache-push`) against a real registry (tier `registry`):
//! machine A builds and pushes, machine B (an empty cache, no source tarball it can reach) builds
//! nothing and writes the same bytes; an entry tampered with in the registry's storage, or forged
//! consistently by a writer, is refused and built locally, with the same result. The last two tests
//! need no registry server and run in the default tier.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::harness::{E, Run, Test, recipe, sha256_bytes};
use crate::registry_server::{self, TestRegistry};

const REPO: &str = "compose/cache";

const INSTALL_LIB: &str = r#"mkdir -p "$DESTDIR/usr/lib" "$DESTDIR/usr/share/lib"
cp lib.txt "$DESTDIR/usr/lib/lib.txt"
ln -s ../../lib/lib.txt "$DESTDIR/usr/share/lib/link""#;

const INSTALL_APP: &str = r#"mkdir -p "$DESTDIR/bin" "$DESTDIR/etc/app"
cp app.sh "$DESTDIR/bin/app"
chmod 755 "$DESTDIR/bin/app"
ln -s app "$DESTDIR/bin/app-alias"
cat /sysroot/usr/lib/lib.txt > "$DESTDIR/etc/app/from-lib"
chmod 700 "$DESTDIR/etc/app""#;

/// Two packages (`app` needs `lib` at build and run time), sources in `dl/`.
fn project() -> Test {
    Test::new()
        .tarball("lib-1.0.tar.gz", &[E::Dir("lib-1.0"), E::File("lib-1.0/lib.txt", "the library\n", 0o644)])
        .tarball("app-1.0.tar.gz", &[E::Dir("app-1.0"), E::File("app-1.0/app.sh", "#!/bin/sh\necho app\n", 0o755)])
        .recipe("lib", &recipe("lib", "lib-1.0.tar.gz", &[], &[], INSTALL_LIB))
        .recipe("app", &recipe("app", "app-1.0.tar.gz", &["lib"], &["lib"], INSTALL_APP))
        // Never built by A: its key is known only through `lib`'s, which the registry gives.
        .recipe("extra", &recipe("extra", "app-1.0.tar.gz", &["lib"], &[], "mkdir -p \"$DESTDIR/x\""))
}

/// `compose build recipes/app.toml` into `out/` with cache `cache`, the plain-HTTP registry as remote cache.
fn build(t: &Test, reg: &TestRegistry, cache: &str, extra: &[&str]) -> Run {
    build_with(t, reg, cache, &[&["--tls-verify=false"], extra].concat())
}

fn build_with(t: &Test, reg: &TestRegistry, cache: &str, extra: &[&str]) -> Run {
    let args = args(t, reg, cache, extra);
    t.run_with(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
}

fn args(t: &Test, reg: &TestRegistry, cache: &str, extra: &[&str]) -> Vec<String> {
    let cache_dir = t.path(cache).display().to_string();
    let remote = format!("{}/{REPO}", reg.addr);
    let mut args = vec!["build", "recipes/app.toml", "--toolchain", "stub", "-o", "out", "--message-format", "json"];
    args.extend(["--format", "tar,oci,oci-archive", "--cache-dir", &cache_dir, "--cache", &remote]);
    args.extend_from_slice(extra);
    args.into_iter().map(String::from).collect()
}

/// Every file under `dir` (relative path -> sha256).
fn digests(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut m = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
            m.insert(rel, sha256_bytes(&std::fs::read(e.path()).unwrap()));
        }
    }
    m
}

/// The packages of `reason` events (`package-from-remote-cache`, `package-pushed-to-remote-cache`).
fn events(r: &Run, reason: &str) -> Vec<String> {
    let mut v: Vec<String> = r
        .messages()
        .iter()
        .filter(|m| m["reason"] == reason)
        .map(|m| m["package"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// The key of `name`'s artifact in the cache directory `cache`.
fn key_of(t: &Test, cache: &str, name: &str) -> String {
    let dir = t.path(cache).join("artifacts-v1");
    let prefix = format!("{name}-");
    let keys: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix(&prefix).map(String::from))
        .filter(|k| k.len() == 64)
        .collect();
    assert_eq!(keys.len(), 1, "one artifact of {name} in {}: {keys:?}", dir.display());
    keys[0].clone()
}

/// The artifact directories in the cache directory `cache`.
fn key_list(t: &Test, cache: &str) -> Vec<String> {
    let dir = t.path(cache).join("artifacts-v1");
    std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()
}

/// A blob's file in the registry's filesystem storage.
fn blob_file(reg: &TestRegistry, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    reg.storage().join("docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
}

/// The manifest the tag points at, read from the registry's storage.
fn manifest_of(reg: &TestRegistry, tag: &str) -> serde_json::Value {
    let link = reg.storage().join(format!("docker/registry/v2/repositories/{REPO}/_manifests/tags/{tag}/current/link"));
    let digest = std::fs::read_to_string(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display()));
    serde_json::from_slice(&std::fs::read(blob_file(reg, digest.trim())).unwrap()).unwrap()
}

/// Machine A: builds everything from source and pushes it. Returns its outputs, moved to `outA/`.
fn machine_a(t: &Test, reg: &TestRegistry) -> BTreeMap<PathBuf, String> {
    let r = build(t, reg, "cacheA", &["--cache-push"]);
    r.success().stderr_has("remote cache: pushed 2 artifact(s)");
    assert_eq!(r.built(), ["app", "lib"]);
    assert_eq!(events(&r, "package-pushed-to-remote-cache"), ["app", "lib"]);
    assert!(events(&r, "package-from-remote-cache").is_empty());
    std::fs::rename(t.path("out"), t.path("outA")).unwrap();
    digests(&t.path("outA"))
}

#[test]
#[ignore = "tier: registry"]
fn registry_machine_b_without_sources_builds_nothing_and_writes_the_same_bytes() {
    assert!(registry_server::available(), "the registry tier needs {}", registry_server::BINARY);
    let reg = TestRegistry::plain();
    let t = project();
    let a = machine_a(&t, &reg);
    assert!(
        manifest_of(&reg, &format!("app-{}", key_of(&t, "cacheA", "app")))["artifactType"]
            .as_str()
            .is_some_and(|s| s == "application/vnd.compose.artifact.v1")
    );

    // `explain --cache` says what B would download, reading only manifests and metadata.
    let remote = format!("{}/{REPO}", reg.addr);
    let cache_c = t.path("cacheC").display().to_string();
    let explain = ["explain", "app", "--toolchain", "stub", "--cache-dir", &cache_c, "--cache", &remote];
    let r = t.run_with(&[&explain[..], &["--tls-verify=false"]].concat(), &[]);
    r.success();
    for p in ["lib", "app"] {
        r.stdout_has(&format!("{p}: in the remote cache {remote}: would be downloaded, not built"));
    }
    let explain = ["explain", "extra", "--toolchain", "stub", "--cache-dir", &cache_c, "--cache", &remote];
    let r = t.run_with(&[&explain[..], &["--tls-verify=false"]].concat(), &[]);
    r.success().stdout_has("lib: in the remote cache").stdout_has("extra: rebuilds (key ");
    r.stdout_has(&format!("): not in the remote cache {remote}"));
    assert!(key_list(&t, "cacheC").is_empty(), "explain stores nothing");

    // Machine B: an empty cache, and no source tarball anywhere (the recipes' file:// URLs point nowhere).
    std::fs::rename(t.path("dl"), t.path("dl.gone")).unwrap();
    let r = build(&t, &reg, "cacheB", &["--offline"]);
    r.success().stderr_has("from the remote cache").stderr_has("packages: 0 compiled, 2 from the remote cache");
    assert!(r.built().is_empty(), "nothing compiled:\n{}", r.stderr);
    assert_eq!(events(&r, "package-from-remote-cache"), ["app", "lib"]);
    assert!(!r.messages().iter().any(|m| m["reason"] == "fetch-started"), "no source fetched");
    assert_eq!(digests(&t.path("out")), a, "rootfs tar, OCI layout and archive, records: the same bytes");
    assert_eq!(key_of(&t, "cacheB", "app"), key_of(&t, "cacheA", "app"));
    let meta = |c: &str| std::fs::read(t.path(c).join(format!("artifacts-v1/app-{}/meta.json", key_of(&t, c, "app"))));
    assert_eq!(meta("cacheB").unwrap(), meta("cacheA").unwrap(), "the same meta.json");

    // With --cache-push, what came from the registry is not pushed back: only what a run builds is.
    let again = build(&t, &reg, "cacheB2", &["--offline", "--cache-push"]);
    again.success();
    assert_eq!(events(&again, "package-from-remote-cache"), ["app", "lib"]);
    assert!(events(&again, "package-pushed-to-remote-cache").is_empty());
    assert!(!again.stderr.contains("remote cache: pushed"), "{}", again.stderr);
}

#[test]
#[ignore = "tier: registry"]
fn registry_two_builds_sharing_one_empty_cache_pull_each_key_once() {
    let reg = TestRegistry::plain();
    let t = project();
    let a = machine_a(&t, &reg);
    std::fs::rename(t.path("dl"), t.path("dl.gone")).unwrap();
    let args = args(&t, &reg, "cacheB", &["--tls-verify=false", "--offline"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (one, two) = (t.spawn(&args), t.spawn(&args));
    let (one, two) = (Run::of(one), Run::of(two));
    one.success();
    two.success();
    assert!(one.built().is_empty() && two.built().is_empty());
    let mut pulled = [events(&one, "package-from-remote-cache"), events(&two, "package-from-remote-cache")].concat();
    pulled.sort();
    assert_eq!(pulled, ["app", "lib"], "each key pulled once between them");
    assert_eq!(digests(&t.path("out")), a);
}

#[test]
#[ignore = "tier: registry"]
fn registry_with_keep_going_what_built_is_pushed_though_another_package_failed() {
    let reg = TestRegistry::plain();
    let t = project()
        .recipe("bad", &recipe("bad", "app-1.0.tar.gz", &[], &[], "exit 3"))
        .recipe("top", &recipe("top", "app-1.0.tar.gz", &["lib", "bad"], &[], "mkdir -p \"$DESTDIR/x\""));
    let cache_dir = t.path("cacheA").display().to_string();
    let remote = format!("{}/{REPO}", reg.addr);
    let r = t.run_with(
        &[
            "build",
            "recipes/top.toml",
            "--toolchain",
            "stub",
            "--message-format",
            "json",
            "--keep-going",
            "--tls-verify=false",
        ],
        &[("COMPOSE_CACHE_DIR", &cache_dir), ("COMPOSE_CACHE_REGISTRY", &remote), ("COMPOSE_CACHE_PUSH", "1")],
    );
    r.code(7).stderr_has("`bad`: phase `install` failed").stderr_has("remote cache: pushed 1 artifact(s)");
    assert_eq!(events(&r, "package-pushed-to-remote-cache"), ["lib"]);
}

#[test]
#[ignore = "tier: registry"]
fn registry_a_tampered_layer_is_refused_and_built_locally_with_the_same_result() {
    let reg = TestRegistry::plain();
    let t = project();
    let a = machine_a(&t, &reg);
    let tag = format!("app-{}", key_of(&t, "cacheA", "app"));
    let layer = manifest_of(&reg, &tag)["layers"][0]["digest"].as_str().unwrap().to_string();
    let data = blob_file(&reg, &layer);
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();

    // B' has the sources: it must build `app` itself, and still takes `lib`.
    let r = build(&t, &reg, "cacheB", &["--offline"]);
    r.success().stderr_has("warning: remote cache: `app`: ").stderr_has("refused, building it locally");
    assert_eq!(r.built(), ["app"]);
    assert_eq!(events(&r, "package-from-remote-cache"), ["lib"]);
    assert_eq!(digests(&t.path("out")), a);
}

#[test]
#[ignore = "tier: registry"]
fn registry_a_consistent_forgery_whose_tree_differs_from_its_meta_is_refused() {
    use compose::registry::{BlobSource, Client, Options, Reference};
    let reg = TestRegistry::plain();
    let t = project();
    let a = machine_a(&t, &reg);
    let tag = format!("app-{}", key_of(&t, "cacheA", "app"));
    let mut manifest = manifest_of(&reg, &tag);

    // A writer to the registry replaces the tree with another one (valid blobs, valid digests) under
    // the same metadata: only the tree digest can tell.
    let forged = t.path("forged");
    std::fs::create_dir_all(forged.join("bin")).unwrap();
    std::fs::write(forged.join("bin/app"), "#!/bin/sh\necho owned\n").unwrap();
    let (layer, _) = compose::build::remote::pack(&forged, 1_700_000_000, Vec::new()).unwrap();
    let digest = format!("sha256:{}", sha256_bytes(&layer));
    let client = Client::connect(
        &Reference::parse(&format!("{}/{REPO}", reg.addr)).unwrap(),
        &Options { tls_verify: false, ..Options::default() },
    )
    .unwrap();
    client.push_blob(&digest, layer.len() as u64, BlobSource::Bytes(&layer), None).unwrap();
    manifest["layers"][0]["digest"] = digest.into();
    manifest["layers"][0]["size"] = layer.len().into();
    let bytes = serde_json::to_vec(&manifest).unwrap();
    client.put_manifest(&tag, "application/vnd.oci.image.manifest.v1+json", &bytes).unwrap();

    let r = build(&t, &reg, "cacheB", &["--offline"]);
    r.success().stderr_has("warning: remote cache: `app`: ").stderr_has("tree digest");
    assert_eq!(r.built(), ["app"]);
    assert_eq!(digests(&t.path("out")), a);
}

#[test]
#[ignore = "tier: registry"]
fn registry_over_tls_with_bearer_tokens_through_cert_dir_creds_and_an_auth_file() {
    let reg = TestRegistry::tls_token();
    let t = project();
    let ca = reg.cert_dir.as_ref().expect("a TLS registry has a CA").display().to_string();
    let creds = format!("{}:{}", reg.username, reg.password);
    let r = build_with(&t, &reg, "cacheA", &["--cert-dir", &ca, "--creds", &creds, "--cache-push"]);
    r.success().stderr_has("remote cache: pushed 2 artifact(s)");
    std::fs::rename(t.path("out"), t.path("outA")).unwrap();
    assert!(reg.token_requests() > 0, "the bearer token flow was used");

    let auth = t.path("auth.json");
    reg.write_auth_file(&auth);
    let auth = auth.display().to_string();
    let r = build_with(&t, &reg, "cacheB", &["--cert-dir", &ca, "--authfile", &auth, "--offline"]);
    r.success().stderr_has("packages: 0 compiled, 2 from the remote cache");
    assert_eq!(digests(&t.path("out")), digests(&t.path("outA")));

    // Wrong credentials (refused at the first token), or no CA (refused at connect): one warning each,
    // about the registry, not an entry; and a local build.
    let reference = format!("warning: remote cache: `{}/{REPO}`: ", reg.addr);
    for (cache, flags) in [("cacheC", vec!["--cert-dir", &ca, "--creds", "nobody:wrong"]), ("cacheD", vec![])] {
        let r = build_with(&t, &reg, cache, &flags);
        r.success().stderr_has(&reference).stderr_has("; building locally");
        assert_eq!(r.stderr.matches("warning: remote cache:").count(), 1, "{}", r.stderr);
        assert_eq!(r.built(), ["app", "lib"]);
    }
}

/// Needs no registry: the one it names cannot be reached. The warning shows even with `-q`.
#[test]
fn an_unreachable_remote_cache_is_one_warning_and_a_local_build() {
    let t = project();
    // Nothing listens on port 1.
    let r = t.run_with(
        &["build", "recipes/app.toml", "--toolchain", "stub", "-o", "out", "--message-format", "json", "-q"],
        &[("COMPOSE_CACHE_REGISTRY", "127.0.0.1:1/compose/cache")],
    );
    r.success();
    assert_eq!(r.stderr.matches("warning: remote cache:").count(), 1, "{}", r.stderr);
    assert_eq!(r.built(), ["app", "lib"]);
}

#[test]
fn cache_push_without_a_registry_bad_creds_and_a_bad_push_setting_are_usage_errors() {
    let t = project();
    let base = ["build", "recipes/app.toml", "--toolchain", "stub", "-o", "out"];
    let r = t.run_with(&[&base[..], &["--cache-push"]].concat(), &[]);
    r.code(2).stderr_has("--cache-push needs a registry");
    let r = t.run_with(&[&base[..], &["--cache", "127.0.0.1:1/c", "--creds", "nocolon"]].concat(), &[]);
    r.code(2).stderr_has("--creds: expected USER:PASS");
    let r = t.run_with(&base, &[("COMPOSE_CACHE_REGISTRY", "127.0.0.1:1/c"), ("COMPOSE_CACHE_PUSH", "maybe")]);
    r.code(2).stderr_has("COMPOSE_CACHE_PUSH=`maybe` is not a boolean");
    let r = t.run_with(&[&base[..], &["--cache", "127.0.0.1:1/c:latest"]].concat(), &[]);
    r.code(2).stderr_has("names a tag or digest");
    let r = t.run_with(&[&base[..], &["--cache", "127.0.0.1:1/UPPER"]].concat(), &[]);
    r.code(2).stderr_has("--cache `127.0.0.1:1/UPPER`");
    // The config file's keys: a push without a registry is refused there too.
    let t = t.file("config.toml", "cache_push = true\n");
    t.run_with(&base, &[]).code(2).stderr_has("--cache-push needs a registry");
    let t = t.file("config.toml", "cache_registry = \"127.0.0.1:1/c:v1\"\n");
    t.run_with(&base, &[]).code(2).stderr_has("names a tag or digest");
}
