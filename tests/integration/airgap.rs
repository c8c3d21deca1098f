//! Air-gapped builds on fixtures: offline failures list what is missing, bundles carry sources across
//! (and refuse corruption), mirrors and the config file, lock files, hash-mismatch triage, and two
//! concurrent fetches on one cache.

use std::process::Command;

use crate::harness::{E, Test, recipe, sha256_file};

const INSTALL: &str = "mkdir -p \"$DESTDIR/bin\"\ncp hello.sh \"$DESTDIR/bin/hello\"";
const DEAD: &str = "https://example.invalid/dl/";

/// `hello` (and `world`, which `hello` needs at runtime) whose URLs are dead: sources must come from
/// the `dl/` mirror, the cache or a bundle.
fn fixture() -> Test {
    Test::new()
        .tarball(
            "hello-1.0.tar.gz",
            &[E::Dir("hello-1.0"), E::File("hello-1.0/hello.sh", "#!/bin/sh\necho hello\n", 0o755)],
        )
        .tarball("world-1.0.tar.gz", &[E::Dir("world-1.0"), E::File("world-1.0/w.txt", "world\n", 0o644)])
        .recipe("hello", &recipe("hello", "hello-1.0.tar.gz", &[], &["world"], INSTALL).replace("file://{DL}/", DEAD))
        .recipe(
            "world",
            &recipe("world", "world-1.0.tar.gz", &[], &[], "mkdir -p \"$DESTDIR/etc\"\ncp w.txt \"$DESTDIR/etc/\"")
                .replace("file://{DL}/", DEAD),
        )
}

fn mirror(t: &Test) -> String {
    t.path("dl").display().to_string()
}

#[test]
fn offline_lists_every_missing_source_with_its_hash_and_where_it_looked() {
    let t = fixture();
    std::fs::create_dir_all(t.path("empty-mirror")).unwrap();
    let m = t.path("empty-mirror").display().to_string();
    let t = t.build("hello", &["--offline", "--mirror", &m]);
    let r = t.run();
    r.code(11).stderr_has("hello-1.0.tar.gz").stderr_has("world-1.0.tar.gz").stderr_has("skipped: offline");
    r.stderr_has(&sha256_file(&t.path("dl/hello-1.0.tar.gz"))).stderr_has(&sha256_file(&t.path("dl/world-1.0.tar.gz")));
    r.stderr_has(&format!("{m}/hello-1.0.tar.gz")).stderr_has("compose sources import");
    assert!(r.built().is_empty(), "nothing may build");
    assert!(!t.path("out").exists());
}

#[test]
fn a_bundle_carries_the_sources_and_the_offline_build_is_identical() {
    let a = fixture();
    let m = mirror(&a);
    let a = a.args(&["fetch", "recipes/hello.toml", "--toolchain", "stub", "--mirror", &m]);
    let r = a.run();
    r.success().stdout_has("hello-1.0.tar.gz").stdout_has("world-1.0.tar.gz");
    // Idempotent: the second run verifies and downloads nothing.
    a.run().success().stderr_has("2 verified in the cache, 0 fetched");
    let online = a.build("hello", &["--mirror", &m, "--format", "tar,oci-archive"]);
    online.run().success();
    let bundle = online.path("bundle.tar").display().to_string();
    let online = online.args(&["sources", "export", "-o", &bundle, "recipes/hello.toml", "--toolchain", "stub"]);
    online.run().success();

    // The other side: a fresh cache, no mirror, no network at all.
    let b = fixture();
    std::fs::remove_dir_all(b.path("dl")).unwrap();
    let b = b.args(&["sources", "import", &bundle]);
    b.run().success().stdout_has("added").stderr_has("2 added");
    let b = b.build("hello", &["--offline", "--format", "tar,oci-archive"]);
    let mut args = vec!["-n".to_string(), env!("CARGO_BIN_EXE_compose").to_string()];
    args.extend(
        ["build", "recipes/hello.toml", "--toolchain", "stub", "-o", "out", "--offline", "--format", "tar,oci-archive"]
            .map(String::from),
    );
    let o = Command::new("unshare")
        .args(&args)
        .current_dir(b.path(""))
        .env("COMPOSE_CACHE_DIR", b.path("cache"))
        .env("COMPOSE_CONFIG", b.path("config.toml"))
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    assert!(o.status.success(), "offline build in an empty network namespace: {}", String::from_utf8_lossy(&o.stderr));
    for f in ["out/hello.tar", "out/hello.oci.tar"] {
        assert_eq!(sha256_file(&b.path(f)), sha256_file(&online.path(f)), "{f} differs from the online build");
    }
}

