//! Audit records: the file manifest, SPDX 2.3 and CycloneDX 1.6 SBOMs and the in-toto/SLSA provenance
//! written beside every image, pinned by golden snapshots, and checked by the reference validators
//! (pyspdxtools, cyclonedx-python-lib, in-toto-attestation: the `validators_*` tests, tier
//! `validators`); and `compose sources bundle`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::{E, Test, sha256_file};

const PATCH: &str = "--- a/greet.sh\n+++ b/greet.sh\n@@ -1,2 +1,2 @@\n #!/bin/sh\n-echo hi\n+echo hello\n";

/// `greet` (runtime dependency `motd`, build dependency `libgreet`, one patch and one config file)
/// with sources at a URL that does not resolve: they come from the `dl/` mirror, offline.
pub fn project() -> Test {
    let pkg = |name: &str, license: &str, extra: &str, deps: &str, install: &str| {
        format!(
            r#"{extra}
[package]
name = "{name}"
version = "1.0"
license = "{license}"
homepage = "https://example.org/{name}"
description = "{name} fixture"
cpe = "cpe:2.3:a:example:{name}:1.0:*:*:*:*:*:*:*"

[[source]]
url = "https://example.invalid/{name}-1.0.tar.gz"
sha256 = "{{SHA:{name}-1.0.tar.gz}}"

[dependencies]
{deps}

[build]
style = "custom"
install = '''
{install}
'''
"#
        )
    };
    Test::new()
        .tarball(
            "libgreet-1.0.tar.gz",
            &[
                E::Dir("libgreet-1.0"),
                E::File("libgreet-1.0/greet.h", "#define GREETING 1\n", 0o644),
                E::File("libgreet-1.0/COPYING", "libgreet licence text\n", 0o644),
            ],
        )
        .tarball(
            "greet-1.0.tar.gz",
            &[
                E::Dir("greet-1.0"),
                E::File("greet-1.0/greet.sh", "#!/bin/sh\necho hi\n", 0o755),
                E::File("greet-1.0/LICENSE", "greet licence text\n", 0o644),
                E::File("greet-1.0/src/COPYING", "not a top-level licence\n", 0o644),
            ],
        )
        .tarball("motd-1.0.tar.gz", &[E::Dir("motd-1.0"), E::File("motd-1.0/motd", "welcome\n", 0o644)])
        .file("recipes/greet/fix.patch", PATCH)
        .file("recipes/greet/greet.conf", "colour=on\n")
        .recipe(
            "libgreet",
            &pkg(
                "libgreet",
                "BSD-2-Clause",
                "",
                "build = []\nruntime = []",
                r#"mkdir -p "$DESTDIR/usr/include"
cp greet.h "$DESTDIR/usr/include/""#,
            ),
        )
        .recipe(
            "motd",
            &pkg(
                "motd",
                "CC0-1.0",
                "",
                "build = []\nruntime = []",
                r#"mkdir -p "$DESTDIR/etc"
cp motd "$DESTDIR/etc/motd""#,
            ),
        )
        .recipe(
            "greet",
            &pkg(
                "greet",
                "GPL-2.0-only WITH Linux-syscall-note",
                "patches = [\"greet/fix.patch\"]\nfiles = [\"greet/greet.conf\"]",
                "build = [\"libgreet\"]\nruntime = [\"motd\"]",
                r#"test -f "$SYSROOT/usr/include/greet.h"
mkdir -p "$DESTDIR/usr/bin" "$DESTDIR/etc"
cp greet.sh "$DESTDIR/usr/bin/greet"
ln -s greet "$DESTDIR/usr/bin/hello"
cp "$FILES/greet.conf" "$DESTDIR/etc/greet.conf""#,
            ),
        )
}

