//! Build keys: one sha256 that covers everything that can change a package's output. A package whose
//! key has an artifact in the store is not rebuilt.

use std::collections::HashMap;

use petgraph::graph::NodeIndex;
use sha2::{Digest, Sha256};

use crate::graph::BuildGraph;
use crate::toolchain::Toolchain;

/// Everything that went into one key, kept so a rebuild can be explained.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct KeyInputs {
    pub compose_version: String,
    pub target: String,
    pub recipe: String,
    pub sources: Vec<String>,
    pub toolchain: String,
    pub sandbox: bool,
    /// Embedded by builds that stamp dates (busybox's banner), so it is an input.
    pub source_date_epoch: u64,
    /// (dependency name, its key), sorted by name.
    pub deps: Vec<(String, String)>,
}

impl KeyInputs {
    pub fn key(&self) -> String {
        let json = serde_json::to_vec(self).expect("key inputs serialise");
        let mut h = Sha256::new();
        h.update(b"compose-build-key-v1\0");
        h.update(&json);
        hex::encode(h.finalize())
    }
}

/// Computes every node's key inputs, dependencies first.
pub fn compute(
    graph: &BuildGraph,
    toolchain: &Toolchain,
    sandbox: bool,
    source_date_epoch: u64,
) -> HashMap<NodeIndex, KeyInputs> {
    let mut out: HashMap<NodeIndex, KeyInputs> = HashMap::new();
    for i in graph.order() {
        let r = graph.recipe(i);
        let deps = graph.deps(i).into_iter().map(|d| (graph.name(d).to_string(), out[&d].key())).collect();
        out.insert(
            i,
            KeyInputs {
                compose_version: env!("CARGO_PKG_VERSION").to_string(),
                target: toolchain.target.clone(),
                recipe: r.digest.clone(),
                sources: r.sources.iter().map(|s| s.sha256.clone()).collect(),
                toolchain: toolchain.digest.clone(),
                sandbox,
                source_date_epoch,
                deps,
            },
        );
    }
    out
}
