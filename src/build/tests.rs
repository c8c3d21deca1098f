//! Whole builds on tiny recipes with an injected job runner: no toolchain, no sandbox, no processes
//! besides the jobserver. They guard the drain loop's promises (a panicking job is an error naming its
//! package, never a hang) and the store's (a damaged artifact is rebuilt).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::artifact::{Artifact, ArtifactStore};
use super::job::Job;
use super::lock::WorkDir;
use super::*;
use crate::graph::BuildGraph;
use crate::report::Silent;

/// A project in `dir`: one source file, and a recipe per (name, build dependencies).
fn project(dir: &Path, packages: &[(&str, &[&str])]) -> (BuildGraph, Arc<crate::toolchain::Toolchain>) {
    let src = dir.join("src.tar");
    std::fs::write(&src, b"not really a tarball: the runner never opens it").unwrap();
    let sha = hex::encode(Sha256::digest(std::fs::read(&src).unwrap()));
    for (name, deps) in packages {
        let deps = deps.iter().map(|d| format!("\"{d}\"")).collect::<Vec<_>>().join(",");
        let text = format!(
            "[package]\nname=\"{name}\"\nversion=\"1\"\nlicense=\"MIT\"\nhomepage=\"\"\ndescription=\"\"\n\
             [[source]]\nurl=\"file://{}\"\nsha256=\"{sha}\"\n[dependencies]\nbuild=[{deps}]\n\
             [build]\nstyle=\"custom\"\ninstall=\"true\"\n",
            src.display()
        );
        std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
    }
    let tc = dir.join("tc.toml");
    std::fs::write(
        &tc,
        "[toolchain]\nname=\"tc\"\ntarget=\"x\"\npackages=[]\nrecipes=\".\"\n[compiler]\nhost_cc=\"cc\"\n",
    )
    .unwrap();
    let toolchain = crate::toolchain::load(tc.to_str().unwrap(), dir).unwrap();
    let roots: Vec<_> = packages.iter().map(|(n, _)| dir.join(format!("{n}.toml"))).collect();
    (BuildGraph::load(&roots, &toolchain).unwrap(), Arc::new(toolchain))
}

fn settings(dir: &Path, keep_going: bool) -> BuildSettings {
    BuildSettings {
        jobs: 2,
        sandboxed: false,
        cache_root: dir.join("cache"),
        source_date_epoch: 1,
        keep_going,
        fetch: FetchSettings { offline: true, ..Default::default() },
        phase_env: Vec::new(),
        remote: None,
    }
}

/// Commits a one-file tree for the package, without running anything.
fn fake_build(job: &Job, dirs: &WorkDir, store: &ArtifactStore) -> Result<Artifact, BuildError> {
    let name = &job.recipe.name;
    let dest = dirs.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join(name), name.as_bytes()).unwrap();
    store
        .commit(name, &job.recipe.version, &job.inputs, &dest, Duration::ZERO, None)
        .map_err(|source| BuildError::Store { package: name.clone(), source })
}

/// Builds `packages` on another thread with `fake_build`, except that `panics` panics; fails the test if
/// the build does not return within a minute. Returns the outcome and the packages the runner was given.
fn build_in(
    dir: &Path,
    packages: &[(&str, &[&str])],
    panics: &str,
    keep_going: bool,
) -> (Result<(), String>, Vec<String>) {
    let (dir, panics) = (dir.to_path_buf(), panics.to_string());
    let packages: Vec<(String, Vec<&'static str>)> =
        packages.iter().map(|(n, d)| (n.to_string(), d.iter().map(|s| &*s.to_string().leak()).collect())).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let list: Vec<(&str, &[&str])> = packages.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
        let (graph, _toolchain) = project(&dir, &list);
        let ran = Mutex::new(Vec::new());
        let runner = |job: &Job, dirs: &WorkDir, _: &jobserver::Client, store: &ArtifactStore, _: &dyn Fn(&str)| {
            ran.lock().unwrap().push(job.recipe.name.clone());
            if job.recipe.name == panics {
                panic!("injected failure in {panics}");
            }
            fake_build(job, dirs, store)
        };
        let janitor = Janitor::default();
        let r = build_with(&graph, &settings(&dir, keep_going), &Silent, &janitor, &runner);
        let _ = tx.send((r.map(|_| ()).map_err(|e| e.to_string()), ran.into_inner().unwrap()));
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("the build returned (a panicking job must not hang it)")
}

#[test]
fn a_panicking_job_is_an_error_naming_its_package_not_a_hang() {
    // Regression: a worker that panicked never sent `Done`, and the loop waited forever.
    let d = tempfile::tempdir().unwrap();
    let (r, _) = build_in(d.path(), &[("a", &[]), ("b", &[]), ("c", &["b"])], "b", false);
    let e = r.unwrap_err();
    assert!(e.contains("`b`: the build panicked: injected failure in b"), "{e}");
}

#[test]
fn with_keep_going_independent_jobs_finish_after_a_panic() {
    let d = tempfile::tempdir().unwrap();
    let packages: &[(&str, &[&str])] = &[("a", &[]), ("b", &[]), ("c", &["b"]), ("d", &["a"])];
    let (r, mut ran) = build_in(d.path(), packages, "b", true);
    assert!(r.unwrap_err().contains("`b`"));
    ran.sort();
    assert_eq!(ran, ["a", "b", "d"], "everything but the panicking job's dependent ran");
    let store = ArtifactStore::open(&d.path().join("cache")).unwrap();
    assert!(store.latest("a").is_some() && store.latest("d").is_some());
    assert!(store.latest("c").is_none());
}

#[test]
fn an_artifact_with_a_corrupt_meta_json_is_rebuilt() {
    // Regression: `commit` found the damaged entry in place and panicked on `get(..).expect(..)`.
    let d = tempfile::tempdir().unwrap();
    let packages: &[(&str, &[&str])] = &[("a", &[]), ("b", &["a"])];
    let (r, ran) = build_in(d.path(), packages, "none", false);
    r.unwrap();
    assert_eq!(ran, ["a", "b"]);
    let store = ArtifactStore::open(&d.path().join("cache")).unwrap();
    let a = store.latest("a").unwrap();
    std::fs::write(a.dir.join("meta.json"), b"{ half a meta").unwrap();
    assert!(store.get("a", &a.meta.key).is_none(), "a corrupt meta.json is no artifact");

    let (r, ran) = build_in(d.path(), packages, "none", false);
    r.unwrap();
    assert_eq!(ran, ["a"], "only the damaged package is rebuilt; `b` is cut off");
    let again = store.get("a", &a.meta.key).expect("the rebuilt artifact replaced the damaged one");
    assert_eq!(again.meta.tree_digest, a.meta.tree_digest);
}
