//! The plan: every package of the graph in build order, with its key when it is known and whether the
//! store already holds it. `compose build --dry-run` and `compose explain` print it; `build` starts from
//! it. Planning reads the store and never writes.

use std::collections::HashMap;

use petgraph::graph::NodeIndex;

use super::artifact::ArtifactStore;
use super::key::{self, KeyInputs};
use super::reason::RebuildReason;
use super::{BuildError, BuildSettings};
use crate::graph::BuildGraph;
use crate::recipe::Source;
use crate::source::{SourceCache, tree};
use crate::toolchain::host::HostTool;
use std::path::Path;
use std::sync::Arc;

/// One line of a plan.
#[derive(Debug, Clone)]
pub struct PlanStep {
    pub node: NodeIndex,
    /// The package's name: the artifact store's.
    pub name: String,
    /// What people read (`busybox@arm64` when the graph has several targets).
    pub label: String,
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
pub fn plan(graph: &BuildGraph, settings: &BuildSettings) -> Result<Vec<PlanStep>, BuildError> {
    let store = ArtifactStore::open(&settings.cache_root).map_err(BuildError::OpenStore)?;
    let host = host_tools(graph)?;
    let mut digests: HashMap<NodeIndex, String> = HashMap::new();
    let mut steps = Vec::new();
    for i in graph.order() {
        let host = &host[graph.graph[i].target];
        let inputs = key::inputs_for(graph, i, settings.sandboxed, settings.source_date_epoch, host, |d| {
            digests.get(&d).cloned()
        });
        let name = graph.name(i).to_string();
        let key = inputs.as_ref().map(|k| k.key());
        let cached = key.as_ref().and_then(|k| store.get(&name, k));
        if let Some(a) = &cached {
            digests.insert(i, a.meta.tree_digest.clone());
        }
        let reasons = match (&inputs, &cached) {
            (Some(now), None) => rebuild_reasons(&store, &name, now, &graph.recipe(i).sources, &settings.cache_root),
            _ => Vec::new(),
        };
        steps.push(PlanStep {
            node: i,
            label: graph.label(i).to_string(),
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

/// The host programs of each toolchain target of the graph (index: `Node::target`), probed once per process.
pub fn host_tools(graph: &BuildGraph) -> Result<Vec<Arc<Vec<HostTool>>>, BuildError> {
    graph
        .toolchains
        .iter()
        .map(|tc| crate::toolchain::host::probe(tc).map_err(|e| BuildError::HostCompiler(Box::new(e))))
        .collect()
}

/// What differs from the newest artifact of `name` for the same target, or that there is none.
/// `sources` are the recipe's (in key order): a changed local source is named with its changed paths.
pub(super) fn rebuild_reasons(
    store: &ArtifactStore,
    name: &str,
    now: &KeyInputs,
    sources: &[Source],
    cache_root: &Path,
) -> Vec<RebuildReason> {
    match store.latest_for(name, &now.target) {
        None => vec![RebuildReason::NeverBuilt],
        Some(a) => {
            let d = now.differences(&a.meta.inputs);
            let d = local_tree_reasons(d, &a.meta.inputs.sources, &now.sources, sources, cache_root);
            if d.is_empty() { vec![RebuildReason::NoArtifactUnderKey] } else { d }
        }
    }
}

/// How many changed paths of a local tree a reason names.
const NAMED_CHANGES: usize = 5;

/// `reasons` with "sources changed" replaced by one reason per changed local tree (plus the
/// original one if a download changed too).
fn local_tree_reasons(
    reasons: Vec<RebuildReason>,
    old: &[String],
    now: &[String],
    sources: &[Source],
    cache_root: &Path,
) -> Vec<RebuildReason> {
    if old.len() != now.len() || now.len() != sources.len() || sources.iter().all(|s| s.path.is_none()) {
        return reasons;
    }
    let mut out = Vec::new();
    for r in reasons {
        if !matches!(r, RebuildReason::Sources { .. }) {
            out.push(r);
            continue;
        }
        let mut downloads = false;
        for ((o, n), s) in old.iter().zip(now).zip(sources).filter(|((o, n), _)| o != n) {
            let (Some(dir), Some(path)) = (&s.path, s.local_path()) else {
                downloads = true;
                continue;
            };
            let old_tar = crate::source::is_sha256(o).then(|| SourceCache::entry_path(cache_root, o));
            let changes = old_tar.and_then(|t| tree_changes(&t, dir)).map(|all| {
                let first = all.iter().take(NAMED_CHANGES).map(|c| c.to_string()).collect();
                (first, all.len())
            });
            out.push(RebuildReason::LocalTree { path: path.into(), old: o.clone(), new: n.clone(), changes });
        }
        if downloads {
            out.push(r);
        }
    }
    out
}

/// The paths that differ between the packed tree `old_tar` (if still cached) and `dir` now.
fn tree_changes(old_tar: &Path, dir: &Path) -> Option<Vec<tree::Change>> {
    let old = tree::listing_of_tar(old_tar).ok()?;
    let new = tree::listing(dir).ok()?;
    Some(tree::changes(&old, &new))
}
