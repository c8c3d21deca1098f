//! Host prerequisites: a missing host tool stops the build before anything starts and names the
//! Debian package; `compose doctor` lists every prerequisite of a recipe set.

use crate::harness::{E, Test, recipe};

fn fixture(tools: &str) -> Test {
    let text =
        recipe("hello", "hello-1.0.tar.gz", &[], &[], "mkdir -p \"$DESTDIR/bin\"\ncp hello.sh \"$DESTDIR/bin/hello\"")
            .replace("style = \"custom\"", &format!("style = \"custom\"\nhost_tools = [{tools}]"));
    Test::new()
        .tarball("hello-1.0.tar.gz", &[E::Dir("hello-1.0"), E::File("hello-1.0/hello.sh", "#!/bin/sh\n", 0o755)])
        .recipe("hello", &text)
}

#[test]
fn a_missing_host_tool_fails_before_anything_builds_and_names_the_package() {
    let t = fixture("\"sh\", \"no-such-tool-xyz:xyz-tools\", \"libtoolize-not-here\"").build("hello", &[]);
    let r = t.run();
    r.code(14).stderr_has("`no-such-tool-xyz` (Debian package `xyz-tools`, needed by hello)");
    r.stderr_has("apt-get install libtoolize-not-here xyz-tools");
    assert!(r.built().is_empty() && !r.stderr.contains("fetch"), "nothing started:\n{}", r.stderr);
    assert!(!t.path("out").exists());

    let t = fixture("\"sh\", \"cat\"").build("hello", &[]);
    t.run().success();
}

#[test]
fn doctor_lists_every_prerequisite_and_whether_it_is_here() {
    let t = fixture("\"sh\", \"no-such-tool-xyz:xyz-tools\"").args(&[
        "doctor",
        "recipes/hello.toml",
        "--toolchain",
        "stub",
    ]);
    let r = t.run();
    r.code(14).stdout_has("sandbox").stderr_has("apt-get install xyz-tools");
    let line = |cmd: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{cmd} ")))
            .unwrap_or_else(|| panic!("{cmd}: {}", r.stdout))
            .to_string()
    };
    assert!(line("no-such-tool-xyz").contains("xyz-tools") && line("no-such-tool-xyz").contains("MISSING"));
    assert!(line("sh").contains("/bin/sh") || line("sh").contains("/usr/bin/sh"), "{}", line("sh"));
    assert!(line("sh").ends_with("hello"));
    // Whether foreign (cross-built) images can run here, and what to install: optional, never an error.
    for arch in ["aarch64", "riscv64"] {
        let l = line(&format!("qemu {arch}"));
        assert!(l.contains("qemu-user-static") && l.contains("binfmt") && l.ends_with("optional)"), "{l}");
    }

    let t = fixture("\"sh\"").args(&["doctor", "recipes/hello.toml", "--toolchain", "stub"]);
    t.run().success().stderr_has("every host tool");
    let bad = fixture("\"sh;rm\"").args(&["doctor", "recipes/hello.toml", "--toolchain", "stub"]);
    bad.run().code(3).stderr_has("build.host_tools[0]");
}
