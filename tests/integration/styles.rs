//! The cmake and meson build styles (docs/recipes.md, "Build styles"). Tier `e2e` (they need cmake,
//! make, meson and ninja): tiny generated projects with the stub toolchain show that CMake's Makefiles
//! join compose's jobserver and that the meson build runs ninja with the jobserver's free tokens, and that
//! a shared library fails the install; the real zstd (meson) linking lz4 (cmake) and zlib with the musl
//! toolchain runs on the host, and (tier `cross`) under qemu for arm64.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::engines::{require, tool};
use crate::harness::{E, Test, started_packages};

/// Writes OUT (a C file defining `int NAME(void)`) after 0.5 s, printing how many probes run at once:
/// each generated file is one job of the build, so the highest count is the build's parallelism.
const PROBE: &str = r#"#!/bin/sh
d="$SRC/_probe"
mkdir -p "$d"
: >"$d/run.$$"
echo "probe: $(ls "$d" | grep -c '^run\.') running"
sleep 0.5
rm -f "$d/run.$$"
printf 'int %s(void) { return 1; }\n' "$2" >"$1"
"#;

const MAIN_C: &str = "int f1(void); int f2(void); int f3(void); int f4(void); int f5(void); int f6(void);\n\
int main(void) { return f1() + f2() + f3() + f4() + f5() + f6() - 6; }\n";

const CMAKE_LISTS: &str = r#"cmake_minimum_required(VERSION 3.14)
project(fix C)
set(gen)
foreach(i RANGE 1 6)
  add_custom_command(OUTPUT gen${i}.c COMMAND sh ${CMAKE_SOURCE_DIR}/probe.sh ${CMAKE_CURRENT_BINARY_DIR}/gen${i}.c f${i} VERBATIM)
  list(APPEND gen ${CMAKE_CURRENT_BINARY_DIR}/gen${i}.c)
endforeach()
add_library(fix ${gen})
add_executable(fixprog main.c)
target_link_libraries(fixprog fix)
install(TARGETS fix fixprog)
"#;

const MESON_BUILD: &str = r#"project('fix', 'c')
probe = find_program('probe.sh')
gen = []
foreach i : ['1', '2', '3', '4', '5', '6']
  gen += custom_target('gen' + i, output: 'gen' + i + '.c', command: [probe, '@OUTPUT@', 'f' + i])
endforeach
fix = static_library('fix', gen, install: true)
executable('fixprog', 'main.c', link_with: fix, install: true)
"#;

fn fixture_recipe(style: &str) -> String {
    format!(
        r#"[package]
name = "fix"
version = "1.0"
license = "MIT"
homepage = "https://example.org/fix"
description = "fixture"

[[source]]
url = "file://{{DL}}/fix-1.0.tar.gz"
sha256 = "{{SHA:fix-1.0.tar.gz}}"

[build]
style = "{style}"
source_dir = "proj"
"#
    )
}

/// The `fix` fixture of `style` built with `-j jobs` in a fresh project: (whether it built, its build log,
/// the project).
fn try_fixture(style: &str, build_file: (&str, &str), jobs: &str) -> (bool, String, Test) {
    let t = Test::new()
        .tarball(
            "fix-1.0.tar.gz",
            &[
                E::File("fix-1.0/proj/probe.sh", PROBE, 0o755),
                E::File("fix-1.0/proj/main.c", MAIN_C, 0o644),
                E::File(&format!("fix-1.0/proj/{}", build_file.0), build_file.1, 0o644),
            ],
        )
        .recipe("fix", &fixture_recipe(style))
        .build("fix", &["-j", jobs]);
    let log_path = t.path("cache/logs/fix.log");
    let r = t.run();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    if !r.output.status.success() {
        eprintln!("{}", r.stderr);
    }
    (r.output.status.success(), log, t)
}

/// As `try_fixture`, and it must build.
fn build_fixture(style: &str, build_file: (&str, &str), jobs: &str) -> (String, Test) {
    let (ok, log, t) = try_fixture(style, build_file, jobs);
    assert!(ok, "the {style} fixture failed to build:\n{log}");
    (log, t)
}

