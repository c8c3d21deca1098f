//! `compose verify RECIPE`: builds the image twice from empty caches, the second time perturbed
//! (build path, clock, umask, TZ and locale, jobs, directory order), and compares every output and
//! every package's artifact. Each build is a child `compose build`, so its environment and umask are
//! its own; sources come from the user's cache, hard-linked into each fresh cache, and the builds run
//! offline.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use compose::source::SourceCache;
use compose::verify::{self, BuildSpec, Comparison, DirOrder, HostFacts, Same, Status, diffoscope, mount};

use super::image::{CompressionArg, FormatArg as Format, LayersArg};
use super::settings::{self, CommonArgs};
use super::{Failure, absolute, exit, load, sources};

#[derive(Args)]
pub struct VerifyArgs {
    /// The recipe to rebuild twice, e.g. recipes/busybox.toml.
    recipe: PathBuf,
    #[arg(long, default_value = "musl")]
    toolchain: String,
    /// Jobs of the control build A (B runs with 1, or 2 when this is 1). Default: the number of cores.
    #[arg(short, long)]
    jobs: Option<usize>,
    /// The verify work directory is OUT-DIR/verify/NAME/ (a/, b/, diffoscope.txt).
    #[arg(short = 'o', long, default_value = "out")]
    out_dir: PathBuf,
    /// The formats both builds write (and that are compared).
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["tar", "oci", "oci-archive", "docker-archive"])]
    format: Vec<Format>,
    #[arg(long)]
    tag: Option<String>,
    #[arg(long, value_enum, default_value = "single")]
    layers: LayersArg,
    #[arg(long, value_enum, default_value = "gzip")]
    compression: CompressionArg,
    #[command(flatten)]
    common: CommonArgs,
    /// Build without the sandbox (both builds).
    #[arg(long)]
    no_sandbox: bool,
    /// Keep both builds' caches and outputs even when they match (they are always kept when they differ).
    #[arg(long)]
    keep: bool,
    /// Time limit for diffoscope on the differing outputs, in seconds.
    #[arg(long, default_value_t = 300)]
    diffoscope_timeout: u64,
    /// No build progress on stderr (each build's log is still written).
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: VerifyArgs) -> Result<(), Failure> {
    let common = settings::common(&args.common, args.jobs).map_err(|m| Failure::msg(exit::USAGE, m, None))?;
    let closure = load::closure(std::slice::from_ref(&args.recipe), &args.toolchain)?;
    let name = closure.specs[0].name.clone();

    // Every source of the closure into the user's cache, exactly as `compose fetch` does.
    let cache = SourceCache::open(&common.cache_dir).map_err(|e| Failure::new(exit::FETCH, e))?;
    let requests = sources::requests(&closure);
    let (paths, _) = sources::fetch_verified(&cache, &requests, &common, args.quiet, None)?;
    let source_files: Vec<(String, PathBuf)> = requests.iter().map(|r| r.sha256.clone()).zip(paths).collect();

    let work = absolute(&args.out_dir.join("verify").join(&name));
    let io_fail = |what: &str, p: &Path, e: std::io::Error| {
        Failure::msg(exit::FAILURE, format!("cannot {what} `{}`: {e}", p.display()), None)
    };
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(|e| io_fail("clear the old verify directory", &work, e))?;
    }
    std::fs::create_dir_all(&work).map_err(|e| io_fail("create", &work, e))?;

    let mut facts = HostFacts::probe();
    let unique = format!("{name}-{}", std::process::id());
    let mut plan = verify::plan(&facts, common.jobs, &work, &unique);
    // Mount disorderfs now; if it does not work here, plan again without it (tmpfs instead).
    let mut guard = None;
    if let DirOrder::Disorderfs { bin, backing, mountpoint } = &plan.perturbed.dir_order {
        match mount::Disorderfs::mount(bin, backing, mountpoint) {
            Ok(g) => guard = Some(g),
            Err(e) => {
                facts.disorderfs = Err(e.to_string());
                plan = verify::plan(&facts, common.jobs, &work, &unique);
            }
        }
    }

    for p in &plan.perturbations {
        let status = match &p.status {
            Status::Applied => "applied".to_string(),
            Status::Partly(why) => format!("applied ({why})"),
            Status::NotApplied(why) => format!("NOT applied: {why}"),
        };
        println!("perturbation  {:<16} A: {}  B: {}  {status}", p.what, p.control, p.perturbed);
    }

    let mut timings = Vec::new();
    for spec in [&plan.control, &plan.perturbed] {
        let started = Instant::now();
        let result = provide_sources(&spec.cache_dir, &source_files).and_then(|()| build(&args, spec));
        if let Err(mut f) = result {
            drop(guard);
            f.details.push(format!("kept for inspection: {}", work.display()));
            return Err(f);
        }
        let took = started.elapsed();
        println!(
            "build {}  {:.1}s  -j {}  cache {}",
            spec.label,
            took.as_secs_f64(),
            spec.jobs,
            spec.cache_dir.display()
        );
        timings.push(took);
    }

    let rootfs_tar = format!("{name}.tar");
    let (a, b) = (&plan.control, &plan.perturbed);
    let cmp = verify::compare(&a.out_dir, &b.out_dir, &a.cache_dir, &b.cache_dir, &rootfs_tar)
        .map_err(|e| Failure::new(exit::FAILURE, e))?;
    drop(guard);
    // After unmounting, B's cache is in the disorderfs backing directory.
    let b_cache_kept = match &b.dir_order {
        DirOrder::Disorderfs { backing, .. } => backing.join("cache"),
        _ => b.cache_dir.clone(),
    };

    if cmp.reproducible() {
        println!(
            "reproducible  {name}  ({} output files, {} package artifacts identical)",
            cmp.outputs.len(),
            cmp.artifacts.len()
        );
        for f in &cmp.outputs {
            println!("  {}  sha256:{}", f.path, f.a.as_deref().unwrap_or("-"));
        }
        for p in &cmp.artifacts {
            println!("  artifact {}  tree sha256:{}", p.name, p.a.as_deref().unwrap_or("-"));
        }
        if args.keep {
            eprintln!(
                "kept: A {} and {}; B {} and {}",
                a.out_dir.display(),
                a.cache_dir.display(),
                b.out_dir.display(),
                b_cache_kept.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&work);
            if b.dir_order == DirOrder::Tmpfs {
                let _ = std::fs::remove_dir_all(&b.root);
            }
        }
        return Ok(());
    }
    Err(unreproducible(&name, &cmp, &args, &work, a, b, &b_cache_kept, &rootfs_tar))
}

