//! Builds for several platforms in one run (`--platform`), with a fixture toolchain whose two targets
//! both use the host `cc` (nothing is compiled: the point is the graph, the names and the records).

use crate::harness::{E, Test, recipe, sha256_file, started_packages, tar_listing};

pub(crate) const TWO_TARGETS: &str = r#"
[toolchain]
name = "pair"
description = "two targets, host cc for both: fixture"
packages = []
[compiler]
cflags = "-O1"
[[target]]
triple = "x86_64-linux-musl"
platform = "linux/amd64"
host_cc = "cc"
[[target]]
triple = "aarch64-linux-musl"
platform = "linux/arm64/v8"
host_cc = "cc"
cross_compile = "aarch64-linux-gnu-"
"#;

/// Each build writes what its phase environment says about the target into the package.
const INSTALL: &str = r#"mkdir -p "$DESTDIR/etc"
printf '%s|%s|%s|%s|%s\n' "$TARGET" "$CROSS_COMPILE" "$LINUX_ARCH" "$HOST_CC" "$AR" > "$DESTDIR/etc/target""#;

fn project() -> Test {
    Test::new()
        .tarball("app-1.0.tar.gz", &[E::Dir("app-1.0"), E::File("app-1.0/README", "app\n", 0o644)])
        // An https URL (an SPDX download location must be one), found offline in the mirror `dl/`.
        .recipe(
            "app",
            &recipe("app", "app-1.0.tar.gz", &[], &[], INSTALL)
                .replace("file://{DL}/app-1.0.tar.gz", "https://example.invalid/app-1.0.tar.gz"),
        )
        .file("toolchains/pair.toml", TWO_TARGETS)
}

fn build(t: &Test, platforms: &str) -> crate::harness::Run {
    build_formats(t, platforms, "tar")
}

fn build_formats(t: &Test, platforms: &str, formats: &str) -> crate::harness::Run {
    let args = ["build", "recipes/app.toml", "--toolchain", "pair", "-o", "out", "--message-format", "json"];
    let mut args = args.to_vec();
    let dl = t.path("dl").display().to_string();
    args.extend(["--offline", "--mirror", &dl, "--format", formats, "--platform", platforms]);
    t.run_with(&args, &[])
}

fn json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn file_in(tar: &std::path::Path, path: &str) -> String {
    let l = tar_listing(tar);
    l.into_iter().find(|e| e.0 == path).unwrap_or_else(|| panic!("{path} not in {}", tar.display())).3
}

#[test]
fn two_platforms_build_in_one_graph_with_outputs_and_sboms_per_platform_and_one_provenance() {
    let t = project();
    let r = build_formats(&t, "linux/amd64,linux/arm64", "tar,oci,oci-archive,docker-archive");
    r.success();
    let mut started = started_packages(&r.stdout);
    started.sort();
    assert_eq!(started, ["app@amd64", "app@arm64"]);

    let (amd, arm) = (t.path("out/app-amd64.tar"), t.path("out/app-arm64.tar"));
    assert_eq!(file_in(&amd, "etc/target"), "x86_64-linux-musl||x86_64|gcc|ar\n");
    assert_eq!(file_in(&arm, "etc/target"), "aarch64-linux-musl|aarch64-linux-gnu-|arm64|gcc|aarch64-linux-gnu-ar\n");
    let tars: Vec<_> = r.messages().into_iter().filter(|m| m["reason"] == "output" && m["format"] == "tar").collect();
    assert_eq!(tars.len(), 2, "{tars:?}");
    for m in &tars {
        let p = t.path(m["path"].as_str().unwrap());
        assert_eq!(m["sha256"].as_str().unwrap(), sha256_file(&p));
        let arch = if m["platform"] == "linux/amd64" { "amd64" } else { "arm64" };
        assert!(p.ends_with(format!("app-{arch}.tar")), "{m}");
    }

    for arch in ["amd64", "arm64"] {
        for doc in ["files", "spdx", "cdx"] {
            assert!(t.path(&format!("out/app-{arch}.{doc}.json")).is_file(), "app-{arch}.{doc}.json");
        }
        assert!(!t.path(&format!("out/app-{arch}.provenance.json")).exists());
    }
    let prov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.path("out/app.provenance.json")).unwrap()).unwrap();
    let subjects = prov["subject"].as_array().unwrap();
    for (name, tar) in [("app-amd64.rootfs.tar", &amd), ("app-arm64.rootfs.tar", &arm)] {
        let s = subjects.iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("{name} not a subject"));
        assert_eq!(s["digest"]["sha256"].as_str().unwrap(), sha256_file(tar));
    }
    let targets = &prov["predicate"]["buildDefinition"]["internalParameters"]["target"];
    assert_eq!(targets, &serde_json::json!(["x86_64-linux-musl", "aarch64-linux-musl"]));
    let byproducts: Vec<&str> = prov["predicate"]["runDetails"]["byproducts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(byproducts, ["artifact:app@amd64", "artifact:app@arm64"]);
    let spdx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.path("out/app-arm64.spdx.json")).unwrap()).unwrap();
    assert_eq!(spdx["packages"].as_array().unwrap().iter().filter(|p| p["name"] == "app").count(), 1);

    // One OCI layout and archive: index.json tags one image index listing a manifest per platform, whose
    // configs say the platform; a docker-archive per platform.
    let layout = t.path("out/app.oci");
    let top = json(&layout.join("index.json"));
    assert_eq!(top["manifests"].as_array().unwrap().len(), 1);
    let tagged = &top["manifests"][0];
    assert_eq!(tagged["mediaType"], "application/vnd.oci.image.index.v1+json");
    let blob = |d: &serde_json::Value| layout.join("blobs/sha256").join(&d["digest"].as_str().unwrap()[7..]);
    let list = json(&blob(tagged));
    let mut seen = Vec::new();
    for m in list["manifests"].as_array().unwrap() {
        let p = &m["platform"];
        let config = json(&blob(&json(&blob(m))["config"]));
        assert_eq!(
            (&config["os"], &config["architecture"], &config["variant"]),
            (&p["os"], &p["architecture"], &p["variant"])
        );
        seen.push(format!("{}/{}", p["architecture"].as_str().unwrap(), p["variant"].as_str().unwrap_or("-")));
    }
    assert_eq!(seen, ["amd64/-", "arm64/v8"]);
    assert!(t.path("out/app.oci.tar").is_file());
    for arch in ["amd64", "arm64"] {
        let docker = t.path(&format!("out/app-{arch}.docker.tar"));
        let subject = subjects.iter().find(|s| s["name"] == format!("app-{arch}.docker.tar")).expect("docker subject");
        assert_eq!(subject["digest"]["sha256"].as_str().unwrap(), sha256_file(&docker));
    }
    let image_digest = &tagged["digest"].as_str().unwrap()[7..];
    assert!(subjects.iter().any(|s| s["digest"]["sha256"] == image_digest), "the image index is a subject");
    let built = r.messages().into_iter().find(|m| m["reason"] == "image-built").unwrap();
    assert_eq!(built["platforms"], serde_json::json!(["linux/amd64", "linux/arm64/v8"]));

    // One platform again: the same keys, so nothing builds, and the host's files carry no suffix.
    let again = build(&t, "linux/amd64");
    again.success();
    assert!(started_packages(&again.stdout).is_empty());
    assert_eq!(sha256_file(&t.path("out/app.tar")), sha256_file(&amd));
    // A foreign platform alone is named for its architecture.
    build(&t, "linux/arm64").success();
    assert_eq!(sha256_file(&t.path("out/app-arm64.tar")), sha256_file(&arm));

    // A prune keeps the artifacts of every target the toolchain can build here.
    t.run_with(&["cache", "prune", "--toolchain", "pair"], &[]).success();
    let after = build(&t, "linux/amd64,linux/arm64");
    after.success();
    assert!(started_packages(&after.stdout).is_empty(), "pruned: {:?}", started_packages(&after.stdout));
}

