//! The real thing: `compose build recipes/busybox.toml` from an empty cache, with the real musl, the
//! real kernel headers and the real busybox, then `podman import` + `podman run`, the OCI archive through
//! `podman load` + `run`, umoci and skopeo, docker, and busybox under tini as a non-root user. Tier
//! `e2e` (docs/testing.md): needs the network to the Debian archive, podman, runc, skopeo, umoci, a
//! Docker Engine that answers `docker info`, and the SBOM validators (see .ci/run).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::engines::{Podman, require, require_docker, tool};
use crate::harness::{sha256_file, started_packages, tar_listing};

/// The busybox rootfs tar built with the default settings on this kind of host (Debian 12, gcc 12.2):
/// the same bytes since it was first documented (docs/cli.md). A change here is a change of output.
const BUSYBOX_TAR_SHA256: &str = "0199cd205fe462816d71b665dd7433ce98aab5f7732fd48af4fa0e44ff3bd7e7";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn compose(cache: &Path, out: &Path) -> std::process::Output {
    compose_recipe("busybox", cache, out)
}

fn compose_recipe(name: &str, cache: &Path, out: &Path) -> std::process::Output {
    compose_formats(name, "tar,oci,oci-archive,docker-archive", cache, out)
}

/// `compose build recipes/NAME.toml --format FORMATS -o OUT --message-format json` in the repository,
/// with its own cache.
pub(crate) fn compose_formats(name: &str, formats: &str, cache: &Path, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_compose"))
        .current_dir(repo())
        .args(["build", &format!("recipes/{name}.toml"), "--message-format", "json", "--format", formats, "-o"])
        .arg(out)
        .env("COMPOSE_CACHE_DIR", cache)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("COMPOSE_DEBIAN_MIRROR")
        .output()
        .expect("run compose")
}

/// True when the ELF file has a PT_INTERP program header (i.e. is dynamically linked).
pub(crate) fn has_interp(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "64-bit");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| u32::from_le_bytes(elf[phoff + i * phentsize..][..4].try_into().unwrap()) == 3)
}

/// Every tool the e2e tier drives besides the toolchain, checked before the cold build (minutes)
/// rather than after it.
pub(crate) fn require_e2e_tools() {
    for (cmd, pkg) in [("podman", "podman"), ("runc", "runc"), ("skopeo", "skopeo"), ("umoci", "umoci")] {
        require(cmd, pkg);
    }
    crate::records::require_validators();
}

