//! `compose vulns` weighs evidence, not only versions: a fixture app (greet 1.0, a build dependency
//! libfoo it links statically, a headers-only build dependency with `linked = false`) whose recipe
//! carries a patch with a `CVE:` header line, a patch named by `[[vex]] status = "fixed"`, a patch that
//! says it fixes a CVE but is only shipped in `files` (not applied), and `not_affected` statements: one
//! unconditional, one whose build option is in the build's configuration, one whose build option is
//! not. Checked through the built image's SBOM (the configuration the build captured) and through the
//! recipe (not built: conditional statements cannot be checked).

use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{E, Test};
use crate::vulns::{HIGH, any, cve, json, nvd_feed};

const PATCH_BODY: &str = "--- a/greet.sh\n+++ b/greet.sh\n@@ -1,2 +1,2 @@\n #!/bin/sh\n-echo hi\n+echo hello\n";
const PATCH2_BODY: &str =
    "--- a/greet.conf\n+++ b/greet.conf\n@@ -1,2 +1,3 @@\n CONFIG_NET=y\n # CONFIG_TLS is not set\n+CONFIG_LOG=y\n";

fn package(name: &str, extra_top: &str, extra_package: &str, deps: &str, build: &str) -> String {
    format!(
        r#"{extra_top}
[package]
name = "{name}"
version = "1.0"
license = "MIT"
homepage = "https://example.org/{name}"
description = "{name} fixture"
cpe = "cpe:2.3:a:example:{name}:1.0:*:*:*:*:*:*:*"
{extra_package}

[[source]]
url = "https://example.invalid/{name}-1.0.tar.gz"
sha256 = "{{SHA:{name}-1.0.tar.gz}}"

[dependencies]
{deps}

[build]
style = "custom"
{build}
"#
    )
}

const GREET_VEX: &str = r#"
[[vex]]
id = "CVE-2099-4002"
status = "fixed"
patch = "greet/config-log.patch"

[[vex]]
id = "CVE-2099-4004"
status = "not_affected"
justification = "vulnerable_code_not_present"
detail = "the TLS code is compiled only with CONFIG_TLS"
when = ["CONFIG_TLS=n"]

[[vex]]
id = "CVE-2099-4005"
status = "not_affected"
justification = "vulnerable_code_not_present"
detail = "the network code is compiled only with CONFIG_NET"
when = ["CONFIG_NET=n"]

[[vex]]
id = "CVE-2099-4009"
status = "not_affected"
justification = "vulnerable_code_not_present"
detail = "a typo in the key: the statement must not hold"
when = ["CONFIG_TSL=n"]

[[vex]]
id = "CVE-2099-4010"
status = "not_affected"
justification = "protected_by_compiler"
detail = "built with -D_FORTIFY_SOURCE=2, which turns the overflow into an abort"

[[vex]]
id = "CVE-2099-4006"
status = "not_affected"
justification = "component_not_present"
detail = "greet does not ship the contrib/ tools"
"#;

