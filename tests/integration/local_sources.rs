//! Local directory sources (`[[source]] path = "DIR"`): built from the project's own tree, identified
//! by its tree digest, rebuilt exactly when the tree changes, locked, bundled and recorded.

use crate::harness::{E, Test, recipe};

/// `tool` builds from the local directory `recipes/tool/`; `app` needs it at build time; `other`
/// comes from a tarball and needs nothing.
fn tool_recipe(extra: &str) -> String {
    format!(
        r#"[package]
name = "tool"
version = "1.0"
license = "MIT"
homepage = "https://example.org/tool"
description = "fixture built from a local directory"

[[source]]
path = "tool"
{extra}
[build]
style = "custom"
install = '''
mkdir -p "$DESTDIR/usr/share/tool" "$DESTDIR/bin"
cp msg.txt "$DESTDIR/usr/share/tool/msg"
cp run.sh "$DESTDIR/bin/tool"
'''
"#
    )
}

fn fixture() -> Test {
    let app = r#"mkdir -p "$DESTDIR/bin"; cat "$SYSROOT/usr/share/tool/msg" > "$DESTDIR/bin/app""#;
    let t = Test::new()
        .tarball("src.tar.gz", &[E::File("src/x", "x", 0o644)])
        .file("recipes/tool/msg.txt", "hello\nworld\n")
        .file("recipes/tool/run.sh", "#!/bin/sh\necho tool\n")
        .file("recipes/tool/lib/util.c", "int util;\n")
        .recipe("tool", &tool_recipe(""))
        .recipe("app", &recipe("app", "src.tar.gz", &["tool"], &["other"], app))
        .recipe(
            "other",
            &recipe("other", "src.tar.gz", &[], &[], "mkdir -p \"$DESTDIR/etc\"; echo o > \"$DESTDIR/etc/o\""),
        );
    chmod(&t, "recipes/tool/run.sh", 0o755);
    t.build("app", &[])
}

fn chmod(t: &Test, rel: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(t.path(rel), std::fs::Permissions::from_mode(mode)).unwrap();
}

fn explain(t: &Test) -> crate::harness::Run {
    t.run_with(&["explain", "app", "--toolchain", "stub"], &[])
}

#[test]
fn local_sources_build_and_rebuild_exactly_what_changed() {
    let t = fixture();
    let r = t.run();
    r.success();
    assert_eq!(r.built(), ["app", "other", "tool"]);
    let l = crate::harness::tar_listing(&t.path("out/app.tar"));
    assert!(l.iter().any(|e| e.0 == "bin/app" && e.3 == "hello\nworld\n"), "app was built from tool's tree: {l:?}");

    // No-op: nothing compiles.
    let r = t.run();
    r.success();
    assert!(r.built().is_empty(), "no-op build compiled {:?}", r.built());

    // `.git/` and what `.composeignore` lists are not part of the tree; the ignore file itself is.
    let t = t.file("recipes/tool/.composeignore", "*.o\nscratch/\n");
    // A new .composeignore is a change of the tree; tool's output stays the same, so app does not
    // rebuild (early cutoff).
    assert_eq!(t.run().built(), ["tool"]);
    let t = t
        .file("recipes/tool/.git/HEAD", "ref: refs/heads/main\n")
        .file("recipes/tool/lib/util.o", "object")
        .file("recipes/tool/scratch/notes", "todo");
    let r = t.run();
    r.success();
    assert!(r.built().is_empty(), "ignored files rebuilt {:?}", r.built());

    // One line changes: tool and its dependent rebuild, the unrelated package does not.
    let t = t.file("recipes/tool/msg.txt", "hello\nthere\n");
    let e = explain(&t);
    e.success()
        .stdout_has("tool: rebuilds")
        .stdout_has("local source `tool` changed: `msg.txt` modified (tree ")
        .stdout_has("other: up to date");
    let r = t.run();
    r.success();
    assert_eq!(r.built(), ["app", "tool"]);
    let l = crate::harness::tar_listing(&t.path("out/app.tar"));
    assert!(l.iter().any(|e| e.0 == "bin/app" && e.3 == "hello\nthere\n"), "{l:?}");

    // Many changes: the first few are named, then how many more.
    let mut t = t;
    for i in 0..7 {
        t = t.file(&format!("recipes/tool/new{i}.h"), "");
    }
    explain(&t)
        .success()
        .stdout_has("`new0.h` added, `new1.h` added, `new2.h` added, `new3.h` added, `new4.h` added and 2 more (tree ");
    // A mode change is a change too.
    chmod(&t, "recipes/tool/run.sh", 0o644);
    assert_eq!(t.run().built(), ["app", "tool"]);
}

