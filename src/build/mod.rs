//! Builds: turns a `BuildGraph` into artifacts, one per package.
//!
//! The main thread owns the graph, the ready queue and the running set (cargo's job-queue model).
//! Workers build one package each and only send messages back. One GNU make jobserver of N tokens,
//! served by compose, gates every package build and is inherited by every make, so all builds together
//! never run more than N jobs. The ready package with the longest remaining path (weighted by its last
//! recorded build time) goes first.
//!
//! `build` reads as its steps: with a remote cache, `remote::pull` (what the registry has for keys the
//! store lacks), then `plan` (keys, what the store holds), take the stored artifacts, check the host
//! tools, probe the sandbox, fetch every source, make the jobserver, `drain::drain`, and with
//! `--cache-push`, `remote::push` of what was built. The rules
//! of the schedule live in `queue` (pure data, unit-tested); `drain` runs them with threads and a
//! channel, and owns every piece of mutable state in one `DrainState`.
//!
//! Several compose processes may share one cache. Each package is built under its key's build lock
//! (`lock::KeyLock`, `artifacts-v1/<name>-<key>.lock`): a process that finds it held says so, waits
//! without a jobserver token, then takes the artifact the holder stored, so no key is built twice at
//! once. Every build works in its own claimed `work/<name>-<key prefix>-<pid>/`, so no process touches
//! another's files.

pub mod artifact;
mod drain;
mod fetch;
pub mod file_index;
pub mod host;
mod janitor;
pub mod job;
pub mod key;
pub mod lock;
mod plan;
mod queue;
pub mod reason;
pub mod remote;
pub mod sandbox;
#[cfg(test)]
mod tests;

use petgraph::graph::NodeIndex;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::graph::BuildGraph;
use crate::report::Reporter;
use crate::source::{FetchError, FetchSettings};
use artifact::{Artifact, ArtifactStore};
pub use fetch::{FetchBridge, source_requests};
pub use janitor::Janitor;
pub use plan::{PlanStep, host_tools, plan};
pub use reason::RebuildReason;

