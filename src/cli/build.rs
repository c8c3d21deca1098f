//! `compose build RECIPE`: recipe -> sources -> builds -> rootfs -> tarball.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use compose::build::{self, BuildError, BuildSettings};
use compose::export::{self, memo::DigestMemo, memo::Origin};
use compose::lock::LockFile;
use compose::recipe::Recipe;
use compose::rootfs::{self, PackageInput};

use super::image::{self, ImageArgs};
use super::reporter::CliReporter;
use super::settings::CommonArgs;
use super::{Failure, exit, load, records, settings, timings};

#[derive(Args)]
pub struct BuildArgs {
    /// The recipe to build, e.g. recipes/busybox.toml.
    recipe: PathBuf,
    /// Toolchain name (looked up in toolchains/ beside the recipe directory) or path to a toolchain file.
    #[arg(long, default_value = "musl")]
    toolchain: String,
    /// Parallel jobs, shared by all package builds through one make jobserver. Default: the number of cores.
    #[arg(short, long)]
    jobs: Option<usize>,
    #[command(flatten)]
    image: ImageArgs,
    #[command(flatten)]
    common: CommonArgs,
    /// Run build steps without namespaces. Recorded in every build key.
    #[arg(long)]
    no_sandbox: bool,
    /// Print the build plan in order, marking what is cached, and stop.
    #[arg(long)]
    dry_run: bool,
    /// After a package fails, keep building everything that does not depend on it.
    #[arg(long)]
    keep_going: bool,
    /// Refuse to build unless every input matches the lock file (RECIPE.lock, or --lock-file).
    #[arg(long)]
    locked: bool,
    /// The lock file for --locked and for hash-mismatch triage. Default: the recipe with `.lock`.
    #[arg(long)]
    lock_file: Option<PathBuf>,
    /// Write a timings report (HTML and JSON) of the build into OUT-DIR/timings/.
    #[arg(long)]
    timings: bool,
    #[arg(short, long)]
    quiet: bool,
    #[arg(short, long)]
    verbose: bool,
}