/// Prints every difference on stdout, runs diffoscope, and returns the failure (exit 16).
#[allow(clippy::too_many_arguments)]
fn unreproducible(
    name: &str,
    cmp: &Comparison,
    args: &VerifyArgs,
    work: &Path,
    a: &BuildSpec,
    b: &BuildSpec,
    b_cache: &Path,
    rootfs_tar: &str,
) -> Failure {
    let short = |s: &Option<String>| s.as_deref().unwrap_or("(missing)").to_string();
    println!("not reproducible  {name}");
    let differing: Vec<_> = cmp.outputs.iter().filter(|f| !f.same()).collect();
    for f in &cmp.outputs {
        let mark = if f.same() { "same   " } else { "differs" };
        println!("  {mark}  {}  A sha256:{}  B sha256:{}", f.path, short(&f.a), short(&f.b));
    }
    let packages: Vec<_> = cmp.artifacts.iter().filter(|p| !p.same()).collect();
    for p in &cmp.artifacts {
        let mark = if p.same() { "same   " } else { "differs" };
        println!("  {mark}  artifact {}  A tree sha256:{}  B tree sha256:{}", p.name, short(&p.a), short(&p.b));
    }
    for d in &cmp.entries {
        println!("  entry  {}  ({})  {}", d.diff.path, d.owner, d.diff.describe());
    }
    let mut details = Vec::new();
    if let Some(bin) = diffoscope::find() {
        let (da, db) = if differing.iter().any(|f| f.path == rootfs_tar) {
            (a.out_dir.join(rootfs_tar), b.out_dir.join(rootfs_tar))
        } else {
            (a.out_dir.clone(), b.out_dir.clone())
        };
        let report = work.join("diffoscope.txt");
        let limit = Duration::from_secs(args.diffoscope_timeout);
        match diffoscope::run(&bin, &da, &db, &report, limit) {
            Ok(outcome) => {
                let how = match outcome {
                    diffoscope::Outcome::TimedOut => format!("stopped after {}s; partial", limit.as_secs()),
                    diffoscope::Outcome::Finished { code } => format!("exit {}", code.unwrap_or(-1)),
                };
                println!("diffoscope  {}  ({how})", report.display());
                details.push(format!(
                    "diffoscope {} {} ({how}), first lines of {}:",
                    da.display(),
                    db.display(),
                    report.display()
                ));
                details.extend(diffoscope::head(&report, 30).into_iter().map(|l| format!("  | {l}")));
            }
            Err(e) => details.push(format!("diffoscope failed: {e}")),
        }
    } else {
        details.push("diffoscope is not installed (apt-get install diffoscope-minimal) for a detailed report".into());
    }
    details.push(format!("kept for inspection: A outputs {}, cache {}", a.out_dir.display(), a.cache_dir.display()));
    details.push(format!("                     B outputs {}, cache {}", b.out_dir.display(), b_cache.display()));
    let owners: Vec<String> = {
        let mut o: Vec<String> = cmp.entries.iter().map(|d| d.owner.clone()).collect();
        o.sort();
        o.dedup();
        o
    };
    Failure {
        code: exit::UNREPRODUCIBLE,
        error: format!(
            "`{name}` is not reproducible: {} of {} output file(s) differ; package artifact(s) that differ: {}{}",
            differing.len(),
            cmp.outputs.len(),
            if packages.is_empty() { "none".into() } else { packages.iter().map(|p| format!("`{}`", p.name)).collect::<Vec<_>>().join(", ") },
            if owners.is_empty() { String::new() } else { format!("; differing rootfs entries belong to {}", owners.join(", ")) },
        )
        .into(),
        hint: Some("look for what the build stamps into its output (dates, paths, ordering, parallelism) in the differing files".into()),
        details,
    }
}

