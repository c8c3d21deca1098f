//! `compose cache du` and `compose cache prune` on fixture caches: sizes by kind that add up, a prune
//! that keeps exactly what the current settings need (so the next build rebuilds nothing and gives the
//! same bytes), `--keep-last`, `--max-size`, `--dry-run`, `--sources`, and a prune that waits for a
//! running build.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::fixture_build::chain;
use crate::harness::{E, Test, recipe, sha256_file};

const OTHER_SDE: (&str, &str) = ("SOURCE_DATE_EPOCH", "1700000001");

fn du(t: &Test) -> serde_json::Value {
    let r = t.run_with(&["cache", "du", "--json"], &[]);
    r.success();
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn kind(du: &serde_json::Value, kind: &str) -> (u64, u64) {
    let k = du["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == kind).unwrap();
    (k["entries"].as_u64().unwrap(), k["bytes"].as_u64().unwrap())
}

/// The names in `cache/artifacts-v1/`.
fn artifacts(t: &Test) -> BTreeSet<String> {
    let dir = std::fs::read_dir(t.path("cache/artifacts-v1")).unwrap();
    dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// `name-key` of every package `recipe` needs under `env`, from `build --dry-run` (all cached).
fn current(t: &Test, recipe: &str, env: &[(&str, &str)]) -> BTreeSet<String> {
    let path = format!("recipes/{recipe}.toml");
    let a = ["build", &path, "--toolchain", "stub", "--dry-run", "--message-format", "json"];
    let r = t.run_with(&a, env);
    r.success();
    let steps = r.messages().into_iter().filter(|m| m["reason"] == "plan-step");
    steps.map(|m| format!("{}-{}", m["package"].as_str().unwrap(), m["key"].as_str().expect("cached: a key"))).collect()
}

fn prune(t: &Test, extra: &[&str]) -> crate::harness::Run {
    let mut a = vec!["cache", "prune", "--toolchain", "stub"];
    a.extend_from_slice(extra);
    let r = t.run_with(&a, &[]);
    r.success();
    r
}

/// `chain()` (app needs lib, and other at run time) built under two SOURCE_DATE_EPOCHs.
fn built_twice() -> Test {
    let t = chain();
    t.run().success();
    t.run_with(&["build", "recipes/app.toml", "--toolchain", "stub", "-o", "out2"], &[OTHER_SDE]).success();
    t
}

#[test]
fn du_lists_every_kind_with_two_keys_per_package_and_adds_up() {
    let t = built_twice();
    let d = du(&t);
    assert_eq!(d["unit"], "disk-usage");
    let kinds: Vec<&str> = d["kinds"].as_array().unwrap().iter().map(|k| k["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["sources", "artifacts", "exports", "logs", "work", "other"]);
    let sum: u64 = kinds.iter().map(|k| kind(&d, k).1).sum();
    assert_eq!(sum, d["total"].as_u64().unwrap(), "the kinds add up to the total: {d}");
    let pkgs = d["packages"].as_array().unwrap();
    let names: Vec<&str> = pkgs.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["app", "lib", "other"]);
    assert!(pkgs.iter().all(|p| p["keys"] == 2), "two SOURCE_DATE_EPOCHs, two keys each: {d}");
    let pkg_sum: u64 = pkgs.iter().map(|p| p["bytes"].as_u64().unwrap()).sum();
    assert!(pkg_sum > 0 && pkg_sum <= kind(&d, "artifacts").1);
    assert_eq!(kind(&d, "artifacts").0, 6);
    // A log per key (`logs/<name>-<key12>.log`) and a link per package (`logs/<name>.log`).
    assert_eq!((kind(&d, "sources").0, kind(&d, "logs").0), (1, 9));
    assert!(kind(&d, "exports").0 >= 2, "one memo entry per exported tree: {d}");
    let r = t.run_with(&["cache", "du"], &[]);
    r.success().stdout_has("sources").stdout_has("exports").stdout_has("logs").stdout_has("work");
    r.stdout_has("artifacts (3 pkgs)").stdout_has("2 keys").stdout_has("total");
}

#[test]
fn prune_keeps_exactly_the_current_keys_and_the_next_build_rebuilds_nothing() {
    let t = built_twice();
    let first_tar = sha256_file(&t.path("out/app.tar"));
    let now = current(&t, "app", &[]);
    let other = current(&t, "app", &[OTHER_SDE]);
    assert_eq!((now.len(), other.len(), artifacts(&t).len()), (3, 3, 6));

    // --dry-run lists what would go and removes nothing.
    let before = artifacts(&t);
    let r = prune(&t, &["--dry-run"]);
    for a in &other {
        r.stdout_has("would remove  artifacts").stdout_has(a);
    }
    r.stderr_has("dry run: ");
    assert_eq!(artifacts(&t), before);
    assert!(kind(&du(&t), "exports").0 > 0, "the dry run left the memo");

    // --keep-last 2 keeps both keys of every package.
    prune(&t, &["--keep-last", "2"]);
    assert_eq!(artifacts(&t), before);

    let r = prune(&t, &[]);
    r.stdout_has("removed ").stderr_has("freed ");
    assert_eq!(artifacts(&t), now, "exactly the keys of the current settings stay");
    let d = du(&t);
    assert_eq!(kind(&d, "exports").0, 0, "the export memo is cleared: {d}");
    assert!(d["packages"].as_array().unwrap().iter().all(|p| p["keys"] == 1));
    // The removed keys' logs go with them; the kept keys' logs and the per-package links stay.
    assert_eq!(kind(&d, "logs").0, 6, "{d}");
    r.stdout_has("log of a removed artifact");

    let r = t.run();
    r.success();
    assert_eq!(r.built(), Vec::<String>::new(), "nothing rebuilds after a prune");
    assert_eq!(sha256_file(&t.path("out/app.tar")), first_tar, "the same bytes");
    // And under the other epoch, everything rebuilds: its keys are gone.
    let r = t.run_with(
        &["build", "recipes/app.toml", "--toolchain", "stub", "-o", "out2", "--message-format", "json"],
        &[OTHER_SDE],
    );
    assert_eq!(r.built(), ["app", "lib", "other"]);
}

#[test]
fn max_size_evicts_the_least_recently_used_artifacts() {
    let t = chain();
    t.run_with(&["build", "recipes/lib.toml", "--toolchain", "stub", "-o", "out"], &[]).success();
    std::thread::sleep(Duration::from_millis(50));
    t.run_with(&["build", "recipes/other.toml", "--toolchain", "stub", "-o", "out"], &[]).success();
    prune(&t, &[]);
    let lib = current(&t, "lib", &[]);
    let other = current(&t, "other", &[]);
    assert_eq!(artifacts(&t), lib.union(&other).cloned().collect());
    // One byte under the current size: lib, used least recently, goes; other stays.
    let total = du(&t)["total"].as_u64().unwrap();
    let r = prune(&t, &["--max-size", &(total - 1).to_string()]);
    r.stdout_has("least recently used, over --max-size");
    assert_eq!(artifacts(&t), other);
    assert!(du(&t)["total"].as_u64().unwrap() < total);
    // A size in binary units.
    prune(&t, &["--max-size", "1K"]);
    assert!(artifacts(&t).is_empty(), "nothing fits in 1 KiB");
    let r = t.run_with(&["cache", "prune", "--toolchain", "stub", "--max-size", "10X"], &[]);
    r.code(2).stderr_has("`10X` is not a size");
}

#[test]
fn sources_logs_and_artifacts_of_a_package_outside_the_set() {
    let t = chain().tarball("extra-1.0.tar.gz", &[E::File("extra/x", "extra", 0o644)]).recipe(
        "extra",
        &recipe("extra", "extra-1.0.tar.gz", &[], &[], "mkdir -p \"$DESTDIR/etc\"; echo e > \"$DESTDIR/etc/e\""),
    );
    t.run().success();
    t.run_with(&["build", "recipes/extra.toml", "--toolchain", "stub", "-o", "out"], &[]).success();
    let extra_sha = sha256_file(&t.path("dl/extra-1.0.tar.gz"));
    let used_sha = sha256_file(&t.path("dl/src.tar.gz"));
    std::fs::remove_file(t.path("recipes/extra.toml")).unwrap();

    let r = prune(&t, &[]);
    r.stdout_has("logs/extra.log").stdout_has("artifacts-v1/extra-");
    assert!(!t.path("cache/logs/extra.log").exists() && t.path("cache/logs/app.log").exists());
    assert!(!artifacts(&t).iter().any(|a| a.starts_with("extra-")));
    assert!(t.path(&format!("cache/sources-v1/{extra_sha}")).exists(), "sources stay without --sources");

    prune(&t, &["--sources"]).stdout_has(&format!("sources-v1/{extra_sha}"));
    assert!(!t.path(&format!("cache/sources-v1/{extra_sha}")).exists());
    assert!(t.path(&format!("cache/sources-v1/{used_sha}")).exists(), "a source the recipes name stays");
}

#[test]
fn stale_work_dirs_half_commits_and_lock_files_go() {
    let t = chain();
    t.run().success();
    let lib = current(&t, "app", &[]).into_iter().find(|a| a.starts_with("lib-")).unwrap();
    for d in ["cache/work/app", "cache/work/app.sysroot/usr", "cache/artifacts-v1/.tmp-lib-x-1/tree"] {
        std::fs::create_dir_all(t.path(d)).unwrap();
    }
    std::fs::write(t.path(&format!("cache/artifacts-v1/{lib}.lock")), "1").unwrap();
    std::fs::write(t.path("cache/artifacts-v1/gone-0.lock"), "1").unwrap();
    prune(&t, &[]);
    assert!(std::fs::read_dir(t.path("cache/work")).unwrap().next().is_none(), "work/ is empty");
    let left = artifacts(&t);
    assert!(left.contains(&lib) && left.contains(&format!("{lib}.lock")), "a kept artifact keeps its lock: {left:?}");
    assert!(!left.iter().any(|a| a.starts_with(".tmp-") || a == "gone-0.lock"), "{left:?}");
    assert_eq!(t.run().built(), Vec::<String>::new());
}

#[test]
fn prune_waits_for_a_running_build_which_still_succeeds() {
    let slow = r#"sleep 2; mkdir -p "$DESTDIR/etc"; echo slow > "$DESTDIR/etc/slow""#;
    let t = Test::new()
        .tarball("src.tar.gz", &[E::File("src/x", "x", 0o644)])
        .recipe("slow", &recipe("slow", "src.tar.gz", &[], &[], slow));
    let args = ["build", "recipes/slow.toml", "--toolchain", "stub", "-o", "out", "--message-format", "json"];
    let mut build = t
        .command(&args, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the install phase (its `sleep 2`) from the build's own JSON events.
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(build.stdout.take().unwrap()));
    let mut stdout = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        stdout.push_str(&line);
        stdout.push('\n');
        if line.contains(r#""phase":"install""#) {
            break;
        }
    }
    assert!(stdout.contains(r#""phase":"install""#), "the build never started its install phase:\n{stdout}");
    let r = prune(&t, &[]);
    r.stderr_has("waiting for running builds to finish (cache.lock)");
    for line in lines {
        stdout.push_str(&line.unwrap());
        stdout.push('\n');
    }
    let out = build.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(crate::harness::started_packages(&stdout), ["slow"]);
    assert_eq!(artifacts(&t), current(&t, "slow", &[]), "the fresh artifact is needed, so it stays");
    assert_eq!(t.build("slow", &[]).run().built(), Vec::<String>::new());
}