fn project() -> Test {
    let greet_build = "config = \"greet.conf\"\nhost_tools = [\"patch\"]\ninstall = '''\nmkdir -p \"$DESTDIR/usr/bin\"\ncp greet.sh \"$DESTDIR/usr/bin/greet\"\n'''";
    let lib_build = "install = '''\nmkdir -p \"$DESTDIR/usr/lib\"\necho lib > \"$DESTDIR/usr/lib/libfoo.a\"\n'''";
    // Data only: built against libfoo, but no program of it links anything.
    let motd_build = "install = '''\nmkdir -p \"$DESTDIR/etc\"\ncp motd \"$DESTDIR/etc/motd\"\n'''";
    let hdr_build =
        "install = '''\nmkdir -p \"$DESTDIR/usr/include\"\necho '#define X 1' > \"$DESTDIR/usr/include/h.h\"\n'''";
    Test::new()
        .tarball(
            "greet-1.0.tar.gz",
            &[
                E::Dir("greet-1.0"),
                E::File("greet-1.0/greet.sh", "#!/bin/sh\necho hi\n", 0o755),
                E::File("greet-1.0/greet.conf", "CONFIG_NET=y\n# CONFIG_TLS is not set\n", 0o644),
            ],
        )
        .tarball("libfoo-1.0.tar.gz", &[E::Dir("libfoo-1.0"), E::File("libfoo-1.0/foo.c", "int foo;\n", 0o644)])
        .tarball("motd-1.0.tar.gz", &[E::Dir("motd-1.0"), E::File("motd-1.0/motd", "welcome\n", 0o644)])
        .recipe("motd", &package("motd", "", "", "build = [\"libfoo\"]", motd_build))
        .tarball("hdrs-1.0.tar.gz", &[E::Dir("hdrs-1.0"), E::File("hdrs-1.0/h.h", "#define X 1\n", 0o644)])
        .file("recipes/greet/fix-4001.patch", &format!("Subject: fix greeting\nCVE: CVE-2099-4001\n\n{PATCH_BODY}"))
        .file("recipes/greet/config-log.patch", &format!("Subject: log\n\n{PATCH2_BODY}"))
        .file("recipes/greet/fix-4003.patch", &format!("Subject: not applied\nCVE: CVE-2099-4003\n\n{PATCH_BODY}"))
        .recipe("libfoo", &package("libfoo", "", "", "", lib_build))
        .recipe("hdrs", &package("hdrs", "", "linked = false", "", hdr_build))
        .recipe(
            "greet",
            &package(
                "greet",
                "patches = [\"greet/fix-4001.patch\", \"greet/config-log.patch\"]\nfiles = [\"greet/fix-4003.patch\"]",
                "",
                "build = [\"libfoo\", \"hdrs\"]\nruntime = [\"motd\"]",
                &format!("{greet_build}\n{GREET_VEX}"),
            ),
        )
}

/// Every CVE matches greet 1.0 (or libfoo, hdrs) by version: only the evidence tells them apart.
fn feed() -> String {
    let greet = |id: &str| {
        let mut c = cve(id, 7.5, "HIGH", HIGH, json!([any("example", "greet", json!({"versionEndExcluding": "2.0"}))]));
        if id == "CVE-2099-4003" {
            // A feed is data from elsewhere: this must not clear the screen or forge a finding line.
            c["cve"]["descriptions"][0]["value"] =
                json!("bad\u{1b}[2J\u{7}\nCVE-2099-9999  greet 1.0  CRITICAL 10.0  fixed");
        }
        c
    };
    nvd_feed(vec![
        greet("CVE-2099-4001"),
        greet("CVE-2099-4002"),
        greet("CVE-2099-4003"),
        greet("CVE-2099-4004"),
        greet("CVE-2099-4005"),
        greet("CVE-2099-4006"),
        greet("CVE-2099-4009"),
        greet("CVE-2099-4010"),
        cve(
            "CVE-2099-4007",
            7.5,
            "HIGH",
            HIGH,
            json!([any("example", "libfoo", json!({"versionEndExcluding": "2.0"}))]),
        ),
        cve("CVE-2099-4008", 7.5, "HIGH", HIGH, json!([any("example", "hdrs", json!({"versionEndExcluding": "2.0"}))])),
    ])
}

fn built() -> Test {
    crate::vulns::build(project().file("feeds/nvd.json", &feed()))
}

/// `id package -> status`, in report order.
fn statuses(doc: &Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {}",
                f["id"].as_str().unwrap(),
                f["package"].as_str().unwrap(),
                f["status"].as_str().unwrap()
            )
        })
        .collect()
}

fn finding<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["findings"].as_array().unwrap().iter().find(|f| f["id"] == id).unwrap_or_else(|| panic!("{id} not found"))
}

