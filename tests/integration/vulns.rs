//! `compose vulns`: a fixture image (greet 1.0 with its runtime dependency motd 1.0, both with a CPE,
//! greet with an OSV name) checked against fixture feeds written in the real NVD CVE API 2.0 and OSV
//! schemas: which ranges match and which do not, several feeds at once (plain, gzip, zip), a corrupt
//! feed (exit 23), `--deny` (exit 22), the four output formats, and an image built earlier read through
//! its SBOM. The validators tier runs cyclonedx-python-lib's strict 1.6 validator on the VEX document
//! and the official OpenVEX 0.2.0 JSON schema on the OpenVEX document.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{E, Test, sha256_file};

fn recipe(name: &str, runtime: &str, extra: &str, install: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "1.0"
license = "MIT"
homepage = "https://example.org/{name}"
description = "{name} fixture"
cpe = "cpe:2.3:a:example:{name}:1.0:*:*:*:*:*:*:*"
{extra}

[[source]]
url = "https://example.invalid/{name}-1.0.tar.gz"
sha256 = "{{SHA:{name}-1.0.tar.gz}}"

[dependencies]
runtime = [{runtime}]

[build]
style = "custom"
install = '''
{install}
'''
"#
    )
}

/// greet (osv OSS-Fuzz/greet) needs motd at run time; sources come from `dl/`, offline.
fn project() -> Test {
    Test::new()
        .tarball(
            "greet-1.0.tar.gz",
            &[E::Dir("greet-1.0"), E::File("greet-1.0/greet.sh", "#!/bin/sh\necho hi\n", 0o755)],
        )
        .tarball("motd-1.0.tar.gz", &[E::Dir("motd-1.0"), E::File("motd-1.0/motd", "welcome\n", 0o644)])
        .recipe("motd", &recipe("motd", "", "", "mkdir -p \"$DESTDIR/etc\"\ncp motd \"$DESTDIR/etc/motd\""))
        .recipe(
            "greet",
            &recipe(
                "greet",
                "\"motd\"",
                "osv = { ecosystem = \"OSS-Fuzz\", name = \"greet\" }",
                "mkdir -p \"$DESTDIR/usr/bin\"\ncp greet.sh \"$DESTDIR/usr/bin/greet\"",
            ),
        )
}

/// One NVD CVE API 2.0 `vulnerabilities[]` item: `matches` are cpeMatch objects of one OR node.
pub(crate) fn cve(id: &str, score: f64, severity: &str, vector: &str, matches: Value) -> Value {
    json!({"cve": {
        "id": id,
        "sourceIdentifier": "cve@mitre.org",
        "published": "2099-01-01T00:00:00.000",
        "lastModified": "2099-01-02T00:00:00.000",
        "vulnStatus": "Analyzed",
        "descriptions": [{"lang": "en", "value": format!("{id}: a fixture vulnerability.")}],
        "metrics": {"cvssMetricV31": [{
            "source": "nvd@nist.gov",
            "type": "Primary",
            "cvssData": {"version": "3.1", "vectorString": vector, "baseScore": score, "baseSeverity": severity},
            "exploitabilityScore": 3.9,
            "impactScore": 3.6
        }]},
        "weaknesses": [{"source": "nvd@nist.gov", "type": "Primary", "description": [{"lang": "en", "value": "CWE-787"}]}],
        "configurations": [{"nodes": [{"operator": "OR", "negate": false, "cpeMatch": matches}]}],
        "references": [{"url": "https://example.org/advisory", "source": "cve@mitre.org"}]
    }})
}

pub(crate) fn nvd_feed(items: Vec<Value>) -> String {
    let n = items.len();
    serde_json::to_string_pretty(&json!({
        "resultsPerPage": n, "startIndex": 0, "totalResults": n,
        "format": "NVD_CVE", "version": "2.0", "timestamp": "2099-01-03T00:00:00.000",
        "vulnerabilities": items,
    }))
    .unwrap()
}

pub(crate) const HIGH: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N";
const MEDIUM: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N";
const LOW: &str = "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N";

