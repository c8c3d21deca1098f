//! Several `compose build` processes on one cache at once (issue 16: two of three concurrent builds of
//! one recipe failed on the shared `work/<name>/`). They must all succeed, build each package once
//! between them (the others wait on its build lock and take the stored artifact), and write the same
//! bytes as a lone build.

use std::time::{Duration, Instant};

use crate::harness::{E, Run, Test, recipe, sha256_file};

/// A chain `base` <- `mid` <- `app`, plus `app2` on `mid` too; every install sleeps so that concurrent
/// runs overlap on each package.
fn project() -> Test {
    let step = |dep: &str, file: &str| {
        let read = if dep.is_empty() {
            String::new()
        } else {
            format!("cat \"$SYSROOT/share/{dep}\" >> \"$DESTDIR/share/$PACKAGE\"\n")
        };
        format!("sleep {file}\nmkdir -p \"$DESTDIR/share\"\necho $PACKAGE > \"$DESTDIR/share/$PACKAGE\"\n{read}")
    };
    Test::new()
        .tarball("src.tar.gz", &[E::File("src/x", "x", 0o644)])
        .recipe("base", &recipe("base", "src.tar.gz", &[], &[], &step("", "2")))
        .recipe("mid", &recipe("mid", "src.tar.gz", &["base"], &[], &step("base", "1")))
        .recipe("app", &recipe("app", "src.tar.gz", &["mid"], &[], &step("mid", "1")))
        .recipe("app2", &recipe("app2", "src.tar.gz", &["mid"], &[], &step("mid", "1")))
}

/// The sha256 of every output a run in `t` reported (format, file name, digest), records read from disk.
pub fn outputs(t: &Test, r: &Run) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = r
        .messages()
        .into_iter()
        .filter(|m| m["reason"] == "output")
        .map(|m| {
            let path = t.dir.path().join(m["path"].as_str().unwrap());
            let sha = match m["sha256"].as_str() {
                Some(s) => s.to_string(),
                None => sha256_file(&path),
            };
            (m["format"].as_str().unwrap().to_string(), path.file_name().unwrap().to_string_lossy().into_owned(), sha)
        })
        .collect();
    v.sort();
    v
}

const FORMATS: [&str; 2] = ["--format", "tar,oci-archive,oci"];

/// `compose build` of `image` into `out`, for `Test::spawn` or `Test::run_with`.
fn args<'a>(recipe: &'a str, out: &'a str) -> Vec<&'a str> {
    vec!["build", recipe, "--toolchain", "stub", "-o", out, "--message-format", "json", FORMATS[0], FORMATS[1]]
}

/// A lone build of `image` in the project, with its own cache (`cache-lone`) and output directory
/// (`lone-<image>`): its outputs, and how long it took. (Another project would have other recipe
/// texts: the fixture URLs name the project's directory.)
fn lone(t: &Test, image: &str) -> (Vec<(String, String, String)>, Duration) {
    let (recipe, out) = (format!("recipes/{image}.toml"), format!("lone-{image}"));
    let cache = t.path("cache-lone").display().to_string();
    let started = Instant::now();
    let r = t.run_with(&args(&recipe, &out), &[("COMPOSE_CACHE_DIR", &cache)]);
    r.success();
    (outputs(t, &r), started.elapsed())
}

/// Runs one process per image at once on one cache (`cache`) and one output directory (`out`).
fn together(t: &Test, images: &[&str]) -> (Vec<Run>, Duration) {
    let started = Instant::now();
    let recipes: Vec<String> = images.iter().map(|i| format!("recipes/{i}.toml")).collect();
    let children: Vec<_> = recipes.iter().map(|r| t.spawn(&args(r, "out"))).collect();
    let runs: Vec<Run> = children.into_iter().map(Run::of).collect();
    let took = started.elapsed();
    for r in &runs {
        r.success();
    }
    (runs, took)
}

/// Every package started exactly once across `runs`, and someone waited for another's build.
#[track_caller]
fn each_built_once_and_someone_waited(runs: &[Run], packages: &[&str]) {
    let mut started: Vec<String> = runs.iter().flat_map(Run::built).collect();
    started.sort();
    assert_eq!(started, packages, "each package is compiled once between all the processes");
    let waited = runs.iter().filter(|r| r.stderr.contains("waiting for another compose building ")).count();
    assert!(waited >= 1, "nobody waited:\n{}", runs.iter().map(|r| r.stderr.as_str()).collect::<String>());
    let waits: usize =
        runs.iter().map(|r| r.messages().iter().filter(|m| m["reason"] == "package-waiting").count()).sum();
    assert!(waits >= 1, "the wait is a JSON event too");
}

#[test]
fn three_concurrent_builds_of_one_image_share_the_work_and_agree() {
    // Regression (issue 16): "cannot clean the old work directory" and "cannot write .../unpack-0".
    let t = project();
    let (want, alone) = lone(&t, "app");
    let (runs, took) = together(&t, &["app", "app", "app"]);
    for r in &runs {
        assert_eq!(outputs(&t, r), want, "same bytes as a lone build");
    }
    each_built_once_and_someone_waited(&runs, &["app", "base", "mid"]);
    eprintln!(
        "timing: one build alone {:.2}s; three at once on one cache {:.2}s",
        alone.as_secs_f64(),
        took.as_secs_f64()
    );
}

#[test]
fn two_concurrent_builds_of_images_sharing_packages_build_each_once() {
    let t = project();
    let ((want1, a1), (want2, a2)) = (lone(&t, "app"), lone(&t, "app2"));
    let (runs, took) = together(&t, &["app", "app2"]);
    assert_eq!(outputs(&t, &runs[0]), want1);
    assert_eq!(outputs(&t, &runs[1]), want2);
    each_built_once_and_someone_waited(&runs, &["app", "app2", "base", "mid"]);
    eprintln!(
        "timing: app alone {:.2}s, app2 alone {:.2}s; both at once on one cache {:.2}s",
        a1.as_secs_f64(),
        a2.as_secs_f64(),
        took.as_secs_f64()
    );
}
