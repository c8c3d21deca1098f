//! `compose audit`: images built by `compose build` from fixture recipes (the stub toolchain's host cc
//! makes a dynamic ELF whose libc is not in the image), hand-made foreign tars and OCI layouts, and the
//! real busybox and scratch images (`audit_busybox`, also called from the e2e test's outputs).

use std::path::Path;

use serde_json::{Value, json};

use crate::audit_images::{layer_tar, oci_layout, oci_multi_platform, write_manifest};
use crate::harness::{E, Run, Test, recipe, sha256_bytes};

const HELLO_C: &str = "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n";

fn audit(t: &Test, args: &[&str]) -> Run {
    let mut a = vec!["audit"];
    a.extend_from_slice(args);
    t.run_with(&a, &[])
}

fn json_of(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", r.stdout, r.stderr))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().map_or_else(|| p["path"].as_str().unwrap().into(), Into::into))
        .collect()
}

/// `app` (a C program, built by the host cc: dynamic, glibc) needs `data` (a text file) at runtime.
fn app_and_data() -> Test {
    let install_app = r#"mkdir -p "$DESTDIR/bin"; $CC -O1 hello.c -o "$DESTDIR/bin/app""#;
    let install_data = r#"mkdir -p "$DESTDIR/usr/share/data"; cp blob.txt "$DESTDIR/usr/share/data/""#;
    let blob = "x".repeat(5000);
    Test::new()
        .tarball("app-1.0.tar.gz", &[E::Dir("app-1.0"), E::File("app-1.0/hello.c", HELLO_C, 0o644)])
        .tarball("data-1.0.tar.gz", &[E::Dir("data-1.0"), E::File("data-1.0/blob.txt", &blob, 0o644)])
        .recipe("app", &recipe("app", "app-1.0.tar.gz", &[], &["data"], install_app))
        .recipe("data", &recipe("data", "data-1.0.tar.gz", &[], &[], install_data))
}