pub(crate) fn any(vendor: &str, product: &str, bounds: Value) -> Value {
    let mut m = json!({
        "vulnerable": true,
        "criteria": format!("cpe:2.3:a:{vendor}:{product}:*:*:*:*:*:*:*:*"),
        "matchCriteriaId": "00000000-0000-0000-0000-000000000000",
    });
    m.as_object_mut().unwrap().extend(bounds.as_object().unwrap().clone());
    m
}

/// The range edge cases against greet 1.0 and motd 1.0.
fn nvd_main() -> String {
    nvd_feed(vec![
        // start including 1.0, end excluding 1.1: matches, fixed in 1.1.
        cve(
            "CVE-2099-1001",
            7.5,
            "HIGH",
            HIGH,
            json!([any("example", "greet", json!({"versionStartIncluding": "1.0", "versionEndExcluding": "1.1"}))]),
        ),
        // end excluding 1.0: 1.0 is outside.
        cve(
            "CVE-2099-1002",
            7.5,
            "HIGH",
            HIGH,
            json!([any("example", "greet", json!({"versionEndExcluding": "1.0"}))]),
        ),
        // another vendor's greet.
        cve(
            "CVE-2099-1003",
            7.5,
            "HIGH",
            HIGH,
            json!([any("othervendor", "greet", json!({"versionEndExcluding": "2.0"}))]),
        ),
        // an exact version: motd 1.0.
        cve(
            "CVE-2099-1004",
            5.3,
            "MEDIUM",
            MEDIUM,
            json!([{"vulnerable": true, "criteria": "cpe:2.3:a:example:motd:1.0:*:*:*:*:*:*:*", "matchCriteriaId": "00000000-0000-0000-0000-000000000001"}]),
        ),
        // start excluding 1.0: 1.0 is outside.
        cve(
            "CVE-2099-1005",
            7.5,
            "HIGH",
            HIGH,
            json!([any("example", "greet", json!({"versionStartExcluding": "1.0", "versionEndExcluding": "2.0"}))]),
        ),
        // end including 1.0: matches; no fixed version.
        cve("CVE-2099-1006", 3.1, "LOW", LOW, json!([any("example", "greet", json!({"versionEndIncluding": "1.0"}))])),
        // an exact version that is not motd's.
        cve(
            "CVE-2099-1007",
            7.5,
            "HIGH",
            HIGH,
            json!([{"vulnerable": true, "criteria": "cpe:2.3:a:example:motd:0.9:*:*:*:*:*:*:*", "matchCriteriaId": "00000000-0000-0000-0000-000000000002"}]),
        ),
    ])
}

fn osv_record(id: &str, fixed: &str) -> String {
    serde_json::to_string_pretty(&json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": "2099-01-02T00:00:00Z",
        "published": "2099-01-01T00:00:00Z",
        "aliases": [format!("CVE-{}", &id[4..])],
        "summary": format!("{id}: a fixture vulnerability"),
        "details": "A fixture vulnerability in greet.",
        "severity": [{"type": "CVSS_V3", "score": MEDIUM}],
        "affected": [{
            "package": {"ecosystem": "OSS-Fuzz", "name": "greet"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]
        }],
        "references": [{"type": "WEB", "url": "https://example.org/osv"}]
    }))
    .unwrap()
}

fn gzip(path: &Path, text: &str) {
    let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
}

fn zip(path: &Path, members: &[(&str, String)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, text) in members {
        z.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        z.write_all(text.as_bytes()).unwrap();
    }
    z.finish().unwrap();
}

/// The project with its feeds in `feeds/`: nvd.json (the range cases), nvd-extra.json.gz (one more
/// motd CVE), osv.zip (one OSV record that matches greet, one fixed before 1.0).
fn with_feeds() -> Test {
    let t = project().file("feeds/nvd.json", &nvd_main());
    let extra = nvd_feed(vec![cve(
        "CVE-2099-3001",
        5.3,
        "MEDIUM",
        MEDIUM,
        json!([any("example", "motd", json!({"versionStartIncluding": "0.5", "versionEndIncluding": "1.0"}))]),
    )]);
    gzip(&t.path("feeds/nvd-extra.json.gz"), &extra);
    zip(
        &t.path("feeds/osv.zip"),
        &[
            ("OSV-2099-2001.json", osv_record("OSV-2099-2001", "1.2")),
            ("OSV-2099-2002.json", osv_record("OSV-2099-2002", "0.9")),
        ],
    );
    t
}

