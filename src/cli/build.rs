//! `compose build RECIPE`: flags into a `BuildRequest`, `compose::pipeline` runs it, and its outcome
//! (or error) into lines and an exit code.

use compose::source::FetchError;
use std::path::{Path, PathBuf};

use clap::Args;

use compose::build::{BuildError, PlanStep};
use compose::export;
use compose::lock::LockFile;
use compose::pipeline::{self, BuildRequest, Format, LockPolicy, Outcome, PipelineError, Planned, Stage};
use compose::report::Reporter;

use super::image::{FormatArg, ImageArgs};
use super::messages::{self, JsonReporter, MessageFormat};
use super::registry_args::RegistryArgs;
use super::reporter::CliReporter;
use super::settings::{CacheArgs, CommonArgs};
use super::{Failure, absolute, exit, load, settings};

#[derive(Args)]
pub struct BuildArgs {
    /// The recipe to build, e.g. recipes/busybox.toml.
    recipe: PathBuf,
    /// Toolchain name (looked up in toolchains/ beside the recipe directory) or path to a toolchain file.
    #[arg(long, default_value = "musl")]
    toolchain: String,
    /// Platforms to build for, comma-separated (`linux/amd64,linux/arm64,linux/riscv64`), each a target of
    /// the toolchain: one graph and one jobserver for all; one OCI index; a rootfs tar, docker-archive and
    /// SBOMs per platform, named NAME-ARCH. Default: the host's.
    #[arg(long, value_name = "LIST")]
    platform: Option<String>,
    /// Parallel jobs, shared by all package builds through one make jobserver. Default: the number of cores.
    #[arg(short, long)]
    jobs: Option<usize>,
    #[command(flatten)]
    image: ImageArgs,
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    cache: CacheArgs,
    #[command(flatten)]
    registry: RegistryArgs,
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
    /// `json`: one JSON object per line on stdout for every package event and every file written
    /// (docs/cli.md); progress for people stays on stderr.
    #[arg(long, value_enum, default_value = "human")]
    message_format: MessageFormat,
    /// After the build, push the image to `REGISTRY/REPO[:TAG]` with its SBOMs and provenance attached,
    /// as `compose push` does.
    #[arg(long, value_name = "REF")]
    push: Option<String>,
    #[command(flatten)]
    sign: super::push::SignArgs,
    #[arg(short, long)]
    quiet: bool,
    #[arg(short, long)]
    verbose: bool,
}

pub fn run(args: BuildArgs) -> Result<(), Failure> {
    let common = settings::common(&args.common, args.jobs).map_err(|m| Failure::msg(exit::USAGE, m, None))?;
    let offline = common.offline;
    let platforms = super::platforms(args.platform.as_deref())?;
    check_push_flags(&args)?;
    let cache_dir = common.cache_dir.clone();
    let mut settings = common.build(!args.no_sandbox, args.keep_going);
    settings.remote = common.remote(args.cache.cache.as_deref(), args.cache.cache_push, &args.registry)?;
    check_one_registry(&args, settings.remote.as_ref())?;
    let request = BuildRequest {
        recipe: args.recipe.clone(),
        toolchain: args.toolchain.clone(),
        platforms,
        image: args.image.options(),
        lock: LockPolicy {
            path: args.lock_file.clone().unwrap_or_else(|| absolute(&args.recipe).with_extension("lock")),
            locked: args.locked,
        },
        timings: args.timings,
        settings,
    };
    let planned = pipeline::plan(request).map_err(|e| failure(e, &args.recipe, offline, None))?;
    if args.dry_run {
        let steps = planned.steps().map_err(|e| failure(e, &args.recipe, offline, None))?;
        match args.message_format {
            MessageFormat::Human => print_plan(&planned, &steps, args.verbose),
            MessageFormat::Json => messages::plan(&planned, &steps),
        }
        return Ok(());
    }
    if args.no_sandbox {
        eprintln!("warning: building without a sandbox (--no-sandbox); this is recorded in every build key");
    }
    let human = CliReporter::new(args.quiet, args.verbose);
    let json = JsonReporter { inner: &human };
    let reporter: &dyn Reporter = match args.message_format {
        MessageFormat::Human => &human,
        MessageFormat::Json => &json,
    };
    let outcome = planned.run(reporter).map_err(|e| failure(e, &args.recipe, offline, planned.lock.as_ref()))?;
    match args.message_format {
        MessageFormat::Human => output_lines(&outcome).iter().for_each(|l| println!("{l}")),
        MessageFormat::Json => messages::outcome(&outcome),
    }
    if !args.quiet {
        let remote = planned.request.settings.remote.is_some();
        summary(&outcome, &args, remote.then(|| human.counts()));
    }
    match &args.push {
        Some(r) => super::push::after_build(&outcome, r, &args.sign, &args.registry, &cache_dir, reporter),
        None => Ok(()),
    }
}

