//! The example of "your program in a minimal image" (examples/hello-http/, docs/recipes.md's walkthrough):
//! a C HTTP server built from its local directory onto `static-nonroot`, with the real musl toolchain,
//! run in podman and answered over HTTP from the host; audited; and rebuilt after a one-line change,
//! which recompiles only it. Tier `e2e`: the network to the Debian archive (the base's sources), podman,
//! runc, curl.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::engines::{Podman, require};
use crate::harness::{started_packages, tar_listing};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_tree(from: &Path, to: &Path) {
    let ok = Command::new("cp").arg("-a").arg(from).arg(to).status().expect("cp").success();
    assert!(ok, "cp -a {} {}", from.display(), to.display());
}

/// `compose build examples/hello-http/hello-http.toml` in the project copy `proj`, with `cache`; the
/// packages it compiled and the wall time.
fn build(proj: &Path, cache: &Path) -> (Vec<String>, Duration) {
    let start = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_compose"))
        .current_dir(proj)
        .args(["build", "examples/hello-http/hello-http.toml", "--format", "tar,oci-archive", "-o", "out"])
        .args(["--message-format", "json"])
        .env("COMPOSE_CACHE_DIR", cache)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("COMPOSE_DEBIAN_MIRROR")
        .output()
        .expect("run compose");
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "compose build failed:\n{}\n{stdout}", String::from_utf8_lossy(&o.stderr));
    let mut built = started_packages(&stdout);
    built.sort();
    (built, took)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `curl -s URL`, retried for up to 10 s while the server starts.
fn curl(url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = Command::new("curl").args(["-s", "--max-time", "3", url]).output().expect("curl");
        if o.status.success() {
            return String::from_utf8_lossy(&o.stdout).into_owned();
        }
        assert!(Instant::now() < deadline, "{url} did not answer: {}", String::from_utf8_lossy(&o.stderr));
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "tier: e2e"]
fn e2e_hello_http_on_static_nonroot_answers_curl_passes_audit_and_a_one_line_change_rebuilds_only_it() {
    crate::e2e::require_e2e_tools();
    require("curl", "curl");
    let proj = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    for d in ["recipes", "toolchains"] {
        copy_tree(&repo().join(d), proj.path());
    }
    std::fs::create_dir(proj.path().join("examples")).unwrap();
    copy_tree(&repo().join("examples/hello-http"), &proj.path().join("examples"));
    // A developer's local build output beside the sources: listed in .composeignore, so not a source.
    let _ = std::fs::remove_file(proj.path().join("examples/hello-http/src/hello-http"));

    let (built, cold) = build(proj.path(), cache.path());
    for p in ["hello-http", "ca-certificates", "tzdata", "musl"] {
        assert!(built.iter().any(|b| b == p), "{p} built from cold: {built:?}");
    }
    assert!(!built.iter().any(|b| b == "busybox"), "static-nonroot has no busybox: {built:?}");
    let out = proj.path().join("out");
    let listing = tar_listing(&out.join("hello-http.tar"));
    let has = |p: &str| listing.iter().any(|e| e.0 == p);
    for p in ["usr/bin/hello-http", "etc/ssl/certs/ca-certificates.crt", "usr/share/zoneinfo/Asia/Kathmandu"] {
        assert!(has(p), "{p} in the image");
    }
    assert!(!has("bin/sh") && !has("bin/busybox"), "no shell");
    let passwd = &listing.iter().find(|e| e.0 == "etc/passwd").unwrap().3;
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
    let tar_size = std::fs::metadata(out.join("hello-http.tar")).unwrap().len();
    let oci_size = std::fs::metadata(out.join("hello-http.oci.tar")).unwrap().len();
    eprintln!("hello-http: cold build {cold:.1?}; rootfs tar {tar_size} bytes, OCI archive {oci_size} bytes");

    // The audit policy a minimal image should pass.
    let image = out.join("hello-http.oci.tar");
    let o = Command::new(env!("CARGO_BIN_EXE_compose"))
        .args(["audit", image.to_str().unwrap(), "--deny", "shell,setuid,dynamic"])
        .output()
        .unwrap();
    assert!(o.status.success(), "audit --deny shell,setuid,dynamic: {}", String::from_utf8_lossy(&o.stderr));

    // Run it in podman (host network: the server listens on $PORT), ask it over HTTP from the host.
    let p = Podman::new();
    let (ok, loaded, err) = p.run(&["load", "-i", image.to_str().unwrap()]);
    assert!(ok, "podman load: {err}");
    let name = loaded.lines().find_map(|l| l.strip_prefix("Loaded image: ")).expect("podman names the image").trim();
    let port = free_port().to_string();
    let (ok, cid, err) =
        p.run(&["run", "-d", "--network", "host", "-e", &format!("PORT={port}"), "-e", "TZ=Asia/Kathmandu", name]);
    assert!(ok, "podman run: {err}");
    let cid = cid.trim().to_string();
    assert_eq!(curl(&format!("http://127.0.0.1:{port}/")), "hello from compose\n");
    let time = curl(&format!("http://127.0.0.1:{port}/time"));
    assert!(time.contains(" +0545 "), "Kathmandu's offset from the image's zoneinfo: {time}");
    // It runs as nonroot (65532), as static-nonroot says.
    let (ok, pid, err) = p.run(&["inspect", "--format", "{{.State.Pid}}", &cid]);
    assert!(ok, "{err}");
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid.split_whitespace().nth(1) == Some("65532"), "{uid}");
    // It stops on SIGTERM at once (it is PID 1: without a handler, podman would wait its 10 s).
    let start = Instant::now();
    let (ok, _, err) = p.run(&["stop", "-t", "8", &cid]);
    assert!(ok, "{err}");
    assert!(start.elapsed() < Duration::from_secs(5), "stopped in {:?}", start.elapsed());
    let (_, logs, _) = p.run(&["logs", &cid]);
    assert!(logs.contains("GET / 200") && logs.contains("hello-http: stopping"), "{logs}");
    let _ = p.run(&["rm", "-f", &cid]);

    // Nothing changed: nothing compiles.
    let (built, noop) = build(proj.path(), cache.path());
    assert!(built.is_empty(), "a no-op rebuild compiled {built:?}");
    // One line of the program changed: only it compiles.
    let src = proj.path().join("examples/hello-http/src/hello-http.c");
    let text = std::fs::read_to_string(&src).unwrap();
    std::fs::write(&src, text.replace("\"hello from compose\\n\"", "\"hello again from compose\\n\"")).unwrap();
    let (built, one_line) = build(proj.path(), cache.path());
    assert_eq!(built, ["hello-http"], "a one-line change rebuilds only the program");
    let bin = listing_file(&out.join("hello-http.tar"), "usr/bin/hello-http");
    assert!(bin.windows(5).any(|w| w == b"again"), "the new binary is in the image");
    eprintln!("hello-http: no-op rebuild {noop:.2?}, one-line change {one_line:.2?}");
}

fn listing_file(tar: &Path, path: &str) -> Vec<u8> {
    use std::io::Read;
    let mut ar = tar::Archive::new(std::fs::File::open(tar).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some(path) {
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            return v;
        }
    }
    panic!("{path} not in {}", tar.display())
}