pub(crate) fn build(t: Test) -> Test {
    let dl = t.path("dl").display().to_string();
    let t = t.build("greet", &["--offline", "--mirror", &dl, "--format", "tar,oci-archive"]);
    t.run().success();
    t
}

fn ids(doc: &Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["id"].as_str().unwrap(), f["package"].as_str().unwrap()))
        .collect()
}

#[test]
fn nvd_ranges_match_by_vendor_product_and_bounds() {
    let t = with_feeds();
    let r = t.run_with(
        &["vulns", "recipes/greet.toml", "--toolchain", "stub", "--feed", "feeds/nvd.json", "--format", "json"],
        &[],
    );
    r.success().stderr_has(&format!("sha256:{}", sha256_file(&t.path("feeds/nvd.json"))));
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["format"], "compose-vulns-v1");
    assert_eq!(ids(&doc), ["CVE-2099-1001 greet", "CVE-2099-1004 motd", "CVE-2099-1006 greet"]);
    let f = &doc["findings"][0];
    assert_eq!(
        (f["severity"].as_str(), f["score"].as_f64(), f["fixed"].as_str()),
        (Some("high"), Some(7.5), Some("1.1"))
    );
    assert_eq!(f["status"], "affected");
    assert_eq!(f["vector"], HIGH);
    assert!(f["matched"].as_str().unwrap().contains("1.1"), "{f}");
    assert_eq!(doc["findings"][2]["fixed"], Value::Null);
    assert_eq!(doc["feeds"][0]["sha256"], sha256_file(&t.path("feeds/nvd.json")));
    let names: Vec<&str> = doc["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["greet", "motd"]);
}

#[test]
fn several_feeds_at_once_gzip_nvd_and_an_osv_zip_each_named_by_sha256() {
    let t = with_feeds();
    let feeds = ["feeds/nvd.json", "feeds/nvd-extra.json.gz", "feeds/osv.zip"];
    let mut args = vec!["vulns", "recipes/greet.toml", "--toolchain", "stub", "--format", "json", "--feed"];
    args.extend(feeds);
    let r = t.run_with(&args, &[]);
    r.success();
    for f in feeds {
        r.stderr_has(&format!("sha256:{}", sha256_file(&t.path(f))));
    }
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        ids(&doc),
        [
            "CVE-2099-1001 greet",
            "CVE-2099-1004 motd",
            "CVE-2099-1006 greet",
            "CVE-2099-3001 motd",
            "OSV-2099-2001 greet"
        ]
    );
    let osv = &doc["findings"][4];
    assert_eq!(
        (osv["severity"].as_str(), osv["score"].as_f64(), osv["fixed"].as_str()),
        (Some("medium"), Some(5.3), Some("1.2"))
    );
    assert_eq!(osv["aliases"], json!(["CVE-2099-2001"]));
    assert!(osv["feed"].as_str().unwrap().ends_with("feeds/osv.zip"), "{osv}");
    assert_eq!(doc["feeds"].as_array().unwrap().len(), 3);

    // The text report names each finding with its range and fixed version.
    let r = t.run_with(
        &["vulns", "recipes/greet.toml", "--toolchain", "stub", "--feed", "feeds/nvd.json", "feeds/osv.zip"],
        &[],
    );
    r.success()
        .stdout_has("CVE-2099-1001  greet 1.0  HIGH 7.5  affected")
        .stdout_has("fixed in: 1.1")
        .stdout_has("OSV-2099-2001");
}

#[test]
fn a_corrupt_feed_is_exit_23_naming_the_file() {
    let t = with_feeds().file("feeds/broken.json", "{\"format\": \"NVD_CVE\", \"vulnerabilities\": [");
    let r = t.run_with(
        &["vulns", "recipes/greet.toml", "--toolchain", "stub", "--feed", "feeds/nvd.json", "feeds/broken.json"],
        &[],
    );
    r.code(23).stderr_has("broken.json").stderr_has("hint:");
    let r = t.run_with(&["vulns", "recipes/greet.toml", "--toolchain", "stub", "--feed", "feeds/missing.json"], &[]);
    r.code(23).stderr_has("missing.json");
}

