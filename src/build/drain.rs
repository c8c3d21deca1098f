//! The drain loop: runs the queue's packages on worker threads, one jobserver token each, until nothing
//! is ready and nothing runs (cargo's job-queue model).
//!
//! The main thread owns all the state (`DrainState`): the queue, the running set, the artifacts, the
//! failures and the outstanding token requests. Workers only send messages over one channel. Guarantees:
//! - the loop never returns while a worker runs: every error is recorded and the loop goes on until
//!   every started job has reported;
//! - every worker reports `Done` exactly once, even when its job panics (`FinishOnDrop`), so the loop
//!   cannot wait forever; the panic becomes `BuildError::Panicked` naming the package.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::Scope;
use std::time::Duration;

use petgraph::graph::NodeIndex;

use super::artifact::{Artifact, ArtifactStore};
use super::job::Job;
use super::key::{self, KeyInputs};
use super::lock::{KeyLock, WorkDir};
use super::queue::{Queue, Settled};
use super::{BuildError, BuildSettings, Janitor, Jobserver};
use crate::graph::BuildGraph;
use crate::report::Reporter;

/// Builds one package in its claimed work directory: `job::run` in production, something simpler (or
/// panicking) in tests.
pub(super) type Runner<'r> = dyn Fn(&Job, &WorkDir, &jobserver::Client, &ArtifactStore, &dyn Fn(&str)) -> Result<Artifact, BuildError>
    + Sync
    + 'r;

/// What the drain reads and never changes.
pub(super) struct Context<'a> {
    pub(super) graph: &'a BuildGraph,
    pub(super) settings: &'a BuildSettings,
    pub(super) reporter: &'a dyn Reporter,
    pub(super) janitor: &'a Janitor,
    pub(super) store: &'a ArtifactStore,
    /// Each source's cached archive, by sha256.
    pub(super) sources: &'a HashMap<String, PathBuf>,
    pub(super) jobserver: &'a Jobserver,
    pub(super) runner: &'a Runner<'a>,
    /// The host programs that write artifacts: part of every key.
    /// Per toolchain target (`Node::target`).
    pub(super) host_tools: &'a [Arc<Vec<crate::toolchain::host::HostTool>>],
}

enum Msg {
    Token(std::io::Result<jobserver::Acquired>),
    /// Another process holds the package's build lock (its pid, if it could be read).
    Waiting(NodeIndex, Option<u32>),
    /// The worker holds the build lock and a token, and the store does not have the key: it builds.
    Started(NodeIndex),
    Phase(NodeIndex, String),
    Done(NodeIndex, Box<Result<Finished, BuildError>>),
}

/// How a worker's package got its artifact.
enum Finished {
    Built(Artifact),
    /// Another process built it while this one waited for the build lock.
    Stored(Artifact),
}

struct DrainState<'a> {
    cx: &'a Context<'a>,
    queue: Queue<NodeIndex>,
    /// Artifacts of every package done so far: found in the store, or built.
    done: HashMap<NodeIndex, Artifact>,
    /// Key inputs of each ready package, computed when its dependencies were done.
    inputs: HashMap<NodeIndex, KeyInputs>,
    running: HashSet<NodeIndex>,
    /// Packages this run built (not found in the store), in the order they finished.
    built: Vec<NodeIndex>,
    /// Tokens asked of the jobserver helper and not received yet.
    requested: usize,
    failures: Vec<BuildError>,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
}

/// What a drain did: every package's artifact (those that have one), which of them this run built, and
/// every failure (`--keep-going` goes on after one).
pub(super) struct Drained {
    pub(super) artifacts: HashMap<NodeIndex, Artifact>,
    pub(super) built: Vec<NodeIndex>,
    pub(super) failures: Vec<BuildError>,
}