/// `--creds` and `--tls-verify=false` name no registry: with `--cache` and `--push` on two different
/// registries they would reach both (the cache's password sent to the other; plain HTTP allowed to a
/// registry never meant), so that is refused. An auth file holds credentials per registry.
fn check_one_registry(
    args: &BuildArgs,
    remote: Option<&compose::build::remote::RemoteCacheSettings>,
) -> Result<(), Failure> {
    let (Some(push), Some(remote)) = (&args.push, remote) else { return Ok(()) };
    let push = super::push::parse_reference(push)?;
    let shared = args.registry.creds.is_some() || !args.registry.tls_verify;
    if push.registry == remote.reference.registry || !shared {
        return Ok(());
    }
    Err(Failure::msg(
        exit::USAGE,
        format!(
            "--creds and --tls-verify=false would apply to both `{}` (--push) and `{}` (--cache)",
            push.registry, remote.reference.registry
        ),
        Some("keep the credentials per registry in an auth file (`compose login HOST`, `--authfile`), or push afterwards with `compose push`".into()),
    ))
}

/// `--push` and `--sign-key` are checked before anything is built: a typo costs no build.
fn check_push_flags(args: &BuildArgs) -> Result<(), Failure> {
    match &args.push {
        Some(r) => {
            super::push::push_reference(r)?;
            args.sign.load()?;
            args.registry.options()?;
            Ok(())
        }
        None if args.sign.sign_key.is_some() => {
            Err(Failure::msg(exit::USAGE, "--sign-key signs what --push pushes: give --push REF too".into(), None))
        }
        None => Ok(()),
    }
}

fn print_plan(planned: &Planned, steps: &[PlanStep], verbose: bool) {
    let settings = &planned.request.settings;
    let platforms: Vec<String> = planned.toolchains.iter().map(|t| t.platform.to_string()).collect();
    println!(
        "plan for `{}` (toolchain `{}`, {}, {} jobs):",
        planned.spec.name,
        planned.toolchain.name,
        platforms.join(" "),
        settings.jobs
    );
    for (n, s) in steps.iter().enumerate() {
        let mark = if s.cached { "cached" } else { "build " };
        let tag = if s.toolchain { " (toolchain)" } else { "" };
        let key = s.key.as_deref().map(|k| k[..16].to_string()).unwrap_or_else(|| "(after its dependencies)".into());
        println!("{:>3}. [{mark}] {} {}{tag}  key {key}", n + 1, s.label, s.version);
        if verbose {
            for r in &s.reasons {
                println!("       why: {r}");
            }
        }
    }
}

