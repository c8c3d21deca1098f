//! `compose verify RECIPE`: builds the image twice from empty caches, the second time perturbed
//! (build path, clock, umask, TZ and locale, jobs, directory order), and compares every output and
//! every package's artifact (`compose::verify::run`). This file fetches the sources into the user's cache,
//! turns flags into a `VerifyRequest`, and renders the outcome: stdout lists what was compared, a
//! difference is exit 16.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};

use compose::verify::{
    self, BuildSpec, ChildRequest, Diffoscope, Perturbation, Same, Verified, VerifyError, VerifyProgress,
    VerifyRequest, diffoscope,
};

use super::image::{CompressionArg, FormatArg as Format, LayersArg};
use super::settings::{self, CommonArgs};
use super::{Failure, absolute, exit, load, one_platform, sources};

#[derive(Args)]
pub struct VerifyArgs {
    /// The recipe to rebuild twice, e.g. recipes/busybox.toml.
    recipe: PathBuf,
    #[arg(long, default_value = "musl")]
    toolchain: String,
    /// The one platform both builds are for (`linux/arm64`), a target of the toolchain; outputs are then
    /// named NAME-ARCH unless it is the host's. Default: the host's.
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<String>,
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
    let platform = args.platform.as_deref().map(|p| one_platform(p, "verify")).transpose()?;
    let platforms: Vec<_> = platform.iter().cloned().collect();
    let closure = load::closure_for(std::slice::from_ref(&args.recipe), &args.toolchain, &platforms)?;
    // Every source of the closure into the user's cache, exactly as `compose fetch` does.
    let requests = sources::requests(&closure);
    let fetched = sources::fetch_verified(&sources::open_cache(&common)?, &requests, &common, args.quiet, None)?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::msg(exit::FAILURE, format!("cannot find compose's own executable: {e}"), None))?;
    let name = closure.specs[0].name.clone();
    let request = VerifyRequest {
        work: absolute(&args.out_dir.join("verify").join(verify::output_name(&name, platform.as_ref()))),
        name,
        platform,
        jobs: common.jobs,
        child: child_request(&args, exe),
        sources: requests.iter().map(|r| r.sha256.clone()).zip(fetched.paths).collect(),
    };
    let verified = verify::run(&request, &Progress { quiet: args.quiet }).map_err(|e| failure(e, &request.work))?;
    if let Err(e) = verified.verdict() {
        return Err(unreproducible(&verified, e, Duration::from_secs(args.diffoscope_timeout)));
    }
    reproducible(&verified, args.keep);
    Ok(())
}

fn child_request(args: &VerifyArgs, exe: PathBuf) -> ChildRequest {
    let name = |v: Option<clap::builder::PossibleValue>| v.expect("no skipped values").get_name().to_string();
    ChildRequest {
        exe,
        recipe: absolute(&args.recipe),
        toolchain: args.toolchain.clone(),
        formats: args.format.iter().map(|f| name(f.to_possible_value())).collect(),
        layers: name(args.layers.to_possible_value()),
        compression: name(args.compression.to_possible_value()),
        tag: args.tag.clone(),
        no_sandbox: args.no_sandbox,
    }
}

/// The perturbations and each build's time on stdout; the children's stderr tagged `[A]`/`[B]`.
struct Progress {
    quiet: bool,
}

impl VerifyProgress for Progress {
    fn on_plan(&self, perturbations: &[Perturbation]) {
        for p in perturbations {
            println!("perturbation  {:<16} A: {}  B: {}  {}", p.what, p.control, p.perturbed, p.status);
        }
    }
    fn on_child_line(&self, label: &str, line: &str) {
        if !self.quiet {
            eprintln!("[{label}] {line}");
        }
    }
    fn on_build_done(&self, spec: &BuildSpec, took: Duration) {
        let (secs, cache) = (took.as_secs_f64(), spec.cache_dir.display());
        println!("build {}  {secs:.1}s  -j {}  cache {cache}", spec.label, spec.jobs);
    }
}

/// A failed build keeps the work directory; its exit code is the child's.
fn failure(e: VerifyError, work: &Path) -> Failure {
    let kept = format!("kept for inspection: {}", work.display());
    match e {
        VerifyError::ChildBuild { label, code, ref log, ref tail } => {
            let mut details: Vec<String> = tail.iter().map(|l| format!("  [{label}] {l}")).collect();
            details.push(format!("build log: {}", log.display()));
            details.push(kept);
            Failure { details, ..Failure::new(code, e) }
        }
        VerifyError::Seed(_) => Failure { details: vec![kept], ..Failure::new(exit::FETCH, e) },
        e => Failure::new(exit::FAILURE, e),
    }
}