/// Builds `todo` (packages the plan did not find in the store) on top of `done`.
pub(super) fn drain(
    cx: &Context,
    done: HashMap<NodeIndex, Artifact>,
    todo: &[NodeIndex],
) -> Result<Drained, BuildError> {
    let (tx, rx) = mpsc::channel::<Msg>();
    let token_tx = tx.clone();
    let helper = cx
        .jobserver
        .client
        .clone()
        .into_helper_thread(move |t| drop(token_tx.send(Msg::Token(t))))
        .map_err(BuildError::Jobserver)?;
    let mut state = DrainState::new(cx, done, todo, tx, rx);
    std::thread::scope(|scope| state.run(scope, &helper));
    drop(helper);
    Ok(Drained { artifacts: state.done, built: state.built, failures: state.failures })
}

impl<'a> DrainState<'a> {
    fn new(
        cx: &'a Context<'a>,
        done: HashMap<NodeIndex, Artifact>,
        todo: &[NodeIndex],
        tx: Sender<Msg>,
        rx: Receiver<Msg>,
    ) -> Self {
        let g = cx.graph;
        let prio = g.priorities(|i| {
            let latest = cx.store.latest_for(g.name(i), &g.toolchain(i).target);
            latest.map(|a| a.meta.build_seconds.max(0.1)).unwrap_or(1.0)
        });
        let mut queue = Queue::new(cx.settings.keep_going);
        for &n in todo {
            queue.add(n, g.deps(n).into_iter().filter(|d| !done.contains_key(d)), prio[&n]);
        }
        let mut state = DrainState {
            cx,
            queue,
            done,
            inputs: HashMap::new(),
            running: HashSet::new(),
            built: Vec::new(),
            requested: 0,
            failures: Vec::new(),
            tx,
            rx,
        };
        let (done, inputs, failures) = (&mut state.done, &mut state.inputs, &mut state.failures);
        state.queue.start(|n| settle(cx, done, inputs, failures, n));
        state
    }

