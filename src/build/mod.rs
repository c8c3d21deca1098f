//! Builds: turns a `BuildGraph` into artifacts, one per package.
//!
//! The main thread owns the graph, the ready queue and the running set (cargo's job-queue model).
//! Workers build one package each and only send messages back. One GNU make jobserver of N tokens,
//! served by compose, gates every package build and is inherited by every make, so all builds together
//! never run more than N jobs. The ready package with the longest remaining path (weighted by its last
//! recorded build time) goes first.

pub mod artifact;
pub mod file_index;
pub mod host;
pub mod job;
pub mod key;
mod queue;
pub mod reason;
pub mod sandbox;

use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use petgraph::graph::NodeIndex;

use crate::graph::BuildGraph;
use crate::report::Reporter;
use crate::source::{FetchError, FetchProgress, FetchSettings, SourceCache, SourceRequest};
use crate::toolchain::Toolchain;
use artifact::{Artifact, ArtifactStore};
use key::KeyInputs;
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
    Toolchain { package: String, source: crate::toolchain::ToolchainError },
    #[error("`{package}`: cannot store the artifact")]
    Store { package: String, source: artifact::ArtifactError },
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
    #[error("{} package(s) failed to build", failures.len())]
    Failed { failures: Vec<BuildError> },
}

/// One line of a plan.
#[derive(Debug, Clone)]
pub struct PlanStep {
    pub node: NodeIndex,
    pub name: String,
    pub version: String,
    /// `None` while a dependency must be built first: the key covers dependencies' outputs.
    pub key: Option<String>,
    pub inputs: Option<KeyInputs>,
    pub cached: bool,
    pub toolchain: bool,
    /// Why it builds: what differs from the newest artifact of this package (empty if there is none,
    /// or if the key is not known yet).
    pub reasons: Vec<RebuildReason>,
}

/// What would be built, in order, and what is already in the store.
pub fn plan(graph: &BuildGraph, toolchain: &Toolchain, settings: &BuildSettings) -> Result<Vec<PlanStep>, BuildError> {
    let store = ArtifactStore::open(&settings.cache_root).map_err(BuildError::OpenStore)?;
    let mut digests: HashMap<NodeIndex, String> = HashMap::new();
    let mut steps = Vec::new();
    for i in graph.order() {
        let inputs = key::inputs_for(graph, toolchain, i, settings.sandboxed, settings.source_date_epoch, |d| {
            digests.get(&d).cloned()
        });
        let name = graph.name(i).to_string();
        let key = inputs.as_ref().map(|k| k.key());
        let cached = key.as_ref().and_then(|k| store.get(&name, k));
        if let Some(a) = &cached {
            digests.insert(i, a.meta.tree_digest.clone());
        }
        let reasons = match (&inputs, &cached) {
            (Some(now), None) => rebuild_reasons(&store, &name, now),
            _ => Vec::new(),
        };
        steps.push(PlanStep {
            node: i,
            version: graph.recipe(i).version.clone(),
            cached: cached.is_some(),
            key,
            inputs,
            toolchain: graph.graph[i].in_toolchain,
            reasons,
            name,
        });
    }
    Ok(steps)
}

/// What differs from the newest artifact of `name`, or that there is none.
fn rebuild_reasons(store: &ArtifactStore, name: &str, now: &KeyInputs) -> Vec<RebuildReason> {
    match store.latest(name) {
        None => vec![RebuildReason::NeverBuilt],
        Some(a) => {
            let d = now.differences(&a.meta.inputs);
            if d.is_empty() { vec![RebuildReason::NoArtifactUnderKey] } else { d }
        }
    }
}

/// Passes source download progress to a `Reporter`.
pub struct FetchBridge<'a>(pub &'a dyn Reporter);
impl FetchProgress for FetchBridge<'_> {
    fn on_start(&self, package: &str, url: &str, total: Option<u64>) {
        self.0.on_fetch_start(package, url, total)
    }
    fn on_bytes(&self, package: &str, n: u64) {
        self.0.on_fetch_bytes(package, n)
    }
    fn on_done(&self, package: &str) {
        self.0.on_fetch_done(package)
    }
}

/// The source requests of `nodes`, each sha256 once (the first package to name it names it).
pub fn source_requests(graph: &BuildGraph, nodes: impl IntoIterator<Item = NodeIndex>) -> Vec<SourceRequest> {
    let mut requests: Vec<SourceRequest> = Vec::new();
    for n in nodes {
        for src in &graph.recipe(n).sources {
            if requests.iter().any(|r| r.sha256 == src.sha256) {
                continue;
            }
            let mut urls = vec![src.url.clone()];
            urls.extend(src.mirrors.iter().cloned());
            requests.push(SourceRequest {
                package: graph.name(n).to_string(),
                file_name: src.file_name(),
                sha256: src.sha256.clone(),
                urls,
                debian_pool: src.debian.clone(),
            });
        }
    }
    requests
}

