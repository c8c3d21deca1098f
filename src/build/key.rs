//! Build keys: one sha256 that covers everything that can change a package's output. A package whose
//! key has an artifact in the store is not rebuilt.

use crate::digest::Sha256;
use petgraph::graph::NodeIndex;

use super::reason::RebuildReason;
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
    /// (dependency name, the digest of its installed tree), sorted by name.
    pub deps: Vec<(String, String)>,
}

impl KeyInputs {
    pub fn key(&self) -> String {
        let json = serde_json::to_vec(self).expect("key inputs serialise");
        let mut h = Sha256::new();
        h.update(b"compose-build-key-v2\0");
        h.update(&json);
        h.hex()
    }

    /// Why a package with these inputs is not the one built with `old`: one reason per changed input.
    pub fn differences(&self, old: &KeyInputs) -> Vec<RebuildReason> {
        use RebuildReason as R;
        let mut out = Vec::new();
        if self.recipe != old.recipe {
            out.push(R::Recipe { old: old.recipe.clone(), new: self.recipe.clone() });
        }
        if self.sources != old.sources {
            out.push(R::Sources { old: old.sources.join(","), new: self.sources.join(",") });
        }
        if self.toolchain != old.toolchain {
            out.push(R::Toolchain { old: old.toolchain.clone(), new: self.toolchain.clone() });
        }
        if self.target != old.target {
            out.push(R::Target { old: old.target.clone(), new: self.target.clone() });
        }
        if self.compose_version != old.compose_version {
            out.push(R::ComposeVersion { old: old.compose_version.clone(), new: self.compose_version.clone() });
        }
        if self.sandbox != old.sandbox {
            out.push(R::Sandbox { old: old.sandbox, new: self.sandbox });
        }
        if self.source_date_epoch != old.source_date_epoch {
            out.push(R::SourceDateEpoch { old: old.source_date_epoch, new: self.source_date_epoch });
        }
        for (name, digest) in &self.deps {
            match old.deps.iter().find(|(n, _)| n == name) {
                None => out.push(R::NewDependency { name: name.clone() }),
                Some((_, d)) if d != digest => {
                    out.push(R::DependencyOutput { name: name.clone(), old: d.clone(), new: digest.clone() })
                }
                _ => {}
            }
        }
        for (name, _) in old.deps.iter().filter(|(n, _)| !self.deps.iter().any(|(m, _)| m == n)) {
            out.push(R::DependencyRemoved { name: name.clone() });
        }
        out
    }
}

/// A node's key inputs, given the installed-tree digest of each dependency (`None` while a dependency
/// is still to be built: then the key is not known yet). Keys cover dependencies' *outputs*, not their
/// keys, so a dependency rebuilt to identical bytes does not rebuild its dependents (early cutoff).
pub fn inputs_for(
    graph: &BuildGraph,
    toolchain: &Toolchain,
    i: NodeIndex,
    sandbox: bool,
    source_date_epoch: u64,
    dep_digest: impl Fn(NodeIndex) -> Option<String>,
) -> Option<KeyInputs> {
    let r = graph.recipe(i);
    let mut deps = Vec::new();
    for d in graph.deps(i) {
        deps.push((graph.name(d).to_string(), dep_digest(d)?));
    }
    deps.sort();
    Some(KeyInputs {
        compose_version: env!("CARGO_PKG_VERSION").to_string(),
        target: toolchain.target.clone(),
        recipe: r.digest.clone(),
        sources: r.sources.iter().map(|s| s.sha256.clone()).collect(),
        toolchain: toolchain.digest.clone(),
        sandbox,
        source_date_epoch,
        deps,
    })
}