/// One stdout line per file written (data, for scripts).
fn output_lines(o: &Outcome) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some((json, html)) = &o.timings {
        lines.push(format!("timings      {}  {}", html.display(), json.display()));
    }
    for p in &o.platforms {
        if let Some(e) = &p.rootfs_tar {
            lines.push(format!("rootfs tar   {}  {} bytes  sha256:{}", e.path.display(), e.size, e.sha256));
        }
        if let (Some(e), true) = (&p.docker_archive, o.platforms.len() > 1) {
            lines.push(format!("image        {}  {} bytes  {}", e.path.display(), e.size, p.part.platform));
        }
    }
    if let Some(img) = &o.oci {
        for f in &img.files {
            lines.push(format!("image        {}  {} bytes", f.path.display(), f.size));
        }
        lines.push(format!(
            "image        {}  index {}  manifest {}  {} layer(s)",
            o.reference.familiar(),
            img.index_digest,
            img.manifest_digest,
            img.layers
        ));
        if img.manifests.len() > 1 {
            for (platform, manifest, _) in &img.manifests {
                lines.push(format!("image        {}  {platform}  manifest {manifest}", o.reference.familiar()));
            }
        }
    }
    for r in &o.records {
        lines.push(format!("record       {}  {} bytes", r.path.display(), r.size));
    }
    lines
}

/// The closing lines for people (stderr): sizes, stage times, with a remote cache the packages compiled
/// and downloaded, and how to run the image.
fn summary(o: &Outcome, args: &BuildArgs, counts: Option<(usize, usize)>) {
    let secs = |s: Stage| o.stage_time(s).as_secs_f64();
    let all: f64 = o.stages.iter().map(|(_, d)| d.as_secs_f64()).sum();
    eprintln!(
        "built `{}`: {} entries, {} files ({all:.2}s: packages {:.2}s, rootfs {:.2}s, image {:.2}s, records {:.2}s)",
        o.name,
        o.entries,
        o.files,
        secs(Stage::Plan) + secs(Stage::Build),
        secs(Stage::Assemble),
        secs(Stage::Export),
        secs(Stage::Record),
    );
    if let Some((compiled, remote)) = counts {
        eprintln!("packages: {compiled} compiled, {remote} from the remote cache");
    }
    let r = o.reference.familiar();
    eprintln!("next:");
    if args.image.format.contains(&FormatArg::OciArchive) {
        let a = args.image.out_dir.join(Format::OciArchive.file_name(&o.name));
        eprintln!("  podman load -i {}   # or: docker load -i", a.display());
        eprintln!("  podman run --rm --network none {r}");
    }
    for t in o.platforms.iter().filter_map(|p| p.rootfs_tar.as_ref().map(|t| (p, t))) {
        let (p, t) = t;
        let change = format!("--change 'ENV PATH={}'", export::oci::DEFAULT_PATH);
        let pl = &p.part.platform;
        let (podman, docker) = if o.platforms.len() > 1 || pl != &compose::toolchain::Platform::host() {
            let variant = pl.variant.as_ref().map(|v| format!(" --variant {v}")).unwrap_or_default();
            (format!(" --arch {}{variant}", pl.arch()), format!(" --platform {pl}"))
        } else {
            (String::new(), String::new())
        };
        eprintln!("  podman import{podman} {change} {} {r}   # or: docker import{docker}", t.path.display());
    }
}

/// A pipeline error as a failure: its exit code, hint and details (log tails, what differs).
fn failure(e: PipelineError, recipe: &Path, offline: bool, lock: Option<&LockFile>) -> Failure {
    match e {
        PipelineError::Load(e) => load::load_failure(e),
        PipelineError::CacheLock(_) => Failure::new(exit::CACHE, e),
        PipelineError::Build(e) => build_failure(*e, offline, lock),
        PipelineError::LockRead(e) => {
            let hint =
                Some(format!("write it with `compose lock {}` where the inputs were reviewed", recipe.display()));
            Failure { hint, ..Failure::new(exit::LOCKED, e) }
        }
        PipelineError::LockMismatch { ref differences, .. } => Failure {
            details: differences.iter().map(|d| format!("  {d}")).collect(),
            hint: Some(format!(
                "review the change, then `compose lock {}` to accept it; or restore the locked inputs",
                recipe.display()
            )),
            ..Failure::new(exit::LOCKED, e)
        },
        PipelineError::LockResolve(l) => super::sources::lock_failure(l),
        PipelineError::Config { ref error, .. } => {
            Failure { hint: Some(error.hint.clone()), ..Failure::new(exit::RECIPE, e) }
        }
        PipelineError::Rootfs(_) | PipelineError::Scratch { .. } => Failure::new(exit::ROOTFS, e),
        PipelineError::Timings { .. } | PipelineError::Export(_) | PipelineError::Records(_) => {
            Failure::new(exit::EXPORT, e)
        }
    }
}