#[test]
fn deny_high_is_exit_22_listing_the_findings_and_deny_critical_passes() {
    let t = with_feeds();
    let base = ["vulns", "recipes/greet.toml", "--toolchain", "stub", "--feed", "feeds/nvd.json"];
    let r = t.run_with(&[&base[..], &["--deny", "high"]].concat(), &[]);
    r.code(22).stderr_has("CVE-2099-1001 greet: high 7.5").stdout_has("CVE-2099-1001");
    assert!(!r.stderr.contains("CVE-2099-1004 motd:"), "a medium finding is not denied by --deny high:\n{}", r.stderr);
    t.run_with(&[&base[..], &["--deny", "critical"]].concat(), &[]).success();
    t.run_with(&[&base[..], &["--deny", "MEDIUM"]].concat(), &[]).code(22).stderr_has("CVE-2099-1004 motd");
    t.run_with(&[&base[..], &["--deny", "severe"]].concat(), &[]).code(2).stderr_has("--deny");
}

#[test]
fn an_image_built_earlier_is_read_through_its_sbom_and_the_vex_points_into_it() {
    let t = build(with_feeds());
    let feeds = ["--feed", "feeds/nvd.json", "feeds/osv.zip"];
    // Reading an image builds nothing: the recipes may be gone.
    std::fs::remove_dir_all(t.path("recipes")).unwrap();
    let r = t.run_with(
        &[&["vulns", "out/greet.oci.tar", "--format", "cyclonedx", "-o", "out/greet.vex.cdx.json"][..], &feeds[..]]
            .concat(),
        &[],
    );
    r.success();
    let vex = json(&t.path("out/greet.vex.cdx.json"));
    let sbom = json(&t.path("out/greet.cdx.json"));
    assert_eq!((vex["bomFormat"].as_str(), vex["specVersion"].as_str()), (Some("CycloneDX"), Some("1.6")));
    assert_eq!(vex["metadata"]["timestamp"], sbom["metadata"]["timestamp"]);
    let refs: Vec<&str> = sbom["components"].as_array().unwrap().iter().filter_map(|c| c["bom-ref"].as_str()).collect();
    let vulns = vex["vulnerabilities"].as_array().unwrap();
    let found: Vec<&str> = vulns.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(
        found,
        ["CVE-2099-1001", "CVE-2099-1004", "CVE-2099-1006", "OSV-2099-2001"],
        "the OSV name is read from the SBOM too"
    );
    for v in vulns {
        let r = v["affects"][0]["ref"].as_str().unwrap();
        assert!(refs.contains(&r), "{r} is not a bom-ref of the image's SBOM {refs:?}");
        assert_eq!(v["analysis"]["state"], "exploitable");
    }
    let first = &vulns[0];
    assert_eq!(first["affects"][0]["ref"], "package:greet");
    assert_eq!(
        first["ratings"][0],
        json!({"source": first["source"], "score": 7.5, "severity": "high", "method": "CVSSv31", "vector": HIGH})
    );
    let props = vex["metadata"]["properties"].as_array().unwrap();
    // The feed as the command line named it: the same feeds give the same bytes from anywhere.
    let nvd = format!("{} feeds/nvd.json", sha256_file(&t.path("feeds/nvd.json")));
    assert!(props.contains(&json!({"name": "compose:feed", "value": nvd})), "{props:?}");

    // The same image through its rootfs tar and its SBOM; OpenVEX names products by purl.
    let r = t.run_with(
        &[&["vulns", "out/greet.tar", "--format", "openvex"][..], &feeds[..]].concat(),
        &[("SOURCE_DATE_EPOCH", "1800000000")],
    );
    r.success();
    let ovex: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(ovex["@context"], "https://openvex.dev/ns/v0.2.0");
    assert_eq!((ovex["author"].as_str(), ovex["version"].as_u64()), (Some("compose"), Some(1)));
    assert_eq!(ovex["timestamp"], "2027-01-15T08:00:00Z");
    let s = &ovex["statements"][0];
    assert_eq!((s["vulnerability"]["name"].as_str(), s["status"].as_str()), (Some("CVE-2099-1001"), Some("affected")));
    assert!(s["products"][0]["@id"].as_str().unwrap().starts_with("pkg:generic/greet@1.0"), "{s}");
    assert!(s["action_statement"].as_str().unwrap().contains("1.1"), "{s}");
    assert!(ovex["tooling"].as_str().unwrap().contains(&sha256_file(&t.path("feeds/osv.zip"))));
    t.run_with(&[&["vulns", "out/greet.cdx.json", "--format", "json"][..], &feeds[..]].concat(), &[]).success();
}

