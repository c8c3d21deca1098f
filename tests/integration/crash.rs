//! A build killed with SIGKILL at any moment leaves nothing a later run trusts wrongly (issue 16, part
//! 2): the next build on the same cache and output directory succeeds and writes the same bytes as an
//! uninterrupted build, no half artifact is ever visible, and no build process outlives compose.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use crate::concurrency::outputs;
use crate::harness::{E, Run, Test, recipe};

/// `base` <- `mid` <- `app`, each install sleeping a little so that kills land inside phases.
fn project() -> Test {
    let step = |dep: &str| {
        let read = if dep.is_empty() {
            String::new()
        } else {
            format!("cat \"$SYSROOT/share/{dep}\" >> \"$DESTDIR/share/$PACKAGE\"\n")
        };
        format!("sleep 0.3\nmkdir -p \"$DESTDIR/share\"\necho $PACKAGE > \"$DESTDIR/share/$PACKAGE\"\n{read}")
    };
    Test::new()
        .tarball("src.tar.gz", &[E::Dir("src"), E::File("src/x", "x", 0o644)])
        .recipe("base", &recipe("base", "src.tar.gz", &[], &[], &step("")))
        .recipe("mid", &recipe("mid", "src.tar.gz", &["base"], &[], &step("base")))
        .recipe("app", &recipe("app", "src.tar.gz", &["mid"], &["base"], &step("mid")))
}

fn args(out: &str) -> Vec<&str> {
    let f = ["--format", "tar,oci-archive,oci"];
    vec!["build", "recipes/app.toml", "--toolchain", "stub", "-o", out, "--message-format", "json", f[0], f[1]]
}

/// Regression guard for Ctrl-C (no test had it): SIGINT in a phase stops compose, no build process
/// outlives it, and the next build succeeds.
#[test]
fn ctrl_c_in_a_phase_stops_everything_and_the_next_build_succeeds() {
    let t = project();
    let mut child = t.spawn(&args("out"));
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if line.unwrap().contains(r#""phase":"install""#) {
            break;
        }
    }
    let int = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(int.success());
    assert!(!child.wait().unwrap().success());
    nothing_left_running(&t);
    t.run_with(&args("out"), &[]).success();
}

/// When to kill: the given milliseconds after the `nth` (1-based) JSON message with this reason (and
/// phase), or after a delay from the start.
enum At {
    Event(&'static str, Option<&'static str>, usize, u64),
    Delay(u64),
}

/// Starts a build on `cache` and `out`, SIGKILLs it at `at`; false if it finished first.
fn kill_at(t: &Test, at: &At) -> bool {
    let mut child = t.spawn(&args("out"));
    let stderr = child.stderr.take().unwrap();
    let drain = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    match at {
        At::Delay(ms) => std::thread::sleep(Duration::from_millis(*ms)),
        At::Event(reason, phase, nth, after) => {
            let mut seen = 0;
            for line in BufReader::new(child.stdout.take().unwrap()).lines() {
                let Ok(m) = serde_json::from_str::<serde_json::Value>(&line.unwrap()) else { continue };
                if m["reason"] == *reason && phase.is_none_or(|p| m["phase"] == p) {
                    seen += 1;
                    if seen == *nth {
                        std::thread::sleep(Duration::from_millis(*after));
                        break;
                    }
                }
            }
        }
    }
    let finished = child.try_wait().unwrap().is_some();
    child.kill().unwrap();
    child.wait().unwrap();
    drop(drain.join());
    !finished
}

/// Every artifact directory under its final name is whole: its `meta.json` parses and names it.
#[track_caller]
fn no_half_artifact(t: &Test) {
    let Ok(dir) = std::fs::read_dir(t.path("cache/artifacts-v1")) else { return };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".lock") {
            continue;
        }
        let meta = std::fs::read_to_string(e.path().join("meta.json")).unwrap_or_else(|err| panic!("{name}: {err}"));
        let meta: serde_json::Value = serde_json::from_str(&meta).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(format!("{}-{}", meta["name"].as_str().unwrap(), meta["key"].as_str().unwrap()), name);
        assert!(e.path().join("tree").is_dir(), "{name}");
    }
}

/// No process whose command line names the project (compose or its sandbox) is alive, within 10 s
/// (the parent-death signal is immediate; a loaded CI machine may take a while to reap).
#[track_caller]
fn nothing_left_running(t: &Test) {
    let needle = t.dir.path().to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.contains(&needle))
            .collect();
        if alive.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left running after the kill: {alive:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_build_killed_at_any_point_recovers_to_the_same_bytes() {
    let t = project();
    let cache_ref = t.path("cache-ref").display().to_string();
    let reference = t.run_with(&args("out-ref"), &[("COMPOSE_CACHE_DIR", &cache_ref)]);
    reference.success();
    let want = outputs(&t, &reference);
    // The `output` messages come only once everything is written, so the export and the records are
    // hit by delays after the last package is built (about 150 ms of work here).
    let points = [
        At::Event("phase-started", Some("unpack"), 1, 0),
        At::Event("phase-started", Some("install"), 1, 100),
        At::Event("phase-started", Some("commit"), 1, 0),
        At::Event("package-built", None, 1, 0),
        At::Event("phase-started", Some("sysroot"), 2, 0),
        At::Event("phase-started", Some("commit"), 3, 0),
        At::Event("package-built", None, 3, 0),
        At::Event("package-built", None, 3, 25),
        At::Event("package-built", None, 3, 50),
        At::Event("package-built", None, 3, 75),
        At::Event("package-built", None, 3, 100),
        At::Delay(150),
        At::Delay(900),
    ];
    let mut report = Vec::new();
    for (i, at) in points.iter().enumerate() {
        // Each kill starts from an empty cache and an old output directory from the last round.
        let _ = std::fs::remove_dir_all(t.path("cache"));
        let started = Instant::now();
        let killed = kill_at(&t, at);
        let when = started.elapsed();
        nothing_left_running(&t);
        no_half_artifact(&t);
        let r: Run = t.run_with(&args("out"), &[]);
        r.success();
        no_half_artifact(&t);
        assert_eq!(outputs(&t, &r), want, "point {i}: the recovered build writes the same bytes");
        let work: Vec<_> = std::fs::read_dir(t.path("cache/work")).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(work.is_empty(), "point {i}: left in work/: {work:?}");
        let tmp: Vec<_> = std::fs::read_dir(t.path("cache/artifacts-v1"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.') || n.ends_with(".lock"))
            .collect();
        assert!(tmp.is_empty(), "point {i}: left in artifacts-v1: {tmp:?}");
        let litter: Vec<_> = std::fs::read_dir(t.path("out"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        // A killed export's temp files are removed by the next export (`export::sweep`).
        assert!(litter.is_empty(), "point {i}: left in out/: {litter:?}");
        let state = if killed { "killed" } else { "finished" };
        let secs = when.as_secs_f64();
        report.push(format!("{i}: {state} at {secs:.2}s, rebuilt {:?}", r.built()));
    }
    eprintln!("kill points:\n{}", report.join("\n"));
}
