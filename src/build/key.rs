//! Build keys: one sha256 that covers everything that can change a package's output. A package whose
//! key has an artifact in the store is not rebuilt.

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
    /// (dependency name, the digest of its installed tree), sorted by name.
    pub deps: Vec<(String, String)>,
}

impl KeyInputs {
    pub fn key(&self) -> String {
        let json = serde_json::to_vec(self).expect("key inputs serialise");
        let mut h = Sha256::new();
        h.update(b"compose-build-key-v2\0");
        h.update(&json);
        hex::encode(h.finalize())
    }

    /// Why a package with these inputs is not the one built with `old`: one line per changed input.
    pub fn differences(&self, old: &KeyInputs) -> Vec<String> {
        let short = |s: &str| s.chars().take(16).collect::<String>();
        let mut out = Vec::new();
        if self.recipe != old.recipe {
            out.push(format!(
                "recipe (text, patches or files) changed: {} -> {}",
                short(&old.recipe),
                short(&self.recipe)
            ));
        }
        if self.sources != old.sources {
            let (o, n) = (old.sources.join(","), self.sources.join(","));
            out.push(format!("sources changed: {} -> {}", short(&o), short(&n)));
        }
        if self.toolchain != old.toolchain {
            out.push(format!("toolchain file changed: {} -> {}", short(&old.toolchain), short(&self.toolchain)));
        }
        if self.target != old.target {
            out.push(format!("target changed: {} -> {}", old.target, self.target));
        }
        if self.compose_version != old.compose_version {
            out.push(format!("compose version changed: {} -> {}", old.compose_version, self.compose_version));
        }
        if self.sandbox != old.sandbox {
            out.push(format!("sandbox changed: {} -> {}", old.sandbox, self.sandbox));
        }
        if self.source_date_epoch != old.source_date_epoch {
            out.push(format!("SOURCE_DATE_EPOCH changed: {} -> {}", old.source_date_epoch, self.source_date_epoch));
        }
        for (name, digest) in &self.deps {
            match old.deps.iter().find(|(n, _)| n == name) {
                None => out.push(format!("new dependency `{name}`")),
                Some((_, d)) if d != digest => {
                    out.push(format!("dependency `{name}` output changed: {} -> {}", short(d), short(digest)))
                }
                _ => {}
            }
        }
        for (name, _) in old.deps.iter().filter(|(n, _)| !self.deps.iter().any(|(m, _)| m == n)) {
            out.push(format!("dependency `{name}` removed"));
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
