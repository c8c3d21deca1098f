//! The air-gap commands: `compose fetch`, `compose sources export|import`, `compose lock`, and
//! hash-mismatch triage for every command that fetches.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use compose::build::{self, FetchBridge};
use compose::lock::LockFile;
use compose::source::bundle::{self, BundleError};
use compose::source::{
    self, FetchError, FetchProgress, FetchVerifiedError, Fetched, SourceCache, SourceRequest, triage,
};

use super::reporter::CliReporter;
use super::settings::{self, CommonArgs};
use super::{Failure, exit, load};

#[derive(Args)]
pub struct FetchArgs {
    /// Recipes (package or image) whose whole closure, the toolchain's packages included, is fetched.
    #[arg(required = true)]
    recipes: Vec<PathBuf>,
    #[arg(long, default_value = "musl")]
    toolchain: String,
    #[command(flatten)]
    common: CommonArgs,
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Subcommand)]
pub enum SourcesCommand {
    /// Write the sources of RECIPE... (fetching what is missing) and a manifest into one tar.
    Export {
        #[arg(required = true)]
        recipes: Vec<PathBuf>,
        /// The bundle to write.
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, default_value = "musl")]
        toolchain: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Check every entry of a bundle and add its sources to the cache.
    Import {
        bundle: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Write the licence and source bundle of an image: every source, patch, recipe and licence text
    /// that went into it, with a manifest (what distributing GPL binaries requires).
    Bundle(super::legal::BundleArgs),
}

#[derive(Args)]
pub struct LockArgs {
    /// The recipe (package or image) to lock.
    recipe: PathBuf,
    /// Where to write the lock. Default: the recipe with `.lock`.
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[arg(long, default_value = "musl")]
    toolchain: String,
    /// Lock the host tools of these platforms' targets (comma-separated, as `compose build --platform`):
    /// `build --locked --platform` needs a lock made for the same platforms. Default: the host's.
    #[arg(long, value_name = "LIST")]
    platform: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

pub(super) fn common(args: &CommonArgs) -> Result<settings::Common, Failure> {
    settings::common(args, None).map_err(|m| Failure::msg(exit::USAGE, m, None))
}

pub(super) fn open_cache(common: &settings::Common) -> Result<SourceCache, Failure> {
    SourceCache::open(&common.cache_dir).map_err(|e| Failure::new(exit::FETCH, e))
}

pub(super) fn requests(c: &load::Closure) -> Vec<SourceRequest> {
    c.graph.as_ref().map(|g| build::source_requests(g, g.order())).unwrap_or_default()
}

/// `compose::source::fetch_verified` with the reporter's lines, and its failures rendered: every
/// source that could not be fetched, with hash-mismatch triage against `lock`.
pub(super) fn fetch_verified(
    cache: &SourceCache,
    requests: &[SourceRequest],
    common: &settings::Common,
    quiet: bool,
    lock: Option<&LockFile>,
) -> Result<Fetched, Failure> {
    let reporter = CliReporter::new(quiet, false);
    let progress = Progress(FetchBridge(&reporter));
    source::fetch_verified(cache, requests, &common.fetch(), &progress)
        .map_err(|e| fetch_failure(e, common.offline, lock))
}

/// Fetch progress through the reporter, and a warning for each corrupted cache entry.
struct Progress<'a>(FetchBridge<'a>);

impl FetchProgress for Progress<'_> {
    fn on_start(&self, package: &str, url: &str, total: Option<u64>) {
        self.0.on_start(package, url, total)
    }
    fn on_bytes(&self, package: &str, n: u64) {
        self.0.on_bytes(package, n)
    }
    fn on_done(&self, package: &str) {
        self.0.on_done(package)
    }
    fn on_corrupted(&self, r: &SourceRequest) {
        eprintln!("warning: the cached `{}` ({}) is corrupted; fetching it again", r.file_name, r.sha256);
    }
}

fn fetch_failure(e: FetchVerifiedError, offline: bool, lock: Option<&LockFile>) -> Failure {
    let FetchVerifiedError::Fetch { failures, .. } = &e else { return Failure::new(exit::FETCH, e) };
    let not_found = failures.iter().any(|f| matches!(f, FetchError::NotFound { .. }));
    let code = if offline && not_found { exit::OFFLINE } else { exit::FETCH };
    let details = failures.iter().flat_map(|f| std::iter::once(format!("error: {f}")).chain(triage(f, lock))).collect();
    let hint = if let [f @ (FetchError::Tree { .. } | FetchError::TreeChanged { .. })] = failures.as_slice() {
        super::build::tree_hint(f)
    } else if offline {
        "bring the files in with `compose sources import BUNDLE`, or add `--mirror DIR`".into()
    } else {
        "check the recipes' url and sha256; `--mirror DIR` adds a place to look".into()
    };
    Failure { details, hint: Some(hint), ..Failure::new(code, e) }
}

/// What a hash mismatch means, against what the lock recorded (see `compose::source::triage::mismatch`).
pub fn triage(e: &FetchError, lock: Option<&LockFile>) -> Vec<String> {
    triage::mismatch(e, |sha| lock.and_then(|l| l.contents_of(sha)))
}