#[test]
#[ignore = "tier: e2e"]
fn e2e_busybox_image_from_source_runs_in_podman_and_docker() {
    require_e2e_tools();
    require("unshare", "util-linux");
    require_docker();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let out1 = work.path().join("out1");
    let tar = out1.join("busybox.tar");

    let first = compose(&cache, &out1);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "cold build failed:\n{stderr}");
    let started = started_packages(&String::from_utf8_lossy(&first.stdout));
    for pkg in ["musl", "linux-headers", "busybox"] {
        assert!(started.iter().any(|p| p == pkg), "{pkg} was not built: {started:?}\n{stderr}");
    }
    let sha = sha256_file(&tar);
    assert_eq!(sha, BUSYBOX_TAR_SHA256, "the busybox rootfs tar changed");

    // The tarball: a static busybox, its applet links, the accounts, and nothing from the sysroot.
    let listing = tar_listing(&tar);
    let get = |p: &str| listing.iter().find(|e| e.0 == p).unwrap_or_else(|| panic!("{p} missing"));
    assert_eq!(get("bin/busybox").1, 'f');
    let mut ar = tar::Archive::new(std::fs::File::open(&tar).unwrap());
    let mut bb = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("bin/busybox") {
            std::io::Read::read_to_end(&mut e, &mut bb).unwrap();
        }
    }
    assert!(!has_interp(&bb), "busybox must be static (no PT_INTERP)");
    assert!(bb.len() < 2_000_000, "busybox is stripped: {} bytes", bb.len());
    assert_eq!(get("bin/sh").1, 'l');
    assert_eq!(get("bin/ls").1, 'l');
    let links = listing.iter().filter(|e| e.1 == 'l').count();
    assert!(links > 300, "only {links} applet links");
    assert!(get("etc/passwd").3.starts_with("root:x:0:0:"));
    assert!(!listing.iter().any(|e| e.0.starts_with("include/") || e.0.ends_with(".a") || e.0 == "linuxrc"));

    // The records: valid by the reference validators; the manifest and SBOMs account for every file.
    crate::records::validate_records(&out1, "busybox");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out1.join("busybox.files.json")).unwrap()).unwrap();
    assert_eq!(manifest["image"]["tar_sha256"], sha.as_str());
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), listing.len(), "one manifest entry per tar entry");
    let bb_entry = files.iter().find(|f| f["path"] == "/bin/busybox").unwrap();
    assert_eq!(
        (bb_entry["owner"].as_str(), bb_entry["sha256"].as_str()),
        (Some("busybox"), Some(crate::harness::sha256_bytes(&bb).as_str()))
    );
    let spdx = std::fs::read_to_string(out1.join("busybox.spdx.json")).unwrap();
    for needle in [
        "cpe:2.3:a:busybox:busybox:1.37.0",
        "3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4",
        "\"name\": \"musl\"",
        "BUILD_DEPENDENCY_OF",
    ] {
        assert!(spdx.contains(needle), "busybox.spdx.json lacks {needle}");
    }

    // compose audit on the real image (and on scratch, built beside it), with the manifest just written.
    let scratch = compose_formats("scratch", "tar,oci-archive", &cache, &out1);
    assert!(scratch.status.success(), "{}", String::from_utf8_lossy(&scratch.stderr));
    crate::audit::audit_busybox(&out1);

    // A second build compiles nothing and writes the same bytes.
    let out2 = work.path().join("out2");
    let tar2 = out2.join("busybox.tar");
    let second = compose(&cache, &out2);
    let stderr2 = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr2}");
    let rebuilt = started_packages(&String::from_utf8_lossy(&second.stdout));
    assert!(rebuilt.is_empty(), "second build rebuilt {rebuilt:?}:\n{stderr2}");
    assert_eq!(sha256_file(&tar2), sha, "second build is not byte-identical");
    for f in [
        "busybox.oci.tar",
        "busybox.docker.tar",
        "busybox.oci/index.json",
        "busybox.files.json",
        "busybox.spdx.json",
        "busybox.cdx.json",
        "busybox.provenance.json",
    ] {
        assert_eq!(sha256_file(&out1.join(f)), sha256_file(&out2.join(f)), "{f} differs between builds");
    }
    oci_images(&cache, &out1, work.path());
    offline_from_a_bundle(&cache, &out1, work.path());

    // podman import + run.
    let p = Podman::new();
    let tar_s = tar.to_str().unwrap();
    let (ok, _, err) =
        p.run(&["import", "--change", "ENV PATH=/usr/bin:/bin:/usr/sbin:/sbin", tar_s, "compose-e2e-busybox:latest"]);
    assert!(ok, "podman import: {err}");
    let run = |args: &[&str]| {
        let mut a = vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "compose-e2e-busybox:latest",
        ];
        a.extend_from_slice(args);
        p.run(&a)
    };
    let (ok, out, err) = run(&["/bin/sh", "-c", "echo ok"]);
    assert!(ok && out == "ok\n", "podman run sh: {out:?} {err}");
    let (ok, out, err) = run(&["/bin/ls", "-la", "/"]);
    assert!(ok, "podman run ls: {err}");
    for d in ["bin", "etc", "tmp", "usr", "proc"] {
        assert!(out.lines().any(|l| l.ends_with(&format!(" {d}"))), "ls -la / lacks {d}:\n{out}");
    }
    assert!(out.lines().any(|l| l.starts_with("drwxrwxrwt") && l.ends_with(" tmp")), "/tmp is 1777:\n{out}");

    {
        let tag = "compose-e2e-busybox:latest";
        let o = Command::new("docker")
            .args(["import", "--change", "ENV PATH=/usr/bin:/bin:/usr/sbin:/sbin", tar_s, tag])
            .output()
            .unwrap();
        assert!(o.status.success(), "docker import: {}", String::from_utf8_lossy(&o.stderr));
        let o = Command::new("docker")
            .args(["run", "--rm", "--network", "none", tag, "/bin/sh", "-c", "echo ok; ls /bin/busybox"])
            .output()
            .unwrap();
        let _ = Command::new("docker").args(["rmi", "-f", tag]).output();
        assert!(o.status.success(), "docker run: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "ok\n/bin/busybox\n");
    }
}