/// Fetches every source of the packages in `steps` that must be built, all at once. All fetch errors
/// are collected before anything builds.
fn fetch_sources(
    graph: &BuildGraph,
    steps: &[&PlanStep],
    cache: &SourceCache,
    settings: &FetchSettings,
    reporter: &dyn Reporter,
) -> Result<HashMap<String, PathBuf>, BuildError> {
    let requests = source_requests(graph, steps.iter().map(|s| s.node));
    let results = crate::source::fetch_all(cache, &requests, settings, &FetchBridge(reporter));
    let mut paths = HashMap::new();
    let mut failures = Vec::new();
    for (r, result) in requests.iter().zip(results) {
        match result {
            Ok(p) => {
                paths.insert(r.sha256.clone(), p);
            }
            Err(e) => failures.push(BuildError::Fetch(e)),
        }
    }
    match failures.len() {
        0 => Ok(paths),
        1 => Err(failures.pop().expect("one failure")),
        _ => Err(BuildError::Failed { failures }),
    }
}

enum Msg {
    Token(std::io::Result<jobserver::Acquired>),
    Phase(NodeIndex, String),
    Done(NodeIndex, Box<Result<Artifact, BuildError>>),
}

#[derive(PartialEq)]
struct Ready(f64, NodeIndex);
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ready {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then_with(|| other.1.cmp(&self.1))
    }
}

/// Builds every package of the graph that the store does not already hold. Returns each node's artifact.
/// Removes the work directories of finished builds on background threads, so that neither a dependent
/// package nor the image waits for thousands of unlinks (1 to 1.5 s for musl or busybox here). Dropping
/// it waits for every removal, so nothing is left behind once its owner is done.
#[derive(Default)]
pub struct Janitor {
    removals: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Janitor {
    pub fn remove(&self, dirs: impl IntoIterator<Item = PathBuf> + Send + 'static) {
        let removal = std::thread::spawn(move || {
            for d in dirs {
                let _ = std::fs::remove_dir_all(d);
            }
        });
        self.removals.lock().unwrap_or_else(|e| e.into_inner()).push(removal);
    }
}

impl Drop for Janitor {
    fn drop(&mut self) {
        for removal in self.removals.get_mut().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = removal.join();
        }
    }
}