#[test]
fn applied_patches_fix_statements_hold_or_not_and_linked_libraries_are_checked_in_the_image() {
    let t = built();
    let r = t.run_with(
        &["vulns", "out/greet.oci.tar", "--feed", "feeds/nvd.json", "--format", "json", "-o", "out/v.json"],
        &[],
    );
    r.success();
    let doc = json(&t.path("out/v.json"));
    assert_eq!(
        statuses(&doc),
        [
            "CVE-2099-4001 greet fixed",
            "CVE-2099-4002 greet fixed",
            "CVE-2099-4003 greet affected",
            "CVE-2099-4004 greet not_affected",
            "CVE-2099-4005 greet affected",
            "CVE-2099-4006 greet not_affected",
            "CVE-2099-4007 libfoo affected",
            "CVE-2099-4009 greet affected",
            "CVE-2099-4010 greet not_affected",
        ],
        "hdrs (linked = false) is not checked"
    );
    assert_eq!(finding(&doc, "CVE-2099-4001")["patch"], "recipes/greet/fix-4001.patch");
    assert_eq!(finding(&doc, "CVE-2099-4002")["patch"], "recipes/greet/config-log.patch");
    assert!(finding(&doc, "CVE-2099-4003")["evidence"].is_null(), "a patch in `files` is no evidence");
    assert_eq!(finding(&doc, "CVE-2099-4004")["justification"], "vulnerable_code_not_present");
    let e = finding(&doc, "CVE-2099-4005")["evidence"].as_str().unwrap().to_string();
    assert!(e.contains("does not hold") && e.contains("CONFIG_NET=n (the build has CONFIG_NET=y)"), "{e}");
    let e = finding(&doc, "CVE-2099-4009")["evidence"].as_str().unwrap().to_string();
    assert!(e.contains("`CONFIG_TSL` is not in greet.conf"), "{e}");
    let libfoo = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "libfoo").unwrap();
    assert_eq!(libfoo["linked_into"], json!(["greet"]), "motd ships no program: it links nothing");

    // The SBOM carries what the report read: the patch's resolves, the captured configuration, the
    // statements with their outcome, the linking.
    let sbom = json(&t.path("out/greet.cdx.json"));
    let greet = sbom["components"].as_array().unwrap().iter().find(|c| c["name"] == "greet").unwrap();
    let patches = greet["pedigree"]["patches"].as_array().unwrap();
    assert_eq!(patches[0]["resolves"][0]["id"], "CVE-2099-4001");
    assert_eq!(patches[1]["resolves"].as_array().unwrap().len(), 1, "only its own fix");
    assert_eq!(patches[1]["resolves"][0]["id"], "CVE-2099-4002");
    let props = greet["properties"].as_array().unwrap();
    let config = props.iter().find(|p| p["name"] == "compose:build-config").unwrap()["value"].as_str().unwrap();
    // The configuration the build used is the patched one (config-log.patch added CONFIG_LOG=y).
    let used = "CONFIG_NET=y\n# CONFIG_TLS is not set\nCONFIG_LOG=y\n";
    assert_eq!(config, format!("greet.conf sha256:{}", crate::harness::sha256_bytes(used.as_bytes())));

    // --deny high: the three affected findings, not the fixed or not_affected ones.
    let r = t.run_with(&["vulns", "out/greet.oci.tar", "--feed", "feeds/nvd.json", "--deny", "high"], &[]);
    r.code(22).stderr_has("4 affected finding(s)").stderr_has("CVE-2099-4005 greet").stderr_has("CVE-2099-4007 libfoo");
    assert!(!r.stderr.contains("CVE-2099-4001") && !r.stderr.contains("CVE-2099-4004 greet:"), "{}", r.stderr);
    assert!(r.stdout.contains("linked statically into: greet"), "{}", r.stdout);
    assert!(!r.stdout.contains('\u{1b}') && r.stdout.contains(r"bad\u{1b}[2J\u{7}"), "{}", r.stdout);
    assert!(!r.stdout.lines().any(|l| l.starts_with("CVE-2099-9999")), "{}", r.stdout);
    assert!(r.stdout.contains("evidence: fixed by the patch `recipes/greet/fix-4001.patch`"), "{}", r.stdout);

    // The VEX documents say the same.
    t.run_with(
        &["vulns", "out/greet.oci.tar", "--feed", "feeds/nvd.json", "--format", "cyclonedx", "-o", "out/v.cdx.json"],
        &[],
    )
    .success();
    let cdx = json(&t.path("out/v.cdx.json"));
    let state = |id: &str| {
        let v = cdx["vulnerabilities"].as_array().unwrap().iter().find(|v| v["id"] == id).unwrap();
        (
            v["analysis"]["state"].as_str().unwrap().to_string(),
            v["analysis"]["justification"].clone(),
            v["affects"][0]["ref"].clone(),
        )
    };
    assert_eq!(state("CVE-2099-4001").0, "resolved");
    assert_eq!(
        state("CVE-2099-4004"),
        ("not_affected".into(), json!("requires_configuration"), json!(greet["bom-ref"]))
    );
    assert_eq!(state("CVE-2099-4006").1, json!("code_not_present"));
    assert_eq!(state("CVE-2099-4010").1, json!("protected_by_compiler"), "CycloneDX's own list passes through");
    assert_eq!(state("CVE-2099-4005").0, "exploitable");
    let formulation = sbom["formulation"][0]["components"].as_array().unwrap();
    let libfoo_ref = &formulation.iter().find(|c| c["name"] == "libfoo").unwrap()["bom-ref"];
    assert_eq!(&state("CVE-2099-4007").2, libfoo_ref, "the VEX points at libfoo in the SBOM's formulation");
    t.run_with(
        &["vulns", "out/greet.oci.tar", "--feed", "feeds/nvd.json", "--format", "openvex", "-o", "out/v.openvex.json"],
        &[],
    )
    .success();
    let vex = json(&t.path("out/v.openvex.json"));
    let st = |id: &str| {
        vex["statements"].as_array().unwrap().iter().find(|s| s["vulnerability"]["name"] == id).unwrap().clone()
    };
    assert_eq!(st("CVE-2099-4006")["status"], "not_affected");
    assert_eq!(st("CVE-2099-4006")["justification"], "component_not_present");
    assert_eq!(st("CVE-2099-4006")["impact_statement"], "greet does not ship the contrib/ tools");
    assert_eq!(st("CVE-2099-4010")["justification"], "inline_mitigations_already_exist", "mapped into OpenVEX's list");
    assert_eq!(st("CVE-2099-4002")["status"], "fixed");
    assert!(st("CVE-2099-4002").get("action_statement").is_none());
    assert!(st("CVE-2099-4005")["action_statement"].is_string());

    // The recipe, now that its build is in the cache: its statements are checked against that build's
    // configuration, as the image's were.
    let r = t.run_with(
        &["vulns", "recipes/greet.toml", "--toolchain", "stub", "--feed", "feeds/nvd.json", "--format", "json"],
        &[],
    );
    r.success();
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(finding(&doc, "CVE-2099-4004")["status"], "not_affected");
    assert!(finding(&doc, "CVE-2099-4005")["evidence"].as_str().unwrap().contains("the build has CONFIG_NET=y"));
    let libfoo = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "libfoo").unwrap();
    assert_eq!(libfoo["linked_into"], json!(["greet"]), "the cached build of motd ships no program");
}