/// Places each source in the fresh cache through its `SourceCache` (hard-linked, or copied across
/// filesystems, and renamed into place).
fn provide_sources(cache_dir: &Path, sources: &[(String, PathBuf)]) -> Result<(), Failure> {
    let cache = SourceCache::open(cache_dir).map_err(|e| Failure::new(exit::FETCH, e))?;
    for (sha, from) in sources {
        cache.place_verified(sha, from).map_err(|e| Failure::new(exit::FETCH, e))?;
    }
    Ok(())
}

/// Runs one child `compose build`, offline, in its own cache, with its own environment and umask.
/// stderr lines are tagged `[A]`/`[B]` and saved to `<root>/build.log`.
fn build(args: &VerifyArgs, spec: &BuildSpec) -> Result<(), Failure> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::msg(exit::FAILURE, format!("cannot find compose's own executable: {e}"), None))?;
    std::fs::create_dir_all(&spec.root).ok();
    let log_path = spec.root.join("build.log");
    let formats: Vec<String> =
        args.format.iter().map(|f| f.to_possible_value().expect("no skipped formats").get_name().to_string()).collect();
    let mut cmd = Command::new(&exe);
    cmd.arg("build")
        .arg(absolute(&args.recipe))
        .args(["--toolchain", &args.toolchain, "--offline", "--format", &formats.join(",")])
        .args(["--layers", args.layers.to_possible_value().expect("value").get_name()])
        .args(["--compression", args.compression.to_possible_value().expect("value").get_name()])
        .arg("--jobs")
        .arg(spec.jobs.to_string())
        .arg("--cache-dir")
        .arg(&spec.cache_dir)
        .arg("-o")
        .arg(&spec.out_dir);
    if let Some(t) = &args.tag {
        cmd.args(["--tag", t]);
    }
    if args.no_sandbox {
        cmd.arg("--no-sandbox");
    }
    for v in ["COMPOSE_CACHE_DIR", "COMPOSE_JOBS", "COMPOSE_OFFLINE", "COMPOSE_MIRRORS", settings::PHASE_ENV_VAR] {
        cmd.env_remove(v);
    }
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    if !spec.phase_env.is_empty() {
        let lines: Vec<String> = spec.phase_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        cmd.env(settings::PHASE_ENV_VAR, lines.join("\n"));
    }
    let umask = spec.umask as libc::mode_t;
    // SAFETY: umask is async-signal-safe and cannot fail.
    unsafe {
        cmd.pre_exec(move || {
            libc::umask(umask);
            Ok(())
        })
    };
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let run_fail =
        |e: std::io::Error| Failure::msg(exit::FAILURE, format!("cannot run `{}`: {e}", exe.display()), None);
    let mut child = cmd.spawn().map_err(run_fail)?;
    let mut log = std::fs::File::create(&log_path).map_err(run_fail)?;
    let stdout = child.stdout.take().expect("piped");
    let out_thread = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::BufReader::new(stdout), &mut text);
        text
    });
    let mut tail: Vec<String> = Vec::new();
    // The child's closing `next:` block (podman load ...) is about its own outputs: logged, not shown.
    let mut closing = false;
    for line in std::io::BufReader::new(child.stderr.take().expect("piped")).lines().map_while(Result::ok) {
        let _ = writeln!(log, "{line}");
        closing |= line == "next:";
        if !args.quiet && !closing {
            eprintln!("[{}] {line}", spec.label);
        }
        tail.push(line);
        if tail.len() > 40 {
            tail.remove(0);
        }
    }
    let status = child.wait().map_err(run_fail)?;
    let stdout = out_thread.join().unwrap_or_default();
    let _ = std::fs::write(spec.root.join("build.stdout"), &stdout);
    if status.success() {
        return Ok(());
    }
    let code = status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(exit::FAILURE);
    let mut details: Vec<String> = tail.iter().map(|l| format!("  [{}] {l}", spec.label)).collect();
    details.push(format!("build log: {}", log_path.display()));
    Err(Failure {
        details,
        ..Failure::msg(
            code,
            format!(
                "build {} ({}) failed with exit code {code}",
                spec.label,
                if spec.label == "A" { "control" } else { "perturbed" }
            ),
            None,
        )
    })
}
