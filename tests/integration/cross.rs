//! Cross builds with the real toolchain (tier `cross`, docs/testing.md): busybox for amd64, arm64 and
//! riscv64 in one run, run under qemu-user, the multi-platform index through umoci, skopeo, podman and
//! docker; the arm64 collection running real commands; each platform's tar the same on a second build.
//! Needs what the e2e tier needs plus gcc-aarch64-linux-gnu, gcc-riscv64-linux-gnu and qemu-user-static
//! (.ci/run installs them and registers binfmt_misc handlers where it can).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::engines::{Podman, require, require_docker, tool};
use crate::harness::sha256_file;

/// The e2e tier's pinned busybox tar: the amd64 member of a multi-platform build has the same bytes.
const BUSYBOX_TAR_SHA256: &str = "0199cd205fe462816d71b665dd7433ce98aab5f7732fd48af4fa0e44ff3bd7e7";

fn require_cross() {
    require("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
    require("riscv64-linux-gnu-gcc", "gcc-riscv64-linux-gnu");
    require("qemu-aarch64-static", "qemu-user-static");
    require("qemu-riscv64-static", "qemu-user-static");
}

/// `compose build recipes/NAME.toml --platform P --format F -o OUT` with its own cache.
fn build(name: &str, platforms: &str, formats: &str, tag: &str, cache: &Path, out: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_compose"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", &format!("recipes/{name}.toml"), "--platform", platforms, "--format", formats, "--tag", tag])
        .args(["--message-format", "json", "-o"])
        .arg(out)
        .env("COMPOSE_CACHE_DIR", cache)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("COMPOSE_DEBIAN_MIRROR")
        .output()
        .expect("run compose");
    assert!(
        o.status.success(),
        "compose build {name} --platform {platforms} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn unpack(tar: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let (ok, _, err) = tool("tar", &["-xf", tar.to_str().unwrap(), "-C", into.to_str().unwrap()]);
    assert!(ok, "unpack {}: {err}", tar.display());
}

/// Runs a foreign static binary of an unpacked rootfs with qemu-ARCH-static (binfmt_misc or not).
fn qemu(arch: &str, rootfs: &Path, argv: &[&str]) -> String {
    let bin = rootfs.join(argv[0]).to_string_lossy().into_owned();
    let mut args = vec![bin.as_str()];
    args.extend(&argv[1..]);
    let (ok, out, err) = tool(&format!("qemu-{arch}-static"), &args);
    assert!(ok, "qemu-{arch}-static {argv:?}: {out}{err}");
    out
}

/// `file -b` of every ELF of the rootfs: static, and for `machine`.
fn check_elves(rootfs: &Path, machine: &str) -> usize {
    let mut n = 0;
    for e in walkdir::WalkDir::new(rootfs).follow_links(false) {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        let head = std::fs::read(e.path()).unwrap();
        if !head.starts_with(b"\x7fELF") {
            continue;
        }
        let (ok, what, _) = tool("file", &["-b", e.path().to_str().unwrap()]);
        assert!(ok);
        assert!(what.contains(machine), "{}: {what} (want {machine})", e.path().display());
        assert!(what.contains("statically linked"), "{}: {what}", e.path().display());
        n += 1;
    }
    n
}

fn index(layout: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap()
}

