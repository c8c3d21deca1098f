//! The host compiler is an input (issue 17, part 5): a toolchain whose `compiler.host_cc` is a wrapper
//! script around the host `cc`. Changing the script (and its `--version` line) must rebuild every
//! package, `compose explain` must name the host compiler with its old and new version, and `--locked`
//! must refuse it.

use crate::fixture_build::chain;
use crate::harness::Test;

/// A `cc` that prints `VERSION` for `--version` and otherwise runs the host `cc`.
fn wrapper(version: &str) -> String {
    format!("#!/bin/sh\nif [ \"$1\" = --version ]; then echo '{version}'; exit 0; fi\nexec cc \"$@\"\n")
}

/// The fixture chain (app -> lib, other) on a stub toolchain driven by `hostcc/cc`.
fn with_wrapper(version: &str) -> Test {
    let t = chain();
    write_wrapper(&t, version);
    let tc = std::fs::read_to_string(t.path("toolchains/stub.toml")).unwrap();
    let cc = t.path("hostcc/cc").display().to_string();
    std::fs::write(t.path("toolchains/stub.toml"), tc.replace("host_cc = \"cc\"", &format!("host_cc = \"{cc}\"")))
        .unwrap();
    t
}

fn write_wrapper(t: &Test, version: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = t.path("hostcc/cc");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, wrapper(version)).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_changed_host_compiler_rebuilds_every_package_and_explain_names_it() {
    let t = with_wrapper("fixture-cc 1.0");
    assert_eq!(t.run().success().built(), ["app", "lib", "other"]);
    assert_eq!(t.run().success().built(), Vec::<String>::new(), "nothing changed, nothing rebuilds");

    write_wrapper(&t, "fixture-cc 2.0");
    let r = t.run_with(&["explain", "app", "--toolchain", "stub"], &[]);
    r.success()
        .stdout_has("lib: rebuilds")
        .stdout_has("other: rebuilds")
        .stdout_has("host compiler `cc` changed: fixture-cc 1.0 (sha256 ")
        .stdout_has(" -> fixture-cc 2.0 (sha256 ");
    // Only the driver changed: the programs it runs are the same.
    assert!(!r.stdout.contains("host compiler `as`"), "{}", r.stdout);
    // Keys cover dependencies' outputs, which do not change here: app is rebuilt for the compiler itself.
    assert_eq!(t.run().success().built(), ["app", "lib", "other"]);
}

#[test]
fn locked_refuses_a_host_compiler_that_differs_from_the_lock() {
    let t = with_wrapper("fixture-cc 1.0");
    t.run_with(&["lock", "recipes/app.toml", "--toolchain", "stub"], &[]).success();
    let lock = std::fs::read_to_string(t.path("recipes/app.lock")).unwrap();
    assert!(lock.contains("[[toolchain.host_tool]]") && lock.contains("fixture-cc 1.0"), "{lock}");
    let locked = t.build("app", &["--locked"]);
    locked.run().success();

    write_wrapper(&locked, "fixture-cc 2.0");
    let r = locked.run();
    r.code(12).stderr_has("host tool `cc`").stderr_has("fixture-cc 1.0").stderr_has("fixture-cc 2.0");
    assert_eq!(r.built(), Vec::<String>::new());
}

#[test]
fn a_missing_host_compiler_names_the_toolchain_field_and_the_fix() {
    let t = chain();
    let tc = std::fs::read_to_string(t.path("toolchains/stub.toml")).unwrap();
    std::fs::write(t.path("toolchains/stub.toml"), tc.replace("host_cc = \"cc\"", "host_cc = \"no-such-cc\"")).unwrap();
    let r = t.run();
    r.code(14).stderr_has("compiler.host_cc").stderr_has("no-such-cc").stderr_has("stub.toml").stderr_has("hint:");
    let r = t.run_with(&["explain", "app", "--toolchain", "stub"], &[]);
    r.code(14).stderr_has("compiler.host_cc");
}
