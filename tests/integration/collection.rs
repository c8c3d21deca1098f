//! The package collection, for real: `compose build` of every tool's own image (lua, jq, sqlite,
//! strace, dropbear) and of the `toolkit` and `sshd` images, all from one empty cache (so the musl
//! toolchain, zlib and oniguruma are built once and shared), then each OCI archive through `podman load`
//! and `podman run`, asserting on the tools' real output. Every ELF file in every rootfs must be static
//! (no PT_INTERP), and nothing from the build sysroot (headers, static libraries, pkg-config files) may
//! be in an image. Then `compose vulns` on the real toolkit image against a fixture NVD feed
//! (tests/fixtures/vulns/): a real busybox CVE fixed before 1.37.0 must not match, a synthetic one must.
//!
//! Needs what e2e needs (network to the Debian archive, podman, runc, skopeo) plus the host tools the
//! recipes name in their `# host-tools:` lines: autoreconf, aclocal, automake, libtoolize (Debian's
//! autoconf, automake, libtool) for oniguruma and jq, and tclsh (tcl) for sqlite. One test function, so
//! the cold builds (~10 minutes on 2 cores) happen once. Tier `e2e` (docs/testing.md).

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::e2e::has_interp;
use crate::engines::{Podman, require, tool};

/// Image recipe and the tag compose gives it (NAME:VERSION).
const IMAGES: &[(&str, &str)] = &[
    ("lua", "lua:5.4.7"),
    ("jq", "jq:1.7.1"),
    ("sqlite", "sqlite:3.46.1"),
    ("strace", "strace:6.1"),
    ("dropbear", "dropbear:2025.89"),
    ("toolkit", "toolkit:1.0"),
    ("sshd", "sshd:2025.89"),
    ("busybox", "busybox:1.37.0"),
    ("hello", "hello:2.12.3"),
];

fn compose_build(name: &str, cache: &Path, out: &Path) -> std::process::Output {
    crate::e2e::compose_formats(name, "tar,oci-archive", cache, out)
}

/// Every entry of a rootfs tar: (path, is a regular file, content of regular files).
fn tar_entries(tar: &Path) -> Vec<(String, bool, Vec<u8>)> {
    let mut ar = tar::Archive::new(std::fs::File::open(tar).unwrap());
    let mut v = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let regular = e.header().entry_type() == tar::EntryType::Regular;
        let mut data = Vec::new();
        if regular {
            e.read_to_end(&mut data).unwrap();
        }
        v.push((path, regular, data));
    }
    v
}

/// Static ELF files only, nothing of the sysroot, and the files the image must have.
fn check_rootfs(name: &str, tar: &Path, must_have: &[&str]) {
    // Every image's records pass the reference validators.
    crate::records::validate_records(tar.parent().expect("out dir"), name);
    let entries = tar_entries(tar);
    let mut elves = 0;
    for (path, regular, data) in &entries {
        if *regular && data.starts_with(b"\x7fELF") {
            assert!(!has_interp(data), "{name}: {path} is dynamically linked (has PT_INTERP)");
            elves += 1;
        }
        let p = format!("/{}", path.trim_end_matches('/'));
        let leaked = p.ends_with(".a")
            || p.ends_with(".la")
            || p.ends_with(".h")
            || p.ends_with(".pc")
            || ["/include", "/usr/include", "/lib/pkgconfig", "/usr/lib/pkgconfig", "/usr/share/man", "/usr/man"]
                .iter()
                .any(|d| p == *d || p.starts_with(&format!("{d}/")));
        assert!(!leaked, "{name}: {path} should not be in the image");
    }
    assert!(elves > 0, "{name}: no ELF file in the image");
    for m in must_have {
        assert!(entries.iter().any(|e| e.0 == *m), "{name}: {m} missing from the rootfs");
    }
}

