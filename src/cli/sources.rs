//! The air-gap commands: `compose fetch`, `compose sources export|import`, `compose lock`, and
//! hash-mismatch triage for every command that fetches.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use rayon::prelude::*;

use compose::build::{self, FetchBridge};
use compose::lock::LockFile;
use compose::source::bundle::{self, BundleError, BundleSource};
use compose::source::triage;
use compose::source::{FetchError, SourceCache, SourceRequest};

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
    #[command(flatten)]
    common: CommonArgs,
}

pub(super) fn common(args: &CommonArgs) -> Result<settings::Common, Failure> {
    settings::common(args, None).map_err(|m| Failure::msg(exit::USAGE, m, None))
}

pub(super) fn requests(c: &load::Closure) -> Vec<SourceRequest> {
    c.graph.as_ref().map(|g| build::source_requests(g, g.order())).unwrap_or_default()
}

/// Verifies what is cached (rehashing it: bit rot is replaced), fetches the rest, and returns each
/// request's cached path, or every failure at once.
pub(super) fn fetch_verified(
    cache: &SourceCache,
    requests: &[SourceRequest],
    common: &settings::Common,
    quiet: bool,
    lock: Option<&LockFile>,
) -> Result<(Vec<PathBuf>, usize), Failure> {
    let rotten: Vec<&SourceRequest> = requests
        .par_iter()
        .filter(|r| cache.lookup(&r.sha256).is_some() && !cache.verify(&r.sha256).unwrap_or(false))
        .collect();
    for r in &rotten {
        eprintln!("warning: the cached `{}` ({}) is corrupted; fetching it again", r.file_name, r.sha256);
        cache.remove(&r.sha256).map_err(|e| Failure::new(exit::FETCH, e))?;
    }
    let cached = requests.iter().filter(|r| cache.lookup(&r.sha256).is_some()).count();
    let reporter = CliReporter::new(quiet, false);
    let fetch = load::fetch_settings(common);
    let results = compose::source::fetch_all(cache, requests, &fetch, &FetchBridge(&reporter));
    let mut paths = Vec::new();
    let mut details = Vec::new();
    let mut code = exit::FETCH;
    for r in results {
        match r {
            Ok(p) => paths.push(p),
            Err(e) => {
                if common.offline && matches!(e, FetchError::NotFound { .. }) {
                    code = exit::OFFLINE;
                }
                details.push(format!("error: {e}"));
                details.extend(triage(&e, lock));
            }
        }
    }
    if !details.is_empty() {
        let n = details.iter().filter(|d| d.starts_with("error: ")).count();
        let hint = if common.offline {
            "bring the files in with `compose sources import BUNDLE`, or add `--mirror DIR`"
        } else {
            "check the recipes' url and sha256; `--mirror DIR` adds a place to look"
        };
        return Err(Failure {
            details,
            hint: Some(hint.into()),
            ..Failure::msg(code, format!("{n} of {} source(s) could not be fetched", requests.len()), None)
        });
    }
    Ok((paths, cached))
}