#[test]
fn built_image_dynamic_c_program_without_its_libc_in_every_format() {
    let t = app_and_data().build("app", &["--format", "tar,oci,oci-archive,docker-archive", "--layers", "per-package"]);
    t.run().success();
    // The manifest is the one `compose build` wrote beside the image.
    let mut first: Option<Value> = None;
    for (image, kind) in [
        ("out/app.tar", "rootfs-tar"),
        ("out/app.oci.tar", "oci-archive"),
        ("out/app.oci", "oci-layout"),
        ("out/app.docker.tar", "docker-archive"),
    ] {
        let r = audit(&t, &[image]);
        r.success()
            .stdout_has("/bin/app  64-bit LSB x86-64  dynamic")
            .stdout_has("libc.so.6 (MISSING)")
            .stdout_has("manifest: out/app.files.json");
        let j = json_of(audit(&t, &[image, "--json"]).success());
        assert_eq!(j["format"], "compose-audit-v1");
        assert_eq!(j["image"]["kind"], kind);
        assert_eq!(j["ownership"], "manifest", "{image}: the manifest beside it is found");
        let elf = j["elf"].as_array().unwrap();
        assert_eq!(elf.len(), 1, "{image}: {elf:?}");
        assert_eq!((elf[0]["path"].as_str(), elf[0]["linking"].as_str()), (Some("/bin/app"), Some("dynamic")));
        let libc = elf[0]["needed"].as_array().unwrap().iter().find(|d| d["name"] == "libc.so.6").expect("needs libc");
        assert_eq!(libc["found"], Value::Null, "the host's libc is not in the image");
        assert!(elf[0]["interpreter"]["name"].as_str().unwrap().contains("ld-linux"));
        assert_eq!(elf[0]["interpreter"]["found"], Value::Null);
        assert_eq!(strs(&j["unowned"]), Vec::<String>::new(), "{image}");
        assert_eq!(j["mismatched"], json!([]), "{image}");
        assert_eq!(j["missing"], json!([]), "{image}");
        assert_eq!(strs(&j["shells"]), Vec::<String>::new());
        let ww = j["world_writable"].as_array().unwrap();
        assert!(ww.iter().any(|w| w["path"] == "/tmp"), "{ww:?}");
        assert!(ww.iter().all(|w| w["sticky"] == true), "only sticky skeleton dirs: {ww:?}");
        if kind == "rootfs-tar" {
            assert_eq!(j["manifest"]["tar_sha256_matches"], true);
        }
        // Every form holds the same files, with the same sizes by package.
        let same = json!([j["sizes"], j["image"]["entries"], j["image"]["bytes"], j["elf"]]);
        match &first {
            None => first = Some(same),
            Some(f) => assert_eq!(f, &same, "{image} differs from out/app.tar"),
        }
    }
    // The OCI forms carry per-package layers: more than one was applied.
    let j = json_of(audit(&t, &["out/app.oci.tar", "--json"]).success());
    assert!(j["image"]["layers"].as_u64().unwrap() >= 3, "{}", j["image"]);
    assert_eq!(j["image"]["reference"], "docker.io/library/app:1.0");
    let groups: Vec<&str> =
        j["sizes"]["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(groups[..2], ["app", "data"], "largest first: {groups:?}");

    // --deny dynamic fails with 15 and names the binary; --deny shell passes.
    audit(&t, &["out/app.oci.tar", "--deny", "dynamic"])
        .code(15)
        .stderr_has("1 violation(s) of --deny dynamic")
        .stderr_has("dynamic: /bin/app: dynamically linked");
    audit(&t, &["out/app.oci.tar", "--deny", "shell,setuid,network,unowned"]).success();
}

#[test]
fn chart_svg_is_well_formed_xml_with_one_bar_per_package_and_html_is_self_contained() {
    let t = app_and_data().build("app", &[]);
    t.run().success();
    audit(&t, &["out/app.tar", "--chart", "sizes.svg"]).success();
    let svg = std::fs::read_to_string(t.path("sizes.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let bars: Vec<&str> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "rect" && n.attribute("class") == Some("bar"))
        .map(|n| n.attribute("data-name").unwrap())
        .collect();
    let mut sorted = bars.clone();
    sorted.sort();
    assert_eq!(sorted, ["accounts", "app", "data", "skeleton"], "one bar per package: {bars:?}");
    let app_bytes: u64 = doc
        .descendants()
        .find(|n| n.attribute("data-name") == Some("data"))
        .and_then(|n| n.attribute("data-bytes"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(app_bytes, 5000, "data's one file");

    audit(&t, &["out/app.tar", "--chart", "sizes.html"]).success();
    let html = std::fs::read_to_string(t.path("sizes.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg") && html.contains("<td>data</td>"));
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="), "self-contained");
    audit(&t, &["out/app.tar", "--chart", "sizes.png"]).code(2).stderr_has("must end in .svg or .html");
}

/// A foreign rootfs tar, as `docker export` might give: a setuid file, a world-writable directory,
/// sticky /tmp, a busybox-style shell link, a stray file no package owns.
fn foreign() -> Test {
    let t = Test::new();
    let f = std::fs::File::create(t.path("foreign.tar")).unwrap();
    let mut b = tar::Builder::new(f);
    let mut add = |p: &str, kind: tar::EntryType, mode: u32, body: &[u8], target: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        h.set_size(body.len() as u64);
        match target {
            Some(tg) => b.append_link(&mut h, p, tg).unwrap(),
            None => b.append_data(&mut h, p, body).unwrap(),
        }
    };
    use tar::EntryType::{Directory as D, Regular as F, Symlink as L};
    add("./", D, 0o755, b"", None);
    add("./bin/", D, 0o755, b"", None);
    add("./bin/busybox", F, 0o755, b"not really busybox", None);
    add("./bin/sh", L, 0o777, b"", Some("busybox"));
    add("./bin/su", F, 0o4755, b"#!/bin/true\n", None);
    add("./srv/", D, 0o755, b"", None);
    add("./srv/drop/", D, 0o777, b"", None);
    add("./tmp/", D, 0o1777, b"", None);
    add("./opt/", D, 0o755, b"", None);
    add("./opt/stray", F, 0o644, b"who put this here", None);
    b.finish().unwrap();
    drop(b);
    let owner = |p: &str| if p.starts_with("/bin/") { "busybox".to_string() } else { "skeleton".to_string() };
    write_manifest(&t.path("foreign.tar"), &t.path("m.json"), &owner);
    // The stray file is in the image but nobody claims it.
    let mut m: Value = serde_json::from_slice(&std::fs::read(t.path("m.json")).unwrap()).unwrap();
    m["files"].as_array_mut().unwrap().retain(|f| f["path"] != "/opt/stray");
    std::fs::write(t.path("m.json"), m.to_string()).unwrap();
    t
}

#[test]
fn foreign_tar_setuid_world_writable_shell_and_unowned() {
    let t = foreign();
    let j = json_of(audit(&t, &["foreign.tar", "--manifest", "m.json", "--json"]).success());
    assert_eq!(j["image"]["kind"], "rootfs-tar");
    assert_eq!(j["setuid"], json!([{"path": "/bin/su", "mode": "4755", "owner": "busybox"}]));
    assert_eq!(j["setgid"], json!([]));
    let ww: Vec<(String, bool)> = j["world_writable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["path"].as_str().unwrap().to_string(), w["sticky"].as_bool().unwrap()))
        .collect();
    assert_eq!(ww, [("/srv/drop".to_string(), false), ("/tmp".to_string(), true)]);
    assert_eq!(j["shells"], json!([{"path": "/bin/sh", "resolves_to": "/bin/busybox"}]));
    assert_eq!(strs(&j["unowned"]), ["/opt/stray"]);
    assert_eq!(j["elf"], json!([]), "no file starts with the ELF magic");
    assert_eq!(j["sizes"]["by"], "package");

    audit(&t, &["foreign.tar", "--manifest", "m.json", "--deny", "setuid"])
        .code(15)
        .stderr_has("setuid: /bin/su: setuid (mode 4755)");
    let r = audit(&t, &["foreign.tar", "--manifest", "m.json", "--deny", "world-writable"]);
    r.code(15).stderr_has("world-writable: /srv/drop");
    assert!(!r.stderr.contains("/tmp"), "sticky /tmp is not a violation:\n{}", r.stderr);
    audit(&t, &["foreign.tar", "--manifest", "m.json", "--deny", "unowned,shell"])
        .code(15)
        .stderr_has("2 violation(s)")
        .stderr_has("unowned: /opt/stray: owned by no package")
        .stderr_has("shell: /bin/sh: a shell (runs /bin/busybox)");
    audit(&t, &["foreign.tar", "--manifest", "m.json", "--deny", "setgid,dynamic,network"]).success();
    audit(&t, &["foreign.tar", "--deny", "setuid,suid"])
        .code(2)
        .stderr_has("unknown class `suid` (valid: dynamic, setuid, setgid, world-writable, shell, network, unowned)");

    // Without a manifest: everything else still reported, ownership unknown (and denied if asked).
    let r = audit(&t, &["foreign.tar"]);
    r.success().stdout_has("ownership unknown").stdout_has("/bin/su  4755").stdout_has("/bin/sh -> /bin/busybox");
    let j = json_of(audit(&t, &["foreign.tar", "--json"]).success());
    assert_eq!((j["ownership"].as_str(), &j["unowned"]), (Some("unknown"), &Value::Null));
    assert_eq!(j["sizes"]["by"], "top-directory");
    audit(&t, &["foreign.tar", "--deny", "unowned"]).code(15).stderr_has("ownership unknown");
}

#[test]
fn files_that_differ_from_the_manifest_or_are_missing_are_flagged() {
    let t = foreign();
    let mut m: Value = serde_json::from_slice(&std::fs::read(t.path("m.json")).unwrap()).unwrap();
    for f in m["files"].as_array_mut().unwrap() {
        if f["path"] == "/bin/busybox" {
            f["sha256"] = json!("0".repeat(64));
        }
    }
    m["files"].as_array_mut().unwrap().push(json!({"path": "/bin/zz", "type": "file", "mode": "0755", "size": 1,
        "sha256": "1".repeat(64), "owner": "busybox"}));
    std::fs::write(t.path("m.json"), m.to_string()).unwrap();
    let j = json_of(audit(&t, &["foreign.tar", "--manifest", "m.json", "--json"]).success());
    assert_eq!(j["missing"], json!(["/bin/zz"]));
    let mm = j["mismatched"].as_array().unwrap();
    assert_eq!(mm.len(), 1, "{mm:?}");
    assert_eq!(mm[0]["path"], "/bin/busybox");
    assert!(mm[0]["why"].as_str().unwrap().starts_with("content differs: sha256 000000000000 in the manifest"));
    assert_eq!(j["manifest"]["tar_sha256_matches"], true);
}

#[test]
fn layers_apply_in_order_with_whiteouts_and_several_images_need_a_tag() {
    let t = Test::new();
    let l1 = layer_tar(&[
        ("etc/", 0o755, ""),
        ("etc/a", 0o644, "a"),
        ("etc/b", 0o644, "b"),
        ("var/", 0o755, ""),
        ("var/cache/", 0o755, ""),
        ("var/cache/x", 0o644, "x"),
    ]);
    let l2 = layer_tar(&[("etc/.wh.a", 0o644, ""), ("var/cache/.wh..wh..opq", 0o644, ""), ("var/cache/y", 0o644, "y")]);
    let l3 = layer_tar(&[("etc/b", 0o4755, "bb")]);
    let dir = t.path("img");
    let l3_blob = dir.join("blobs/sha256").join(sha256_bytes(&l3));
    oci_layout(&dir, &[l1, l2, l3], &["one", "two"]);

    audit(&t, &["img"])
        .code(2)
        .stderr_has("`img`: index.json lists 2 images; pick one with --tag")
        .stderr_has("  one\n  two");
    audit(&t, &["img", "--tag", "three"]).code(2).stderr_has("no image is tagged `three`");
    let j = json_of(audit(&t, &["img", "--tag", "two", "--json"]).success());
    assert_eq!((j["image"]["kind"].as_str(), j["image"]["layers"].as_u64()), (Some("oci-layout"), Some(3)));
    let mut files = Vec::new();
    let tree = json_of(audit(&t, &["img", "--tag", "one", "--json"]).success());
    for g in tree["sizes"]["groups"].as_array().unwrap() {
        files.push((
            g["name"].as_str().unwrap().to_string(),
            g["files"].as_u64().unwrap(),
            g["bytes"].as_u64().unwrap(),
        ));
    }
    files.sort();
    assert_eq!(files, [("/etc".to_string(), 1, 2), ("/var".to_string(), 1, 1)], "etc/a and var/cache/x are gone");
    assert_eq!(j["setuid"][0]["path"], "/etc/b", "the last layer's etc/b wins");

    // A damaged layer is named.
    let mut bytes = std::fs::read(&l3_blob).unwrap();
    bytes[600] ^= 0xff;
    std::fs::write(&l3_blob, bytes).unwrap();
    audit(&t, &["img", "--tag", "one"]).code(6).stderr_has("does not match its digest");
    // Not an image at all.
    std::fs::write(t.path("junk.tar"), "this is not a tar archive\n".repeat(100)).unwrap();
    audit(&t, &["junk.tar"]).code(6).stderr_has("`junk.tar`");
    audit(&t, &["nope.tar"]).code(6).stderr_has("cannot read `nope.tar`");
}

/// An image of `compose build --platform linux/amd64,linux/arm64`: one OCI layout whose index lists a
/// manifest per platform, and a file manifest per platform beside it (`img-amd64.files.json`...).
#[test]
fn a_multi_platform_image_is_audited_one_platform_at_a_time_with_that_platforms_manifest() {
    let t = Test::new();
    let amd = layer_tar(&[("etc/", 0o755, ""), ("etc/amd64", 0o644, "a")]);
    let arm = layer_tar(&[("etc/", 0o755, ""), ("etc/arm64", 0o644, "b"), ("etc/extra", 0o644, "x")]);
    std::fs::create_dir_all(t.path("out")).unwrap();
    for (arch, layer) in [("amd64", &amd), ("arm64", &arm)] {
        let tar = t.path(&format!("{arch}.layer.tar"));
        std::fs::write(&tar, layer).unwrap();
        write_manifest(&tar, &t.path(&format!("out/img-{arch}.files.json")), &|_| format!("pkg-{arch}"));
    }
    oci_multi_platform(&t.path("out/img.oci"), &[(amd, "amd64", None), (arm, "arm64", Some("v8"))], "1.0");

    let r = audit(&t, &["out/img.oci", "--platform", "linux/arm64"]);
    r.success()
        .stdout_has(
            "platform: linux/arm64/v8 (the image has linux/amd64, linux/arm64/v8)
machine: none (no ELF files)
",
        )
        .stdout_has("manifest: out/img-arm64.files.json");
    let j = json_of(audit(&t, &["out/img.oci", "--platform", "linux/arm64", "--json"]).success());
    assert_eq!(j["image"]["platform"], "linux/arm64/v8");
    assert_eq!(j["image"]["platforms"], json!(["linux/amd64", "linux/arm64/v8"]));
    assert_eq!((&j["machines"], &j["ownership"], &j["unowned"]), (&json!({}), &json!("manifest"), &json!([])));
    assert_eq!(j["sizes"]["groups"][0]["name"], "pkg-arm64");
    let j = json_of(audit(&t, &["out/img.oci", "--platform", "linux/amd64", "--json", "--tag", "1.0"]).success());
    assert_eq!(
        (&j["image"]["platform"], &j["manifest"]["path"]),
        (&json!("linux/amd64"), &json!("out/img-amd64.files.json"))
    );

    audit(&t, &["out/img.oci", "--platform", "linux/riscv64"])
        .code(2)
        .stderr_has(
            "error: `out/img.oci`: index.json has no image for linux/riscv64
  linux/amd64
  linux/arm64/v8
",
        )
        .stderr_has("hint: name one of these with --platform");
    audit(&t, &["out/img.oci", "--platform", "linux/amd64,linux/arm64"])
        .code(2)
        .stderr_has("--platform: audit takes one platform, not a list");
    audit(&t, &["out/img.oci", "--platform", "arm64"]).code(2).stderr_has("--platform: `arm64` is not OS/ARCH");
}

fn compose_audit(args: &[&str]) -> (i32, String, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_compose")).arg("audit").args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

/// The real images: `OUT/busybox.oci.tar` and `OUT/busybox.tar` hold exactly one ELF file, static, no
/// setuid file, and a shell (`/bin/sh -> busybox`); `OUT/scratch.oci.tar` and `OUT/scratch.tar` hold
/// nothing, so `--deny shell` fails busybox (15) and passes scratch.
pub(crate) fn audit_busybox(out: &Path) {
    for name in ["busybox.oci.tar", "busybox.tar"] {
        let image = out.join(name);
        let image = image.to_str().unwrap();
        let (code, stdout, stderr) = compose_audit(&[image, "--json"]);
        assert_eq!(code, 0, "audit {name}: {stderr}");
        let j: Value = serde_json::from_str(&stdout).unwrap();
        let elf = j["elf"].as_array().unwrap();
        assert_eq!(elf.len(), 1, "{name}: exactly one ELF file: {elf:?}");
        assert_eq!(elf[0]["path"], "/bin/busybox");
        assert_eq!(elf[0]["linking"], "static", "{name}: {}", elf[0]);
        assert_eq!((&elf[0]["interpreter"], &elf[0]["needed"]), (&Value::Null, &json!([])));
        assert_eq!(j["setuid"], json!([]), "{name}");
        // Audited against the manifest `compose build` wrote: every path owned, nothing differs.
        assert_eq!(j["ownership"], "manifest", "{name}");
        assert_eq!((&j["unowned"], &j["mismatched"], &j["missing"]), (&json!([]), &json!([]), &json!([])), "{name}");
        assert_eq!(j["sizes"]["groups"][0]["name"], "busybox", "{name}");
        let shells: Vec<&str> = j["shells"].as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap()).collect();
        assert!(shells.contains(&"/bin/sh"), "{name}: {shells:?}");
        assert!(j["shells"].as_array().unwrap().iter().all(|s| s["resolves_to"] == "/bin/busybox"));
        assert!(!j["network"].as_array().unwrap().is_empty(), "busybox has wget and nc applets");
        let (code, _, stderr) = compose_audit(&[image, "--deny", "shell"]);
        assert_eq!(code, 15, "{name} --deny shell: {stderr}");
        assert!(stderr.contains("shell: /bin/sh: a shell (runs /bin/busybox)"), "{stderr}");
        let (code, _, stderr) = compose_audit(&[image, "--deny", "dynamic,setuid,setgid,world-writable"]);
        assert_eq!(code, 0, "{name}: static, no setuid, only sticky dirs writable: {stderr}");
    }
    for name in ["scratch.oci.tar", "scratch.tar"] {
        let image = out.join(name);
        let (code, stdout, stderr) =
            compose_audit(&[image.to_str().unwrap(), "--deny", "shell,network,dynamic", "--json"]);
        assert_eq!(code, 0, "audit {name}: {stderr}");
        let j: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!((j["elf"].as_array().unwrap().len(), j["image"]["files"].as_u64()), (0, Some(0)), "{name}");
    }
}