#[test]
#[ignore = "tier: cross"]
fn cross_busybox_for_three_platforms_runs_under_qemu_and_its_index_is_accepted() {
    require_cross();
    for (cmd, pkg) in [("skopeo", "skopeo"), ("umoci", "umoci"), ("file", "file")] {
        require(cmd, pkg);
    }
    let d = tempfile::tempdir().unwrap();
    let (cache, out) = (d.path().join("cache"), d.path().join("out"));
    let tag = "busybox-cross:test";
    build("busybox", "linux/amd64,linux/arm64,linux/riscv64", "tar,oci,oci-archive,docker-archive", tag, &cache, &out);

    assert_eq!(sha256_file(&out.join("busybox-amd64.tar")), BUSYBOX_TAR_SHA256, "amd64 bytes as a native build's");
    for (arch, oci_arch, machine) in [("aarch64", "arm64", "ARM aarch64"), ("riscv64", "riscv64", "RISC-V")] {
        let root = d.path().join(format!("root-{arch}"));
        unpack(&out.join(format!("busybox-{oci_arch}.tar")), &root);
        assert_eq!(qemu(arch, &root, &["bin/busybox", "uname", "-m"]).trim(), arch);
        assert_eq!(
            qemu(arch, &root, &["bin/busybox", "echo", "hello", "from", arch]).trim(),
            format!("hello from {arch}")
        );
        assert!(check_elves(&root, machine) >= 1);
    }

    // The layout's index.json tags one image index, which lists one manifest per platform with the
    // spec's platform objects.
    let layout = out.join("busybox.oci");
    let top = index(&layout);
    assert_eq!(top["manifests"].as_array().unwrap().len(), 1);
    let list_digest = top["manifests"][0]["digest"].as_str().unwrap();
    let list: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(&list_digest[7..])).unwrap()).unwrap();
    let mut platforms: Vec<String> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let v = p["variant"].as_str().map(|v| format!("/{v}")).unwrap_or_default();
            format!("{}/{}{v}", p["os"].as_str().unwrap(), p["architecture"].as_str().unwrap())
        })
        .collect();
    platforms.sort();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8", "linux/riscv64"]);

    let (ok, ls, err) = tool("umoci", &["ls", "--layout", layout.to_str().unwrap()]);
    assert!(ok && ls.contains("test"), "umoci ls: {ls}{err}");
    // umoci 0.4 cannot pick a platform from an index (opencontainers/umoci#10): skopeo takes the arm64
    // image out into a layout of its own, which umoci unpacks.
    let one = d.path().join("one.oci");
    let (ok, _, err) = tool(
        "skopeo",
        &[
            "--override-arch",
            "arm64",
            "copy",
            &format!("oci:{}:test", layout.display()),
            &format!("oci:{}:test", one.display()),
        ],
    );
    assert!(ok, "skopeo copy --override-arch arm64 to a layout: {err}");
    let bundle = d.path().join("bundle");
    let (ok, _, err) = tool(
        "umoci",
        &["unpack", "--rootless", "--image", &format!("{}:test", one.display()), bundle.to_str().unwrap()],
    );
    assert!(ok, "umoci unpack of the arm64 image: {err}");
    assert_eq!(check_elves(&bundle.join("rootfs"), "ARM aarch64"), 1, "one ELF: bin/busybox");
    let src = format!("oci:{}:test", layout.display());
    let (ok, raw, err) = tool("skopeo", &["inspect", "--raw", &src]);
    assert!(ok, "skopeo inspect --raw: {err}");
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 3, "skopeo sees the platform list: {raw}");
    for arch in ["arm64", "riscv64"] {
        let (ok, cfg, err) = tool("skopeo", &["--override-arch", arch, "inspect", "--config", &src]);
        assert!(ok, "skopeo --override-arch {arch} inspect --config: {err}");
        let cfg: serde_json::Value = serde_json::from_str(&cfg).unwrap();
        assert_eq!(cfg["architecture"], arch);
        let dir = d.path().join(format!("copy-{arch}"));
        let (ok, _, err) = tool("skopeo", &["--override-arch", arch, "copy", &src, &format!("dir:{}", dir.display())]);
        assert!(ok, "skopeo --override-arch {arch} copy: {err}");
    }
    let all = d.path().join("all.oci");
    let (ok, _, err) = tool(
        "skopeo",
        &[
            "copy",
            "--all",
            &format!("oci-archive:{}", out.join("busybox.oci.tar").display()),
            &format!("oci:{}:test", all.display()),
        ],
    );
    assert!(ok, "skopeo copy --all from the OCI archive: {err}");
    assert_eq!(index(&all)["manifests"].as_array().unwrap().len(), 1, "one index descriptor pointing at the list");

    run_in_engines(&out, d.path());

    // A second build in a fresh cache: the same bytes for every foreign platform.
    let (cache2, out2) = (d.path().join("cache2"), d.path().join("out2"));
    build("busybox", "linux/arm64,linux/riscv64", "tar", tag, &cache2, &out2);
    for arch in ["arm64", "riscv64"] {
        let name = format!("busybox-{arch}.tar");
        assert_eq!(sha256_file(&out.join(&name)), sha256_file(&out2.join(&name)), "{name} differs on a second build");
    }
}

