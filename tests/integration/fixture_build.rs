//! Fixture builds with the stub toolchain: the sandbox, the scheduler, the cache, the rootfs and the
//! tarball, end to end in seconds and offline.

use std::path::PathBuf;

use crate::harness::{E, Test, recipe, sha256_file, tar_listing};

const INSTALL_HELLO: &str = r#"mkdir -p "$DESTDIR/bin" "$DESTDIR/usr/include" "$DESTDIR/usr/lib/pkgconfig" "$DESTDIR/usr/share/man/man1"
cp hello.sh "$DESTDIR/bin/hello"
ln -s hello "$DESTDIR/bin/hi"
echo '#define X 1' > "$DESTDIR/usr/include/x.h"
echo 'static' > "$DESTDIR/usr/lib/libx.a"
echo 'Name: x' > "$DESTDIR/usr/lib/pkgconfig/x.pc"
echo '.TH X' > "$DESTDIR/usr/share/man/man1/hello.1""#;

fn hello() -> Test {
    Test::new()
        .tarball(
            "hello-1.0.tar.gz",
            &[E::Dir("hello-1.0"), E::File("hello-1.0/hello.sh", "#!/bin/sh\necho hello\n", 0o755)],
        )
        .recipe("hello", &recipe("hello", "hello-1.0.tar.gz", &[], &[], INSTALL_HELLO))
}

#[test]
fn image_holds_runtime_files_skeleton_and_accounts_only() {
    let t = hello().build("hello", &[]);
    let r = t.run();
    r.success().stdout_has("out/hello.tar").stderr_has("podman import");
    let l = tar_listing(&t.path("out/hello.tar"));
    let get = |p: &str| l.iter().find(|e| e.0 == p).unwrap_or_else(|| panic!("{p} missing from {l:?}"));
    assert_eq!(get("bin/hello").3, "#!/bin/sh\necho hello\n");
    assert_eq!(get("bin/hello").2, 0o755);
    assert_eq!((get("bin/hi").1, get("bin/hi").3.as_str()), ('l', "hello"));
    assert_eq!(get("tmp/").2, 0o1777);
    assert_eq!(get("root/").2, 0o700);
    assert!(get("etc/passwd").3.starts_with("root:x:0:0:"));
    assert!(get("etc/group").3.starts_with("root:x:0:"));
    for d in ["dev/", "proc/", "sys/", "run/", "sbin/", "usr/bin/", "usr/sbin/", "var/tmp/"] {
        assert_eq!(get(d).1, 'd');
    }
    for gone in [
        "usr/include/x.h",
        "usr/lib/libx.a",
        "usr/lib/pkgconfig/x.pc",
        "usr/share/man/man1/hello.1",
        "usr/include/",
        "usr/lib/",
    ] {
        assert!(!l.iter().any(|e| e.0 == gone), "{gone} should not be in the image");
    }
    let names: Vec<&String> = l.iter().map(|e| &e.0).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "entries sorted");
    // Headers: owner 0, mtime clamped to the default SOURCE_DATE_EPOCH.
    let mut ar = tar::Archive::new(std::fs::File::open(t.path("out/hello.tar")).unwrap());
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        assert_eq!((e.header().uid().unwrap(), e.header().gid().unwrap()), (0, 0));
        assert!(e.header().mtime().unwrap() <= 1_700_000_000);
    }
}

