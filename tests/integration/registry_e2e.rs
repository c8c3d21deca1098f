//! The real busybox through a real registry: built for two platforms and pushed signed in one
//! `compose build --push`, pulled back by skopeo, podman and docker and run, checked by
//! `compose verify-image`; and a second machine (an empty cache, no source tarball anywhere) that builds
//! the same image from the registry's artifact cache without compiling anything. Tier `registry`
//! (docs/testing.md): needs the cross tier's compilers and qemu, podman, skopeo, a Docker Engine and
//! Debian's `docker-registry`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::engines::{Podman, require, require_docker, tool};
use crate::harness::{sha256_file, started_packages};
use crate::registry_server::{self, TestRegistry};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const PLATFORMS: &str = "linux/amd64,linux/arm64";

/// `compose ARGS` in the repository with `cache` as its cache and the test's own (empty) credentials.
fn compose(args: &[&str], cache: &Path, home: &Path, extra_env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_compose"));
    cmd.current_dir(repo())
        .args(args)
        .env("COMPOSE_CACHE_DIR", cache)
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home)
        .env("REGISTRY_AUTH_FILE", home.join("auth.json"))
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("COMPOSE_DEBIAN_MIRROR");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("run compose")
}

/// `build recipes/busybox.toml` for both platforms into `out`, then `extra`.
fn build_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let out = out.display().to_string();
    let base =
        ["build", "recipes/busybox.toml", "--platform", PLATFORMS, "--format", "tar,oci,oci-archive", "-o", &out];
    base.iter().chain(extra).map(|a| a.to_string()).collect()
}

#[track_caller]
fn ok(out: &std::process::Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed ({:?}):\n{stderr}", out.status.code());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every file of `out` (records, tars, archives, layouts' files), by relative path, with its sha256.
fn files_of(out: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = walkdir::WalkDir::new(out)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file() && !e.path().starts_with(out.join("timings")))
        .map(|e| (e.path().strip_prefix(out).unwrap().display().to_string(), sha256_file(e.path())))
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "tier: registry"]
fn registry_busybox_for_two_platforms_pushed_signed_pulled_run_and_shared_as_a_build_cache() {
    assert!(registry_server::available(), "the registry tier needs Debian's `docker-registry` package");
    for (cmd, pkg) in [("podman", "podman"), ("skopeo", "skopeo"), ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")] {
        require(cmd, pkg);
    }
    require_docker();
    let d = tempfile::tempdir().unwrap();
    let path = |p: &str| d.path().join(p);
    let home = path("home");
    std::fs::create_dir_all(&home).unwrap();
    let reg = TestRegistry::plain();
    let image = format!("{}/compose-test/busybox:e2e", reg.addr);
    let cache_repo = format!("{}/compose-cache", reg.addr);
    let s = |p: &Path| p.display().to_string();

    // Machine A: one cold build for two platforms, pushed and signed, its artifacts pushed to the cache.
    ok(&compose(&["keygen", "--output", &s(&path("release"))], &path("cacheA"), &home, &[]), "keygen");
    let (out_a, cache_a) = (path("outA"), path("cacheA"));
    let key = s(&path("release.key"));
    let build_a = build_args(
        &out_a,
        &["--push", &image, "--sign-key", &key, "--cache", &cache_repo, "--cache-push", "--tls-verify=false"],
    );
    let a = compose(&build_a.iter().map(String::as_str).collect::<Vec<_>>(), &cache_a, &home, &[]);
    let stdout = ok(&a, "machine A's build");
    let digest = stdout.lines().last().unwrap_or_default().trim().to_string();
    assert!(digest.starts_with("sha256:"), "build --push prints the digest last: {stdout}");
    let stderr = String::from_utf8_lossy(&a.stderr);
    assert!(stderr.contains("signed with key"), "{stderr}");

    // skopeo: the index with both platforms, copied whole.
    let (okk, raw, err) = tool("skopeo", &["inspect", "--raw", "--tls-verify=false", &format!("docker://{image}")]);
    assert!(okk, "skopeo inspect: {err}");
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let archs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    assert_eq!(format!("sha256:{}", crate::harness::sha256_bytes(raw.as_bytes())), digest);
    let copied = format!("oci:{}:e2e", s(&path("copied")));
    let (okk, _, err) =
        tool("skopeo", &["copy", "--all", "--src-tls-verify=false", &format!("docker://{image}"), &copied]);
    assert!(okk, "skopeo copy --all: {err}");

    // podman pulls it and runs both platforms (arm64 through qemu's binfmt handler).
    let podman = Podman::new();
    let (okk, _, err) = podman.run(&["pull", "--tls-verify=false", &image]);
    assert!(okk, "podman pull: {err}");
    let (okk, out, err) = podman.run(&["run", "--rm", "--network", "none", &image, "echo", "pulled"]);
    assert!(okk && out.trim() == "pulled", "podman run: {out} {err}");
    let (okk, out, err) = podman.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--platform",
        "linux/arm64",
        "--tls-verify=false",
        &image,
        "uname",
        "-m",
    ]);
    assert!(okk && out.trim() == "aarch64", "podman run --platform linux/arm64: {out} {err}");

    // docker (which treats 127.0.0.0/8 as an insecure registry) pulls and runs it.
    let (okk, _, err) = tool("docker", &["pull", &image]);
    assert!(okk, "docker pull: {err}");
    let (okk, out, err) = tool("docker", &["run", "--rm", "--network", "none", &image, "echo", "from-docker"]);
    let _ = tool("docker", &["rmi", "-f", &image]);
    assert!(okk && out.trim() == "from-docker", "docker run: {out} {err}");

    // The signature, the provenance and all four SBOMs check out.
    let v = compose(
        &["verify-image", &image, "--key", &s(&path("release.pub")), "--tls-verify=false"],
        &cache_a,
        &home,
        &[],
    );
    let report = ok(&v, "verify-image");
    assert!(report.contains("verified") && report.contains("2 manifest(s)"), "{report}");
    assert_eq!(report.matches("sbom").count(), 4, "{report}");

    // A second push of the same image moves nothing.
    let again = compose(
        &["push", &s(&out_a.join("busybox.oci")), &image, "--sign-key", &s(&path("release.key")), "--tls-verify=false"],
        &cache_a,
        &home,
        &[],
    );
    ok(&again, "second push");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("nothing uploaded"), "{stderr}");

    // Machine B: an empty cache, offline, no mirror holding the sources: everything comes from the registry.
    let (out_b, cache_b) = (path("outB"), path("cacheB"));
    let build_b =
        build_args(&out_b, &["--cache", &cache_repo, "--tls-verify=false", "--offline", "--message-format", "json"]);
    let b = compose(
        &build_b.iter().map(String::as_str).collect::<Vec<_>>(),
        &cache_b,
        &home,
        &[("COMPOSE_DEBIAN_MIRROR", "file:///nonexistent-debian-mirror")],
    );
    let stdout = ok(&b, "machine B's build from the remote cache");
    assert_eq!(started_packages(&stdout), Vec::<String>::new(), "machine B compiled nothing");
    assert!(String::from_utf8_lossy(&b.stderr).contains("from the remote cache"));
    assert_eq!(files_of(&out_b), files_of(&out_a), "machine B's outputs are machine A's, byte for byte");
}
