//! `compose verify`: two builds from empty caches, the second perturbed, compared output by output.
//! Without faketime, disorderfs and diffoscope verify still runs (it says which perturbation it could
//! not apply), so the fast tests check what does not need them; the `verify_*` tests (tier `verify`)
//! need all three, and /dev/fuse (see .ci/run).

use crate::engines::require;
use crate::harness::{E, Test, recipe};

/// What the perturbed build and the report need on the host.
fn require_verify_tools() {
    require("faketime", "faketime");
    require("disorderfs", "disorderfs");
    require("diffoscope", "diffoscope-minimal");
    assert!(std::path::Path::new("/dev/fuse").exists(), "disorderfs needs /dev/fuse, which this host lacks");
}

fn fixture(install: &str) -> Test {
    Test::new()
        .tarball("app-1.0.tar.gz", &[E::Dir("app-1.0"), E::File("app-1.0/app.sh", "#!/bin/sh\necho app\n", 0o755)])
        .recipe("app", &recipe("app", "app-1.0.tar.gz", &[], &[], install))
}

fn verify(t: &Test, extra: &[&str]) -> crate::harness::Run {
    let mut a = vec!["verify", "recipes/app.toml", "--toolchain", "stub", "-o", "out"];
    a.extend_from_slice(extra);
    t.run_with(&a, &[])
}

const INSTALL: &str = r#"mkdir -p "$DESTDIR/bin" "$DESTDIR/etc"
cp app.sh "$DESTDIR/bin/app"
for f in c a b; do echo "$f" > "$DESTDIR/etc/$f.conf"; done"#;

/// Also guards a bug verify found: `dest/` (the artifact's root) was created under compose's own umask,
/// so B (umask 077) got a different `tree_digest`.
#[test]
fn a_reproducible_fixture_is_reported_reproducible() {
    let t = fixture(INSTALL);
    let r = verify(&t, &[]);
    r.success().stdout_has("reproducible  app").stdout_has("app.tar  sha256:").stdout_has("artifact app  tree sha256:");
    for what in PERTURBATIONS {
        perturbation_line(&r, what);
    }
    // Every format was written and compared.
    for f in ["app.tar  ", "app.oci.tar  ", "app.docker.tar  ", "app.oci/index.json  "] {
        r.stdout_has(f);
    }
    assert!(!t.path("out/verify/app").exists(), "work directory removed when reproducible (no --keep)");
}

const PERTURBATIONS: [&str; 6] = ["build path", "clock", "umask", "TZ and locale", "jobs", "directory order"];

fn perturbation_line<'a>(r: &'a crate::harness::Run, what: &str) -> &'a str {
    r.stdout.lines().find(|l| l.contains(what)).unwrap_or_else(|| panic!("no `{what}` line:\n{}", r.stdout))
}

#[test]
#[ignore = "tier: verify"]
fn verify_applies_every_perturbation_to_a_reproducible_fixture() {
    require_verify_tools();
    let t = fixture(INSTALL);
    let r = verify(&t, &[]);
    r.success().stdout_has("reproducible  app");
    for what in PERTURBATIONS {
        let line = perturbation_line(&r, what);
        assert!(!line.contains("NOT applied"), "perturbation not applied on this host: {line}");
    }
}

fn stamped() -> Test {
    fixture(&format!("{INSTALL}\ndate +%s%N > \"$DESTDIR/etc/stamp\""))
}

#[test]
fn a_fixture_that_embeds_the_clock_is_caught() {
    let t = stamped();
    let r = verify(&t, &[]);
    r.code(16).stdout_has("not reproducible  app").stderr_has("`app` is not reproducible");
    let entry = r.stdout.lines().find(|l| l.contains("entry  /etc/stamp")).expect("an entry line for /etc/stamp");
    assert!(entry.contains("(app)") && entry.contains("content sha256"), "{entry}");
    assert!(!r.stdout.contains("entry  /etc/a.conf"), "identical entries are not listed");
    let artifact = r.stdout.lines().find(|l| l.contains("artifact app")).unwrap();
    assert!(artifact.contains("differs"), "{artifact}");
    r.stdout_has("differs  app.tar");
    // The output dirs are kept.
    assert!(t.path("out/verify/app/a/out/app.tar").is_file());
    assert!(t.path("out/verify/app/b/out/app.tar").is_file());
}