/// `podman load` + `podman run --platform`, and the same with docker, for arm64: when binfmt_misc runs
/// foreign binaries on this machine (else the qemu checks above stand alone, and the test says so).
fn run_in_engines(out: &Path, tmp: &Path) {
    if !Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists() {
        eprintln!("note: no binfmt_misc handler for aarch64 here: podman/docker run --platform linux/arm64 not tried");
        return;
    }
    let p = Podman::new();
    let (ok, _, err) = p.run(&["load", "-i", out.join("busybox.oci.tar").to_str().unwrap()]);
    assert!(ok, "podman load of the multi-platform archive: {err}");
    // podman names an OCI archive's image by its qualified reference, a docker-archive's under localhost/.
    let (ok, o, err) =
        p.run(&["run", "--rm", "--network", "none", "docker.io/library/busybox-cross:test", "uname", "-m"]);
    assert!(ok && o.trim() == std::env::consts::ARCH, "podman run (host platform): {o}{err}");
    let (ok, _, err) = p.run(&["load", "-i", out.join("busybox-arm64.docker.tar").to_str().unwrap()]);
    assert!(ok, "podman load busybox-arm64.docker.tar: {err}");
    let (ok, o, err) = p.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--platform",
        "linux/arm64",
        "localhost/busybox-cross:test",
        "uname",
        "-m",
    ]);
    assert!(ok && o.trim() == "aarch64", "podman run --platform linux/arm64: {o}{err}");

    require_docker();
    let (ok, _, err) = tool("docker", &["load", "-i", out.join("busybox-arm64.docker.tar").to_str().unwrap()]);
    assert!(ok, "docker load busybox-arm64.docker.tar: {err}");
    let (ok, o, err) =
        tool("docker", &["run", "--rm", "--platform", "linux/arm64", "busybox-cross:test", "uname", "-m"]);
    let _ = tool("docker", &["rmi", "-f", "busybox-cross:test"]);
    assert!(ok && o.trim() == "aarch64", "docker run --platform linux/arm64: {o}{err}");
    let _ = tmp;
}

#[test]
#[ignore = "tier: cross"]
fn cross_collection_for_arm64_runs_real_commands_under_qemu() {
    require_cross();
    require("file", "file");
    let d = tempfile::tempdir().unwrap();
    let (cache, out) = (d.path().join("cache"), d.path().join("out"));
    for name in ["toolkit", "tini", "hello"] {
        build(name, "linux/arm64", "tar", &format!("{name}-cross:test"), &cache, &out);
    }
    let root = d.path().join("toolkit");
    unpack(&out.join("toolkit-arm64.tar"), &root);
    assert!(check_elves(&root, "ARM aarch64") >= 6);
    let run = |argv: &[&str]| qemu("aarch64", &root, argv);
    assert_eq!(run(&["usr/bin/jq", "-n", "1+1"]).trim(), "2");
    assert_eq!(run(&["usr/bin/jq", "-n", r#""a-b" | test("a.b")"#]).trim(), "true", "oniguruma regex");
    assert_eq!(run(&["usr/bin/lua", "-e", "print(1+1)"]).trim(), "2");
    assert_eq!(run(&["usr/bin/sqlite3", ":memory:", "select 1+1;"]).trim(), "2");
    assert!(run(&["usr/bin/strace", "-V"]).contains("strace -- version"));
    let key = d.path().join("toolkit/tmp/key");
    // dropbearkey is a link to the multi-call binary (absolute, inside the image): call that by name.
    run(&["usr/bin/dropbearmulti", "dropbearkey", "-t", "ed25519", "-f", key.to_str().unwrap()]);
    assert!(std::fs::metadata(&key).unwrap().len() > 0, "dropbearkey wrote no key");
    for (name, argv, want) in
        [("tini", &["sbin/tini", "--version"][..], "tini version"), ("hello", &["usr/bin/hello"][..], "Hello, world!")]
    {
        let r: PathBuf = d.path().join(name);
        unpack(&out.join(format!("{name}-arm64.tar")), &r);
        assert!(qemu("aarch64", &r, argv).contains(want), "{name}");
    }
}
