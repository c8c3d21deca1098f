//! The sources of the packages a build needs, fetched all at once before anything builds, so that a
//! missing or wrong source is reported before hours of building rather than after.

use std::collections::HashMap;
use std::path::PathBuf;

use petgraph::graph::NodeIndex;

use super::BuildError;
use crate::graph::BuildGraph;
use crate::report::Reporter;
use crate::source::{FetchProgress, FetchSettings, SourceCache, SourceRequest};

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
            // A local source is packed from its directory, never looked up at a URL.
            let mut urls = if src.path.is_some() { Vec::new() } else { vec![src.url.clone()] };
            urls.extend(src.mirrors.iter().cloned());
            requests.push(SourceRequest {
                package: graph.name(n).to_string(),
                file_name: src.file_name(),
                sha256: src.sha256.clone(),
                urls,
                debian_pool: src.debian.clone(),
                local: src.path.clone(),
            });
        }
    }
    requests
}

/// Fetches every source of `nodes`, all at once, and returns the cached path of each by sha256. All
/// fetch errors are collected before anything builds.
pub(super) fn fetch_sources(
    graph: &BuildGraph,
    nodes: impl IntoIterator<Item = NodeIndex>,
    cache_root: &std::path::Path,
    settings: &FetchSettings,
    reporter: &dyn Reporter,
) -> Result<HashMap<String, PathBuf>, BuildError> {
    let cache = SourceCache::open(cache_root)?;
    let requests = source_requests(graph, nodes);
    let results = crate::source::fetch_all(&cache, &requests, settings, &FetchBridge(reporter));
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
    super::all_or_failures(paths, failures)
}
