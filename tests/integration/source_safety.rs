//! Sources: hashes are verified and nothing bad enters the cache; hostile tarballs are refused by entry.

use crate::harness::{E, Test, recipe};

fn cache_sources(t: &Test) -> Vec<String> {
    let dir = t.path("cache/sources-v1");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with(".lock"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn hash_mismatch_names_package_url_expected_and_got_and_caches_nothing() {
    let wrong = "0".repeat(64);
    let text = recipe("hello", "hello.tar.gz", &[], &[], "true").replace("{SHA:hello.tar.gz}", &wrong);
    let t = Test::new()
        .tarball("hello.tar.gz", &[E::File("hello/x", "x", 0o644)])
        .recipe("hello", &text)
        .build("hello", &[]);
    let r = t.run();
    r.code(5).stderr_has("`hello`").stderr_has("hello.tar.gz").stderr_has(&wrong);
    let got = crate::harness::sha256_file(&t.path("dl/hello.tar.gz"));
    r.stderr_has(&got);
    assert!(cache_sources(&t).is_empty(), "cache: {:?}", cache_sources(&t));
    assert!(!t.path("out/hello.tar").exists());
}

fn refused(entries: &[E], needle: &str) {
    let t = Test::new()
        .tarball("evil.tar.gz", entries)
        .recipe("evil", &recipe("evil", "evil.tar.gz", &[], &[], "cp -a . \"$DESTDIR\"/"))
        .build("evil", &[]);
    let r = t.run();
    r.code(6).stderr_has(needle);
    assert!(!t.path("out/evil.tar").exists());
    assert!(!t.dir.path().parent().unwrap().join("pwned").exists());
    // Nothing half-unpacked is left in the work directory.
    let leftovers: Vec<_> = walkdir::WalkDir::new(t.path("cache/work"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_name() == "pwned" || e.file_name() == "ok")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn path_traversal_is_refused_by_entry_name() {
    refused(&[E::File("evil/ok", "fine", 0o644), E::RawFile("evil/../../../pwned", "x")], "evil/../../../pwned");
}

#[test]
fn absolute_path_is_refused() {
    refused(&[E::File("evil/ok", "fine", 0o644), E::RawFile("/tmp/pwned", "x")], "/tmp/pwned");
}

#[test]
fn symlink_escape_is_refused() {
    refused(
        &[
            E::File("evil/ok", "fine", 0o644),
            E::Symlink("evil/link", "../../../../etc"),
            E::RawFile("evil/link/pwned", "x"),
        ],
        "evil/link",
    );
}

#[test]
fn device_node_is_refused() {
    refused(&[E::File("evil/ok", "fine", 0o644), E::CharDev("evil/null")], "evil/null");
}

/// Issue 16: a file shipped 0777 (or a directory shipped 1777) stayed world-writable into the image.
#[test]
fn setuid_and_world_writable_bits_are_stripped_on_unpack() {
    let t = Test::new()
        .tarball("s.tar.gz", &[E::File("s/tool", "#!/bin/sh\n", 0o4755), E::File("s/open", "#!/bin/sh\n", 0o777)])
        .recipe(
            "s",
            &recipe(
                "s",
                "s.tar.gz",
                &[],
                &[],
                "mkdir -p \"$DESTDIR/bin\"; cp -p tool open \"$DESTDIR/bin/\"; stat -c %a tool open",
            ),
        )
        .build("s", &[]);
    t.run().success();
    let listing = crate::harness::tar_listing(&t.path("out/s.tar"));
    let mode = |p: &str| listing.iter().find(|e| e.0 == p).unwrap_or_else(|| panic!("{p} not in the image")).2;
    assert_eq!(mode("bin/tool"), 0o755);
    assert_eq!(mode("bin/open"), 0o775);
}