/// The most probes that ran at once, from the log.
fn most_at_once(log: &str) -> usize {
    log.lines()
        .filter_map(|l| l.strip_prefix("probe: ")?.strip_suffix(" running")?.trim().parse().ok())
        .max()
        .unwrap_or_else(|| panic!("no probe ran:\n{log}"))
}

fn require_cmake() {
    require("cmake", "cmake");
    require("make", "make");
}

fn require_meson() {
    require("meson", "meson");
    require("ninja", "ninja-build");
}

#[test]
#[ignore = "tier: e2e"]
fn e2e_cmake_style_builds_static_with_makefiles_that_join_the_jobserver() {
    require_cmake();
    let cmake = ("CMakeLists.txt", CMAKE_LISTS);
    // One token: CMake's recursive makes wait for the jobserver, one job at a time.
    let (log, _) = build_fixture("cmake", cmake, "1");
    assert_eq!(most_at_once(&log), 1, "-j 1: one job at a time\n{log}");
    // Four tokens, one held by the package: make takes the other three.
    let (log, t) = build_fixture("cmake", cmake, "4");
    let most = most_at_once(&log);
    assert!(most >= 2, "-j 4: the Makefiles ran {most} job(s) at once\n{log}");
    eprintln!("cmake fixture: at most {most} jobs at once with -j 4, 1 with -j 1");
    assert!(log.contains("-- Build files have been written to: /build/src/_compose"), "{log}");
    assert!(log.contains("toolchain.cmake"), "{log}");
    let listing = crate::harness::tar_listing(&t.path("out/fix.tar"));
    assert!(listing.iter().any(|e| e.0 == "usr/bin/fixprog"), "{listing:?}");
    let dest = t.path("cache");
    let libs: Vec<PathBuf> = walk(&dest).into_iter().filter(|p| p.ends_with("usr/lib/libfix.a")).collect();
    assert!(!libs.is_empty(), "libfix.a is in the artifact");

    // A shared library fails the install, naming it.
    let shared = CMAKE_LISTS.replace(
        "install(TARGETS fix fixprog)",
        "add_library(fixso SHARED main.c)\ninstall(TARGETS fix fixprog fixso)",
    );
    let (ok, log, _) = try_fixture("cmake", ("CMakeLists.txt", &shared), "2");
    assert!(!ok, "a shared library installed must fail the build");
    assert!(log.contains("style cmake installs static libraries only, but these are shared:"), "{log}");
    assert!(log.contains("libfixso.so"), "{log}");
}

#[test]
#[ignore = "tier: e2e"]
fn e2e_meson_style_builds_static_and_runs_ninja_with_the_free_jobserver_tokens() {
    require_meson();
    let meson = ("meson.build", MESON_BUILD);
    let (log, _) = build_fixture("meson", meson, "1");
    assert!(log.contains("took 0 free jobserver token(s) of 0: ninja -j 1"), "{log}");
    assert_eq!(most_at_once(&log), 1, "-j 1: one job at a time\n{log}");
    let (log, t) = build_fixture("meson", meson, "4");
    assert!(log.contains("took 3 free jobserver token(s) of 3: ninja -j 4"), "{log}");
    let most = most_at_once(&log);
    assert!(most >= 2, "-j 4: ninja ran {most} job(s) at once\n{log}");
    eprintln!("meson fixture: at most {most} jobs at once with -j 4, 1 with -j 1");
    assert!(log.contains("Build type: native build"), "the host's own target: a native file\n{log}");
    assert!(log.contains("default_library: static") && log.contains("b_staticpic    : false"), "{log}");
    let listing = crate::harness::tar_listing(&t.path("out/fix.tar"));
    assert!(listing.iter().any(|e| e.0 == "usr/bin/fixprog"), "{listing:?}");
    assert!(walk(&t.path("cache")).iter().any(|p| p.ends_with("usr/lib/libfix.a")), "libfix.a is in the artifact");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir).into_iter().filter_map(|e| e.ok()).map(|e| e.into_path()).collect()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `compose build recipes/NAME.toml [ARGS] -o OUT` in the repository with its own cache, timed.