#[test]
fn explain_without_the_old_tree_says_only_that_the_digest_changed() {
    let t = fixture();
    t.run().success();
    let cache = t.path("cache/sources-v1");
    for e in std::fs::read_dir(&cache).unwrap() {
        // The packed tree is a plain tar; the tarball fixture is gzip.
        let path = e.unwrap().path();
        if !std::fs::read(&path).unwrap().starts_with(&[0x1f, 0x8b]) {
            std::fs::remove_file(path).unwrap();
        }
    }
    let t = t.file("recipes/tool/msg.txt", "changed\n");
    explain(&t)
        .success()
        .stdout_has("local source `tool` changed: tree ")
        .stdout_has("(the old tree is no longer in the source cache)");
}

#[test]
fn offline_builds_pack_the_tree_without_the_network() {
    let t = fixture();
    let t = t.recipe("tool", &tool_recipe("")).build("tool", &["--offline"]);
    let r = t.run();
    r.success();
    assert_eq!(r.built(), ["tool"]);
}

#[test]
fn bad_paths_are_recipe_errors_naming_the_field() {
    let t = fixture();
    let cases: [(&str, &str); 5] = [
        ("path = \"../tool\"", "has a `..` component"),
        ("path = \"/etc\"", "is absolute"),
        ("path = \"missing\"", "does not exist"),
        ("path = \"tool/msg.txt\"", "is not a directory"),
        ("path = \"escape\"", "outside the recipe's directory"),
    ];
    std::os::unix::fs::symlink(t.path("toolchains"), t.path("recipes/escape")).unwrap();
    let mut t = t;
    for (line, why) in cases {
        t = t.recipe("tool", &tool_recipe("").replace("path = \"tool\"", line)).build("tool", &[]);
        t.run().code(3).stderr_has("recipes/tool.toml: field `source[0].path`").stderr_has(why);
    }
    let t = t.recipe("tool", &tool_recipe("sha256 = \"00\"")).build("tool", &[]);
    t.run().code(3).stderr_has("field `source[0].path`: `path` excludes `sha256`").stderr_has("hint: ");
    let t = t.recipe("tool", &tool_recipe("").replace("path = \"tool\"", "dest = \"x\"")).build("tool", &[]);
    t.run().code(3).stderr_has("field `source[0]`: needs `url` and `sha256`");
}

#[test]
fn locked_builds_refuse_a_changed_tree_naming_its_path() {
    let t = fixture();
    let t = t.args(&["lock", "recipes/app.toml", "--toolchain", "stub"]);
    t.run().success();
    let lock = std::fs::read_to_string(t.path("recipes/app.lock")).unwrap();
    assert!(lock.contains("url = \"path:tool\"") && lock.contains("file = \"tool-tree.tar\""), "{lock}");
    let t = t.build("app", &["--locked"]);
    t.run().success();
    let t = t.file("recipes/tool/lib/util.c", "int util = 1;\n");
    let r = t.run();
    r.code(12).stderr_has("package `tool`: local source `tool` changed: sha256 ");
    assert!(r.built().is_empty());
    // `.git/` is not part of the tree: a commit does not break the lock.
    let t = t.file("recipes/tool/lib/util.c", "int util;\n").file("recipes/tool/.git/index", "x");
    t.run().success();
}

