//! Exact incremental builds: early cutoff, and `compose explain` / `-v` naming the input that changed
//! with its old and new digest.

use crate::fixture_build::chain;
use crate::harness::{E, recipe};

const LIB: &str = r#"mkdir -p "$DESTDIR/usr/lib"; echo lib-v1 > "$DESTDIR/usr/lib/data""#;

#[test]
fn a_dependency_rebuilt_to_identical_output_does_not_rebuild_its_dependents() {
    let t = chain();
    t.run().success();
    // A comment changes lib's recipe (so lib rebuilds) but not what it installs.
    let t = t.recipe("lib", &recipe("lib", "src.tar.gz", &[], &[], &format!("# reworded\n{LIB}")));
    let r = t.run();
    r.success().stderr_has("app: dependencies rebuilt to identical output; not rebuilt (early cutoff)");
    assert_eq!(r.built(), ["lib"]);
    // A real change to lib's output does rebuild app.
    let t = t.recipe("lib", &recipe("lib", "src.tar.gz", &[], &[], &LIB.replace("lib-v1", "lib-v3")));
    assert_eq!(t.run().built(), ["app", "lib"]);
}

#[test]
fn explain_names_each_kind_of_changed_input_with_old_and_new_digests() {
    let t = chain();
    t.run().success();
    let explain = |t: &crate::harness::Test, extra: &[&str]| {
        let mut a = vec!["explain", "app", "--toolchain", "stub"];
        a.extend_from_slice(extra);
        t.run_with(&a, &[])
    };
    let r = explain(&t, &[]);
    r.success().stdout_has("app: up to date").stdout_has("lib: up to date");

    // Recipe text.
    let t = t.recipe(
        "other",
        &recipe("other", "src.tar.gz", &[], &[], "mkdir -p \"$DESTDIR/etc\"; echo o2 > \"$DESTDIR/etc/other\""),
    );
    let r = explain(&t, &[]);
    r.success().stdout_has("other: rebuilds").stdout_has("recipe (text, patches or files) changed: ");
    assert!(r.stdout.contains(" -> "), "{}", r.stdout);

    // A dependency: lib's output changes, so app waits and then rebuilds for that reason.
    let t = t.recipe("lib", &recipe("lib", "src.tar.gz", &[], &[], &LIB.replace("lib-v1", "lib-v2")));
    let r = explain(&t, &[]);
    r.success().stdout_has("app: waits for `lib`, `other` to rebuild; it rebuilds only if their output changes");
    t.run().success();
    // The source tarball under every package changes.
    let t = t.tarball("src.tar.gz", &[E::File("src/x", "y", 0o644)]);
    for n in ["lib", "app", "other"] {
        let text = std::fs::read_to_string(t.path(&format!("recipes/{n}.toml"))).unwrap();
        let old_sha = text.lines().find(|l| l.starts_with("sha256")).unwrap().split('"').nth(1).unwrap().to_string();
        let new_sha = crate::harness::sha256_file(&t.path("dl/src.tar.gz"));
        std::fs::write(t.path(&format!("recipes/{n}.toml")), text.replace(&old_sha, &new_sha)).unwrap();
    }
    let r = explain(&t, &[]);
    r.success().stdout_has("lib: rebuilds").stdout_has("sources changed: ");

    // SOURCE_DATE_EPOCH, the sandbox flag and the toolchain file are inputs too.
    let r = t.run_with(&["explain", "app", "--toolchain", "stub"], &[("SOURCE_DATE_EPOCH", "1700000001")]);
    r.stdout_has("SOURCE_DATE_EPOCH changed: 1700000000 -> 1700000001");
    let r = explain(&t, &["--no-sandbox"]);
    r.stdout_has("sandbox changed: true -> false");
    let tc = std::fs::read_to_string(t.path("toolchains/stub.toml")).unwrap();
    std::fs::write(t.path("toolchains/stub.toml"), tc.replace("-O1", "-O2")).unwrap();
    explain(&t, &[]).stdout_has("toolchain file changed: ");
    std::fs::write(t.path("toolchains/stub.toml"), tc).unwrap();

    // -v during a build prints the same reasons.
    let r = t.run_with(&["build", "recipes/app.toml", "--toolchain", "stub", "-o", "out", "-v"], &[]);
    r.success().stderr_has("why: sources changed: ");
}

#[test]
fn timings_report_has_phases_cpu_and_the_critical_path() {
    let t = chain();
    let r = t.run_with(&["build", "recipes/app.toml", "--toolchain", "stub", "-o", "out", "--timings"], &[]);
    r.success().stdout_has("out/timings/app.timings.html");
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.path("out/timings/app.timings.json")).unwrap()).unwrap();
    let pkgs = j["packages"].as_array().unwrap();
    let get = |n: &str| pkgs.iter().find(|p| p["name"] == n).unwrap_or_else(|| panic!("{n} missing: {j}"));
    for n in ["lib", "app", "other"] {
        let phases: Vec<&str> =
            get(n)["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert!(
            phases.contains(&"unpack") && phases.contains(&"install") && phases.contains(&"commit"),
            "{n}: {phases:?}"
        );
        for p in get(n)["phases"].as_array().unwrap() {
            assert!(p["start"].as_f64().unwrap() <= p["end"].as_f64().unwrap());
        }
    }
    assert!(get("lib")["end"].as_f64().unwrap() <= get("app")["start"].as_f64().unwrap() + 0.05, "app waits for lib");
    let path: Vec<&str> = j["critical_path"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(path.last(), Some(&"app"), "{path:?}");
    assert!(path.len() == 2, "{path:?}");
    assert_eq!(get(path[0])["critical"], true);
    assert!(!j["cpu"].as_array().unwrap().is_empty(), "CPU samples");
    let html = std::fs::read_to_string(t.path("out/timings/app.timings.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Critical path") && html.contains(">app<"), "{html}");
}