#[test]
#[ignore = "tier: verify"]
fn verify_diffoscope_reports_the_embedded_clock() {
    require_verify_tools();
    let t = stamped();
    let r = verify(&t, &[]);
    r.code(16);
    // diffoscope wrote its report beside the kept output dirs.
    let report = t.path("out/verify/app/diffoscope.txt");
    let text = std::fs::read_to_string(&report).expect("diffoscope report");
    assert!(text.contains("etc/stamp"), "diffoscope report does not mention etc/stamp:\n{text}");
    r.stderr_has("diffoscope.txt");
}

#[test]
#[ignore = "tier: verify"]
fn verify_the_perturbed_build_runs_its_phases_under_a_shifted_clock() {
    require_verify_tools();
    // libfaketime must reach the build phases inside the sandbox: B's `date` is 398 days ahead (give or
    // take the minutes between the two builds).
    let t = fixture(&format!("{INSTALL}\ndate +%s > \"$DESTDIR/etc/year\""));
    let r = verify(&t, &["--keep"]);
    r.code(16);
    let clock = |build: &str| {
        let tar = t.path(&format!("out/verify/app/{build}/out/app.tar"));
        let l = crate::harness::tar_listing(&tar);
        l.iter().find(|e| e.0 == "etc/year").expect("etc/year").3.trim().parse::<i64>().unwrap()
    };
    let ahead = clock("b") - clock("a") - 398 * 86_400;
    assert!((0..3600).contains(&ahead), "B's clock is shifted by 398 days (and {ahead} s more)");
    r.stdout_has("entry  /etc/year  (app)");
}