/// The OCI forms of the busybox image, and busybox-tini (entrypoint, cmd, user) from the same cache.
fn oci_images(cache: &Path, out: &Path, work: &Path) {
    let layout = format!("{}:1.37.0", out.join("busybox.oci").display());
    let bundle = work.join("bundle");
    let (ok, _, err) = tool("umoci", &["unpack", "--rootless", "--image", &layout, bundle.to_str().unwrap()]);
    assert!(ok, "umoci unpack: {err}");
    assert!(bundle.join("rootfs/bin/busybox").is_file());
    let archive = format!("oci-archive:{}:1.37.0", out.join("busybox.oci.tar").display());
    let (ok, config, err) = tool("skopeo", &["inspect", "--config", &archive]);
    assert!(ok, "skopeo inspect: {err}");
    assert!(config.contains(r#""Cmd": ["#) && config.contains(r#""/bin/sh""#), "{config}");

    let t = compose_recipe("busybox-tini", cache, out);
    let stderr = String::from_utf8_lossy(&t.stderr);
    assert!(t.status.success(), "busybox-tini: {stderr}");
    let started = started_packages(&String::from_utf8_lossy(&t.stdout));
    assert!(
        started.contains(&"tini".to_string()) && !started.contains(&"busybox".to_string()),
        "{started:?}\n{stderr}"
    );

    let p = Podman::new();
    for a in ["busybox.oci.tar", "busybox-tini.oci.tar"] {
        let (ok, _, err) = p.run(&["load", "-i", out.join(a).to_str().unwrap()]);
        assert!(ok, "podman load {a}: {err}");
    }
    // No arguments: the image's CMD (/bin/sh) reads the script from stdin.
    let o = p.run_stdin(&["run", "-i", "--rm", "--network", "none", "busybox:1.37.0"], "echo from-cmd; id -u\n");
    assert_eq!(o.1, "from-cmd\n0\n", "busybox CMD: {}", o.2);
    let probe = "id -un; pwd; cat /proc/1/cmdline | tr '\\0' ' '";
    let (ok, got, err) = p.run(&["run", "--rm", "--network", "none", "busybox-tini:1.37.0", "sh", "-c", probe]);
    assert!(ok, "podman run busybox-tini: {err}");
    assert_eq!(got, "app\n/home/app\n/sbin/tini -- sh -c id -un; pwd; cat /proc/1/cmdline | tr '\\0' ' ' ");

    {
        for (a, tag) in [("busybox.oci.tar", "busybox:1.37.0"), ("busybox-tini.oci.tar", "busybox-tini:1.37.0")] {
            let (ok, _, err) = tool("docker", &["load", "-i", out.join(a).to_str().unwrap()]);
            assert!(ok, "docker load {a}: {err}");
            let (ok, got, err) =
                tool("docker", &["run", "--rm", "--network", "none", tag, "sh", "-c", "id -un; echo $PATH"]);
            let _ = tool("docker", &["rmi", "-f", tag]);
            assert!(ok, "docker run {tag}: {err}");
            let user = if tag.starts_with("busybox-tini") { "app" } else { "root" };
            assert_eq!(got, format!("{user}\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"));
        }
        let (ok, _, err) = tool("docker", &["load", "-i", out.join("busybox.docker.tar").to_str().unwrap()]);
        let _ = tool("docker", &["rmi", "-f", "busybox:1.37.0"]);
        assert!(ok, "docker load of the docker-archive: {err}");
    }
}

/// The air gap: fetch, export a bundle, import it into an empty cache, and build inside a network
/// namespace with no interfaces. The tarball and the OCI archive must be byte-identical.
fn offline_from_a_bundle(cache: &Path, online: &Path, work: &Path) {
    let compose = |args: &[&str], cache: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_compose"))
            .current_dir(repo())
            .args(args)
            .env("COMPOSE_CACHE_DIR", cache)
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .unwrap();
        assert!(o.status.success(), "compose {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let listed = compose(&["fetch", "recipes/busybox.toml"], cache);
    assert_eq!(listed.lines().count(), 4, "busybox, musl + Debian patches, linux:\n{listed}");
    let bundle = work.join("sources.tar");
    compose(&["sources", "export", "-o", bundle.to_str().unwrap(), "recipes/busybox.toml"], cache);
    let far = work.join("far-cache");
    compose(&["sources", "import", bundle.to_str().unwrap()], &far);
    let out = work.join("offline-out");
    let o = Command::new("unshare")
        .arg("-n")
        .arg(env!("CARGO_BIN_EXE_compose"))
        .args([
            "build",
            "recipes/busybox.toml",
            "--offline",
            "--message-format",
            "json",
            "--format",
            "tar,oci-archive",
            "-o",
        ])
        .arg(&out)
        .current_dir(repo())
        .env("COMPOSE_CACHE_DIR", &far)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "offline build under unshare -n: {stderr}");
    let started = started_packages(&String::from_utf8_lossy(&o.stdout));
    assert!(started.contains(&"busybox".to_string()), "it really built: {started:?}\n{stderr}");
    for f in ["busybox.tar", "busybox.oci.tar"] {
        assert_eq!(sha256_file(&out.join(f)), sha256_file(&online.join(f)), "offline {f} differs from the online one");
    }
}