fn compose(name: &str, args: &[&str], cache: &Path, out: &Path) -> (String, f64) {
    let started = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_compose"))
        .current_dir(repo())
        .args(["build", &format!("recipes/{name}.toml"), "--format", "tar", "--message-format", "json"])
        .args(args)
        .arg("-o")
        .arg(out)
        .env("COMPOSE_CACHE_DIR", cache)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("COMPOSE_DEBIAN_MIRROR")
        .output()
        .expect("run compose");
    let secs = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "compose build {name} {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    (stdout, secs)
}

/// Each package's build time, from the JSON lines (`built` events), for the test's output.
fn build_times(stdout: &str) -> String {
    crate::harness::messages(stdout)
        .iter()
        .filter(|m| m["reason"] == "package-built")
        .filter_map(|m| Some(format!("{} {:.1}s", m["package"].as_str()?, m["seconds"].as_f64()?)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unpack(tar: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let (ok, _, err) = tool("tar", &["-xf", tar.to_str().unwrap(), "-C", into.to_str().unwrap()]);
    assert!(ok, "unpack {}: {err}", tar.display());
}

/// Runs `argv` (a program and its arguments) and returns stdout, failing the test on a non-zero exit.
fn run(argv: &[&str]) -> String {
    let (ok, out, err) = tool(argv[0], &argv[1..]);
    assert!(ok, "{argv:?} failed: {out}{err}");
    out
}

/// zstd's round trip, `--format=lz4` and `--format=gzip` with `runner` (`[]` on the host, or qemu) in `dir`.
fn exercise_zstd(runner: &[&str], zstd: &Path, dir: &Path) {
    let input = dir.join("input.txt");
    let text: String = (0..20_000).map(|i| format!("line {i} of the zstd round trip\n")).collect();
    std::fs::write(&input, &text).unwrap();
    let z = zstd.to_str().unwrap();
    let cmd = |args: &[&str]| {
        let mut argv: Vec<&str> = runner.to_vec();
        argv.push(z);
        argv.extend(args);
        run(&argv)
    };
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    cmd(&["-q", "-f", &p("input.txt"), "-o", &p("input.zst")]);
    cmd(&["-q", "-d", "-f", &p("input.zst"), "-o", &p("back.txt")]);
    assert_eq!(std::fs::read_to_string(dir.join("back.txt")).unwrap(), text, "zstd round trip");
    // lz4 and gzip: written by the linked liblz4 (the cmake package) and zlib, read back by them too,
    // and by the host's gzip for the gzip stream.
    cmd(&["-q", "-f", "--format=lz4", &p("input.txt"), "-o", &p("input.lz4")]);
    let lz4 = std::fs::read(dir.join("input.lz4")).unwrap();
    assert_eq!(&lz4[..4], b"\x04\x22\x4d\x18", "an LZ4 frame");
    cmd(&["-q", "-d", "-f", &p("input.lz4"), "-o", &p("back-lz4.txt")]);
    assert_eq!(std::fs::read_to_string(dir.join("back-lz4.txt")).unwrap(), text, "lz4 round trip");
    cmd(&["-q", "-f", "--format=gzip", &p("input.txt"), "-o", &p("input.gz")]);
    assert_eq!(run(&["gzip", "-dc", &p("input.gz")]), text, "the host's gzip reads zstd's .gz");
    let version = cmd(&["-vV"]);
    assert!(version.contains("v1.5.7") && version.contains("gzip") && version.contains("lz4"), "{version}");
}

#[test]
#[ignore = "tier: e2e"]
fn e2e_zstd_links_the_cmake_lz4_and_zlib_and_runs_on_the_host() {
    require_cmake();
    require_meson();
    require("pkg-config", "pkgconf");
    require("gzip", "gzip");
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let (stdout, secs) = compose("zstd", &[], &cache, &d.path().join("out"));
    let started = started_packages(&stdout);
    for pkg in ["musl", "linux-headers", "lz4", "zlib", "zstd"] {
        assert!(started.iter().any(|p| p == pkg), "{pkg} was not built: {started:?}");
    }
    eprintln!("zstd from a cold cache: {secs:.1}s ({})", build_times(&stdout));
    let log = std::fs::read_to_string(cache.join("logs/zstd.log")).unwrap();
    let jobs = log.lines().find(|l| l.starts_with("compose: ninja")).expect("the meson build says how many jobs");
    eprintln!("zstd build: {jobs}");
    assert!(log.contains("Run-time dependency liblz4 found: YES 1.9.4"), "lz4 through pkg-config");
    assert!(log.contains("Run-time dependency zlib found: YES 1.3.1"), "zlib through pkg-config");

    // The lz4 image from the same cache: built already, nothing compiles.
    let (lz4_out, _) = compose("lz4", &[], &cache, &d.path().join("out"));
    assert!(started_packages(&lz4_out).is_empty(), "lz4 is cached: {lz4_out}");

    let root = d.path().join("root");
    unpack(&d.path().join("out/zstd.tar"), &root);
    unpack(&d.path().join("out/lz4.tar"), &root);
    for bin in ["usr/bin/zstd", "bin/lz4"] {
        let elf = std::fs::read(root.join(bin)).unwrap();
        assert_eq!(elf[18], 62, "{bin}: e_machine x86-64");
        assert!(!crate::e2e::has_interp(&elf), "{bin} is static (no PT_INTERP)");
    }
    assert_eq!(std::fs::read_link(root.join("usr/bin/unzstd")).unwrap(), Path::new("zstd"));
    assert!(!root.join("usr/bin/zstdgrep").exists(), "the shell scripts stay out of the image");
    exercise_zstd(&[], &root.join("usr/bin/zstd"), d.path());
    let lz4 = root.join("bin/lz4");
    let back = run(&[lz4.to_str().unwrap(), "-dc", d.path().join("input.lz4").to_str().unwrap()]);
    assert!(back.starts_with("line 0 of"), "lz4 reads zstd's .lz4");

    // A second build compiles nothing.
    let (again, secs) = compose("zstd", &[], &cache, &d.path().join("out2"));
    assert!(started_packages(&again).is_empty(), "nothing rebuilds: {again}");
    eprintln!("zstd again: {secs:.1}s");
}

#[test]
#[ignore = "tier: cross"]
fn cross_zstd_for_arm64_runs_under_qemu() {
    require_cmake();
    require_meson();
    require("pkg-config", "pkgconf");
    require("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
    require("qemu-aarch64-static", "qemu-user-static");
    require("gzip", "gzip");
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    let (stdout, secs) = compose("zstd", &["--platform", "linux/arm64"], &cache, &d.path().join("out"));
    eprintln!("zstd for arm64 from a cold cache: {secs:.1}s ({})", build_times(&stdout));
    let log = std::fs::read_to_string(cache.join("logs/zstd.log")).unwrap();
    assert!(log.contains("Build type: cross build"), "a meson cross file\n{log}");
    assert!(log.contains("cpu_family = 'aarch64'"), "{log}");
    let lz4_log = std::fs::read_to_string(cache.join("logs/lz4.log")).unwrap();
    assert!(lz4_log.contains("set(CMAKE_SYSTEM_PROCESSOR aarch64)"), "a CMake cross toolchain file\n{lz4_log}");

    let root = d.path().join("root");
    // A build for one named platform names its tar after it.
    unpack(&d.path().join("out/zstd-arm64.tar"), &root);
    let zstd = root.join("usr/bin/zstd");
    let (ok, what, _) = tool("file", &["-b", zstd.to_str().unwrap()]);
    assert!(ok && what.contains("ARM aarch64") && what.contains("statically linked"), "{what}");
    exercise_zstd(&["qemu-aarch64-static"], &zstd, d.path());
}