/// The real thing: two cold builds of musl, linux-headers and busybox, the second perturbed, give the
/// same bytes. Takes two full builds (about 3 minutes each on 2 cores); needs the Debian archive.
#[test]
#[ignore = "tier: e2e"]
fn e2e_busybox_is_reproducible_under_perturbation() {
    require_verify_tools();
    let work = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_compose"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["verify", "recipes/busybox.toml", "-q", "-o"])
        .arg(work.path().join("out"))
        .env("COMPOSE_CACHE_DIR", work.path().join("cache"))
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("COMPOSE_DEBIAN_MIRROR")
        .output()
        .expect("run compose verify");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{stdout}\n(took {:.0}s)", started.elapsed().as_secs_f64());
    assert!(out.status.success(), "verify failed ({:?}):\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("reproducible  busybox"), "{stdout}");
    for pkg in ["busybox", "musl", "linux-headers"] {
        assert!(stdout.contains(&format!("artifact {pkg}  tree sha256:")), "{pkg} not compared:\n{stdout}");
    }
    for f in ["busybox.tar  sha256:", "busybox.oci.tar  sha256:", "busybox.docker.tar  sha256:"] {
        assert!(stdout.contains(f), "{f} not compared:\n{stdout}");
    }
    assert!(!stdout.contains("NOT applied"), "a perturbation was not applied:\n{stdout}");
}

/// A platform other than this machine's (of the fixture toolchain's two), its arch and how it prints.
fn foreign() -> (&'static str, &'static str, &'static str) {
    if std::env::consts::ARCH == "aarch64" {
        ("linux/amd64", "amd64", "linux/amd64")
    } else {
        ("linux/arm64", "arm64", "linux/arm64/v8")
    }
}

/// `--platform` reaches both child builds, whose outputs are named NAME-ARCH: the comparison, the entry
/// diff of the rootfs tars and the work directory use those names.
#[test]
fn a_foreign_platform_is_verified_under_its_own_names() {
    let (platform, arch, shown) = foreign();
    let args = |t: &Test, extra: &[&str]| {
        let mut a = vec!["verify", "recipes/app.toml", "--toolchain", "pair", "-o", "out", "--platform", platform];
        a.extend_from_slice(extra);
        t.run_with(&a, &[])
    };
    let t = fixture(INSTALL).file("toolchains/pair.toml", crate::platforms::TWO_TARGETS);
    let r = args(&t, &["--keep"]);
    r.success().stdout_has(&format!("reproducible  app for {shown}  ("));
    for f in [".tar", ".oci.tar", ".docker.tar", ".oci/index.json", ".files.json"] {
        r.stdout_has(&format!("  app-{arch}{f}  sha256:"));
    }
    assert!(!r.stdout.contains("  app.tar  "), "{}", r.stdout);
    assert!(t.path(&format!("out/verify/app-{arch}/b/out/app-{arch}.tar")).is_file(), "work dir OUT/verify/NAME-ARCH");

    // A difference is found in the platform's rootfs tar, entry by entry.
    let t = stamped().file("toolchains/pair.toml", crate::platforms::TWO_TARGETS);
    let r = args(&t, &[]);
    r.code(16)
        .stdout_has(&format!("not reproducible  app for {shown}\n"))
        .stdout_has(&format!("differs  app-{arch}.tar"))
        .stdout_has("entry  /etc/stamp  (app)")
        .stderr_has(&format!("`app` for {shown} is not reproducible"));

    // One platform at a time, and one the toolchain has.
    let only = |p: &str| t.run_with(&["verify", "recipes/app.toml", "--toolchain", "pair", "--platform", p], &[]);
    only("linux/amd64,linux/arm64")
        .code(2)
        .stderr_has("--platform: verify takes one platform, not a list (`linux/amd64`, `linux/arm64/v8`)")
        .stderr_has("hint: run `compose verify` once per platform");
    only("linux/riscv64").code(3).stderr_has("linux/riscv64");
    assert!(!t.path("out/verify/app-riscv64").exists(), "nothing was built");
}

/// The real cross build, twice: busybox (with musl and linux-headers) for arm64 from the real toolchain,
/// the second build perturbed, gives the same bytes, and what it built is aarch64 code. Needs the
/// network (the Debian archive) and the cross compiler, besides verify's tools; two full builds.
#[test]
#[ignore = "tier: cross"]
fn cross_verify_busybox_for_arm64() {
    require_verify_tools();
    require("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
    // On an arm64 machine arm64 is the host's platform, and the names stay plain.
    let name = if std::env::consts::ARCH == "aarch64" { "busybox" } else { "busybox-arm64" };
    let work = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_compose"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["verify", "recipes/busybox.toml", "--platform", "linux/arm64", "--keep", "-q", "-o"])
        .arg(work.path().join("out"))
        .env("COMPOSE_CACHE_DIR", work.path().join("cache"))
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("COMPOSE_DEBIAN_MIRROR")
        .output()
        .expect("run compose verify");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{stdout}\n(took {:.0}s)", started.elapsed().as_secs_f64());
    assert!(out.status.success(), "verify failed ({:?}):\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("reproducible  busybox for linux/arm64/v8  ("), "{stdout}");
    for pkg in ["busybox", "musl", "linux-headers"] {
        assert!(stdout.contains(&format!("artifact {pkg}  tree sha256:")), "{pkg} not compared:\n{stdout}");
    }
    for f in [".tar", ".oci.tar", ".docker.tar", ".files.json"] {
        let line = format!("  {name}{f}  sha256:");
        assert!(stdout.contains(&line), "{line} not compared:\n{stdout}");
    }
    assert!(!stdout.contains("NOT applied"), "a perturbation was not applied:\n{stdout}");
    // What was built is for arm64: audit build A's image (its manifest beside it).
    let image = work.path().join(format!("out/verify/{name}/a/out/{name}.oci.tar"));
    let audit = std::process::Command::new(env!("CARGO_BIN_EXE_compose"))
        .args(["audit", "--json"])
        .arg(&image)
        .output()
        .expect("run compose audit");
    assert!(audit.status.success(), "audit {}: {}", image.display(), String::from_utf8_lossy(&audit.stderr));
    let j: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(j["machines"], serde_json::json!({"aarch64": 1}), "only /bin/busybox, for aarch64");
    assert!(j["image"]["platform"].as_str().is_some_and(|p| p.starts_with("linux/arm64")), "{}", j["image"]);
    assert_eq!(j["ownership"], "manifest", "{name}.files.json beside it");
    assert_eq!((&j["mismatched"], &j["missing"]), (&serde_json::json!([]), &serde_json::json!([])));
}

#[test]
#[ignore = "tier: verify"]
fn verify_a_failing_perturbed_build_exits_with_its_code_names_it_and_unmounts() {
    require_verify_tools();
    // Fails only where libfaketime is preloaded: in build B's phases.
    let t = fixture(&format!("{INSTALL}\n[ -z \"$FAKETIME\" ]"));
    let r = verify(&t, &[]);
    r.code(7).stderr_has("build B (perturbed) failed with exit code 7").stderr_has("build.log");
    assert!(t.path("out/verify/app/a/out/app.tar").is_file(), "A's outputs are kept");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&t.path("out").display().to_string()), "disorderfs left mounted:\n{mounts}");
}