pub fn build(
    graph: &BuildGraph,
    toolchain: Arc<Toolchain>,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
    janitor: &Janitor,
) -> Result<HashMap<NodeIndex, Artifact>, BuildError> {
    let steps = plan(graph, &toolchain, settings)?;
    let store = ArtifactStore::open(&settings.cache_root).map_err(BuildError::OpenStore)?;
    let mut done: HashMap<NodeIndex, Artifact> = HashMap::new();
    for s in steps.iter().filter(|s| s.cached) {
        done.insert(
            s.node,
            store.get(&s.name, s.key.as_deref().expect("cached steps have keys")).expect("plan saw it"),
        );
        reporter.on_cached(&s.name);
    }
    let todo: Vec<&PlanStep> = steps.iter().filter(|s| !s.cached).collect();
    if todo.is_empty() {
        return Ok(done);
    }
    let missing =
        host::missing(todo.iter().map(|s| (s.name.as_str(), graph.recipe(s.node).build.host_tools.as_slice())));
    if !missing.is_empty() {
        return Err(BuildError::HostTools { missing });
    }
    if settings.sandboxed {
        sandbox::probe()?;
    }
    let cache = SourceCache::open(&settings.cache_root)?;
    let source_paths = fetch_sources(graph, &todo, &cache, &settings.fetch, reporter)?;

    let client = jobserver::Client::new(settings.jobs.max(1)).map_err(BuildError::Jobserver)?;
    let makeflags = {
        let mut probe = std::process::Command::new("true");
        client.configure_make(&mut probe);
        probe
            .get_envs()
            .find(|(k, _)| *k == "MAKEFLAGS")
            .and_then(|(_, v)| v)
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let (tx, rx) = mpsc::channel::<Msg>();
    let token_tx = tx.clone();
    let helper = client
        .clone()
        .into_helper_thread(move |t| drop(token_tx.send(Msg::Token(t))))
        .map_err(BuildError::Jobserver)?;

    let prio = graph.priorities(|i| store.latest(graph.name(i)).map(|a| a.meta.build_seconds.max(0.1)).unwrap_or(1.0));
    let by_node: HashMap<NodeIndex, &PlanStep> = todo.iter().map(|s| (s.node, *s)).collect();
    let mut waiting: HashMap<NodeIndex, usize> =
        todo.iter().map(|s| (s.node, graph.deps(s.node).iter().filter(|d| !done.contains_key(d)).count())).collect();
    let mut ready: BinaryHeap<Ready> = BinaryHeap::new();
    let mut inputs: HashMap<NodeIndex, KeyInputs> = HashMap::new();
    let initially: Vec<NodeIndex> = waiting.iter().filter(|(_, n)| **n == 0).map(|(&i, _)| i).collect();
    waiting.retain(|_, n| *n > 0);
    // A node whose dependencies are all done gets its key now. If the store has it (a dependency was
    // rebuilt to identical output: early cutoff), it is done without building, and so on downstream.
    let settle = |start: Vec<NodeIndex>,
                  done: &mut HashMap<NodeIndex, Artifact>,
                  waiting: &mut HashMap<NodeIndex, usize>,
                  ready: &mut BinaryHeap<Ready>,
                  inputs: &mut HashMap<NodeIndex, KeyInputs>| {
        let mut stack = start;
        while let Some(n) = stack.pop() {
            let now = key::inputs_for(graph, &toolchain, n, settings.sandboxed, settings.source_date_epoch, |d| {
                done.get(&d).map(|a| a.meta.tree_digest.clone())
            })
            .expect("every dependency is done");
            let name = graph.name(n);
            if let Some(a) = store.get(name, &now.key()) {
                reporter.note(&format!("{name}: dependencies rebuilt to identical output; not rebuilt (early cutoff)"));
                reporter.on_cached(name);
                done.insert(n, a);
                for d in graph.dependents(n) {
                    if let Some(c) = waiting.get_mut(&d) {
                        *c -= 1;
                        if *c == 0 {
                            waiting.remove(&d);
                            stack.push(d);
                        }
                    }
                }
                continue;
            }
            reporter.on_rebuild_reasons(name, &rebuild_reasons(&store, name, &now));
            inputs.insert(n, now);
            ready.push(Ready(prio[&n], n));
        }
    };
    settle(initially, &mut done, &mut waiting, &mut ready, &mut inputs);
    let mut requested = 0usize;
    let mut running = 0usize;
    let mut failures: Vec<BuildError> = Vec::new();
    let work_root = settings.cache_root.join("work");
    let log_root = settings.cache_root.join("logs");

    std::thread::scope(|scope| {
        // Do not return early from this loop while builds run: every worker must report back.
        loop {
            while requested < ready.len() {
                helper.request_token();
                requested += 1;
            }
            if running == 0 && ready.is_empty() {
                break;
            }
            let Ok(msg) = rx.recv() else { break };
            match msg {
                Msg::Token(Err(e)) => {
                    requested -= 1;
                    failures.push(BuildError::Jobserver(e));
                    ready.clear();
                }
                Msg::Token(Ok(token)) => {
                    requested -= 1;
                    let Some(Ready(_, node)) = ready.pop() else { continue };
                    let step = by_node[&node];
                    let recipe = graph.recipe(node).clone();
                    let sources = recipe.sources.iter().map(|s| source_paths[&s.sha256].clone()).collect();
                    let sysroot = graph
                        .sysroot_closure(node)
                        .into_iter()
                        .map(|d| (graph.name(d).to_string(), done[&d].tree()))
                        .collect();
                    let job = job::Job {
                        recipe,
                        inputs: inputs[&node].clone(),
                        sources,
                        sysroot,
                        bootstrap: step.toolchain,
                        toolchain: toolchain.clone(),
                        work_root: work_root.clone(),
                        log_path: log_root.join(format!("{}.log", step.name)),
                        sandboxed: settings.sandboxed,
                        makeflags: makeflags.clone(),
                        jobs: settings.jobs,
                        source_date_epoch: settings.source_date_epoch,
                        extra_env: settings.phase_env.clone(),
                    };
                    reporter.on_build_start(&step.name);
                    running += 1;
                    let (tx, client, store) = (tx.clone(), &client, &store);
                    scope.spawn(move || {
                        let phase_tx = tx.clone();
                        let result =
                            job::run(&job, client, store, &|p| drop(phase_tx.send(Msg::Phase(node, p.to_string()))));
                        drop(token);
                        if result.is_ok() {
                            janitor.remove(job::scratch_dirs(&job));
                        }
                        let _ = tx.send(Msg::Done(node, Box::new(result)));
                    });
                }
                Msg::Phase(node, phase) => reporter.on_phase(graph.name(node), &phase),
                Msg::Done(node, result) => {
                    running -= 1;
                    match *result {
                        Ok(a) => {
                            reporter.on_build_done(graph.name(node), Duration::from_secs_f64(a.meta.build_seconds));
                            done.insert(node, a);
                            let mut now_ready = Vec::new();
                            for d in graph.dependents(node) {
                                if let Some(n) = waiting.get_mut(&d) {
                                    *n -= 1;
                                    if *n == 0 {
                                        waiting.remove(&d);
                                        now_ready.push(d);
                                    }
                                }
                            }
                            settle(now_ready, &mut done, &mut waiting, &mut ready, &mut inputs);
                        }
                        Err(e) => {
                            reporter.on_build_failed(graph.name(node));
                            failures.push(e);
                            if !settings.keep_going {
                                ready.clear();
                            }
                        }
                    }
                }
            }
        }
    });
    drop(helper);
    match failures.len() {
        0 => Ok(done),
        1 => Err(failures.pop().expect("one failure")),
        _ => Err(BuildError::Failed { failures }),
    }
}