    fn run<'s>(&mut self, scope: &'s Scope<'s, '_>, helper: &jobserver::HelperThread)
    where
        'a: 's,
    {
        // Do not return early from this loop (no `?`): every started worker must report back first.
        loop {
            while self.requested < self.queue.ready_len() {
                helper.request_token();
                self.requested += 1;
            }
            if self.running.is_empty() && self.queue.ready_len() == 0 {
                break;
            }
            // Cannot end while a sender lives (the helper holds one), and every worker sends `Done`.
            let Ok(msg) = self.rx.recv() else { break };
            match msg {
                Msg::Token(Err(e)) => {
                    self.requested -= 1;
                    self.failures.push(BuildError::Jobserver(e));
                    self.queue.stop();
                }
                Msg::Token(Ok(token)) => {
                    self.requested -= 1;
                    if let Some(node) = self.queue.pop() {
                        self.start(scope, node, token);
                    }
                }
                Msg::Waiting(node, pid) => self.cx.reporter.on_waiting(self.cx.graph.label(node), pid),
                Msg::Started(node) => self.cx.reporter.on_build_start(self.cx.graph.label(node)),
                Msg::Phase(node, phase) => self.cx.reporter.on_phase(self.cx.graph.label(node), &phase),
                Msg::Done(node, result) => self.finish(node, *result),
            }
        }
    }

    /// Starts `node` on a worker holding `token`; a job that cannot even be put together fails here.
    fn start<'s>(&mut self, scope: &'s Scope<'s, '_>, node: NodeIndex, token: jobserver::Acquired)
    where
        'a: 's,
    {
        let job = match self.job(node) {
            Ok(job) => job,
            Err(e) => return self.fail(node, e),
        };
        self.running.insert(node);
        let (tx, cx) = (self.tx.clone(), self.cx);
        scope.spawn(move || work(cx, node, job, token, tx));
    }

    fn finish(&mut self, node: NodeIndex, result: Result<Finished, BuildError>) {
        self.running.remove(&node);
        let name = self.cx.graph.label(node);
        let artifact = result.map(|f| match f {
            Finished::Built(a) => {
                self.cx.reporter.on_build_done(name, Duration::from_secs_f64(a.meta.build_seconds));
                self.built.push(node);
                a
            }
            Finished::Stored(a) => {
                self.cx.reporter.on_cached(name);
                a
            }
        });
        match artifact {
            Ok(a) => {
                self.done.insert(node, a);
                let (cx, done, inputs, failures) = (self.cx, &mut self.done, &mut self.inputs, &mut self.failures);
                self.queue.succeeded(node, |n| settle(cx, done, inputs, failures, n));
            }
            Err(e) => self.fail(node, e),
        }
    }

    fn fail(&mut self, node: NodeIndex, e: BuildError) {
        self.cx.reporter.on_build_failed(self.cx.graph.label(node));
        self.failures.push(e);
        self.queue.failed(node);
    }

    /// Everything a worker needs to build `node`, taken from the state now so the worker owns it.
    fn job(&mut self, node: NodeIndex) -> Result<Job, BuildError> {
        let (cx, g) = (self.cx, self.cx.graph);
        let recipe = g.recipe(node).clone();
        let package = recipe.name.clone();
        let missing = |what: String| BuildError::PrepareJob { package: package.clone(), missing: what };
        let inputs = self.inputs.remove(&node).ok_or_else(|| missing("its key inputs".into()))?;
        let key = inputs.key();
        let mut sources = Vec::new();
        for s in &recipe.sources {
            sources.push(cx.sources.get(&s.sha256).cloned().ok_or_else(|| missing(format!("source `{}`", s.url)))?);
        }
        let mut sysroot = Vec::new();
        for d in g.sysroot_closure(node) {
            let a = self.done.get(&d).ok_or_else(|| missing(format!("the artifact of `{}`", g.name(d))))?;
            sysroot.push((g.name(d).to_string(), a.tree()));
        }
        let s = cx.settings;
        Ok(Job {
            inputs,
            sources,
            sysroot,
            bootstrap: g.graph[node].in_toolchain,
            toolchain: g.toolchain(node).clone(),
            label: g.label(node).to_string(),
            work_root: s.cache_root.join("work"),
            log_path: s.cache_root.join("logs").join(format!("{package}-{}.log", &key[..12])),
            sandboxed: s.sandboxed,
            makeflags: cx.jobserver.makeflags.clone(),
            jobs: s.jobs,
            source_date_epoch: s.source_date_epoch,
            extra_env: s.phase_env.clone(),
            recipe,
        })
    }
}

/// A node whose dependencies are all done gets its key now. If the store has it (a dependency was
/// rebuilt to identical output: early cutoff), it is done without building.
fn settle(
    cx: &Context,
    done: &mut HashMap<NodeIndex, Artifact>,
    inputs: &mut HashMap<NodeIndex, KeyInputs>,
    failures: &mut Vec<BuildError>,
    n: NodeIndex,
) -> Settled {
    let s = cx.settings;
    let (name, label) = (cx.graph.name(n), cx.graph.label(n));
    let dep_digest = |d| done.get(&d).map(|a: &Artifact| a.meta.tree_digest.clone());
    let host = &cx.host_tools[cx.graph.graph[n].target];
    let Some(now) = key::inputs_for(cx.graph, n, s.sandboxed, s.source_date_epoch, host, dep_digest) else {
        // The queue releases a node only once its dependencies are done; this is a compose bug.
        failures.push(BuildError::PrepareJob { package: label.into(), missing: "a dependency's artifact".into() });
        cx.reporter.on_build_failed(label);
        return Settled::Failed;
    };
    if let Some(a) = cx.store.get(name, &now.key()) {
        cx.reporter.note(&format!("{label}: dependencies rebuilt to identical output; not rebuilt (early cutoff)"));
        cx.reporter.on_cached(label);
        done.insert(n, a);
        return Settled::Stored;
    }
    let sources = &cx.graph.recipe(n).sources;
    let reasons = super::plan::rebuild_reasons(cx.store, name, &now, sources, &s.cache_root);
    cx.reporter.on_rebuild_reasons(label, &reasons);
    inputs.insert(n, now);
    Settled::Build
}

