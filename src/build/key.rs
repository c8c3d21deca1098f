//! Build keys: one sha256 that covers everything that can change a package's output. A package whose
//! key has an artifact in the store is not rebuilt.

use crate::digest::Sha256;
use petgraph::graph::NodeIndex;

use super::reason::RebuildReason;
use crate::graph::BuildGraph;
use crate::toolchain::host::HostTool;

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
    /// The host programs that write the artifact (`toolchain::host`), in probe order. Empty in the
    /// metadata of artifacts built before compose recorded them.
    #[serde(default)]
    pub host_tools: Vec<HostTool>,
}

impl KeyInputs {
    pub fn key(&self) -> String {
        let json = serde_json::to_vec(self).expect("key inputs serialise");
        let mut h = Sha256::new();
        h.update(b"compose-build-key-v3\0");
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
        out.extend(host_tool_differences(&old.host_tools, &self.host_tools));
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

/// One reason per host tool that changed, appeared or went (by role).
fn host_tool_differences(old: &[HostTool], new: &[HostTool]) -> Vec<RebuildReason> {
    let mut out = Vec::new();
    for t in new {
        match old.iter().find(|o| o.tool == t.tool) {
            Some(o) if o == t => {}
            o => out.push(RebuildReason::HostTool {
                tool: t.tool.clone(),
                old: o.map(HostTool::describe).unwrap_or_else(|| "not recorded".into()),
                new: t.describe(),
            }),
        }
    }
    for o in old.iter().filter(|o| !new.iter().any(|t| t.tool == o.tool)) {
        out.push(RebuildReason::HostTool { tool: o.tool.clone(), old: o.describe(), new: "none".into() });
    }
    out
}

/// A node's key inputs, given the installed-tree digest of each dependency (`None` while a dependency
/// is still to be built: then the key is not known yet). Keys cover dependencies' *outputs*, not their
/// keys, so a dependency rebuilt to identical bytes does not rebuild its dependents (early cutoff).
pub fn inputs_for(
    graph: &BuildGraph,
    i: NodeIndex,
    sandbox: bool,
    source_date_epoch: u64,
    host_tools: &[HostTool],
    dep_digest: impl Fn(NodeIndex) -> Option<String>,
) -> Option<KeyInputs> {
    let r = graph.recipe(i);
    let toolchain = graph.toolchain(i);
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
        host_tools: host_tools.iter().filter(|t| t.in_build_keys()).cloned().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, version: &str, sha: char) -> HostTool {
        HostTool {
            tool: name.into(),
            path: format!("/usr/bin/{name}"),
            version: Some(version.into()),
            sha256: sha.to_string().repeat(64),
        }
    }

    fn inputs(host_tools: Vec<HostTool>) -> KeyInputs {
        KeyInputs {
            compose_version: "0".into(),
            target: "x86_64-linux-musl".into(),
            recipe: "r".into(),
            sources: vec![],
            toolchain: "t".into(),
            sandbox: true,
            source_date_epoch: 1,
            deps: vec![],
            host_tools,
        }
    }

    #[test]
    fn a_changed_host_compiler_changes_the_key_and_is_named_with_old_and_new_versions() {
        let old = inputs(vec![tool("cc", "gcc 12.2.0", 'a'), tool("as", "GNU as 2.40", 'b')]);
        let new = inputs(vec![tool("cc", "gcc 12.3.0", 'c'), tool("as", "GNU as 2.40", 'b')]);
        assert_ne!(old.key(), new.key());
        let d = new.differences(&old);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(
            d[0].to_string(),
            "host compiler `cc` changed: gcc 12.2.0 (sha256 aaaaaaaaaaaa) -> gcc 12.3.0 (sha256 cccccccccccc)"
        );
    }

    #[test]
    fn host_tools_appearing_or_going_are_reasons_too() {
        let old = inputs(vec![tool("cc", "gcc", 'a'), tool("collect2", "collect2 12", 'd')]);
        let new = inputs(vec![tool("cc", "gcc", 'a'), tool("ld", "GNU ld 2.40", 'e')]);
        let d: Vec<String> = new.differences(&old).iter().map(|r| r.to_string()).collect();
        assert_eq!(
            d,
            [
                "host compiler `ld` changed: not recorded -> GNU ld 2.40 (sha256 eeeeeeeeeeee)",
                "host compiler `collect2` changed: collect2 12 (sha256 dddddddddddd) -> none",
            ]
        );
    }

    #[test]
    fn artifacts_recorded_before_host_tools_were_read_as_having_none() {
        let mut v = serde_json::to_value(inputs(vec![])).unwrap();
        v.as_object_mut().unwrap().remove("host_tools");
        let old: KeyInputs = serde_json::from_value(v).unwrap();
        assert!(old.host_tools.is_empty());
    }
}