pub fn fetch(args: FetchArgs) -> Result<(), Failure> {
    let common = common(&args.common)?;
    let closure = load::closure(&args.recipes, &args.toolchain)?;
    let requests = requests(&closure);
    let _held = super::cache::hold_shared(&common.cache_dir)?;
    let cache = open_cache(&common)?;
    let started = std::time::Instant::now();
    let fetched = fetch_verified(&cache, &requests, &common, args.quiet, None)?;
    let mut bytes = 0;
    for (r, p) in requests.iter().zip(&fetched.paths) {
        let size = p.metadata().map(|m| m.len()).unwrap_or(0);
        bytes += size;
        println!("{}  {:>10}  {}  ({})", r.sha256, size, r.file_name, r.package);
    }
    if !args.quiet {
        eprintln!(
            "{} source(s), {bytes} bytes: {} verified in the cache, {} fetched ({:.1}s)",
            requests.len(),
            fetched.cached,
            requests.len() - fetched.cached,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

pub fn sources(cmd: SourcesCommand) -> Result<(), Failure> {
    match cmd {
        SourcesCommand::Bundle(args) => super::legal::run(args),
        SourcesCommand::Export { recipes, output, toolchain, common } => export(&recipes, &output, &toolchain, &common),
        SourcesCommand::Import { bundle, common } => import(&bundle, &common),
    }
}

fn export(recipes: &[PathBuf], output: &Path, toolchain: &str, common: &CommonArgs) -> Result<(), Failure> {
    let common = self::common(common)?;
    let closure = load::closure(recipes, toolchain)?;
    let cache = open_cache(&common)?;
    fetch_verified(&cache, &requests(&closure), &common, true, None)?;
    let list = bundle::sources_of(closure.graph.iter().flat_map(|g| g.order().into_iter().map(|i| g.recipe(i))));
    let size =
        bundle::export(&cache, &list, output, common.source_date_epoch).map_err(|e| Failure::new(exit::FETCH, e))?;
    println!("{}", output.display());
    eprintln!("wrote `{}`: {} source(s), {size} bytes", output.display(), list.len());
    Ok(())
}

fn import(path: &Path, common: &CommonArgs) -> Result<(), Failure> {
    let common = self::common(common)?;
    let _held = super::cache::hold_shared(&common.cache_dir)?;
    let cache = open_cache(&common)?;
    let report = bundle::import(&cache, path).map_err(|e| {
        let hint = match e {
            BundleError::Corrupted { .. } | BundleError::Foreign { .. } | BundleError::Missing { .. } => {
                Some("export the bundle again on the connected side, and compare its sha256 after the transfer".into())
            }
            _ => None,
        };
        Failure { hint, ..Failure::new(exit::BUNDLE, e) }
    })?;
    for s in &report.added {
        println!("added    {}  {}", s.sha256, s.file_name);
    }
    for s in &report.already {
        println!("present  {}  {}", s.sha256, s.file_name);
    }
    eprintln!(
        "imported `{}` into `{}`: {} added, {} already present, every sha256 verified",
        path.display(),
        common.cache_dir.display(),
        report.added.len(),
        report.already.len()
    );
    Ok(())
}

/// A lock that cannot be resolved: a host compiler that cannot be probed is a host problem (exit 14).
pub fn lock_failure(e: compose::lock::LockError) -> Failure {
    match e {
        compose::lock::LockError::HostCompiler(t) => {
            let hint = t.hint();
            Failure { hint, ..Failure::new(exit::HOST, compose::lock::LockError::HostCompiler(t)) }
        }
        e => Failure::new(exit::LOCKED, e),
    }
}

pub fn lock(args: LockArgs) -> Result<(), Failure> {
    let common = common(&args.common)?;
    let platforms = super::platforms(args.platform.as_deref())?;
    let closure = compose::pipeline::load_for(std::slice::from_ref(&args.recipe), &args.toolchain, &platforms)
        .map_err(load::load_failure)?;
    let spec = &closure.specs[0];
    let out = args.output.clone().unwrap_or_else(|| spec.recipe.with_extension("lock"));
    let requests = requests(&closure);
    let fetched = fetch_verified(&open_cache(&common)?, &requests, &common, false, None)?;
    let contents = triage::summarize_all(&requests, &fetched.paths).map_err(|e| Failure::new(exit::UNPACK, e))?;
    let lock = LockFile::resolve(&spec.name, &spec.digest, closure.graph.as_ref(), &closure.toolchain, &contents)
        .map_err(lock_failure)?;
    lock.write(&out).map_err(|e| Failure::new(exit::LOCKED, e))?;
    println!("{}", out.display());
    let sources: usize = lock.packages.iter().map(|p| p.sources.len()).sum();
    let (packages, toolchain) = (lock.packages.len(), &lock.toolchain.name);
    eprintln!("locked `{}`: {packages} package(s), {sources} source(s), toolchain `{toolchain}`", spec.name);
    Ok(())
}