#[test]
fn a_recipe_target_cannot_check_conditional_statements_and_says_so() {
    let t = project().file("feeds/nvd.json", &feed());
    let r = t.run_with(
        &["vulns", "recipes/greet.toml", "--toolchain", "stub", "--feed", "feeds/nvd.json", "--format", "json"],
        &[],
    );
    r.success();
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    // Not built: which packages ship programs is not known, so libfoo counts as linked into both.
    let libfoo = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "libfoo").unwrap();
    assert_eq!(libfoo["linked_into"], json!(["greet", "motd"]));
    let s = statuses(&doc);
    assert!(
        s.contains(&"CVE-2099-4001 greet fixed".to_string())
            && s.contains(&"CVE-2099-4006 greet not_affected".to_string()),
        "{s:?}"
    );
    for id in ["CVE-2099-4004", "CVE-2099-4005"] {
        let f = finding(&doc, id);
        assert_eq!(f["status"], "affected", "{id}");
        assert!(
            f["evidence"].as_str().unwrap().contains("not checked: no configuration of this build is known"),
            "{f}"
        );
    }
}

#[test]
fn bad_vex_tables_name_the_field_and_the_fix() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "[[vex]]\nid = \"CVE-2099-1\"\nstatus = \"fixed\"\npatch = \"x.patch\"\n",
            "vex[0].id",
            "not a vulnerability id",
        ),
        (
            "[[vex]]\nid = \"CVE-2099-4003\"\nstatus = \"fixed\"\npatch = \"greet/fix-4003.patch\"\n",
            "vex[0].patch",
            "only patches the build applies count",
        ),
        (
            "[[vex]]\nid = \"CVE-2099-4004\"\nstatus = \"not_affected\"\njustification = \"because\"\ndetail = \"x\"\n",
            "vex[0].justification",
            "vulnerable_code_not_present",
        ),
        (
            "[[vex]]\nid = \"CVE-2099-4004\"\nstatus = \"not_affected\"\njustification = \"component_not_present\"\n",
            "vex[0].detail",
            "say in words",
        ),
        (
            "[[vex]]\nid = \"CVE-2099-4004\"\nstatus = \"not_affected\"\njustification = \"component_not_present\"\ndetail = \"x\"\nwhen = [\"CONFIG_TLS\"]\n",
            "vex[0].when[0]",
            "KEY=VALUE",
        ),
        ("[[vex]]\nid = \"CVE-2099-4004\"\nstatus = \"under_investigation\"\n", "vex[0].status", "`fixed`"),
    ];
    for (vex, field, hint) in cases {
        let build = "config = \"greet.conf\"\ninstall = 'true'";
        let text = package(
            "greet",
            "patches = [\"greet/fix-4001.patch\"]\nfiles = [\"greet/fix-4003.patch\"]",
            "",
            "",
            &format!("{build}\n{vex}"),
        );
        let t = project().file("feeds/nvd.json", &feed()).recipe("greet", &text);
        let r = t.run_with(&["vulns", "recipes/greet.toml", "--toolchain", "stub", "--feed", "feeds/nvd.json"], &[]);
        r.code(3).stderr_has(field).stderr_has(hint);
    }
    // A malformed `CVE:` line in an applied patch names the patch and its line.
    let t = project()
        .file("feeds/nvd.json", &feed())
        .file("recipes/greet/fix-4001.patch", &format!("Subject: x\nCVE: CVE-99-1\n\n{PATCH_BODY}"));
    let r = t.run_with(&["vulns", "recipes/greet.toml", "--toolchain", "stub", "--feed", "feeds/nvd.json"], &[]);
    r.code(3).stderr_has("patches[0]").stderr_has("greet/fix-4001.patch:2").stderr_has("not a CVE id");
    // `when` needs `[build] config`.
    let vex = "[[vex]]\nid = \"CVE-2099-4004\"\nstatus = \"not_affected\"\njustification = \"component_not_present\"\ndetail = \"x\"\nwhen = [\"CONFIG_TLS=n\"]\n";
    let t = project()
        .file("feeds/nvd.json", &feed())
        .recipe("greet", &package("greet", "", "", "", &format!("install = 'true'\n{vex}")));
    t.run_with(&["vulns", "recipes/greet.toml", "--toolchain", "stub", "--feed", "feeds/nvd.json"], &[])
        .code(3)
        .stderr_has("needs `[build] config`");
}