pub fn run(args: BuildArgs) -> Result<(), Failure> {
    let common = settings::common(&args.common, args.jobs).map_err(|m| Failure::msg(exit::USAGE, m, None))?;
    let load::Closure { mut specs, toolchain: tc, graph } =
        load::closure(std::slice::from_ref(&args.recipe), &args.toolchain)?;
    let spec = specs.pop().expect("one recipe");
    let reference = spec.reference(args.image.tag.as_deref())?;
    let lock_path = args.lock_file.clone().unwrap_or_else(|| spec.recipe.with_extension("lock"));
    let lock = if args.locked {
        let lock = LockFile::read(&lock_path).map_err(|e| {
            let hint =
                Some(format!("write it with `compose lock {}` where the inputs were reviewed", args.recipe.display()));
            Failure { hint, ..Failure::new(exit::LOCKED, e) }
        })?;
        let now = LockFile::resolve(&spec.name, &spec.digest, graph.as_ref(), &tc, &Default::default())
            .map_err(|e| Failure::new(exit::LOCKED, e))?;
        let diffs = lock.differences(&now);
        if !diffs.is_empty() {
            return Err(Failure {
                details: diffs.iter().map(|d| format!("  {d}")).collect(),
                hint: Some(format!(
                    "review the change, then `compose lock {}` to accept it; or restore the locked inputs",
                    args.recipe.display()
                )),
                ..Failure::msg(
                    exit::LOCKED,
                    format!("--locked: {} input(s) differ from `{}`:", diffs.len(), lock_path.display()),
                    None,
                )
            });
        }
        Some(lock)
    } else {
        LockFile::read(&lock_path).ok()
    };
    let target = tc.target.clone();
    let name = spec.name.clone();
    let settings = BuildSettings {
        jobs: common.jobs,
        sandboxed: !args.no_sandbox,
        cache_root: common.cache_dir.clone(),
        source_date_epoch: common.source_date_epoch,
        keep_going: args.keep_going,
        fetch: load::fetch_settings(&common),
        phase_env: settings::phase_env(),
    };
    if args.dry_run {
        println!("plan for `{name}` (toolchain `{}`, {} jobs):", tc.name, settings.jobs);
        let plan = match &graph {
            Some(g) => build::plan(g, &tc, &settings).map_err(|e| build_failure(e, common.offline, None))?,
            None => Vec::new(),
        };
        for (n, s) in plan.iter().enumerate() {
            let mark = if s.cached { "cached" } else { "build " };
            let tag = if s.toolchain { " (toolchain)" } else { "" };
            let key =
                s.key.as_deref().map(|k| k[..16].to_string()).unwrap_or_else(|| "(after its dependencies)".into());
            println!("{:>3}. [{mark}] {} {}{tag}  key {key}", n + 1, s.name, s.version);
            if args.verbose {
                for r in &s.reasons {
                    println!("       why: {r}");
                }
            }
        }
        return Ok(());
    }
    if args.no_sandbox {
        eprintln!("warning: building without a sandbox (--no-sandbox); this is recorded in every build key");
    }
    let cli_reporter = CliReporter::new(args.quiet, args.verbose);
    let recorder = timings::Recorder::new(&cli_reporter);
    let reporter: &dyn compose::report::Reporter = if args.timings { &recorder } else { &cli_reporter };
    let started = std::time::Instant::now();
    // Declared before everything that runs after the builds, so it is dropped last: the work directories
    // of finished builds are removed while the image is written, and are gone before `compose` exits.
    let janitor = build::Janitor::default();
    let sampler = args.timings.then(|| timings::CpuSampler::start(started));
    let mut inputs: Vec<(&Recipe, PathBuf)> = Vec::new();
    let mut contents = Vec::new();
    let artifacts = match &graph {
        Some(g) => build::build(g, Arc::new(tc.clone()), &settings, reporter, &janitor)
            .map_err(|e| build_failure(e, common.offline, lock.as_ref()))?,
        None => Default::default(),
    };
    if let Some(sampler) = sampler {
        let report = recorder.report(&name, settings.jobs, graph.as_ref(), sampler.finish());
        let dir = args.image.out_dir.join("timings");
        let (json, html) = timings::write(&report, &dir).map_err(|e| {
            Failure::msg(exit::EXPORT, format!("cannot write the timings report into `{}`: {e}", dir.display()), None)
        })?;
        println!("timings      {}  {}", html.display(), json.display());
    }
    if let Some(g) = &graph {
        let mut seen = std::collections::HashSet::new();
        for &root in &g.roots {
            for i in g.runtime_closure(root) {
                if seen.insert(i) {
                    contents.push(i);
                    inputs.push((g.recipe(i), artifacts[&i].tree()));
                }
            }
        }
    }

    let scratch = tempfile::Builder::new()
        .prefix("rootfs-")
        .tempdir_in(common.cache_dir.join("work"))
        .or_else(|_| tempfile::tempdir());
    let scratch =
        scratch.map_err(|e| Failure::msg(exit::ROOTFS, format!("cannot create a scratch directory: {e}"), None))?;
    let packages = inputs
        .iter()
        .map(|(r, tree)| PackageInput {
            name: r.name.clone(),
            tree: tree.clone(),
            include: r.image.include.clone(),
            exclude: r.image.exclude.clone(),
            strip: r.image.strip,
        })
        .collect();
    let plan = rootfs::Plan {
        packages,
        skeleton: spec.skeleton,
        users: spec.config.users.clone(),
        groups: spec.config.groups.clone(),
        source_date_epoch: common.source_date_epoch,
        scratch: scratch.path().to_path_buf(),
    };
    let packages_done = started.elapsed();
    let tree = rootfs::assemble(&plan).map_err(|e| Failure::new(exit::ROOTFS, e))?;
    let rootfs_done = started.elapsed();
    let recipes: Vec<&Recipe> = inputs.iter().map(|(r, _)| *r).collect();
    // The records take each file's digests from its artifact's index (hashing on rayon only what it does
    // not describe) while the image is written.
    let (written, files) = std::thread::scope(|s| {
        let hashing = s.spawn(|| {
            let mut known = HashMap::new();
            for i in &contents {
                known.extend(artifacts[i].file_digests());
            }
            compose::records::files(&tree, &known)
        });
        let memo = DigestMemo::in_cache(&common.cache_dir);
        let origins: Vec<Origin> = contents
            .iter()
            .zip(&inputs)
            .map(|(i, (_, tree))| Origin { tree, tree_digest: &artifacts[i].meta.tree_digest })
            .collect();
        let written = image::export(
            &args.image,
            &spec,
            reference.clone(),
            &tree,
            &recipes,
            &target,
            common.source_date_epoch,
            Some((&memo, &origins)),
        );
        (written, hashing.join().expect("hashing does not panic"))
    });
    let written = written?;
    let files = files.map_err(|e| Failure::new(exit::EXPORT, e))?;
    let image_done = started.elapsed();
    for l in &written.lines {
        println!("{l}");
    }
    let digests: HashMap<_, _> = artifacts.iter().map(|(i, a)| (*i, a.meta.tree_digest.clone())).collect();
    let records = records::Records {
        spec: &spec,
        reference: &reference,
        graph: graph.as_ref(),
        contents: &contents,
        toolchain: &tc,
        artifacts: &digests,
        tree: &tree,
        files,
        written: &written,
        image: &args.image,
        sandboxed: !args.no_sandbox,
        license: image::combined_license(recipes.iter().map(|r| r.license.as_str())),
        source_date_epoch: common.source_date_epoch,
    };
    for l in records::write(records)? {
        println!("{l}");
    }
    if !args.quiet {
        let all = started.elapsed();
        eprintln!(
            "built `{name}`: {} entries, {} files ({:.2}s: packages {:.2}s, rootfs {:.2}s, image {:.2}s, records {:.2}s)",
            tree.entries.len(),
            tree.file_count(),
            all.as_secs_f64(),
            packages_done.as_secs_f64(),
            (rootfs_done - packages_done).as_secs_f64(),
            (image_done - rootfs_done).as_secs_f64(),
            (all - image_done).as_secs_f64(),
        );
        let r = reference.familiar();
        eprintln!("next:");
        if args.image.format.contains(&image::Format::OciArchive) {
            let a = args.image.out_dir.join(format!("{name}.oci.tar"));
            eprintln!("  podman load -i {}   # or: docker load -i", a.display());
            eprintln!("  podman run --rm --network none {r}");
        }
        if let Some(t) = &written.tar {
            let change = format!("--change 'ENV PATH={}'", export::oci::DEFAULT_PATH);
            eprintln!("  podman import {change} {} {r}   # or: docker import", t.display());
        }
    }
    Ok(())
}

