//! Bad recipes are reported with the file, the line and column or the field, and a distinct exit code.

use crate::harness::{E, Test, recipe};

fn hello() -> Test {
    Test::new().tarball("hello-1.0.tar.gz", &[E::File("hello-1.0/hello.sh", "#!/bin/sh\necho hello\n", 0o755)])
}

#[test]
fn malformed_toml_names_line_and_column() {
    let t = hello().file("recipes/bad.toml", "[package]\nname = \"bad\"\nversion = 1.0.0\n").build("bad", &[]);
    t.run().code(3).stderr_has("recipes/bad.toml:3:").stderr_has("error:");
}

#[test]
fn unknown_key_is_an_error_naming_the_key() {
    let text = recipe("hello", "hello-1.0.tar.gz", &[], &[], "true").replace("[build]\n", "[build]\nparallel = true\n");
    let t = hello().recipe("hello", &text).build("hello", &[]);
    let r = t.run();
    r.code(3).stderr_has("unknown field `parallel`").stderr_has("recipes/hello.toml:");
    let line = text.lines().position(|l| l.starts_with("parallel")).unwrap() + 1;
    r.stderr_has(&format!("hello.toml:{line}:1"));
}

#[test]
fn invalid_field_names_the_field_and_the_fix() {
    let text =
        recipe("hello", "hello-1.0.tar.gz", &[], &[], "true").replace("style = \"custom\"", "style = \"cmake-please\"");
    hello()
        .recipe("hello", &text)
        .build("hello", &[])
        .run()
        .code(3)
        .stderr_has("field `build.style`")
        .stderr_has("hint: use `make`, `autotools`, `cmake`, `meson` or `custom`");
}

#[test]
fn source_dir_is_for_cmake_and_meson_only_and_stays_inside_the_source() {
    let base = recipe("hello", "hello-1.0.tar.gz", &[], &[], "true");
    let text = base.replace("style = \"custom\"", "style = \"make\"\nsource_dir = \"build\"");
    let r = hello().recipe("hello", &text).build("hello", &[]).run();
    r.code(3).stderr_has("field `build.source_dir`: only styles `cmake` and `meson` take `source_dir`");
    let text = base.replace("style = \"custom\"", "style = \"meson\"\nsource_dir = \"../up\"");
    let r = hello().recipe("hello", &text).build("hello", &[]).run();
    r.code(3).stderr_has("`../up` must be a relative path without `..`");
}

#[test]
fn cycle_is_reported_whole() {
    let t = Test::new()
        .tarball("a.tar.gz", &[E::File("a/x", "x", 0o644)])
        .recipe("a", &recipe("a", "a.tar.gz", &["b"], &[], "true"))
        .recipe("b", &recipe("b", "a.tar.gz", &[], &["c"], "true"))
        .recipe("c", &recipe("c", "a.tar.gz", &["a"], &[], "true"))
        .build("a", &[]);
    let r = t.run();
    r.code(4).stderr_has("dependency cycle:");
    let line = r.stderr.lines().find(|l| l.contains("dependency cycle")).unwrap();
    for n in ["a", "b", "c"] {
        assert!(line.contains(&format!("{n} -> ")) || line.ends_with(n), "{line}");
    }
}

#[test]
fn missing_dependency_names_what_and_who() {
    let t = Test::new()
        .tarball("a.tar.gz", &[E::File("a/x", "x", 0o644)])
        .recipe("a", &recipe("a", "a.tar.gz", &["zlib"], &[], "true"))
        .build("a", &[]);
    t.run().code(4).stderr_has("`a` depends on `zlib`").stderr_has("recipes/zlib.toml");
}

#[test]
fn unknown_toolchain_is_a_clear_error() {
    let t = hello().recipe("hello", &recipe("hello", "hello-1.0.tar.gz", &[], &[], "true")).args(&[
        "build",
        "recipes/hello.toml",
        "--toolchain",
        "nope",
    ]);
    t.run().code(3).stderr_has("toolchain `nope` not found");
}

/// `package.targets`: a package asked for a target it does not list is refused while loading (exit 3),
/// naming the recipe, the package and the target, before anything is fetched or built, even when it
/// is a dependency; a package that lists the toolchain's target builds.
#[test]
fn a_target_the_recipe_does_not_list_is_refused_before_anything_builds() {
    let only_arm = |name: &str, deps: &[&str]| {
        recipe(name, "a.tar.gz", deps, &[], "true").replace(
            "description = \"fixture\"\n",
            "description = \"fixture\"\ntargets = [\"aarch64-linux-musl\", \"riscv64-linux-musl\"]\n",
        )
    };
    let t = Test::new()
        .tarball("a.tar.gz", &[E::File("a/x", "x", 0o644)])
        .recipe("lib", &only_arm("lib", &[]))
        .recipe("app", &recipe("app", "a.tar.gz", &["lib"], &[], "true"))
        .build("app", &[]);
    let r = t.run();
    r.code(3).stderr_has("recipes/lib.toml: field `package.targets`: `lib` builds for `aarch64-linux-musl`");
    r.stderr_has("not for `x86_64-linux-musl` (toolchain `stub`)").stderr_has("hint:");
    assert!(r.built().is_empty() && !r.stderr.contains("fetch"), "nothing started:\n{}", r.stderr);

    let listed =
        only_arm("lib", &[]).replace("\"riscv64-linux-musl\"]", "\"riscv64-linux-musl\", \"x86_64-linux-musl\"]");
    let t = t.recipe("lib", &listed);
    assert_eq!(t.run().success().built(), ["app", "lib"]);

    let empty = only_arm("lib", &[]).replace("[\"aarch64-linux-musl\", \"riscv64-linux-musl\"]", "[]");
    t.recipe("lib", &empty).run().code(3).stderr_has("field `package.targets`: must not be empty");
}