#[test]
fn an_image_without_its_sbom_says_where_it_looked() {
    let t = build(with_feeds());
    std::fs::remove_file(t.path("out/greet.cdx.json")).unwrap();
    let r = t.run_with(&["vulns", "out/greet.oci.tar", "--feed", "feeds/nvd.json"], &[]);
    r.code(6).stderr_has("greet.cdx.json").stderr_has("hint:");
}

#[test]
fn a_recipe_target_gives_the_bom_refs_its_image_would_have() {
    let t = with_feeds();
    let r = t.run_with(
        &["vulns", "recipes/greet.toml", "--toolchain", "stub", "--format", "cyclonedx", "--feed", "feeds/nvd.json"],
        &[],
    );
    r.success();
    let vex: Value = serde_json::from_str(&r.stdout).unwrap();
    let refs: Vec<&str> =
        vex["vulnerabilities"].as_array().unwrap().iter().map(|v| v["affects"][0]["ref"].as_str().unwrap()).collect();
    assert_eq!(refs, ["package:greet", "package:motd", "package:greet"]);
    // The same inputs give the same bytes.
    let again = t.run_with(
        &["vulns", "recipes/greet.toml", "--toolchain", "stub", "--format", "cyclonedx", "--feed", "feeds/nvd.json"],
        &[],
    );
    assert_eq!(r.stdout, again.stdout);
}

#[test]
fn an_empty_osv_name_is_a_recipe_error() {
    let t = project().file(
        "recipes/bad.toml",
        &recipe("bad", "", "osv = { ecosystem = \"\", name = \"bad\" }", "true")
            .replace("{SHA:bad-1.0.tar.gz}", &"0".repeat(64)),
    );
    let r = t.run_with(&["vulns", "recipes/bad.toml", "--toolchain", "stub", "--feed", "feeds/none.json"], &[]);
    // The feed is checked first: a missing feed is exit 23 whatever the recipe.
    r.code(23);
    let t = t.file("feeds/nvd.json", &nvd_main());
    t.run_with(&["vulns", "recipes/bad.toml", "--toolchain", "stub", "--feed", "feeds/nvd.json"], &[])
        .code(3)
        .stderr_has("package.osv.ecosystem");
}

pub(crate) fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
#[ignore = "tier: validators"]
fn validators_pass_the_cyclonedx_vex() {
    crate::records::require_validators();
    let t = build(with_feeds());
    let r = t.run_with(
        &[
            "vulns",
            "out/greet.oci.tar",
            "--format",
            "cyclonedx",
            "-o",
            "out/greet.vex.cdx.json",
            "--feed",
            "feeds/nvd.json",
            "feeds/osv.zip",
        ],
        &[],
    );
    r.success();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/validators/records.py");
    for doc in ["out/greet.vex.cdx.json", "out/greet.cdx.json"] {
        let o = Command::new("python3").args([script, "cyclonedx"]).arg(t.path(doc)).output().expect("python3 runs");
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "cyclonedx-python-lib JsonStrictValidator(1.6) rejected {doc}:\n{text}");
    }
}