#[test]
fn two_builds_from_the_same_inputs_are_byte_identical() {
    let t = hello().build("hello", &[]);
    t.run().success();
    let first = sha256_file(&t.path("out/hello.tar"));
    // A fresh cache forces a real rebuild, at another time.
    std::fs::remove_dir_all(t.path("cache")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = t.run();
    r.success();
    assert_eq!(r.built(), ["hello"]);
    assert_eq!(sha256_file(&t.path("out/hello.tar")), first);
    // SOURCE_DATE_EPOCH moves the clamp, and so the bytes.
    let t2 = t.env("SOURCE_DATE_EPOCH", "1000");
    let r = t2.run();
    r.success();
    assert_eq!(r.built(), ["hello"], "SOURCE_DATE_EPOCH is part of the build key");
    assert_ne!(sha256_file(&t2.path("out/hello.tar")), first);
}

#[test]
fn build_step_cannot_reach_the_network() {
    let t = Test::new()
        .tarball("net.tar.gz", &[E::File("net/x", "x", 0o644)])
        .recipe("net", &recipe("net", "net.tar.gz", &[], &[], "exec 3<>/dev/tcp/1.1.1.1/80; echo CONN''ECTED"))
        .build("net", &[]);
    let r = t.run();
    r.code(7).stderr_has("`net`: phase `install` failed").stderr_has("Network is unreachable");
    assert!(!r.stderr.contains("CONNECTED"));
    let log = std::fs::read_to_string(t.path("cache/logs/net.log")).unwrap();
    assert!(log.contains("Network is unreachable"), "{log}");
}

#[test]
fn build_step_writes_only_its_build_dir_and_destdir() {
    let t = Test::new().tarball("w.tar.gz", &[E::File("w/x", "x", 0o644)]);
    let outside = t.path("outside-marker");
    let script = format!(
        "touch {}; echo WROTE-OUTSIDE; touch /usr/compose-marker 2>&1 || true; touch \"$DESTDIR/ok\"; hostname; id -u; umask; echo TZ=$TZ LC_ALL=$LC_ALL SDE=$SOURCE_DATE_EPOCH",
        outside.display()
    );
    let t = t.recipe("w", &recipe("w", "w.tar.gz", &[], &[], &script)).build("w", &[]);
    let r = t.run();
    r.code(7).stderr_has("outside-marker");
    assert!(!outside.exists());
    assert!(!std::path::Path::new("/usr/compose-marker").exists());
    let ok = recipe(
        "w",
        "w.tar.gz",
        &[],
        &[],
        "touch /usr/compose-marker 2>&1 || true; touch \"$DESTDIR/ok\"; hostname; umask; echo TZ=$TZ LC_ALL=$LC_ALL SDE=$SOURCE_DATE_EPOCH MAKEFLAGS=$MAKEFLAGS; env | sort",
    );
    let t = t.recipe("w", &ok);
    t.run().success();
    let log = std::fs::read_to_string(t.path("cache/logs/w.log")).unwrap();
    assert!(log.contains("Read-only file system"), "{log}");
    for want in [
        "compose\n",
        "0022\n",
        "TZ=UTC LC_ALL=C SDE=1700000000",
        "--jobserver-auth=",
        "SRC=/build/src\n",
        "DESTDIR=/build/dest\n",
        "SYSROOT=/sysroot\n",
        "TARGET=x86_64-linux-musl\n",
        "CC=cc\n",
    ] {
        assert!(log.contains(want), "log lacks {want:?}:\n{log}");
    }
    assert!(!log.contains("HOME=/root"), "environment must be cleared:\n{log}");
}

pub fn chain() -> Test {
    let lib = r#"mkdir -p "$DESTDIR/usr/lib"; echo lib-v1 > "$DESTDIR/usr/lib/data""#;
    let app = r#"mkdir -p "$DESTDIR/bin"; cat "$SYSROOT/usr/lib/data" > "$DESTDIR/bin/app""#;
    Test::new()
        .tarball("src.tar.gz", &[E::File("src/x", "x", 0o644)])
        .recipe("lib", &recipe("lib", "src.tar.gz", &[], &[], lib))
        .recipe("app", &recipe("app", "src.tar.gz", &["lib"], &["other"], app))
        .recipe(
            "other",
            &recipe("other", "src.tar.gz", &[], &[], "mkdir -p \"$DESTDIR/etc\"; echo other > \"$DESTDIR/etc/other\""),
        )
        .build("app", &[])
}

#[test]
fn unchanged_packages_are_not_rebuilt_and_a_change_rebuilds_dependents_only() {
    let t = chain();
    let r = t.run();
    r.success();
    assert_eq!(r.built(), ["app", "lib", "other"]);
    let l = tar_listing(&t.path("out/app.tar"));
    assert!(l.iter().any(|e| e.0 == "bin/app" && e.3 == "lib-v1\n"), "app was built against lib's sysroot files");
    assert!(l.iter().any(|e| e.0 == "etc/other"), "runtime dependency is in the image");
    assert!(!l.iter().any(|e| e.0.starts_with("usr/lib")), "build-only dependency stays out of the image");
    let first = sha256_file(&t.path("out/app.tar"));

    let again = t.run();
    again.success();
    assert!(again.built().is_empty(), "no-op build compiled {:?}", again.built());
    assert_eq!(sha256_file(&t.path("out/app.tar")), first);

    // Changing lib rebuilds lib and app (its dependent), not other.
    let lib2 =
        recipe("lib", "src.tar.gz", &[], &[], r#"mkdir -p "$DESTDIR/usr/lib"; echo lib-v2 > "$DESTDIR/usr/lib/data""#);
    let t = t.recipe("lib", &lib2);
    let r = t.run();
    r.success();
    assert_eq!(r.built(), ["app", "lib"]);
    assert!(tar_listing(&t.path("out/app.tar")).iter().any(|e| e.0 == "bin/app" && e.3 == "lib-v2\n"));

    // Changing app rebuilds only app.
    let app2 =
        recipe("app", "src.tar.gz", &["lib"], &["other"], r#"mkdir -p "$DESTDIR/bin"; echo v2 > "$DESTDIR/bin/app""#);
    let t = t.recipe("app", &app2);
    let r = t.run();
    r.success();
    assert_eq!(r.built(), ["app"]);
}

/// The sha256 the build printed for the rootfs tar.
fn printed_tar_digest(r: &crate::harness::Run) -> String {
    r.output("tar")["sha256"].as_str().expect("sha256 is a string").to_string()
}

/// A no-op build writes the tar again but takes its sha256 from the export memo (one entry per rootfs);
/// a changed package makes another rootfs, whose digest is computed and remembered beside the first.
#[test]
fn an_unchanged_rootfs_takes_its_tar_digest_from_the_memo() {
    let t = chain();
    let r = t.run();
    r.success();
    let first = sha256_file(&t.path("out/app.tar"));
    assert_eq!(printed_tar_digest(&r), first);
    let memo = t.path("cache/exports-v1");
    let entries = || -> Vec<PathBuf> { std::fs::read_dir(&memo).unwrap().map(|e| e.unwrap().path()).collect() };
    let [entry] = entries().try_into().unwrap();
    let size = std::fs::metadata(t.path("out/app.tar")).unwrap().len();
    assert_eq!(std::fs::read_to_string(&entry).unwrap(), format!("{first} {size}\n"));

    // Into another OUT-DIR: the same bytes, and the digest is the memo's (shown by planting another one).
    fn to(out: &str) -> [&str; 8] {
        ["build", "recipes/app.toml", "--toolchain", "stub", "-o", out, "--message-format", "json"]
    }
    let r = t.run_with(&to("out2"), &[]);
    r.success();
    assert_eq!(sha256_file(&t.path("out2/app.tar")), first);
    assert_eq!(printed_tar_digest(&r), first);
    let planted = "0".repeat(64);
    std::fs::write(&entry, format!("{planted} {size}\n")).unwrap();
    let r = t.run_with(&to("out3"), &[]);
    r.success();
    assert_eq!(printed_tar_digest(&r), planted, "the digest came from the memo");
    std::fs::remove_dir_all(&memo).unwrap();
    let r = t.run_with(&to("out3"), &[]);
    r.success();
    assert_eq!(printed_tar_digest(&r), first, "without the memo it is computed, and remembered again");
    assert_eq!(entries().len(), 1);

    // A changed package is another rootfs: its digest is computed, and both are remembered.
    let lib2 =
        recipe("lib", "src.tar.gz", &[], &[], r#"mkdir -p "$DESTDIR/usr/lib"; echo lib-v2 > "$DESTDIR/usr/lib/data""#);
    let t = t.recipe("lib", &lib2);
    let r = t.run();
    r.success();
    let second = sha256_file(&t.path("out/app.tar"));
    assert_ne!(second, first);
    assert_eq!(printed_tar_digest(&r), second);
    assert_eq!(entries().len(), 2);
}

#[test]
fn dry_run_prints_the_plan_in_order_and_marks_cached() {
    let t = chain().args(&["build", "recipes/app.toml", "--toolchain", "stub", "--dry-run"]);
    let r = t.run();
    r.success();
    let pos = |n: &str| r.stdout.find(&format!("] {n} ")).unwrap_or_else(|| panic!("{n} not in plan:\n{}", r.stdout));
    assert!(pos("lib") < pos("app") && pos("other") < pos("app"));
    assert_eq!(r.stdout.matches("[build ]").count(), 3);
    assert!(!t.path("out/app.tar").exists(), "dry run builds nothing");
    let t = t.build("app", &[]);
    t.run().success();
    let r = t.args(&["build", "recipes/app.toml", "--toolchain", "stub", "--dry-run"]).run();
    assert_eq!(r.stdout.matches("[cached]").count(), 3, "{}", r.stdout);
}

#[test]
fn two_packages_installing_one_path_is_an_error_naming_both() {
    let install = r#"mkdir -p "$DESTDIR/etc"; echo $PACKAGE > "$DESTDIR/etc/motd""#;
    let t = Test::new()
        .tarball("src.tar.gz", &[E::File("src/x", "x", 0o644)])
        .recipe("one", &recipe("one", "src.tar.gz", &[], &["two"], install))
        .recipe("two", &recipe("two", "src.tar.gz", &[], &[], install))
        .build("one", &[]);
    t.run().code(9).stderr_has("`/etc/motd` is installed by both `one` and `two`");
    assert!(!t.path("out/one.tar").exists());
}

#[test]
fn failed_build_shows_log_tail_and_keeps_the_build_dir() {
    let t = Test::new()
        .tarball("src.tar.gz", &[E::File("src/x", "x", 0o644)])
        .recipe("bad", &recipe("bad", "src.tar.gz", &[], &[], "echo some-context-line; false"))
        .build("bad", &[]);
    let r = t.run();
    r.code(7)
        .stderr_has("some-context-line")
        .stderr_has("build log: ")
        .stderr_has("build directory kept for inspection");
    let kept = r.stderr.lines().find_map(|l| l.split("kept for inspection: ").nth(1)).expect("the kept directory");
    let kept = PathBuf::from(kept.trim());
    assert!(kept.starts_with(t.path("cache/work")), "{}", kept.display());
    assert!(kept.join("src/x").exists(), "{}", kept.display());
    let log = r.stderr.lines().find_map(|l| l.split("build log: ").nth(1)).expect("the log path");
    assert!(std::fs::read_to_string(log.trim()).unwrap().contains("some-context-line"));
    assert!(std::fs::read_to_string(t.path("cache/logs/bad.log")).unwrap().contains("some-context-line"));
    // The next run (this one fails again) removes the dead run's directory, and keeps its own.
    let again = t.run();
    again.code(7);
    assert!(!kept.exists(), "a failed build's directory is kept only until the next run");
    let kept_again = again.stderr.lines().find_map(|l| l.split("kept for inspection: ").nth(1)).unwrap();
    assert!(PathBuf::from(kept_again.trim()).join("src/x").exists());
}

/// A successful build's work directory is removed in the background (nothing waits for it), but it is
/// gone by the time `compose` exits: 20,000 files take far longer to unlink than the image takes to write.
#[test]
fn successful_build_leaves_no_work_directory_behind() {
    let install = r#"mkdir -p junk && (cd junk && for i in $(seq 20000); do : > "f$i"; done)
mkdir -p "$DESTDIR/etc" && echo hi > "$DESTDIR/etc/motd""#;
    let t = Test::new()
        .tarball("src.tar.gz", &[E::File("src/x", "x", 0o644)])
        .recipe("many", &recipe("many", "src.tar.gz", &[], &[], install))
        .build("many", &[]);
    t.run().success();
    assert!(t.path("out/many.tar").exists());
    assert!(t.path("cache/work").is_dir());
    let left: Vec<_> = std::fs::read_dir(t.path("cache/work")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "left in cache/work: {left:?}");
}

#[test]
fn no_sandbox_must_be_asked_for_and_is_recorded_in_the_key() {
    let t = hello().build("hello", &[]);
    t.run().success();
    let sandboxed = sha256_file(&t.path("out/hello.tar"));
    let t = t.build("hello", &["--no-sandbox"]);
    let r = t.run();
    r.success().stderr_has("warning: building without a sandbox");
    // Not the sandboxed artifact: the key differs, so the package was built again.
    assert_eq!(r.built(), ["hello"]);
    assert_eq!(sha256_file(&t.path("out/hello.tar")), sandboxed, "same files either way for this fixture");
}

#[test]
fn keep_going_builds_what_does_not_depend_on_the_failure() {
    let t = Test::new()
        .tarball("src.tar.gz", &[E::File("src/x", "x", 0o644)])
        .recipe("top", &recipe("top", "src.tar.gz", &["bad", "good"], &[], "true"))
        .recipe("bad", &recipe("bad", "src.tar.gz", &[], &[], "exit 3"))
        .recipe(
            "good",
            &recipe("good", "src.tar.gz", &[], &[], "sleep 0.5; mkdir -p \"$DESTDIR/x\"; touch \"$DESTDIR/x/y\""),
        )
        .build("top", &["--keep-going"]);
    let r = t.run();
    r.code(7).stderr_has("`bad`: phase `install` failed");
    assert_eq!(r.built(), ["bad", "good"], "top must not start after bad failed");
    assert!(r.stderr.contains("good") && r.stderr.contains("built in"), "{}", r.stderr);
}

#[test]
fn human_output_names_every_file_written_and_the_json_messages_say_the_same() {
    let t = hello();
    let human = t.run_with(&["build", "recipes/hello.toml", "--toolchain", "stub", "-o", "out"], &[]);
    human.success().stderr_has("hello          build started").stderr_has("next:");
    let tar = human.stdout.lines().find(|l| l.starts_with("rootfs tar   out/hello.tar  ")).expect("rootfs tar line");
    assert!(human.stdout.contains("record       out/hello.spdx.json"), "{}", human.stdout);
    assert!(human.stdout.lines().any(|l| l.starts_with("image        hello:1.0  index sha256:")), "{}", human.stdout);
    assert!(human.messages().is_empty(), "human stdout has no JSON: {}", human.stdout);

    // The same build again, as JSON: the package is cached and the tar is byte-identical.
    let json = t.build("hello", &[]).run();
    json.success();
    let m = json.messages();
    assert!(json.stdout.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "{}", json.stdout);
    assert!(m.iter().any(|m| m["reason"] == "package-cached" && m["package"] == "hello"), "{m:?}");
    assert!(json.built().is_empty());
    let out = json.output("tar");
    assert_eq!(out["path"], "out/hello.tar");
    assert!(tar.ends_with(&format!("sha256:{}", out["sha256"].as_str().unwrap())), "{tar} vs {out}");
    let done = m.last().expect("messages");
    assert_eq!(done["reason"], "image-built");
    assert_eq!(done["reference"], "docker.io/library/hello:1.0");
    for stage in ["plan", "build", "assemble", "export", "record"] {
        assert!(done["stages"][stage].as_f64().is_some(), "stage {stage} timed: {done}");
    }
    assert_eq!(m.iter().filter(|m| m["reason"] == "output" && m["format"] == "record").count(), 4);
}

#[test]
fn a_cache_dir_that_is_not_utf8_is_a_usage_error_naming_it() {
    // Regression: a non-UTF-8 `COMPOSE_CACHE_DIR` was silently ignored (another cache was used), and a
    // non-UTF-8 `--cache-dir` reached the sandbox, whose spec `expect`ed UTF-8 paths.
    use std::os::unix::ffi::OsStrExt;
    let t = hello();
    let mut bad = t.path("cache-").into_os_string();
    bad.push(std::ffi::OsStr::from_bytes(b"\xff"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_compose"))
        .current_dir(t.path(""))
        .args(["build", "recipes/hello.toml", "--toolchain", "stub", "-o", "out"])
        .env("COMPOSE_CACHE_DIR", &bad)
        .env("COMPOSE_CONFIG", t.path("config.toml"))
        .env("NO_COLOR", "1")
        .env_remove("COMPOSE_OFFLINE")
        .env_remove("COMPOSE_MIRRORS")
        .env_remove("COMPOSE_JOBS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let shown = format!("{}", std::path::Path::new(&bad).display());
    assert!(stderr.contains(&format!("the cache directory `{shown}` is not valid UTF-8")), "{stderr}");
    assert!(stderr.contains("--cache-dir"), "{stderr}");
    assert!(!std::path::Path::new(&bad).exists(), "nothing is created under the refused path");
}

/// Regression: a build killed mid-export left `.compose-<pid>-*` temp files and staging directories in
/// the output directory for good. The next export removes those of dead processes, never a live one's.
#[test]
fn an_export_sweeps_what_killed_exports_left_in_the_output_directory() {
    let t = hello().build("hello", &[]);
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let live = std::process::id();
    std::fs::create_dir_all(t.path(&format!("out/.compose-{dead}-stage/layout"))).unwrap();
    std::fs::write(t.path(&format!("out/.compose-{dead}-tmp")), "half a tar").unwrap();
    std::fs::write(t.path(&format!("out/.compose-{live}-tmp")), "another compose, still writing").unwrap();
    t.run().success();
    assert!(!t.path(&format!("out/.compose-{dead}-stage")).exists());
    assert!(!t.path(&format!("out/.compose-{dead}-tmp")).exists());
    assert!(t.path(&format!("out/.compose-{live}-tmp")).exists(), "a live process's temp file stays");
}
