//! `compose cache du` and `compose cache prune`: flags into a `compose::cache` call, its answer into
//! lines. Sizes are disk usage (allocated blocks), each inode counted once.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use compose::cache::{self, CacheError, Kind, PruneOptions, PruneReport, PruneRequest, Usage, format_size};
use compose::pipeline;

use super::settings::{self, CommonArgs};
use super::{Failure, exit, load};

#[derive(Subcommand)]
pub enum CacheCommand {
    /// How much the cache takes, by kind: sources, artifacts (per package, with its count of keys), the
    /// export memo, logs, work directories, and the total. Disk usage; hard links counted once.
    Du(DuArgs),
    /// Remove what no recipe of the set needs under the current toolchain and settings (artifacts of
    /// other keys, the export memo, logs of other packages, work directories); waits for running builds.
    Prune(PruneArgs),
}

#[derive(Args)]
pub struct DuArgs {
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
    /// Cache directory. Default: $COMPOSE_CACHE_DIR, the config file's `cache_dir`, else
    /// $XDG_CACHE_HOME/compose.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct PruneArgs {
    /// The recipes (package or image) whose closures keep their artifacts. Default: every RECIPES/*.toml.
    recipes: Vec<PathBuf>,
    /// Where the recipes are when none is given.
    #[arg(long, default_value = "recipes")]
    recipes_dir: PathBuf,
    /// The toolchain the kept keys are computed for.
    #[arg(long, default_value = "musl")]
    toolchain: String,
    /// Keep the keys of builds without the sandbox (the sandbox is part of every key).
    #[arg(long)]
    no_sandbox: bool,
    /// Also keep the N most recently used artifacts of each package.
    #[arg(long, value_name = "N", default_value_t = 0)]
    keep_last: usize,
    /// Then remove least recently used artifacts until the cache takes at most SIZE (bytes, or with K, M,
    /// G, T: binary units, e.g. `10G`).
    #[arg(long, value_name = "SIZE", value_parser = cache::parse_size)]
    max_size: Option<u64>,
    /// Also remove sources no recipe of the set names (they may be the only copy on an air-gapped site).
    #[arg(long)]
    sources: bool,
    /// List what would be removed and the space it would free; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Cache directory (see `compose cache du --help`).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

pub fn run(cmd: CacheCommand) -> Result<(), Failure> {
    match cmd {
        CacheCommand::Du(args) => du(args),
        CacheCommand::Prune(args) => prune(args),
    }
}

fn cache_dir(flag: Option<PathBuf>) -> Result<settings::Common, Failure> {
    let args = CommonArgs { cache_dir: flag, ..CommonArgs::default() };
    settings::common(&args, None).map_err(|m| Failure::msg(exit::USAGE, m, None))
}

/// A cache error as a failure (also for the shared lock that fetch and import take).
pub(super) fn failure(e: CacheError) -> Failure {
    let hint = match &e {
        CacheError::Lock { .. } | CacheError::OpenLock { .. } => {
            Some("the cache directory must be writable and on a filesystem with flock".into())
        }
        _ => None,
    };
    Failure { hint, ..Failure::new(exit::CACHE, e) }
}

/// The shared hold on the cache that `fetch` and `sources import` keep while they write to it.
pub(super) fn hold_shared(cache_root: &std::path::Path) -> Result<cache::CacheLock, Failure> {
    let waiting = || eprintln!("waiting for `compose cache prune` to finish (cache.lock)");
    cache::CacheLock::shared(cache_root, &waiting).map_err(failure)
}

fn du(args: DuArgs) -> Result<(), Failure> {
    let common = cache_dir(args.cache_dir)?;
    let usage = cache::usage(&common.cache_dir).map_err(failure)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&usage).expect("usage serialises"));
    } else {
        print_usage(&usage);
    }
    Ok(())
}

fn print_usage(u: &Usage) {
    println!("{:<22} {:>7} {:>14} {:>10}", "kind", "entries", "bytes", "size");
    for k in &u.kinds {
        let name = match k.kind {
            Kind::Artifacts => format!("artifacts ({} pkgs)", u.packages.len()),
            other => other.name().to_string(),
        };
        println!("{name:<22} {:>7} {:>14} {:>10}", k.entries, k.bytes, format_size(k.bytes));
        if k.kind == Kind::Artifacts {
            for p in &u.packages {
                let keys = format!("{} key{}", p.keys, if p.keys == 1 { "" } else { "s" });
                println!("  {:<20} {keys:>7} {:>14} {:>10}", p.name, p.bytes, format_size(p.bytes));
            }
        }
    }
    println!("{:<22} {:>7} {:>14} {:>10}", "total", "", u.total, format_size(u.total));
}

fn prune(args: PruneArgs) -> Result<(), Failure> {
    let common = cache_dir(args.cache_dir.clone())?;
    let recipes = if args.recipes.is_empty() {
        pipeline::recipes_in(&args.recipes_dir).map_err(load::load_failure)?
    } else {
        args.recipes.clone()
    };
    // Every target of the toolchain whose compiler is here keeps its artifacts: a prune after an arm64
    // build must not take them (a target that cannot be built here cannot have its keys computed).
    let host = load::closure(&recipes, &args.toolchain)?;
    let tc_path = host.toolchain.path.to_string_lossy().into_owned();
    let platforms: Vec<_> = compose::toolchain::load_all(&tc_path, std::path::Path::new("."))
        .unwrap_or_default()
        .into_iter()
        .filter(|tc| compose::toolchain::host::probe(tc).is_ok())
        .map(|tc| tc.platform)
        .collect();
    let closure = if platforms.len() > 1 {
        pipeline::load_for(&recipes, &args.toolchain, &platforms).map_err(load::load_failure)?
    } else {
        host
    };
    let request = PruneRequest {
        graph: closure.graph,
        toolchain: closure.toolchain,
        settings: common.build(!args.no_sandbox, false),
        options: PruneOptions {
            keep_last: args.keep_last,
            max_size: args.max_size,
            sources: args.sources,
            dry_run: args.dry_run,
        },
    };
    let waiting = || eprintln!("waiting for running builds to finish (cache.lock)");
    let report = cache::prune(&request, &waiting).map_err(failure)?;
    print_report(&report, recipes.len());
    Ok(())
}

fn print_report(r: &PruneReport, recipes: usize) {
    let verb = if r.dry_run { "would remove" } else { "removed" };
    for x in &r.removed {
        println!("{verb:<12}  {:<9}  {:>12}  {}  ({})", x.kind.name(), x.bytes, x.path.display(), x.why.describe());
    }
    let freed = format!("{} ({} bytes)", format_size(r.freed()), r.freed());
    let (now, then) = (format_size(r.before), format_size(r.after));
    if r.dry_run {
        eprintln!("dry run: {} entries would go, freeing {freed}: {now} -> {then}", r.removed.len());
    } else {
        eprintln!("pruned for {recipes} recipe file(s): {} entries, freed {freed}: {now} -> {then}", r.removed.len());
    }
}