/// The packed tree travels in the sources bundle with the downloads; on the other side the directory
/// is there with its recipe, and the build needs neither the network nor the original cache.
#[test]
fn the_sources_bundle_carries_the_packed_tree() {
    let a = fixture();
    a.run().success();
    let bundle = a.path("bundle.tar").display().to_string();
    let a = a.args(&["sources", "export", "-o", &bundle, "recipes/app.toml", "--toolchain", "stub"]);
    a.run().success();
    let mut ar = tar::Archive::new(std::fs::File::open(&bundle).unwrap());
    let mut manifest = String::new();
    std::io::Read::read_to_string(&mut ar.entries().unwrap().next().unwrap().unwrap(), &mut manifest).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let tree = manifest["sources"].as_array().unwrap().iter().find(|s| s["urls"][0] == "path:tool").unwrap();
    let (sha, file) = (tree["sha256"].as_str().unwrap(), tree["file_name"].as_str().unwrap());
    assert_eq!(file, "tool-tree.tar");

    let b = fixture();
    std::fs::remove_dir_all(b.path("dl")).unwrap();
    let b = b.args(&["sources", "import", &bundle]);
    b.run().success().stderr_has("2 added");
    assert_eq!(crate::harness::sha256_file(&b.path(&format!("cache/sources-v1/{sha}"))), sha);
    let b = b.build("app", &["--offline"]);
    b.run().success();
    let f = "out/app.tar";
    assert_eq!(crate::harness::sha256_file(&a.path(f)), crate::harness::sha256_file(&b.path(f)), "{f} differs");
}

#[test]
fn records_name_the_local_tree_by_its_digest_and_path() {
    let t = fixture().build("tool", &[]);
    t.run().success();
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(t.path(&format!("out/{f}"))).unwrap()).unwrap()
    };
    let lock = t.run_with(&["lock", "recipes/tool.toml", "--toolchain", "stub", "-o", "tool.lock"], &[]);
    lock.success();
    let text = std::fs::read_to_string(t.path("tool.lock")).unwrap();
    let lock: toml::Value = toml::from_str(&text).unwrap();
    let sha = lock["package"][0]["source"][0]["sha256"].as_str().unwrap().to_string();

    let spdx = read("tool.spdx.json");
    let p = spdx["packages"].as_array().unwrap().iter().find(|p| p["SPDXID"] == "SPDXRef-Package-tool").unwrap();
    assert_eq!(p["downloadLocation"], "NOASSERTION");
    assert_eq!(p["checksums"][0]["checksumValue"], sha.as_str());
    assert!(
        p["sourceInfo"].as_str().unwrap().contains(&format!("local source directory recipes/tool (tree sha256 {sha}"))
    );

    let cdx = read("tool.cdx.json");
    let c = cdx["components"].as_array().unwrap().iter().find(|c| c["name"] == "tool").unwrap();
    let props = c["properties"].as_array().unwrap();
    assert!(
        props.iter().any(|p| p["name"] == "compose:source-path" && p["value"] == format!("recipes/tool sha256:{sha}"))
    );
    assert!(!c["purl"].as_str().unwrap().contains("download_url"), "{}", c["purl"]);

    let prov = read("tool.provenance.json");
    let deps = prov["predicate"]["buildDefinition"]["resolvedDependencies"].as_array().unwrap();
    let d = deps.iter().find(|d| d["annotations"]["kind"] == "local-source").unwrap();
    assert_eq!((d["uri"].as_str(), d["digest"]["sha256"].as_str()), (Some("file:recipes/tool"), Some(sha.as_str())));
}

#[test]
#[ignore = "tier: validators"]
fn validators_pass_records_of_a_local_source() {
    let t = fixture().build("tool", &[]);
    t.run().success();
    crate::records::validate_records(&t.path("out"), "tool");
}

/// Two builds at once on one cache, from the same tree: one packs it, the other waits for the
/// per-digest lock and finds it; the cache holds one verified entry and no temp or lock files.
#[test]
fn two_concurrent_builds_share_one_packed_tree() {
    let big: String =
        (0..4_000_000u32).map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26)).collect();
    let t = fixture().file("recipes/tool/big.txt", &big);
    let args = |out: &'static str| {
        ["build", "recipes/tool.toml", "--toolchain", "stub", "-o", out, "--message-format", "json"]
    };
    let (a, b) = (t.spawn(&args("out-a")), t.spawn(&args("out-b")));
    let (a, b) = (crate::harness::Run::of(a), crate::harness::Run::of(b));
    a.success();
    b.success();
    let names: Vec<String> = std::fs::read_dir(t.path("cache/sources-v1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "one packed tree, no temp or lock files: {names:?}");
    assert_eq!(crate::harness::sha256_file(&t.path(&format!("cache/sources-v1/{}", names[0]))), names[0]);
    assert_eq!(
        crate::harness::sha256_file(&t.path("out-a/tool.tar")),
        crate::harness::sha256_file(&t.path("out-b/tool.tar"))
    );
}