/// A build error as a failure: one `error:` block per failed package after the first, each with what
/// helps (the phase's log tail, the missing packages, the fetch triage) and the hint of the last one.
fn build_failure(e: BuildError, offline: bool, lock: Option<&LockFile>) -> Failure {
    let code = code_of(&e, offline);
    let (mut details, mut hint) = (Vec::new(), None);
    let list: Vec<&BuildError> = match &e {
        BuildError::Failed { failures } => failures.iter().collect(),
        one => vec![one],
    };
    for (n, one) in list.into_iter().enumerate() {
        if n > 0 || matches!(e, BuildError::Failed { .. }) {
            details.push(format!("error: {one}"));
            details.extend(super::causes(one).into_iter().map(|c| format!("  caused by: {c}")));
        }
        hint = help(one, offline, lock, &mut details).or(hint);
    }
    Failure { details, hint, ..Failure::new(code, e) }
}

/// The extra lines that help with one package's failure, and its hint.
fn help(e: &BuildError, offline: bool, lock: Option<&LockFile>, details: &mut Vec<String>) -> Option<String> {
    match e {
        BuildError::Phase { log, work_dir, .. } => {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            details.push(format!("--- last lines of `{}` ---", log.display()));
            details.extend(lines[lines.len().saturating_sub(25)..].iter().map(|l| format!("  | {l}")));
            details.push(format!("build log: {}", log.display()));
            details.push(format!("build directory kept for inspection: {}", work_dir.display()));
            None
        }
        BuildError::HostTools { missing } => {
            let mut pkgs: Vec<&str> = missing.iter().map(|m| m.debian.as_str()).collect();
            pkgs.sort();
            pkgs.dedup();
            Some(format!("apt-get install {}   (`compose doctor` lists every prerequisite)", pkgs.join(" ")))
        }
        BuildError::HostCompiler(e) => e.hint(),
        BuildError::Sandbox(_) => Some(
            "run where user namespaces are allowed, or pass `--no-sandbox` explicitly (recorded in build keys)".into(),
        ),
        BuildError::Fetch(f @ (FetchError::Tree { .. } | FetchError::TreeChanged { .. })) => Some(tree_hint(f)),
        BuildError::Fetch(f) => {
            details.extend(super::sources::triage(f, lock));
            Some(if offline {
                "bring the missing files in with `compose sources import BUNDLE`, or `--mirror DIR`".into()
            } else {
                "check the recipe's url and sha256; `--mirror DIR` adds a place to look".into()
            })
        }
        _ => None,
    }
}

fn code_of(e: &BuildError, offline: bool) -> u8 {
    match e {
        BuildError::Fetch(FetchError::NotFound { .. }) if offline => exit::OFFLINE,
        BuildError::Phase { .. } | BuildError::Toolchain { .. } => exit::BUILD,
        BuildError::Unpack { .. } => exit::UNPACK,
        BuildError::Fetch(_) => exit::FETCH,
        BuildError::Sandbox(_) => exit::SANDBOX,
        BuildError::HostTools { .. } | BuildError::HostCompiler(_) => exit::HOST,
        BuildError::Failed { failures } => failures.iter().map(|f| code_of(f, offline)).max().unwrap_or(exit::FAILURE),
        _ => exit::FAILURE,
    }
}

/// A local source that cannot be packed, or that changed while the build ran: nothing about URLs.
pub(super) fn tree_hint(e: &FetchError) -> String {
    match e {
        FetchError::TreeChanged { .. } => {
            "the directory was edited while compose packed it: run the build again once the edit is done".into()
        }
        _ => "a local source holds only files, directories and symlinks that stay inside it; fix or `.composeignore` the path named".into(),
    }
}