pub struct BuildSettings {
    pub jobs: usize,
    pub sandboxed: bool,
    pub cache_root: PathBuf,
    pub source_date_epoch: u64,
    pub keep_going: bool,
    pub fetch: FetchSettings,
    /// Extra variables for every build phase, after the fixed environment (which wins on a clash). Not part
    /// of build keys: only `compose verify` sets it (through `COMPOSE_INTERNAL_PHASE_ENV`), to run its
    /// perturbed rebuild under a shifted clock in a fresh cache.
    pub phase_env: Vec<(String, String)>,
    /// `--cache REGISTRY/REPO`: a registry below the local store (`remote`); `None`: local only.
    pub remote: Option<remote::RemoteCacheSettings>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("`{package}`: phase `{phase}` failed (exit status {status})")]
    Phase { package: String, phase: String, status: String, log: PathBuf, work_dir: PathBuf },
    #[error("`{package}`: cannot unpack its sources")]
    Unpack { package: String, source: crate::source::unpack::UnpackError },
    #[error("`{package}`: cannot {op} `{}`", path.display())]
    Io { package: String, op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("`{package}`: cannot prepare the toolchain")]
    Toolchain { package: String, source: Box<crate::toolchain::ToolchainError> },
    #[error("`{package}`: cannot store the artifact")]
    Store { package: String, source: artifact::ArtifactError },
    #[error("cannot identify the host compiler")]
    HostCompiler(#[source] Box<crate::toolchain::ToolchainError>),
    #[error("cannot open the artifact store")]
    OpenStore(#[source] artifact::ArtifactError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Sandbox(#[from] sandbox::SandboxError),
    #[error("cannot create the jobserver")]
    Jobserver(#[source] std::io::Error),
    #[error("missing host tools: {}", missing.iter().map(|m| format!("`{}` (Debian package `{}`, needed by {})", m.command, m.debian, m.packages.join(", "))).collect::<Vec<_>>().join("; "))]
    HostTools { missing: Vec<host::MissingTool> },
    #[error("`{package}`: the build panicked: {message} (a compose bug; please report it)")]
    Panicked { package: String, message: String },
    #[error("`{package}`: cannot prepare its build: {missing} is missing (a compose bug; please report it)")]
    PrepareJob { package: String, missing: String },
    #[error("{} package(s) failed to build", failures.len())]
    Failed { failures: Vec<BuildError> },
}

/// Builds every package of the graph that the store does not already hold. Returns each node's artifact.
pub fn build(
    graph: &BuildGraph,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
    janitor: &Janitor,
) -> Result<HashMap<NodeIndex, Artifact>, BuildError> {
    build_with(graph, settings, reporter, janitor, &job::run)
}

/// `build`, with `runner` building each package (tests pass one that panics, or that does not run
/// anything).
fn build_with(
    graph: &BuildGraph,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
    janitor: &Janitor,
    runner: &drain::Runner<'_>,
) -> Result<HashMap<NodeIndex, Artifact>, BuildError> {
    let store = ArtifactStore::open(&settings.cache_root).map_err(BuildError::OpenStore)?;
    let remote = settings.remote.as_ref().map(|r| remote::Remote::new(r, reporter));
    let pulled = match &remote {
        Some(r) => remote::pull(graph, settings, &store, r)?,
        None => HashSet::new(),
    };
    let steps = plan(graph, settings)?;
    // What killed builds and ended failed runs left, in any process: only unclaimed directories go.
    lock::sweep(&settings.cache_root.join("work"));
    store.sweep();
    let (done, todo) = take_stored(&steps, &store, reporter, &pulled);
    if todo.is_empty() {
        return Ok(done);
    }
    check_host(graph, &todo)?;
    if settings.sandboxed {
        sandbox::probe()?;
    }
    let sources = fetch::fetch_sources(graph, todo.iter().copied(), &settings.cache_root, &settings.fetch, reporter)?;
    let jobserver = Jobserver::new(settings.jobs)?;
    // Probed by `plan` already: this is the process's memo.
    let host_tools = plan::host_tools(graph)?;
    let cx = drain::Context {
        graph,
        settings,
        reporter,
        janitor,
        store: &store,
        sources: &sources,
        jobserver: &jobserver,
        runner,
        host_tools: &host_tools,
    };
    let drained = drain::drain(&cx, done, &todo)?;
    // What did build is shared even when something else failed (`--keep-going`).
    if let Some(r) = remote.as_ref().filter(|r| r.settings.push) {
        remote::push(r, graph, &drained.built, &drained.artifacts, &settings.cache_root.join("work"));
    }
    all_or_failures(drained.artifacts, drained.failures)
}

/// The artifacts of the plan's stored steps, and the nodes left to build. A stored artifact that has
/// gone since the plan (removed by hand, or its `meta.json` now unreadable) is built again. Those just
/// `pulled` from the remote cache were reported as such, not as cached.
fn take_stored(
    steps: &[PlanStep],
    store: &ArtifactStore,
    reporter: &dyn Reporter,
    pulled: &HashSet<NodeIndex>,
) -> (HashMap<NodeIndex, Artifact>, Vec<NodeIndex>) {
    let mut done = HashMap::new();
    let mut todo = Vec::new();
    for s in steps {
        match s.key.as_deref().filter(|_| s.cached).and_then(|k| store.get(&s.name, k)) {
            Some(a) => {
                done.insert(s.node, a);
                if !pulled.contains(&s.node) {
                    reporter.on_cached(&s.label);
                }
            }
            None => todo.push(s.node),
        }
    }
    (done, todo)
}

/// Every host command the packages to build need is there, or the error lists all that are missing.
fn check_host(graph: &BuildGraph, todo: &[NodeIndex]) -> Result<(), BuildError> {
    let missing = host::missing(todo.iter().map(|&n| (graph.label(n), graph.recipe(n).build.host_tools.as_slice())));
    if missing.is_empty() { Ok(()) } else { Err(BuildError::HostTools { missing }) }
}

/// One GNU make jobserver for the whole build, and the `MAKEFLAGS` that lets every make join it.
struct Jobserver {
    client: jobserver::Client,
    makeflags: String,
}

impl Jobserver {
    fn new(jobs: usize) -> Result<Self, BuildError> {
        let client = jobserver::Client::new(jobs.max(1)).map_err(BuildError::Jobserver)?;
        let mut probe = std::process::Command::new("true");
        client.configure_make(&mut probe);
        let makeflags = probe
            .get_envs()
            .find(|(k, _)| *k == "MAKEFLAGS")
            .and_then(|(_, v)| v)
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Jobserver { client, makeflags })
    }
}

/// `ok` if nothing failed, else the one failure, or all of them.
fn all_or_failures<T>(ok: T, mut failures: Vec<BuildError>) -> Result<T, BuildError> {
    if failures.len() > 1 {
        return Err(BuildError::Failed { failures });
    }
    match failures.pop() {
        None => Ok(ok),
        Some(e) => Err(e),
    }
}
