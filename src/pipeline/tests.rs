//! The whole pipeline, driven as a library: a project with one fixture recipe, a generated tarball and
//! the stub toolchain (the host `cc`, no packages), built without the sandbox (a sandboxed phase
//! re-enters the `compose` binary, which a test binary is not) and without spawning `compose`.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::*;
use crate::build::BuildSettings;
use crate::export::{Compression, Layering};
use crate::source::FetchSettings;

const STUB: &str = "[toolchain]\nname = \"stub\"\ntarget = \"x86_64-linux-musl\"\ndescription = \"host cc\"\n\
                    packages = []\n[compiler]\nhost_cc = \"cc\"\ncflags = \"-O1\"\n";

/// `recipes/hello.toml`, `toolchains/stub.toml` and `dl/hello-1.0.tar.gz` under `dir`.
fn project(dir: &Path, entrypoint: &str) {
    for d in ["recipes", "toolchains", "dl"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("toolchains/stub.toml"), STUB).unwrap();
    let tarball = dir.join("dl/hello-1.0.tar.gz");
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(&tarball).unwrap(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    let body = b"#!/bin/sh\necho hello\n";
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(body.len() as u64);
    h.set_mtime(1_600_000_000);
    b.append_data(&mut h, "hello-1.0/hello.sh", &body[..]).unwrap();
    b.into_inner().unwrap().finish().unwrap();
    let sha = hex::encode(Sha256::digest(std::fs::read(&tarball).unwrap()));
    let recipe = format!(
        "[package]\nname = \"hello\"\nversion = \"1.0\"\nlicense = \"MIT\"\nhomepage = \"https://example.org\"\n\
         description = \"fixture\"\n[[source]]\nurl = \"file://{}\"\nsha256 = \"{sha}\"\n\
         [build]\nstyle = \"custom\"\ninstall = '''\nmkdir -p \"$DESTDIR/bin\"\ncp hello.sh \"$DESTDIR/bin/hello\"\n'''\n\
         [config]\nentrypoint = [\"{entrypoint}\"]\n",
        tarball.display()
    );
    std::fs::write(dir.join("recipes/hello.toml"), recipe).unwrap();
}

fn request(dir: &Path, out: &str) -> BuildRequest {
    BuildRequest {
        platforms: Vec::new(),
        recipe: dir.join("recipes/hello.toml"),
        toolchain: "stub".into(),
        image: ImageOptions {
            out_dir: dir.join(out),
            formats: vec![Format::Tar, Format::OciArchive],
            tag: None,
            layering: Layering::Single,
            compression: Compression::Gzip,
        },
        settings: BuildSettings {
            jobs: 2,
            sandboxed: false,
            cache_root: dir.join("cache"),
            source_date_epoch: 1_700_000_000,
            keep_going: false,
            fetch: FetchSettings { offline: true, ..Default::default() },
            phase_env: Vec::new(),
            remote: None,
        },
        lock: LockPolicy { path: dir.join("recipes/hello.lock"), locked: false },
        timings: false,
    }
}

/// Counts the packages whose build started.
#[derive(Default)]
struct Started(Mutex<Vec<String>>);
impl Reporter for Started {
    fn on_build_start(&self, package: &str) {
        self.0.lock().unwrap().push(package.to_string());
    }
}

fn sha256(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
}

#[test]
fn a_request_runs_every_stage_and_the_outcome_names_every_file_with_its_digest() {
    let d = tempfile::tempdir().unwrap();
    project(d.path(), "/bin/hello");
    let started = Started::default();
    let o = plan(request(d.path(), "out")).unwrap().run(&started).unwrap();
    assert_eq!(*started.0.lock().unwrap(), ["hello"]);
    let stages: Vec<Stage> = o.stages.iter().map(|(s, _)| *s).collect();
    assert_eq!(stages, [Stage::Plan, Stage::Build, Stage::Assemble, Stage::Export, Stage::Record]);
    assert!(o.stage_time(Stage::Build) > Duration::ZERO);

    let tar = o.rootfs_tar.as_ref().expect("tar requested");
    assert_eq!(tar.path, d.path().join("out/hello.tar"));
    assert_eq!(tar.sha256, sha256(&tar.path), "the outcome's digest is the file's");
    assert_eq!(tar.size, std::fs::metadata(&tar.path).unwrap().len());
    let mut ar = tar::Archive::new(std::fs::File::open(&tar.path).unwrap());
    let names: Vec<String> =
        ar.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
    assert!(names.contains(&"bin/hello".to_string()), "{names:?}");

    let oci = o.oci.as_ref().expect("oci-archive requested");
    assert_eq!(oci.layers, 1);
    let [archive] = oci.files.as_slice() else { panic!("{:?}", oci.files) };
    assert_eq!(archive.path, d.path().join("out/hello.oci.tar"));
    assert_eq!(archive.sha256, sha256(&archive.path));
    assert!(oci.manifest_digest.starts_with("sha256:") && oci.index_digest.starts_with("sha256:"));

    let records: Vec<String> =
        o.records.iter().map(|r| r.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(records.len(), 4, "{records:?}");
    for r in &o.records {
        assert_eq!(std::fs::metadata(&r.path).unwrap().len(), r.size, "{}", r.path.display());
    }
    let provenance = o.records.iter().find(|r| r.path.to_string_lossy().ends_with(".provenance.json")).unwrap();
    let text = std::fs::read_to_string(&provenance.path).unwrap();
    assert!(text.contains(&tar.sha256) && text.contains(&archive.sha256), "every output is a subject");
    assert_eq!(o.reference.qualified(), "docker.io/library/hello:1.0");
    assert!(o.files >= 3 && o.entries > o.files, "{} entries, {} files", o.entries, o.files);
    let left: Vec<_> =
        std::fs::read_dir(d.path().join("cache/work")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "the janitor removed the work directories and their claims: {left:?}");

    // Again into another directory: nothing builds, and every byte is the same.
    let started = Started::default();
    let again = plan(request(d.path(), "out2")).unwrap().run(&started).unwrap();
    assert!(started.0.lock().unwrap().is_empty(), "cached: {:?}", started.0.lock().unwrap());
    assert_eq!(again.rootfs_tar.unwrap().sha256, tar.sha256);
    assert_eq!(again.oci.unwrap().manifest_digest, oci.manifest_digest);
}

#[test]
fn an_entrypoint_missing_from_the_image_fails_the_export_naming_the_recipe_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    project(d.path(), "/bin/missing");
    let e = plan(request(d.path(), "out")).unwrap().run(&crate::report::Silent).unwrap_err();
    let PipelineError::Config { recipe, error } = &e else { panic!("{e}") };
    assert_eq!(recipe, &d.path().join("recipes/hello.toml"));
    assert_eq!(error.field, "config.entrypoint");
    assert!(!d.path().join("out/hello.tar").exists(), "nothing exported");
}

#[test]
fn a_locked_request_without_a_lock_file_stops_in_the_plan_stage() {
    let d = tempfile::tempdir().unwrap();
    project(d.path(), "/bin/hello");
    let mut req = request(d.path(), "out");
    req.lock.locked = true;
    let e = plan(req).err().expect("refused");
    assert!(matches!(e, PipelineError::LockRead(_)), "{e}");
    assert!(!d.path().join("cache").exists(), "nothing fetched or built");
}

#[test]
fn a_dry_run_plan_lists_the_package_and_then_marks_it_cached() {
    let d = tempfile::tempdir().unwrap();
    project(d.path(), "/bin/hello");
    let steps = plan(request(d.path(), "out")).unwrap().steps().unwrap();
    assert_eq!(steps.iter().map(|s| (s.name.as_str(), s.cached)).collect::<Vec<_>>(), [("hello", false)]);
    plan(request(d.path(), "out")).unwrap().run(&crate::report::Silent).unwrap();
    let steps = plan(request(d.path(), "out")).unwrap().steps().unwrap();
    assert!(steps[0].cached);
}

#[test]
fn file_names_carry_the_architecture_unless_the_run_is_the_hosts_alone() {
    let host = Platform::host();
    let foreign = Platform::parse(if host.arch() == "riscv64" { "linux/arm64" } else { "linux/riscv64" }).unwrap();
    assert_eq!(part_name("bb", &host, &[]), "bb", "no platform named");
    assert_eq!(part_name("bb", &host, std::slice::from_ref(&host)), "bb", "the host's alone");
    assert_eq!(part_name("bb", &foreign, std::slice::from_ref(&foreign)), format!("bb-{}", foreign.arch()));
    let both = [host.clone(), foreign.clone()];
    assert_eq!(part_name("bb", &host, &both), format!("bb-{}", host.arch()), "with another, the host's too");
    assert_eq!(part_name("bb", &foreign, &both), format!("bb-{}", foreign.arch()));
}

#[test]
fn toolchains_are_looked_for_beside_the_recipes_dir_or_one_level_up_never_higher() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    std::fs::create_dir_all(root.join("toolchains")).unwrap();
    std::fs::create_dir_all(root.join("recipes")).unwrap();
    std::fs::create_dir_all(root.join("examples/app")).unwrap();
    std::fs::create_dir_all(root.join("a/b/c")).unwrap();
    let dir = super::spec::toolchains_dir;
    assert_eq!(dir(&root.join("recipes")), root.join("toolchains"));
    assert_eq!(dir(&root.join("examples/app")), root.join("toolchains"));
    // Three levels down: not the project's toolchains/, but the usual place, for the error to name.
    assert_eq!(dir(&root.join("a/b/c")), root.join("a/b/toolchains"));
}