/// ` for linux/arm64/v8` when a platform was named, else nothing.
fn for_platform(v: &Verified) -> String {
    v.platform.as_ref().map(|p| format!(" for {p}")).unwrap_or_default()
}

fn reproducible(v: &Verified, keep: bool) {
    let cmp = &v.comparison;
    let (outputs, artifacts) = (cmp.outputs.len(), cmp.artifacts.len());
    let (name, platform) = (&v.name, for_platform(v));
    println!("reproducible  {name}{platform}  ({outputs} output files, {artifacts} package artifacts identical)");
    for f in &cmp.outputs {
        println!("  {}  sha256:{}", f.path, f.a.as_deref().unwrap_or("-"));
    }
    for p in &cmp.artifacts {
        println!("  artifact {}  tree sha256:{}", p.name, p.a.as_deref().unwrap_or("-"));
    }
    let (a, b) = (&v.plan.control, &v.plan.perturbed);
    if keep {
        let (a_out, a_cache) = (a.out_dir.display(), a.cache_dir.display());
        eprintln!("kept: A {a_out} and {a_cache}; B {} and {}", b.out_dir.display(), v.b_cache.display());
    } else {
        v.discard();
    }
}

/// Prints every difference on stdout, runs diffoscope, and returns the failure (exit 16).
fn unreproducible(v: &Verified, verdict: VerifyError, limit: Duration) -> Failure {
    print_differences(v);
    let mut details = diffoscope_details(v.diffoscope(limit, 30), limit);
    let (a, b) = (&v.plan.control, &v.plan.perturbed);
    details.push(format!("kept for inspection: A outputs {}, cache {}", a.out_dir.display(), a.cache_dir.display()));
    details.push(format!("                     B outputs {}, cache {}", b.out_dir.display(), v.b_cache.display()));
    let hint =
        "look for what the build stamps into its output (dates, paths, ordering, parallelism) in the differing files";
    Failure { details, hint: Some(hint.into()), ..Failure::new(exit::UNREPRODUCIBLE, verdict) }
}

fn print_differences(v: &Verified) {
    let short = |s: &Option<String>| s.as_deref().unwrap_or("(missing)").to_string();
    let mark = |same: bool| if same { "same   " } else { "differs" };
    println!("not reproducible  {}{}", v.name, for_platform(v));
    for f in &v.comparison.outputs {
        println!("  {}  {}  A sha256:{}  B sha256:{}", mark(f.same()), f.path, short(&f.a), short(&f.b));
    }
    for p in &v.comparison.artifacts {
        let (a, b) = (short(&p.a), short(&p.b));
        println!("  {}  artifact {}  A tree sha256:{a}  B tree sha256:{b}", mark(p.same()), p.name);
    }
    for d in &v.comparison.entries {
        println!("  entry  {}  ({})  {}", d.diff.path, d.owner, d.diff.describe());
    }
}

/// The diffoscope line on stdout, and its report's first lines as details.
fn diffoscope_details(d: Diffoscope, limit: Duration) -> Vec<String> {
    let (a, b, report, outcome, head) = match d {
        Diffoscope::Ran { a, b, report, outcome, head } => (a, b, report, outcome, head),
        Diffoscope::Failed(e) => return vec![format!("diffoscope failed: {e}")],
        Diffoscope::NotInstalled => {
            return vec![
                "diffoscope is not installed (apt-get install diffoscope-minimal) for a detailed report".into(),
            ];
        }
    };
    let how = match outcome {
        diffoscope::Outcome::TimedOut => format!("stopped after {}s; partial", limit.as_secs()),
        diffoscope::Outcome::Finished { code } => format!("exit {}", code.unwrap_or(-1)),
    };
    println!("diffoscope  {}  ({how})", report.display());
    let (a, b, report) = (a.display(), b.display(), report.display());
    let mut details = vec![format!("diffoscope {a} {b} ({how}), first lines of {report}:")];
    details.extend(head.into_iter().map(|l| format!("  | {l}")));
    details
}