#[test]
#[ignore = "tier: e2e"]
fn e2e_collection_images_build_and_run_in_podman() {
    crate::e2e::require_e2e_tools();
    for (cmd, pkg) in
        [("autoreconf", "autoconf"), ("aclocal", "automake"), ("libtoolize", "libtool"), ("m4", "m4"), ("tclsh", "tcl")]
    {
        // The collection's recipes need these on the build host.
        require(cmd, pkg);
    }
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let out = work.path().join("out");

    // Cold builds, one shared cache: every package is built exactly once over the whole collection.
    let total = Instant::now();
    let mut built_once: Vec<String> = Vec::new();
    for (name, _) in IMAGES {
        let t = Instant::now();
        let o = compose_build(name, &cache, &out);
        let stderr = String::from_utf8_lossy(&o.stderr);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "compose build recipes/{name}.toml failed:\n{stderr}\n{stdout}");
        for pkg in crate::harness::started_packages(&stdout) {
            assert!(!built_once.contains(&pkg), "{pkg} was built twice (for {name}):\n{stderr}");
            built_once.push(pkg);
        }
        eprintln!("collection: {name}: {:.1}s", t.elapsed().as_secs_f64());
        for l in stderr.lines().filter(|l| l.contains("built in")) {
            eprintln!("  {l}");
        }
        for m in crate::harness::messages(&stdout).iter().filter(|m| m["reason"] == "output") {
            eprintln!("  {} {} bytes", m["path"], m["size"]);
        }
    }
    eprintln!("collection: all images from an empty cache in {:.1}s", total.elapsed().as_secs_f64());
    for pkg in
        ["musl", "linux-headers", "zlib", "oniguruma", "lua", "jq", "sqlite", "strace", "dropbear", "busybox", "hello"]
    {
        assert!(built_once.iter().any(|p| p == pkg), "{pkg} was never built: {built_once:?}");
    }

    // The rootfs tars.
    check_rootfs("lua", &out.join("lua.tar"), &["usr/bin/lua"]);
    check_rootfs("jq", &out.join("jq.tar"), &["usr/bin/jq"]);
    check_rootfs("sqlite", &out.join("sqlite.tar"), &["usr/bin/sqlite3"]);
    check_rootfs("strace", &out.join("strace.tar"), &["usr/bin/strace"]);
    let dropbear =
        ["usr/bin/dropbearmulti", "usr/sbin/dropbear", "usr/bin/dbclient", "usr/bin/dropbearkey", "usr/bin/scp"];
    check_rootfs("dropbear", &out.join("dropbear.tar"), &dropbear);
    let mut toolkit = vec!["bin/busybox", "bin/sh", "usr/bin/strace", "usr/bin/lua", "usr/bin/jq", "usr/bin/sqlite3"];
    toolkit.extend_from_slice(&dropbear);
    check_rootfs("toolkit", &out.join("toolkit.tar"), &toolkit);
    check_rootfs(
        "sshd",
        &out.join("sshd.tar"),
        &["bin/busybox", "bin/sh", "usr/sbin/dropbear", "usr/bin/dropbearmulti"],
    );

    // The sshd image's config: the port, and the entrypoint that makes the key directory.
    let archive = format!("oci-archive:{}:2025.89", out.join("sshd.oci.tar").display());
    let (ok, config, err) = tool("skopeo", &["inspect", "--config", &archive]);
    assert!(ok, "skopeo inspect sshd: {err}");
    assert!(config.contains(r#""22/tcp""#), "sshd exposes 22/tcp:\n{config}");
    assert!(config.contains("/usr/sbin/dropbear -R"), "sshd entrypoint:\n{config}");

    let p = Podman::new();
    for (name, _) in IMAGES {
        let (ok, _, err) = p.run(&["load", "-i", out.join(format!("{name}.oci.tar")).to_str().unwrap()]);
        assert!(ok, "podman load {name}: {err}");
    }
    let run = |image: &str, args: &[&str], input: &str| {
        let mut a = vec!["run", "-i", "--rm", "--network", "none", image];
        a.extend_from_slice(args);
        let (ok, out, err) = p.run_stdin(&a, input);
        assert!(ok, "podman run {image} {args:?} failed: {err}");
        (out, err)
    };

    // Each tool's own image runs the tool (its entrypoint).
    assert_eq!(run("lua:5.4.7", &["-e", "print(1+1)"], "").0, "2\n");
    assert_eq!(run("jq:1.7.1", &[".a"], r#"{"a":1}"#).0, "1\n");
    // Regex builtins: jq really linked oniguruma.
    assert_eq!(run("jq:1.7.1", &["-c", r#"[test("B";"i"), sub("o+";"0")]"#], r#""foo bar""#).0, "[true,\"f0 bar\"]\n");
    assert_eq!(run("sqlite:3.46.1", &[":memory:", "select 1"], "").0, "1\n");
    assert_eq!(run("sqlite:3.46.1", &[":memory:", "select sqlite_version()"], "").0, "3.46.1\n");
    // The strace image has no other program to trace than strace itself. No extra capability: a tracer
    // may ptrace its own children under podman's default seccomp profile.
    let (_, err) = run("strace:6.1", &["-f", "/usr/bin/strace", "-V"], "");
    assert!(err.contains(r#"execve("/usr/bin/strace", ["/usr/bin/strace", "-V"]"#), "strace -f:\n{err}");
    // GNU hello, the recipe written from the docs/recipes.md walkthrough alone.
    assert_eq!(run("hello:2.12.3", &[], "").0, "Hello, world!\n");
    assert_eq!(run("hello:2.12.3", &["--greeting=hi"], "").0, "hi\n");
    check_rootfs("hello", &out.join("hello.tar"), &["usr/bin/hello"]);
    let (keyout, _) = run("dropbear:2025.89", &["-t", "ed25519", "-f", "/tmp/k"], "");
    assert!(keyout.contains("ssh-ed25519 AAAA"), "dropbearkey:\n{keyout}");

    // toolkit: its CMD (/bin/sh) reads the script; every tool on PATH.
    let script = r#"
lua -e 'print(1+1)'
echo '{"a":1}' | jq .a
sqlite3 :memory: 'select 1'
strace -f true 2>&1 | grep -c '^execve("/bin/true", \["true"\]'
dropbearkey -t ed25519 -f /tmp/k 2>/dev/null | grep -c '^ssh-ed25519 '
dbclient -h 2>&1 | grep -c 'Dropbear SSH client'
"#;
    assert_eq!(run("toolkit:1.0", &[], script).0, "2\n1\n1\n1\n1\n1\n");

    // sshd: the entrypoint starts dropbear; a key login over loopback in the same container makes it
    // generate its host key (-R) on that first connection.
    let (ok, id, err) = p.run(&["run", "-d", "--network", "none", "sshd:2025.89"]);
    assert!(ok, "podman run -d sshd: {err}");
    let id = id.trim().to_string();
    // dropbear writes its pid file (-P /run/dropbear.pid) once it listens.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !p.run(&["exec", &id, "test", "-s", "/run/dropbear.pid"]).0 {
        assert!(Instant::now() < deadline, "sshd did not start listening: {:?}", p.run(&["logs", &id]));
        std::thread::sleep(Duration::from_millis(200));
    }
    let login = r#"set -e
dropbearkey -t ed25519 -f /tmp/id >/dev/null 2>&1
mkdir -p -m 700 /root/.ssh
dropbearkey -y -f /tmp/id | grep '^ssh-' > /root/.ssh/authorized_keys
test ! -e /etc/dropbear/dropbear_ed25519_host_key
dbclient -y -i /tmp/id -p 22 root@127.0.0.1 'echo hello-over-ssh; id -u' 2>/dev/null
ls /etc/dropbear"#;
    let got = p.run(&["exec", &id, "sh", "-c", login]);
    let (_, logs, logs_err) = p.run(&["logs", &id]);
    let _ = p.run(&["rm", "-f", &id]);
    assert!(got.0, "ssh login into the sshd container failed: {}\nlogs: {logs}{logs_err}", got.2);
    assert_eq!(got.1, "hello-over-ssh\n0\ndropbear_ed25519_host_key\n", "logs: {logs}{logs_err}");
    assert!(logs_err.contains("Generated hostkey") || logs.contains("Generated hostkey"), "{logs}{logs_err}");

    attach_toolkit_to_a_running_container(&p);
    vulns_of_the_toolkit_image(&out);
}

/// The minimal image needs no shell of its own for debugging: toolkit joins a running container's pid
/// and net namespaces (docs/debugging.md), sees its processes, its files through /proc/1/root, and
/// straces its PID 1.
fn attach_toolkit_to_a_running_container(p: &Podman) {
    let (ok, id, err) = p.run(&["run", "-d", "--network", "none", "busybox:1.37.0", "sleep", "300"]);
    assert!(ok, "podman run -d busybox sleep: {err}");
    let target = id.trim().to_string();
    let ns = format!("container:{target}");
    let probe = "ps -o pid,args | grep -v grep | grep -c 'sleep 300'; \
                 ls /proc/1/root/bin/busybox; cat /proc/1/root/etc/passwd | head -1; \
                 timeout 2 strace -p 1 2>&1 | head -1";
    let (ok, got, err) = p.run(&[
        "run",
        "--rm",
        "--pid",
        &ns,
        "--network",
        &ns,
        "--cap-add",
        "SYS_PTRACE",
        "toolkit:1.0",
        "sh",
        "-c",
        probe,
    ]);
    let _ = p.run(&["rm", "-f", "-t", "0", &target]);
    assert!(ok, "toolkit attached to busybox: {err}");
    assert_eq!(
        got, "1\n/proc/1/root/bin/busybox\nroot:x:0:0:root:/root:/bin/sh\nstrace: Process 1 attached\n",
        "{err}"
    );
}

/// `compose vulns ARGS...` on the built toolkit image against the busybox fixture feed: (exit code,
/// stdout, stderr), echoed for the test log.
fn compose_vulns(out: &Path, feeds: &[&Path], args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_compose"))
        .arg("vulns")
        .arg(out.join("toolkit.oci.tar"))
        .arg("--feed")
        .args(feeds)
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run compose vulns");
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr));
    eprintln!("collection: compose vulns toolkit.oci.tar {args:?}: exit {:?}\n{stderr}", o.status.code());
    (o.status.code(), stdout, stderr.into_owned())
}

/// The real image's packages, read through its SBOM, against tests/fixtures/vulns/busybox-nvd.json: the
/// real CVE-2022-48174 (busybox before 1.35.0) must not match busybox 1.37.0; the synthetic
/// CVE-2099-0001 (>= 1.36.0, < 1.38.0, 7.5 HIGH) must, in the JSON report, the --deny gate and the VEX.
fn vulns_of_the_toolkit_image(out: &Path) {
    let feed = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vulns/busybox-nvd.json");
    let musl_feed = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vulns/musl-nvd.json");
    let sha256 = crate::harness::sha256_file(&feed);

    let (code, text, err) = compose_vulns(out, &[&feed, &musl_feed], &[]);
    eprintln!("{text}");
    assert_eq!(code, Some(0), "compose vulns (text): {err}");
    assert!(text.contains("CVE-2099-0001  busybox 1.37.0  HIGH 7.5  affected"), "{text}");

    let (code, stdout, err) = compose_vulns(out, &[&feed, &musl_feed], &["--format", "json"]);
    assert_eq!(code, Some(0), "compose vulns --format json: {err}");
    assert!(err.contains(&format!("sha256:{sha256}")), "the feed's sha256 on stderr:\n{err}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((doc["feeds"][0]["sha256"].as_str(), doc["feeds"][0]["records"].as_u64()), (Some(&*sha256), Some(2)));
    // busybox was checked by its CPE, so the real CVE's absence is its range's doing.
    let busybox = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "busybox").expect("busybox checked");
    assert_eq!(busybox["version"], "1.37.0", "{busybox}");
    assert!(busybox["cpe"].as_str().unwrap().starts_with("cpe:2.3:a:busybox:busybox:1.37.0:"), "{busybox}");
    let findings = doc["findings"].as_array().unwrap();
    assert!(
        !findings.iter().any(|f| f["id"] == "CVE-2022-48174"),
        "fixed in 1.35.0, reported for 1.37.0: {findings:?}"
    );
    // The feed names only busybox: exactly the synthetic CVE for busybox. musl's (another feed) is
    // fixed by the patch its recipe applies, and reported against musl as linked into the programs.
    assert_eq!(findings.len(), 2, "{findings:?}");
    let m = &findings[0];
    assert_eq!(
        (m["id"].as_str(), m["package"].as_str(), m["status"].as_str()),
        (Some("CVE-2025-26519"), Some("musl"), Some("fixed"))
    );
    assert!(
        m["patch"]
            .as_str()
            .unwrap()
            .ends_with("recipes/musl/CVE-2025-26519-0001_iconv_fix_erroneous_input_validation_in_EUC_KR_decod.patch"),
        "{m}"
    );
    let musl = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "musl").expect("musl checked");
    let linked: Vec<&str> = musl["linked_into"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(linked.contains(&"busybox") && linked.contains(&"sqlite"), "{linked:?}");
    assert!(
        !doc["packages"].as_array().unwrap().iter().any(|p| p["name"] == "linux-headers"),
        "headers are not linked"
    );
    let f = &findings[1];
    assert_eq!(
        (f["id"].as_str(), f["package"].as_str(), f["version"].as_str()),
        (Some("CVE-2099-0001"), Some("busybox"), Some("1.37.0"))
    );
    assert_eq!(
        (f["status"].as_str(), f["score"].as_f64(), f["severity"].as_str()),
        (Some("affected"), Some(7.5), Some("high"))
    );
    assert_eq!((f["matched"].as_str(), f["fixed"].as_str()), (Some(">= 1.36.0, < 1.38.0"), Some("1.38.0")));

    let (code, _, err) = compose_vulns(out, &[&feed, &musl_feed], &["--deny", "high"]);
    assert_eq!(code, Some(22), "--deny high: {err}");
    assert!(err.contains("CVE-2099-0001 busybox: high 7.5"), "{err}");
    assert!(!err.contains("CVE-2022-48174") && !err.contains("CVE-2025-26519"), "only the affected finding: {err}");

    // The VEX points at busybox's component in the image's own SBOM.
    let (code, stdout, err) = compose_vulns(out, &[&feed, &musl_feed], &["--format", "cyclonedx"]);
    assert_eq!(code, Some(0), "compose vulns --format cyclonedx: {err}");
    let vex: Value = serde_json::from_str(&stdout).unwrap();
    let sbom: Value = serde_json::from_slice(&std::fs::read(out.join("toolkit.cdx.json")).unwrap()).unwrap();
    let components = sbom["components"].as_array().unwrap();
    let component = components.iter().find(|c| c["name"] == "busybox").expect("busybox in toolkit.cdx.json");
    let vulns = vex["vulnerabilities"].as_array().unwrap();
    assert_eq!(vulns.len(), 2, "{vex}");
    let synthetic = vulns.iter().find(|v| v["id"] == "CVE-2099-0001").expect("CVE-2099-0001 in the VEX");
    assert_eq!(synthetic["affects"][0]["ref"], component["bom-ref"]);
    // musl is in the SBOM's formulation (build-time, linked): the VEX points there, `resolved`.
    let fixed = vulns.iter().find(|v| v["id"] == "CVE-2025-26519").expect("CVE-2025-26519 in the VEX");
    assert_eq!(fixed["analysis"]["state"], "resolved", "{fixed}");
    let formulation = sbom["formulation"][0]["components"].as_array().unwrap();
    let musl = formulation.iter().find(|c| c["name"] == "musl").expect("musl in the formulation");
    assert_eq!(fixed["affects"][0]["ref"], musl["bom-ref"]);
    assert!(component["bom-ref"].is_string(), "{component}");
}