/// `records.py openvex` on `path`: the official OpenVEX 0.2.0 JSON schema through python-jsonschema.
pub(crate) fn openvex_schema(path: &Path) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/validators/records.py");
    let o = Command::new("python3").args([script, "openvex"]).arg(path).output().expect("python3 runs");
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[test]
#[ignore = "tier: validators"]
fn validators_pass_the_openvex_document() {
    crate::records::require_validators();
    let t = build(with_feeds());
    let doc = "out/greet.openvex.json";
    let args =
        ["vulns", "out/greet.oci.tar", "--format", "openvex", "-o", doc, "--feed", "feeds/nvd.json", "feeds/osv.zip"];
    t.run_with(&args, &[]).success();
    let ovex = json(&t.path(doc));
    assert_eq!(ovex["statements"].as_array().map(Vec::len), Some(4), "a statement per finding: {ovex}");
    let (ok, text) = openvex_schema(&t.path(doc));
    assert!(ok, "the OpenVEX 0.2.0 JSON schema rejected {doc}:\n{text}");
    assert!(text.contains("formats ['date-time', 'iri', 'uri'] checked"), "{text}");

    // The validator can fail: `not_affected` needs a justification or an impact statement, and a
    // document needs its `@context`. Each error is named.
    let mut bad = ovex.clone();
    bad["statements"][1]["status"] = json!("not_affected");
    bad.as_object_mut().unwrap().remove("@context");
    let path = t.path("out/corrupt.openvex.json");
    std::fs::write(&path, serde_json::to_vec(&bad).unwrap()).unwrap();
    let (ok, text) = openvex_schema(&path);
    assert!(!ok, "the schema accepted a corrupt document:\n{text}");
    for error in
        ["(document): '@context' is a required property", "statements/1: ", "'justification' is a required property"]
    {
        assert!(text.contains(error), "no `{error}` in:\n{text}");
    }
}

#[test]
fn an_unrated_finding_is_denied_one_advisory_in_two_feeds_is_one_finding_and_no_findings_write_no_openvex() {
    // An NVD CVE without CVSS metrics (not scored yet): --deny critical still denies it.
    let mut unrated = cve(
        "CVE-2099-4001",
        0.0,
        "NONE",
        LOW,
        json!([any("example", "greet", json!({"versionStartIncluding": "1.0", "versionEndExcluding": "2.0"}))]),
    );
    unrated["cve"]["metrics"] = json!({});
    let t = with_feeds().file("feeds/unrated.json", &nvd_feed(vec![unrated]));
    let base = ["vulns", "recipes/greet.toml", "--toolchain", "stub", "--feed", "feeds/unrated.json"];
    let r = t.run_with(&[&base[..], &["--deny", "critical"]].concat(), &[]);
    r.code(22).stderr_has("CVE-2099-4001 greet: unrated").stderr_has("or unrated");

    // The same feed given twice (as NVD's yearly and modified feeds overlap): one finding per CVE and
    // package, naming both feeds; unique bom-refs in the CycloneDX VEX.
    let t = t.file("feeds/nvd-again.json", &nvd_main());
    let two =
        ["vulns", "recipes/greet.toml", "--toolchain", "stub", "--feed", "feeds/nvd.json", "feeds/nvd-again.json"];
    let r = t.run_with(&[&two[..], &["--format", "json"]].concat(), &[]);
    let doc: Value = serde_json::from_str(&r.success().stdout).unwrap();
    assert_eq!(ids(&doc), ["CVE-2099-1001 greet", "CVE-2099-1004 motd", "CVE-2099-1006 greet"]);
    let feeds = doc["findings"][0]["feeds"].as_array().unwrap();
    assert_eq!(feeds.len(), 2, "{feeds:?}");
    assert!(doc["findings"][0]["feed"].as_str().unwrap().ends_with("nvd-again.json"), "the last feed's data");
    let r = t.run_with(&[&two[..], &["--format", "cyclonedx"]].concat(), &[]);
    let vex: Value = serde_json::from_str(&r.success().stdout).unwrap();
    let refs: Vec<&str> =
        vex["vulnerabilities"].as_array().unwrap().iter().map(|v| v["bom-ref"].as_str().unwrap()).collect();
    let mut unique = refs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((refs.len(), unique.len()), (3, 3), "{refs:?}");

    // No finding: OpenVEX needs a statement, so nothing is written, and that is said.
    let t = t.file("feeds/none.json", &nvd_feed(vec![]));
    let none = ["vulns", "recipes/greet.toml", "--toolchain", "stub", "--feed", "feeds/none.json"];
    let r = t.run_with(&[&none[..], &["--format", "openvex"]].concat(), &[]);
    r.success().stderr_has("none is written");
    assert_eq!(r.stdout, "", "no document");
}