#[test]
fn a_corrupted_or_foreign_bundle_entry_is_refused_by_name() {
    let a = fixture();
    let m = mirror(&a);
    let bundle = a.path("bundle.tar");
    let a = a.args(&[
        "sources",
        "export",
        "-o",
        bundle.to_str().unwrap(),
        "recipes/hello.toml",
        "--toolchain",
        "stub",
        "--mirror",
        &m,
    ]);
    a.run().success();
    let good = std::fs::read(&bundle).unwrap();

    // Flip one byte inside the hello tarball's entry.
    let hello = std::fs::read(a.path("dl/hello-1.0.tar.gz")).unwrap();
    let at = good.windows(hello.len()).position(|w| w == hello.as_slice()).unwrap() + hello.len() / 2;
    let mut bad = good.clone();
    bad[at] ^= 0xff;
    std::fs::write(&bundle, &bad).unwrap();
    let b = Test::new().args(&["sources", "import", bundle.to_str().unwrap()]);
    let r = b.run();
    r.code(13)
        .stderr_has("is corrupted")
        .stderr_has("hello-1.0.tar.gz")
        .stderr_has(&sha256_file(&a.path("dl/hello-1.0.tar.gz")));
    let cached: Vec<_> =
        std::fs::read_dir(b.path("cache/sources-v1")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(cached.is_empty(), "nothing partial stays: {cached:?}");

    // An entry the manifest does not list.
    let mut ar = tar::Builder::new(Vec::new());
    let mut src = tar::Archive::new(good.as_slice());
    for e in src.entries().unwrap() {
        let mut e = e.unwrap();
        let mut h = e.header().clone();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut body).unwrap();
        ar.append_data(&mut h, e.path().unwrap(), body.as_slice()).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    ar.append_data(&mut h, "sources/evil", &b"evil"[..]).unwrap();
    std::fs::write(&bundle, ar.into_inner().unwrap()).unwrap();
    b.run().code(13).stderr_has("`sources/evil` is not listed").stderr_has("foreign");
}

#[test]
fn a_mirror_directory_serves_recipes_whose_urls_are_dead() {
    // Content-addressed: files named by sha256, as in another machine's cache.
    let t = fixture();
    std::fs::create_dir_all(t.path("by-sha")).unwrap();
    for f in ["hello-1.0.tar.gz", "world-1.0.tar.gz"] {
        std::fs::copy(
            t.path(&format!("dl/{f}")),
            t.path(&format!("by-sha/{}", sha256_file(&t.path(&format!("dl/{f}"))))),
        )
        .unwrap();
    }
    let by_sha = t.path("by-sha").display().to_string();
    let t = t.build("hello", &["--mirror", &by_sha, "--format", "tar"]);
    t.run().success();
    // By file name, from the config file; and from the environment, which overrides it.
    let t2 = fixture();
    let m = mirror(&t2);
    let t2 =
        t2.file("config.toml", &format!("mirrors = [\"{m}\"]\noffline = true\n")).build("hello", &["--format", "tar"]);
    t2.run().success();
    let t3 = fixture();
    let m3 = mirror(&t3);
    let t3 = t3
        .file("config.toml", "mirrors = [\"/nonexistent\"]\n")
        .env("COMPOSE_MIRRORS", &m3)
        .env("COMPOSE_OFFLINE", "1");
    let t3 = t3.build("hello", &["--format", "tar"]);
    t3.run().success();
}

#[test]
fn the_config_file_sets_defaults_that_environment_and_flags_override() {
    let t = fixture().file("config.toml", "jobs = 3\n").build("hello", &["--dry-run"]);
    t.run().success().stdout_has("\"jobs\":3");
    let t = t.env("COMPOSE_JOBS", "5");
    t.run().success().stdout_has("\"jobs\":5");
    let t = t.build("hello", &["--dry-run", "-j", "7"]);
    t.run().success().stdout_has("\"jobs\":7");
    let t = fixture().file("config.toml", "jobs = 3\ncolour = \"red\"\n").build("hello", &["--dry-run"]);
    t.run().code(2).stderr_has("config.toml:2:1").stderr_has("colour");
    // offline from the config file: no network candidate is tried.
    let t = fixture().file("config.toml", "offline = true\n").build("hello", &[]);
    t.run().code(11).stderr_has("skipped: offline");
}

#[test]
fn a_lock_mismatch_is_refused_naming_the_changed_input() {
    let t = fixture();
    let m = mirror(&t);
    let t = t.args(&["lock", "recipes/hello.toml", "--toolchain", "stub", "--mirror", &m]);
    t.run().success().stdout_has("hello.lock");
    let lock = std::fs::read_to_string(t.path("recipes/hello.lock")).unwrap();
    assert!(lock.contains("name = \"world\"") && lock.contains("[package.source.contents]"), "{lock}");
    let t = t.build("hello", &["--locked", "--mirror", &m, "--format", "tar"]);
    t.run().success();

    // The install script changes.
    let text = std::fs::read_to_string(t.path("recipes/world.toml")).unwrap();
    std::fs::write(t.path("recipes/world.toml"), text.replace("cp w.txt", "cp -p w.txt")).unwrap();
    let r = t.run();
    r.code(12).stderr_has("package `world`: recipe text changed").stderr_has("compose lock");
    assert!(r.built().is_empty());
    std::fs::write(t.path("recipes/world.toml"), &text).unwrap();

    // The source changes: a new tarball and sha256.
    let t = t.tarball(
        "hello-1.1.tar.gz",
        &[E::Dir("hello-1.1"), E::File("hello-1.1/hello.sh", "#!/bin/sh\necho hi\n", 0o755)],
    );
    let text = std::fs::read_to_string(t.path("recipes/hello.toml")).unwrap();
    let old = sha256_file(&t.path("dl/hello-1.0.tar.gz"));
    let new = sha256_file(&t.path("dl/hello-1.1.tar.gz"));
    std::fs::write(
        t.path("recipes/hello.toml"),
        text.replace(&old, &new).replace("hello-1.0.tar.gz", "hello-1.1.tar.gz"),
    )
    .unwrap();
    t.run()
        .code(12)
        .stderr_has("package `hello`: source `hello-1.0.tar.gz` removed")
        .stderr_has(&format!("source `hello-1.1.tar.gz` added (sha256 {new})"));
}

#[test]
fn a_hash_mismatch_is_triaged_against_the_locked_contents() {
    let t = fixture();
    let m = mirror(&t);
    let t = t.args(&["lock", "recipes/hello.toml", "--toolchain", "stub", "--mirror", &m]);
    t.run().success();
    // Upstream recompresses: same files, other bytes. A fresh cache sees the new file.
    let recompressed = t.path("dl2");
    std::fs::create_dir_all(&recompressed).unwrap();
    let raw = flate2::read::GzDecoder::new(std::fs::File::open(t.path("dl/hello-1.0.tar.gz")).unwrap());
    let mut tar_bytes = Vec::new();
    std::io::Read::read_to_end(&mut { raw }, &mut tar_bytes).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &tar_bytes).unwrap();
    std::fs::write(recompressed.join("hello-1.0.tar.gz"), gz.finish().unwrap()).unwrap();
    std::fs::copy(t.path("dl/world-1.0.tar.gz"), recompressed.join("world-1.0.tar.gz")).unwrap();
    let m2 = recompressed.display().to_string();
    let c2 = t.path("cache2").display().to_string();
    let t = t.build("hello", &["--mirror", &m2, "--cache-dir", &c2]);
    t.run().code(5).stderr_has("sha256 mismatch").stderr_has("recompressed").stderr_has("kept at");

    // Changed contents are located.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let changed = String::from_utf8_lossy(&tar_bytes).replace("echo hello", "echo HELLO").into_bytes();
    std::io::Write::write_all(&mut gz, &changed).unwrap();
    std::fs::write(recompressed.join("hello-1.0.tar.gz"), gz.finish().unwrap()).unwrap();
    let c3 = t.path("cache3").display().to_string();
    let t = t.build("hello", &["--mirror", &m2, "--cache-dir", &c3]);
    t.run().code(5).stderr_has("the contents differ").stderr_has("changed `hello.sh`");
}

#[test]
fn two_concurrent_fetches_on_one_cache_both_succeed() {
    // A 24 MB source, so the two runs overlap.
    let big: String =
        (0..3_000_000u32).map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26)).collect();
    let t = Test::new()
        .tarball("big-1.0.tar.gz", &[E::Dir("big-1.0"), E::File("big-1.0/big.txt", &big.repeat(8), 0o644)])
        .recipe("big", &recipe("big", "big-1.0.tar.gz", &[], &[], "true").replace("file://{DL}/", DEAD));
    let m = mirror(&t);
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_compose"))
            .args(["fetch", "recipes/big.toml", "--toolchain", "stub", "--mirror", &m])
            .current_dir(t.path(""))
            .env("COMPOSE_CACHE_DIR", t.path("cache"))
            .env("COMPOSE_CONFIG", t.path("config.toml"))
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let sha = sha256_file(&t.path("dl/big-1.0.tar.gz"));
    let entries: Vec<String> = std::fs::read_dir(t.path("cache/sources-v1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, vec![sha.clone()], "one verified file, no temp or lock files left");
    assert_eq!(sha256_file(&t.path(&format!("cache/sources-v1/{sha}"))), sha);
}