#[test]
fn a_platform_the_toolchain_lacks_is_refused_naming_the_file_and_the_platforms_it_has() {
    let t = project();
    build(&t, "linux/riscv64")
        .code(3)
        .stderr_has("toolchains/pair.toml")
        .stderr_has("no target for platform `linux/riscv64`")
        .stderr_has("`linux/arm64/v8` (aarch64-linux-musl)")
        .stderr_has("--platform");
    build(&t, "linux").code(2).stderr_has("--platform: `linux` is not OS/ARCH");
    assert!(!t.path("out").exists(), "nothing written");
}

#[test]
fn a_lock_covers_the_host_tools_of_every_platform_it_was_made_for() {
    let t = project();
    let dl = t.path("dl").display().to_string();
    let offline = ["--offline", "--mirror", dl.as_str()];
    let locked = |platforms: &str| {
        let mut a = vec!["build", "recipes/app.toml", "--toolchain", "pair", "-o", "out", "--format", "tar"];
        a.extend(["--locked", "--platform", platforms]);
        a.extend(offline);
        t.run_with(&a, &[])
    };
    let make_lock = |extra: &[&str]| {
        let mut a = vec!["lock", "recipes/app.toml", "--toolchain", "pair"];
        a.extend(offline);
        a.extend(extra);
        t.run_with(&a, &[])
    };
    make_lock(&[]).success();
    let lock = std::fs::read_to_string(t.path("recipes/app.lock")).unwrap();
    assert!(!lock.contains("aarch64-linux-musl:"), "a host-only lock names no cross tool:\n{lock}");
    locked("linux/amd64").success();
    locked("linux/amd64,linux/arm64")
        .code(12)
        .stderr_has("host tool `aarch64-linux-musl:cc` (from `compiler.host_cc`) is not in the lock");

    make_lock(&["--platform", "linux/amd64,linux/arm64"]).success();
    let lock = std::fs::read_to_string(t.path("recipes/app.lock")).unwrap();
    assert!(lock.contains("tool = \"aarch64-linux-musl:cc\""), "{lock}");
    locked("linux/amd64,linux/arm64").success();
}

#[test]
#[ignore = "tier: validators"]
fn validators_pass_each_platforms_sboms_and_the_one_provenance() {
    let t = project();
    build_formats(&t, "linux/amd64,linux/arm64", "tar,oci-archive,docker-archive").success();
    for arch in ["amd64", "arm64"] {
        crate::records::validate(&t.path("out"), &format!("app-{arch}"), "app");
    }
}