#[test]
#[ignore = "tier: validators"]
fn validators_pass_the_vex_with_evidence() {
    crate::records::require_validators();
    let t = built();
    t.run_with(
        &["vulns", "out/greet.oci.tar", "--feed", "feeds/nvd.json", "--format", "cyclonedx", "-o", "out/v.cdx.json"],
        &[],
    )
    .success();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/validators/records.py");
    for doc in ["out/v.cdx.json", "out/greet.cdx.json"] {
        let o = Command::new("python3").args([script, "cyclonedx"]).arg(t.path(doc)).output().expect("python3 runs");
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "cyclonedx-python-lib JsonStrictValidator(1.6) rejected {doc}:\n{text}");
    }
    // The OpenVEX document with fixed, not_affected (justification, impact_statement) and affected
    // statements, through the official schema.
    t.run_with(
        &["vulns", "out/greet.oci.tar", "--feed", "feeds/nvd.json", "--format", "openvex", "-o", "out/v.openvex.json"],
        &[],
    )
    .success();
    let (ok, text) = crate::vulns::openvex_schema(&t.path("out/v.openvex.json"));
    assert!(ok, "the OpenVEX 0.2.0 schema rejected the document:\n{text}");
}

/// The build is code from elsewhere: a `[build] config` that the build turned into a symlink to a host
/// file fails the build; nothing of the host file reaches the artifact or the SBOM.
#[test]
fn a_config_symlinked_out_of_the_build_tree_or_a_fifo_fails_the_build() {
    for (make, says) in [
        ("ln -sf /etc/passwd greet.conf", "resolves outside the build tree"),
        ("rm greet.conf && mkfifo greet.conf", "not a regular file"),
    ] {
        let install = format!(
            "config = \"greet.conf\"\ninstall = '''\n{make}\nmkdir -p \"$DESTDIR/usr/bin\"\ncp greet.sh \"$DESTDIR/usr/bin/greet\"\n'''"
        );
        let t = project().recipe("greet", &package("greet", "", "", "", &install));
        let dl = t.path("dl").display().to_string();
        let t = t.build("greet", &["--offline", "--mirror", &dl]);
        let r = t.run();
        assert_ne!(r.output.status.code(), Some(0), "{}", r.stderr);
        r.stderr_has("greet.conf").stderr_has(says);
        assert!(!t.path("out/greet.cdx.json").exists());
    }
}