fn build(t: Test, extra: &[&str]) -> Test {
    let dl = t.path("dl").display().to_string();
    let mut args = vec!["--offline", "--mirror", dl.as_str(), "--format", "tar,oci-archive"];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let t = t.build("greet", &args.iter().map(String::as_str).collect::<Vec<_>>());
    t.run().success().stdout_has("out/greet.spdx.json").stdout_has("out/greet.cdx.json");
    t
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn python(args: &[&str]) -> std::process::Output {
    Command::new("python3").args(args).output().expect("python3 runs")
}

#[track_caller]
fn validator_passes(o: &std::process::Output, what: &str) {
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{what} rejected the document:\n{text}");
}

/// Fails unless the reference validators are installed, naming the PyPI packages (.ci/run pins them).
pub(crate) fn require_validators() {
    let pip = "pip install spdx-tools==0.8.5 'cyclonedx-python-lib[json-validation]==11.12.0' \
               in-toto-attestation==0.9.3 (see .ci/run)";
    crate::engines::require("python3", "python3");
    let o = python(&["-c", "import spdx_tools, cyclonedx.validation.json, jsonschema, in_toto_attestation"]);
    assert!(
        o.status.success(),
        "the SBOM validators are required for this test and python3 cannot import them: {pip}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let found = Command::new("sh").args(["-c", "command -v pyspdxtools"]).output().is_ok_and(|o| o.status.success());
    assert!(found, "`pyspdxtools` is required for this test and is not on PATH: {pip}");
}

/// pyspdxtools, cyclonedx-python-lib's strict 1.6 validator and in-toto-attestation on the records in `out`.
pub(crate) fn validate_records(out: &Path, name: &str) {
    validate(out, name, name);
}

/// `validate_records`, for a build whose SBOMs (`SBOMS.spdx.json`, `SBOMS.cdx.json`) and provenance
/// (`PROVENANCE.provenance.json`) have different names: one platform of several.
pub(crate) fn validate(out: &Path, sboms: &str, provenance: &str) {
    let name = sboms;
    require_validators();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/validators/records.py");
    let spdx = out.join(format!("{name}.spdx.json"));
    let o = Command::new("pyspdxtools").arg("-i").arg(&spdx).output().expect("pyspdxtools (pip install spdx-tools)");
    validator_passes(&o, "pyspdxtools");
    let o = python(&[script, "cyclonedx", &out.join(format!("{name}.cdx.json")).display().to_string()]);
    validator_passes(&o, "cyclonedx-python-lib JsonStrictValidator(1.6)");
    let o = python(&[script, "provenance", &out.join(format!("{provenance}.provenance.json")).display().to_string()]);
    validator_passes(&o, "in-toto-attestation");
}

#[test]
#[ignore = "tier: validators"]
fn validators_pass_the_greet_records() {
    let t = build(project(), &[]);
    validate_records(&t.path("out"), "greet");
}

#[test]
fn the_manifest_lists_every_entry_with_its_digest_and_owner() {
    let t = build(project(), &[]);
    let m = json(&t.path("out/greet.files.json"));
    assert_eq!(m["format"], "compose-files-v1");
    assert_eq!(m["image"]["tar_sha256"], sha256_file(&t.path("out/greet.tar")));
    let files = m["files"].as_array().unwrap();
    let get = |p: &str| files.iter().find(|f| f["path"] == p).unwrap_or_else(|| panic!("{p} not in the manifest"));
    let greet = get("/usr/bin/greet");
    assert_eq!(
        (greet["type"].as_str(), greet["owner"].as_str(), greet["mode"].as_str()),
        (Some("file"), Some("greet"), Some("0755"))
    );
    // The patch was applied: the shipped file says hello.
    assert_eq!(greet["sha256"], crate::harness::sha256_bytes(b"#!/bin/sh\necho hello\n"));
    assert_eq!(get("/usr/bin/hello")["target"], "greet");
    assert_eq!(get("/etc/motd")["owner"], "motd");
    assert_eq!(get("/etc/passwd")["owner"], "accounts");
    assert_eq!(get("/tmp")["mode"], "1777");
    // Every tar entry is in the manifest, and nothing else.
    let listing = crate::harness::tar_listing(&t.path("out/greet.tar"));
    let mut in_tar: Vec<String> = listing.iter().map(|e| format!("/{}", e.0.trim_end_matches('/'))).collect();
    in_tar.sort();
    let in_manifest: Vec<String> = files.iter().map(|f| f["path"].as_str().unwrap().to_string()).collect();
    assert_eq!(in_manifest, in_tar);
    let packages: Vec<&str> = m["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(packages, ["greet", "motd"], "build-only libgreet is not in the image");
}

#[test]
fn sboms_keep_build_inputs_apart_and_link_them() {
    let t = build(project(), &[]);
    let spdx = json(&t.path("out/greet.spdx.json"));
    let rels = spdx["relationships"].as_array().unwrap();
    let has = |a: &str, kind: &str, b: &str| {
        rels.iter().any(|r| r["spdxElementId"] == a && r["relationshipType"] == kind && r["relatedSpdxElement"] == b)
    };
    assert!(has("SPDXRef-Image", "CONTAINS", "SPDXRef-Package-greet"));
    assert!(has("SPDXRef-Image", "CONTAINS", "SPDXRef-Package-motd"));
    assert!(!has("SPDXRef-Image", "CONTAINS", "SPDXRef-Package-libgreet"));
    assert!(has("SPDXRef-Package-libgreet", "BUILD_DEPENDENCY_OF", "SPDXRef-Package-greet"));
    assert!(has("SPDXRef-Package-greet", "DEPENDS_ON", "SPDXRef-Package-motd"));
    let pkg = |n: &str| {
        let id = format!("SPDXRef-Package-{n}");
        spdx["packages"].as_array().unwrap().iter().find(|p| p["SPDXID"] == id.as_str()).unwrap().clone()
    };
    let greet = pkg("greet");
    assert_eq!(greet["checksums"][0]["checksumValue"], sha256_file(&t.path("dl/greet-1.0.tar.gz")));
    assert_eq!(greet["licenseDeclared"], "GPL-2.0-only WITH Linux-syscall-note");
    let info = greet["sourceInfo"].as_str().unwrap();
    assert!(
        info.contains("recipes/greet/fix.patch (sha256 ")
            && info.contains(&sha256_file(&t.path("recipes/greet/fix.patch")))
    );
    let refs = greet["externalRefs"].to_string();
    assert!(refs.contains("pkg:generic/greet@1.0?checksum=sha256:") && refs.contains("cpe:2.3:a:example:greet:1.0"));
    assert_eq!(pkg("libgreet")["filesAnalyzed"], false);

    let cdx = json(&t.path("out/greet.cdx.json"));
    let names: Vec<&str> = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] != "file")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["greet", "motd"]);
    let building = cdx["formulation"][0]["components"].as_array().unwrap();
    assert!(building.iter().any(|c| c["name"] == "libgreet" && c["scope"] == "excluded"));
    let greet = cdx["components"].as_array().unwrap().iter().find(|c| c["name"] == "greet").unwrap();
    let files: Vec<&str> =
        greet["components"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(files, ["/etc/greet.conf", "/usr/bin/greet"]);
    assert_eq!(greet["licenses"][0]["expression"], "GPL-2.0-only WITH Linux-syscall-note");
    let manifest = json(&t.path("out/greet.files.json"));
    let tar = manifest["image"]["tar_sha256"].as_str().unwrap();
    assert!(spdx["documentNamespace"].as_str().unwrap().ends_with(tar), "namespace derived from the image digest");

    let prov = json(&t.path("out/greet.provenance.json"));
    let subjects = prov["subject"].to_string();
    assert!(subjects.contains(tar) && subjects.contains(&sha256_file(&t.path("out/greet.oci.tar"))));
    let deps = prov["predicate"]["buildDefinition"]["resolvedDependencies"].as_array().unwrap();
    let dep =
        |uri: &str| deps.iter().find(|d| d["uri"] == uri).unwrap_or_else(|| panic!("{uri} not resolved: {deps:?}"));
    assert_eq!(
        dep("https://example.invalid/libgreet-1.0.tar.gz")["digest"]["sha256"],
        sha256_file(&t.path("dl/libgreet-1.0.tar.gz"))
    );
    assert_eq!(
        dep("file:recipes/greet/fix.patch")["digest"]["sha256"],
        sha256_file(&t.path("recipes/greet/fix.patch"))
    );
    assert_eq!(dep("file:recipes/greet.toml")["digest"]["sha256"], sha256_file(&t.path("recipes/greet.toml")));
    assert!(deps.iter().any(|d| d["uri"] == "file:toolchains/stub.toml"));
    // The host compiler (`cc`, as the stub toolchain names it) and what it runs, resolved and hashed.
    let host: Vec<&serde_json::Value> = deps.iter().filter(|d| d["annotations"]["kind"] == "host-tool").collect();
    for tool in ["cc", "as", "ld", "ar"] {
        let d = host.iter().find(|d| d["name"] == tool).unwrap_or_else(|| panic!("{tool} not resolved: {host:?}"));
        let path = d["uri"].as_str().unwrap().strip_prefix("file://").unwrap();
        assert_eq!(d["digest"]["sha256"], sha256_file(std::path::Path::new(path)), "{d}");
        assert_eq!(d["annotations"]["field"], "compiler.host_cc");
    }
    let cc = host.iter().find(|d| d["name"] == "cc").unwrap();
    assert!(cc["annotations"]["version"].as_str().is_some_and(|v| !v.is_empty()), "{cc}");
    assert_eq!(prov["predicate"]["buildDefinition"]["internalParameters"]["sandbox"], true);
}

#[test]
fn records_are_deterministic_and_golden() {
    let a = build(project(), &[]);
    let b = build(project(), &["-j", "1"]);
    for f in ["files.json", "spdx.json", "cdx.json", "provenance.json"] {
        let (x, y) = (a.path(&format!("out/greet.{f}")), b.path(&format!("out/greet.{f}")));
        assert!(std::fs::read(&x).unwrap() == std::fs::read(&y).unwrap(), "{f} differs between two builds");
    }
    // Golden snapshots (review a change with `cargo insta review`).
    insta::assert_snapshot!("greet.spdx.json", std::fs::read_to_string(a.path("out/greet.spdx.json")).unwrap());
    insta::assert_snapshot!("greet.cdx.json", std::fs::read_to_string(a.path("out/greet.cdx.json")).unwrap());
    insta::assert_snapshot!("greet.provenance.json", without_host_tools(&a.path("out/greet.provenance.json")));
}

/// The provenance with the host tools' entries left out: their paths, versions and digests are this
/// machine's, not the fixture's.
fn without_host_tools(p: &std::path::Path) -> String {
    let mut prov = json(p);
    let deps = prov["predicate"]["buildDefinition"]["resolvedDependencies"].as_array_mut().unwrap();
    deps.retain(|d| d["annotations"]["kind"] != "host-tool");
    serde_json::to_string_pretty(&prov).unwrap() + "\n"
}

/// An image of no package and no skeleton, built: its records are in `out/empty.*`.
fn scratch() -> Test {
    let t = Test::new()
        .file("recipes/empty.toml", "[image]\nname = \"empty\"\nversion = \"1\"\npackages = []\nskeleton = false\n");
    let t = t.build("empty", &["--format", "oci-archive"]);
    t.run().success();
    t
}

#[test]
fn scratch_records_list_no_files() {
    let t = scratch();
    let m = json(&t.path("out/empty.files.json"));
    assert_eq!(m["files"].as_array().unwrap().len(), 0);
}

#[test]
#[ignore = "tier: validators"]
fn validators_pass_the_scratch_records() {
    let t = scratch();
    validate_records(&t.path("out"), "empty");
}

#[test]
fn legal_bundle_holds_sources_patches_recipes_and_licence_texts() {
    let t = project();
    let dl = t.path("dl").display().to_string();
    let bundle = |out: &str| {
        let args = ["sources", "bundle", "recipes/greet.toml", "--toolchain", "stub", "--offline", "--mirror", &dl];
        t.run_with(&[&args[..], &["-o", out]].concat(), &[])
    };
    bundle("legal.tar").success().stdout_has("legal.tar");
    let listing = crate::harness::tar_listing(&t.path("legal.tar"));
    let get =
        |p: &str| listing.iter().find(|e| e.0 == p).unwrap_or_else(|| panic!("{p} not in the bundle: {listing:?}"));
    assert_eq!(crate::harness::sha256_bytes(get("sources/greet/greet-1.0.tar.gz").3.as_bytes()).len(), 64);
    assert_eq!(get("recipes/greet/fix.patch").3, PATCH);
    assert_eq!(get("recipes/greet/greet.conf").3, "colour=on\n");
    assert_eq!(get("licenses/greet/greet-1.0.tar.gz/LICENSE").3, "greet licence text\n");
    assert_eq!(get("licenses/libgreet/libgreet-1.0.tar.gz/COPYING").3, "libgreet licence text\n");
    assert!(!listing.iter().any(|e| e.0.starts_with("licenses/greet/src")), "only top-level licence files");
    get("toolchains/stub.toml");
    get("recipes/libgreet.toml");
    let m: Value = serde_json::from_str(&get("manifest.json").3).unwrap();
    assert_eq!(m["format"], "compose-legal-v1");
    let greet = m["packages"].as_array().unwrap().iter().find(|p| p["name"] == "greet").unwrap();
    assert_eq!(greet["in_image"], true);
    assert_eq!(greet["sources"][0]["sha256"], sha256_file(&t.path("dl/greet-1.0.tar.gz")));
    assert_eq!(greet["license"], "GPL-2.0-only WITH Linux-syscall-note");
    // Deterministic: a second bundle is byte-identical.
    bundle("legal2.tar").success();
    assert_eq!(sha256_file(&t.path("legal.tar")), sha256_file(&t.path("legal2.tar")));
}

#[test]
fn a_malformed_cpe_names_the_field() {
    let t = project();
    let text = std::fs::read_to_string(t.path("recipes/motd.toml")).unwrap().replace(":1.0:*:*", ":2.0:*:*");
    std::fs::write(t.path("recipes/motd.toml"), text).unwrap();
    t.build("motd", &[]).run().code(3).stderr_has("motd.toml: field `package.cpe`").stderr_has("package's version");
}

/// The records take a file's digests from its artifact's `files.tsv` only while the file is as it was
/// hashed: one changed in the cache after the build (same size, same path) is hashed afresh, so the
/// records always describe the bytes in the tar.
#[test]
fn file_digests_come_from_the_artifact_index_only_while_the_file_is_unchanged() {
    let t = build(project(), &[]);
    let artifacts = t.path("cache/artifacts-v1");
    let dir = std::fs::read_dir(&artifacts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("greet-"))
        .expect("greet's artifact");
    let index = std::fs::read_to_string(dir.join("files.tsv")).expect("the artifact has a file index");
    let hello = b"#!/bin/sh\necho hello\n";
    let line = index.lines().find(|l| l.ends_with("\tusr/bin/greet")).unwrap_or_else(|| panic!("{index}"));
    let cols: Vec<&str> = line.split('\t').collect();
    assert_eq!(cols[0], crate::harness::sha256_bytes(hello));
    assert_eq!(cols[2], hello.len().to_string());
    let sha1 = |m: &Value| -> String {
        let f = m["files"].as_array().unwrap().iter().find(|f| f["fileName"] == "./usr/bin/greet").unwrap().clone();
        f["checksums"].as_array().unwrap().iter().find(|c| c["algorithm"] == "SHA1").unwrap()["checksumValue"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(sha1(&json(&t.path("out/greet.spdx.json"))), cols[1]);

    // Rewritten in the cache, same size: the next (cached) build must not trust the index line.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let shout = b"#!/bin/sh\necho HELLO\n";
    std::fs::write(dir.join("tree/usr/bin/greet"), shout).unwrap();
    let t = build(t, &[]);
    let m = json(&t.path("out/greet.files.json"));
    let greet = m["files"].as_array().unwrap().iter().find(|f| f["path"] == "/usr/bin/greet").unwrap().clone();
    assert_eq!(greet["sha256"], crate::harness::sha256_bytes(shout));
    let mut ar = tar::Archive::new(std::fs::File::open(t.path("out/greet.tar")).unwrap());
    let mut in_tar = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("usr/bin/greet") {
            std::io::Read::read_to_end(&mut e, &mut in_tar).unwrap();
        }
    }
    assert_eq!(in_tar, shout, "the tar carries the cache's bytes");
    let expected_sha1 = {
        let o = Command::new("sha1sum").arg(dir.join("tree/usr/bin/greet")).output().unwrap();
        String::from_utf8(o.stdout).unwrap().split_whitespace().next().unwrap().to_string()
    };
    assert_eq!(sha1(&json(&t.path("out/greet.spdx.json"))), expected_sha1);
}