fn build_failure(e: BuildError, offline: bool, lock: Option<&LockFile>) -> Failure {
    let code = code_of(&e, offline);
    let mut f = Failure::new(code, e);
    let Some(e) = f.error.downcast_ref::<BuildError>() else { return f };
    let list: Vec<&BuildError> = match e {
        BuildError::Failed { failures } => failures.iter().collect(),
        other => vec![other],
    };
    let mut details = Vec::new();
    let mut hint = None;
    for e in list {
        if matches!(e, BuildError::Failed { .. }) {
            continue;
        }
        if !std::ptr::eq(e, f.error.downcast_ref::<BuildError>().expect("checked")) {
            details.push(format!("error: {e}"));
            let mut c = std::error::Error::source(e);
            while let Some(s) = c {
                details.push(format!("  caused by: {s}"));
                c = s.source();
            }
        }
        match e {
            BuildError::Phase { log, work_dir, .. } => {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                details.push(format!("--- last lines of `{}` ---", log.display()));
                for l in &lines[lines.len().saturating_sub(25)..] {
                    details.push(format!("  | {l}"));
                }
                details.push(format!("build log: {}", log.display()));
                details.push(format!("build directory kept for inspection: {}", work_dir.display()));
            }
            BuildError::HostTools { missing } => {
                let mut pkgs: Vec<&str> = missing.iter().map(|m| m.debian.as_str()).collect();
                pkgs.sort();
                pkgs.dedup();
                hint = Some(format!("apt-get install {}   (`compose doctor` lists every prerequisite)", pkgs.join(" ")))
            }
            BuildError::Sandbox(_) => {
                hint = Some(
                    "run where user namespaces are allowed, or pass `--no-sandbox` explicitly (recorded in build keys)"
                        .into(),
                )
            }
            BuildError::Fetch(f) => {
                details.extend(super::sources::triage(f, lock));
                hint = Some(if offline {
                    "bring the missing files in with `compose sources import BUNDLE`, or `--mirror DIR`".into()
                } else {
                    "check the recipe's url and sha256; `--mirror DIR` adds a place to look".into()
                })
            }
            _ => {}
        }
    }
    f.details = details;
    f.hint = hint;
    f
}

fn code_of(e: &BuildError, offline: bool) -> u8 {
    match e {
        BuildError::Fetch(compose::source::FetchError::NotFound { .. }) if offline => exit::OFFLINE,
        BuildError::Phase { .. } | BuildError::Toolchain { .. } => exit::BUILD,
        BuildError::Unpack { .. } => exit::UNPACK,
        BuildError::Fetch(_) => exit::FETCH,
        BuildError::Sandbox(_) => exit::SANDBOX,
        BuildError::HostTools { .. } => exit::HOST,
        BuildError::Failed { failures } => failures.iter().map(|f| code_of(f, offline)).max().unwrap_or(exit::FAILURE),
        _ => exit::FAILURE,
    }
}