pub fn fetch(args: FetchArgs) -> Result<(), Failure> {
    let common = common(&args.common)?;
    let closure = load::closure(&args.recipes, &args.toolchain)?;
    let requests = requests(&closure);
    let _held = super::cache::hold_shared(&common.cache_dir)?;
    let cache = SourceCache::open(&common.cache_dir).map_err(|e| Failure::new(exit::FETCH, e))?;
    let started = std::time::Instant::now();
    let (paths, cached) = fetch_verified(&cache, &requests, &common, args.quiet, None)?;
    let mut bytes = 0;
    for (r, p) in requests.iter().zip(&paths) {
        let size = p.metadata().map(|m| m.len()).unwrap_or(0);
        bytes += size;
        println!("{}  {:>10}  {}  ({})", r.sha256, size, r.file_name, r.package);
    }
    if !args.quiet {
        eprintln!(
            "{} source(s), {bytes} bytes: {cached} verified in the cache, {} fetched ({:.1}s)",
            requests.len(),
            requests.len() - cached,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

pub fn sources(cmd: SourcesCommand) -> Result<(), Failure> {
    match cmd {
        SourcesCommand::Bundle(args) => super::legal::run(args),
        SourcesCommand::Export { recipes, output, toolchain, common: c } => {
            let common = common(&c)?;
            let closure = load::closure(&recipes, &toolchain)?;
            let requests = requests(&closure);
            let cache = SourceCache::open(&common.cache_dir).map_err(|e| Failure::new(exit::FETCH, e))?;
            fetch_verified(&cache, &requests, &common, true, None)?;
            let mut by_sha: BTreeMap<String, BundleSource> = BTreeMap::new();
            if let Some(g) = &closure.graph {
                for i in g.order() {
                    let r = g.recipe(i);
                    for s in &r.sources {
                        let e = by_sha.entry(s.sha256.clone()).or_insert_with(|| BundleSource {
                            sha256: s.sha256.clone(),
                            file_name: s.file_name(),
                            size: 0,
                            packages: Vec::new(),
                            urls: std::iter::once(s.url.clone()).chain(s.mirrors.iter().cloned()).collect(),
                        });
                        e.packages.push(r.name.clone());
                    }
                }
            }
            let list: Vec<BundleSource> = by_sha.into_values().collect();
            let size = bundle::export(&cache, &list, &output, common.source_date_epoch)
                .map_err(|e| Failure::new(exit::FETCH, e))?;
            println!("{}", output.display());
            eprintln!("wrote `{}`: {} source(s), {size} bytes", output.display(), list.len());
            Ok(())
        }
        SourcesCommand::Import { bundle: path, common: c } => {
            let common = common(&c)?;
            let _held = super::cache::hold_shared(&common.cache_dir)?;
            let cache = SourceCache::open(&common.cache_dir).map_err(|e| Failure::new(exit::FETCH, e))?;
            let report = bundle::import(&cache, &path).map_err(|e| {
                let hint = match e {
                    BundleError::Corrupted { .. } | BundleError::Foreign { .. } | BundleError::Missing { .. } => Some(
                        "export the bundle again on the connected side, and compare its sha256 after the transfer"
                            .into(),
                    ),
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
    }
}

pub fn lock(args: LockArgs) -> Result<(), Failure> {
    let common = common(&args.common)?;
    let closure = load::closure(std::slice::from_ref(&args.recipe), &args.toolchain)?;
    let spec = &closure.specs[0];
    let out = args.output.clone().unwrap_or_else(|| spec.recipe.with_extension("lock"));
    let requests = requests(&closure);
    let cache = SourceCache::open(&common.cache_dir).map_err(|e| Failure::new(exit::FETCH, e))?;
    let (paths, _) = fetch_verified(&cache, &requests, &common, false, None)?;
    // Summarising unpacks every archive in memory: CPU work, on rayon.
    let contents: HashMap<String, triage::TreeSummary> = requests
        .par_iter()
        .zip(paths.par_iter())
        .map(|(r, p)| triage::summarize(p).map(|t| (r.sha256.clone(), t)))
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::new(exit::UNPACK, e))?;
    let lock = LockFile::resolve(&spec.name, &spec.digest, closure.graph.as_ref(), &closure.toolchain, &contents)
        .map_err(|e| Failure::new(exit::LOCKED, e))?;
    lock.write(&out).map_err(|e| Failure::new(exit::LOCKED, e))?;
    println!("{}", out.display());
    let sources: usize = lock.packages.iter().map(|p| p.sources.len()).sum();
    eprintln!(
        "locked `{}`: {} package(s), {sources} source(s), toolchain `{}`",
        spec.name,
        lock.packages.len(),
        lock.toolchain.name
    );
    Ok(())
}

/// What a hash mismatch means: when the download was kept and the lock records what the expected
/// archive unpacks to, compare contents; otherwise say what arrived.
pub fn triage(e: &FetchError, lock: Option<&LockFile>) -> Vec<String> {
    let FetchError::HashMismatch { expected, kept: Some(kept), .. } = e else { return Vec::new() };
    let got = match triage::summarize(kept) {
        Ok(t) => t,
        Err(err) => return vec![format!("triage: the download is not a readable archive ({err})")],
    };
    match lock.and_then(|l| l.contents_of(expected)) {
        Some(want) => vec![format!("triage: {}", triage::explain(want, &got))],
        None => vec![
            format!(
                "triage: the download holds {} files / {} bytes (tree {}); no lock file records what {} unpacks to,",
                got.files,
                got.bytes,
                got.tree,
                &expected[..16]
            ),
            "  so compose cannot tell a recompressed archive from a changed one: `compose lock` where it matched"
                .into(),
        ],
    }
}
