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