/// One worker: builds the job under its build lock, and reports `Done` through the guard.
fn work(cx: &Context, node: NodeIndex, job: Job, token: jobserver::Acquired, tx: Sender<Msg>) {
    let package = job.recipe.name.clone();
    let mut guard = FinishOnDrop { tx: &tx, node, package: &package, result: None };
    // A panic is caught here so that it becomes this package's error, and the scope does not re-raise
    // it once every worker is joined.
    let outcome = catch_unwind(AssertUnwindSafe(|| build_locked(cx, node, &job, token, &tx)));
    guard.result = Some(outcome.unwrap_or_else(|payload| {
        Err(BuildError::Panicked { package: package.clone(), message: panic_message(payload.as_ref()) })
    }));
}

/// Takes the key's build lock, then builds in a claimed work directory, unless the store has the key by
/// then (another process built it while this one waited: nothing is built twice).
///
/// The lock is tried first without waiting. If another process holds it, the worker gives its token
/// back before it waits, so this process's other ready packages run meanwhile; once it holds the lock
/// and must build after all (the other process failed or was killed), it takes a token again straight
/// from the jobserver. A worker never waits for a lock while holding a token, and never waits for a
/// token while another process waits on it, so processes sharing a cache cannot deadlock.
fn build_locked(
    cx: &Context,
    node: NodeIndex,
    job: &Job,
    token: jobserver::Acquired,
    tx: &Sender<Msg>,
) -> Result<Finished, BuildError> {
    let name = job.recipe.name.as_str();
    let key = job.inputs.key();
    let path = cx.store.lock_path(name, &key);
    let io = |op: &'static str, path: PathBuf| move |source| BuildError::Io { package: name.into(), op, path, source };
    let (lock, token) = match KeyLock::try_acquire(&path).map_err(io("lock", path.clone()))? {
        Some(lock) => (lock, Some(token)),
        None => {
            drop(token);
            let _ = tx.send(Msg::Waiting(node, KeyLock::holder(&path)));
            (KeyLock::acquire(&path).map_err(io("lock", path.clone()))?, None)
        }
    };
    if let Some(a) = cx.store.get(name, &key) {
        return Ok(Finished::Stored(a));
    }
    let token = match token {
        Some(t) => t,
        None => cx.jobserver.client.acquire().map_err(BuildError::Jobserver)?,
    };
    let _ = tx.send(Msg::Started(node));
    let stem = format!("{name}-{}-{}", &key[..12], std::process::id());
    let dirs =
        WorkDir::claim(&job.work_root, &stem).map_err(io("claim the work directory", job.work_root.join(&stem)))?;
    let on_phase = |p: &str| drop(tx.send(Msg::Phase(node, p.to_string())));
    let result = (cx.runner)(job, &dirs, &cx.jobserver.client, cx.store, &on_phase);
    drop((token, lock));
    match result {
        Ok(a) => {
            cx.janitor.remove(dirs);
            Ok(Finished::Built(a))
        }
        Err(e) => {
            cx.janitor.keep(dirs);
            Err(e)
        }
    }
}

/// Sends `Done` when dropped, with the worker's result, or with `Panicked` if the worker unwound before
/// it had one (cargo's `FinishOnDrop`).
struct FinishOnDrop<'a> {
    tx: &'a Sender<Msg>,
    node: NodeIndex,
    package: &'a str,
    result: Option<Result<Finished, BuildError>>,
}

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        let result = self.result.take().unwrap_or_else(|| {
            Err(BuildError::Panicked { package: self.package.to_string(), message: "the build thread unwound".into() })
        });
        let _ = self.tx.send(Msg::Done(self.node, Box::new(result)));
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => s.to_string(),
        (_, Some(s)) => s.clone(),
        _ => "a panic with no message".into(),
    }
}
