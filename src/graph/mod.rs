//! The build graph: every package of an image's closure plus the toolchain's packages, as a petgraph
//! DAG whose edges run from a dependency to the package that needs it.
//!
//! A build for several platforms is one graph: each target's toolchain and packages are their own nodes
//! (node `target` indexes `toolchains`), so every target builds side by side under one jobserver.
//!
//! Guarantees: every name resolves to a recipe file (or the error says which recipe wanted what, and
//! where compose looked); the graph is acyclic (or the error shows the whole cycle).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::recipe::{self, Recipe, RecipeError};
use crate::toolchain::Toolchain;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepKind {
    Build,
    Runtime,
    /// Edge from a toolchain package to every non-toolchain package.
    Toolchain,
}

#[derive(Debug)]
pub struct Node {
    pub recipe: Recipe,
    pub in_toolchain: bool,
    /// Index into `BuildGraph::toolchains`.
    pub target: usize,
    /// The package's name, and `@ARCH` after it when the graph has several targets (`busybox@arm64`):
    /// what progress lines, logs and messages call it.
    pub label: String,
}

#[derive(Debug)]
pub struct BuildGraph {
    pub graph: DiGraph<Node, DepKind>,
    /// Every target's roots, target by target.
    pub roots: Vec<NodeIndex>,
    /// One per target, in the order asked for.
    pub toolchains: Vec<Arc<Toolchain>>,
    by_label: HashMap<String, NodeIndex>,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    #[error("`{wanted_by}` depends on `{name}`, but there is no recipe `{}`", looked.display())]
    Missing { name: String, wanted_by: String, looked: PathBuf },
    #[error("dependency cycle: {}", cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
    #[error(
        "{}: field `package.targets`: `{package}` builds for {}, not for `{target}` (toolchain `{toolchain}`)",
        recipe.display(),
        supported.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
    )]
    UnsupportedTarget { recipe: PathBuf, package: String, target: String, toolchain: String, supported: Vec<String> },
    #[error("two recipes for `{name}`: `{}` and `{}` (wanted by {wanted_by})", first.display(), second.display())]
    Ambiguous { name: String, first: PathBuf, second: PathBuf, wanted_by: String },
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// A recipe that names its targets must name the toolchain's: checked while loading, before anything is
/// fetched or built.
fn check_target(r: &Recipe, tc: &Toolchain) -> Result<(), GraphError> {
    if r.targets.is_empty() || r.targets.contains(&tc.target) {
        return Ok(());
    }
    Err(GraphError::UnsupportedTarget {
        recipe: r.path.clone(),
        package: r.name.clone(),
        target: tc.target.clone(),
        toolchain: tc.name.clone(),
        supported: r.targets.clone(),
    })
}

impl BuildGraph {
    /// Loads `roots` and everything they need, plus the toolchain's packages.
    pub fn load(roots: &[PathBuf], toolchain: &Toolchain) -> Result<BuildGraph, GraphError> {
        BuildGraph::load_targets(roots, &[Arc::new(toolchain.clone())])
    }

    /// Loads `roots` and everything they need for each toolchain target, into one graph.
    pub fn load_targets(roots: &[PathBuf], toolchains: &[Arc<Toolchain>]) -> Result<BuildGraph, GraphError> {
        let mut g = BuildGraph {
            graph: DiGraph::new(),
            roots: Vec::new(),
            toolchains: toolchains.to_vec(),
            by_label: HashMap::new(),
        };
        let mut memo: HashMap<PathBuf, Recipe> = HashMap::new();
        for (target, tc) in toolchains.iter().enumerate() {
            g.load_target(roots, tc, target, &mut memo)?;
        }
        g.check_acyclic()?;
        Ok(g)
    }

    /// The label of package `name` for `target`.
    fn label_of(&self, name: &str, target: usize) -> String {
        if self.toolchains.len() > 1 {
            format!("{name}@{}", self.toolchains[target].platform.arch())
        } else {
            name.into()
        }
    }

    /// Adds one target's packages and edges; recipes read for an earlier target are reused.
    fn load_target(
        &mut self,
        roots: &[PathBuf],
        toolchain: &Toolchain,
        target: usize,
        memo: &mut HashMap<PathBuf, Recipe>,
    ) -> Result<(), GraphError> {
        // (recipe path, wanted by, name)
        let mut queue: VecDeque<(PathBuf, Option<String>, String)> = VecDeque::new();
        for p in &toolchain.packages {
            queue.push_back((
                toolchain.recipes_dir.join(format!("{p}.toml")),
                Some(format!("toolchain `{}`", toolchain.name)),
                p.clone(),
            ));
        }
        let mut root_names = Vec::new();
        for r in roots {
            let name = r.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            root_names.push(name.clone());
            queue.push_back((r.clone(), None, name));
        }
        let mut edges: Vec<(String, String, DepKind)> = Vec::new();
        let mut added = Vec::new();
        while let Some((path, wanted_by, name)) = queue.pop_front() {
            let label = self.label_of(&name, target);
            if let Some(&i) = self.by_label.get(&label) {
                // One name, one recipe: a second file of the same name (beside another recipe, or in
                // recipes/) would otherwise lose silently, depending on the order things were named in.
                let first = &self.graph[i].recipe.path;
                if path.exists() && !same_file(first, &path) {
                    let wanted_by = wanted_by.unwrap_or_else(|| "the command line".into());
                    return Err(GraphError::Ambiguous { name, first: first.clone(), second: path, wanted_by });
                }
                continue;
            }
            if !path.exists()
                && let Some(w) = wanted_by
            {
                return Err(GraphError::Missing { name, wanted_by: w, looked: path });
            }
            let recipe = match memo.get(&path) {
                Some(r) => r.clone(),
                None => {
                    let r = recipe::load(&path)?;
                    memo.insert(path.clone(), r.clone());
                    r
                }
            };
            check_target(&recipe, toolchain)?;
            let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            for (deps, kind) in [(&recipe.build_deps, DepKind::Build), (&recipe.runtime_deps, DepKind::Runtime)] {
                for d in deps {
                    edges.push((d.clone(), recipe.name.clone(), kind));
                    let found = recipe::find(&dir, &toolchain.recipes_dir, d);
                    queue.push_back((found, Some(recipe.name.clone()), d.clone()));
                }
            }
            let in_toolchain = toolchain.is_member(&recipe.name);
            let idx = self.graph.add_node(Node { recipe, in_toolchain, target, label: label.clone() });
            self.by_label.insert(label, idx);
            added.push(idx);
        }
        for (from, to, kind) in edges {
            let (from, to) = (self.by_label[&self.label_of(&from, target)], self.by_label[&self.label_of(&to, target)]);
            self.graph.add_edge(from, to, kind);
        }
        let (tc, others): (Vec<NodeIndex>, Vec<NodeIndex>) = added.iter().partition(|&&i| self.graph[i].in_toolchain);
        for &t in &tc {
            for &o in &others {
                self.graph.add_edge(t, o, DepKind::Toolchain);
            }
        }
        for n in root_names {
            self.roots.push(self.by_label[&self.label_of(&n, target)]);
        }
        Ok(())
    }

    fn check_acyclic(&self) -> Result<(), GraphError> {
        if petgraph::algo::toposort(&self.graph, None).is_ok() {
            return Ok(());
        }
        for scc in petgraph::algo::tarjan_scc(&self.graph) {
            let first = scc[0];
            let self_loop = self.graph.contains_edge(first, first);
            if scc.len() == 1 && !self_loop {
                continue;
            }
            // Walk inside the component until a node repeats: that stretch is a cycle.
            let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
            let mut path = vec![first];
            let mut cur = first;
            loop {
                let next = self
                    .graph
                    .neighbors_directed(cur, Direction::Outgoing)
                    .filter(|n| members.contains(n))
                    .min()
                    .expect("a strongly connected node has a successor inside its component");
                if let Some(pos) = path.iter().position(|&p| p == next) {
                    let mut cycle: Vec<String> = path[pos..].iter().map(|&i| self.label(i).to_string()).collect();
                    cycle.push(self.label(next).to_string());
                    return Err(GraphError::Cycle { cycle });
                }
                path.push(next);
                cur = next;
            }
        }
        unreachable!("toposort failed but no cycle was found")
    }

    /// The package's name (the recipe's): what keys, the artifact store and records use.
    pub fn name(&self, i: NodeIndex) -> &str {
        &self.graph[i].recipe.name
    }

    /// What people read: the name, with `@ARCH` when the graph has several targets.
    pub fn label(&self, i: NodeIndex) -> &str {
        &self.graph[i].label
    }

    /// The toolchain target node `i` is built for.
    pub fn toolchain(&self, i: NodeIndex) -> &Arc<Toolchain> {
        &self.toolchains[self.graph[i].target]
    }

    pub fn recipe(&self, i: NodeIndex) -> &Recipe {
        &self.graph[i].recipe
    }

    /// The node labelled `label` (a package name, when the graph has one target).
    pub fn index(&self, label: &str) -> Option<NodeIndex> {
        self.by_label.get(label).copied()
    }

    /// Direct dependencies of `i` (all kinds).
    pub fn deps(&self, i: NodeIndex) -> Vec<NodeIndex> {
        let mut v: Vec<_> = self.graph.neighbors_directed(i, Direction::Incoming).collect();
        v.sort_by(|a, b| self.label(*a).cmp(self.label(*b)));
        v.dedup();
        v
    }

    pub fn dependents(&self, i: NodeIndex) -> Vec<NodeIndex> {
        let mut v: Vec<_> = self.graph.neighbors_directed(i, Direction::Outgoing).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Everything `i` needs in its build sysroot: the transitive closure of its dependencies.
    pub fn sysroot_closure(&self, i: NodeIndex) -> Vec<NodeIndex> {
        self.closure(i, |_| true)
    }

    /// What goes into an image of `root`: itself and its transitive runtime dependencies.
    pub fn runtime_closure(&self, root: NodeIndex) -> Vec<NodeIndex> {
        let mut v = self.closure(root, |k| k == DepKind::Runtime);
        v.insert(0, root);
        v
    }

    fn closure(&self, i: NodeIndex, follow: impl Fn(DepKind) -> bool) -> Vec<NodeIndex> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![i];
        while let Some(n) = stack.pop() {
            for e in self.graph.edges_directed(n, Direction::Incoming) {
                use petgraph::visit::EdgeRef;
                if follow(*e.weight()) && seen.insert(e.source()) {
                    stack.push(e.source());
                }
            }
        }
        let mut v: Vec<_> = seen.into_iter().collect();
        v.sort_by(|a, b| self.label(*a).cmp(self.label(*b)));
        v
    }

    /// Topological order, ties broken by name so plans print the same way every time.
    pub fn order(&self) -> Vec<NodeIndex> {
        let mut indeg: HashMap<NodeIndex, usize> = self.graph.node_indices().map(|i| (i, self.deps(i).len())).collect();
        let mut ready: BTreeSet<(String, NodeIndex)> =
            indeg.iter().filter(|(_, d)| **d == 0).map(|(&i, _)| (self.label(i).to_string(), i)).collect();
        let mut out = Vec::new();
        while let Some(first) = ready.pop_first() {
            out.push(first.1);
            for d in self.dependents(first.1) {
                let e = indeg.get_mut(&d).unwrap();
                *e -= 1;
                if *e == 0 {
                    ready.insert((self.label(d).to_string(), d));
                }
            }
        }
        out
    }

    /// Longest remaining path from each node to the end of the graph, weighted by `cost`: the
    /// scheduler's priority (own cost + the cost of everything that waits on it).
    pub fn priorities(&self, cost: impl Fn(NodeIndex) -> f64) -> HashMap<NodeIndex, f64> {
        self.longest_paths(cost).into_iter().map(|(i, (c, _))| (i, c)).collect()
    }

    /// The heaviest chain of the graph by `cost` (a dependency first, each next node depending on the one
    /// before) and its total: the critical path of a finished build when `cost` is each package's time.
    pub fn critical_path(&self, cost: impl Fn(NodeIndex) -> f64) -> (Vec<NodeIndex>, f64) {
        let longest = self.longest_paths(cost);
        let start = self.order().into_iter().max_by(|a, b| longest[a].0.total_cmp(&longest[b].0).then(b.cmp(a)));
        let Some(start) = start else { return (Vec::new(), 0.0) };
        let mut path = vec![start];
        while let Some(next) = longest[path.last().expect("not empty")].1 {
            path.push(next);
        }
        (path, longest[&start].0)
    }

    /// For each node, the cost of the heaviest chain that starts at it and runs through its dependents
    /// to the end of the graph, and the next node of that chain. The one longest-path algorithm that
    /// both scheduling priorities and the timings report's critical path use.
    fn longest_paths(&self, cost: impl Fn(NodeIndex) -> f64) -> HashMap<NodeIndex, (f64, Option<NodeIndex>)> {
        let mut best: HashMap<NodeIndex, (f64, Option<NodeIndex>)> = HashMap::new();
        for i in self.order().into_iter().rev() {
            let next = self.dependents(i).into_iter().max_by(|a, b| best[a].0.total_cmp(&best[b].0).then(b.cmp(a)));
            let tail = next.map(|n| best[&n].0).unwrap_or(0.0);
            best.insert(i, (cost(i) + tail, next));
        }
        best
    }

    /// The packages of the image: the union of every root's runtime closure, each once, in the order
    /// the roots and their closures list them.
    pub fn image_contents(&self) -> Vec<NodeIndex> {
        self.image_contents_of(0)
    }

    /// `image_contents` of one target.
    pub fn image_contents_of(&self, target: usize) -> Vec<NodeIndex> {
        let mut seen = std::collections::HashSet::new();
        let roots = self.roots.iter().filter(|&&r| self.graph[r].target == target);
        roots.flat_map(|&r| self.runtime_closure(r)).filter(|i| seen.insert(*i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(dir: &Path, name: &str, build: &[&str], runtime: &[&str]) {
        let q = |v: &[&str]| v.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(",");
        std::fs::write(
            dir.join(format!("{name}.toml")),
            format!(
                "[package]\nname=\"{name}\"\nversion=\"1\"\nlicense=\"MIT\"\nhomepage=\"\"\ndescription=\"\"\n[[source]]\nurl=\"file:///x.tar\"\nsha256=\"{}\"\n[dependencies]\nbuild=[{}]\nruntime=[{}]\n[build]\nstyle=\"custom\"\ninstall=\"true\"\n",
                "0".repeat(64),
                q(build),
                q(runtime)
            ),
        )
        .unwrap();
    }

    fn toolchain(dir: &Path, packages: &[&str]) -> Toolchain {
        let p = dir.join("tc.toml");
        let pk = packages.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(",");
        std::fs::write(
            &p,
            format!(
                "[toolchain]\nname=\"tc\"\ntarget=\"x\"\npackages=[{pk}]\nrecipes=\".\"\n[compiler]\nhost_cc=\"cc\"\n"
            ),
        )
        .unwrap();
        crate::toolchain::load(p.to_str().unwrap(), dir).unwrap()
    }

    #[test]
    fn cycle_is_reported_whole() {
        let d = tempfile::tempdir().unwrap();
        recipe(d.path(), "a", &["b"], &[]);
        recipe(d.path(), "b", &["c"], &[]);
        recipe(d.path(), "c", &[], &["a"]);
        let e = BuildGraph::load(&[d.path().join("a.toml")], &toolchain(d.path(), &[])).unwrap_err();
        let GraphError::Cycle { cycle } = e else { panic!("{e}") };
        assert_eq!(cycle.len(), 4);
        assert_eq!(cycle.first(), cycle.last());
        for n in ["a", "b", "c"] {
            assert!(cycle.iter().any(|c| c == n));
        }
    }

    #[test]
    fn missing_dependency_names_both() {
        let d = tempfile::tempdir().unwrap();
        recipe(d.path(), "a", &["nope"], &[]);
        let e = BuildGraph::load(&[d.path().join("a.toml")], &toolchain(d.path(), &[])).unwrap_err();
        assert!(e.to_string().contains("`a` depends on `nope`"), "{e}");
    }

    #[test]
    fn closures_and_critical_path() {
        let d = tempfile::tempdir().unwrap();
        recipe(d.path(), "libc", &[], &[]);
        recipe(d.path(), "hdr", &[], &[]);
        recipe(d.path(), "z", &[], &[]);
        recipe(d.path(), "app", &["z"], &["data"]);
        recipe(d.path(), "data", &[], &[]);
        let g = BuildGraph::load(&[d.path().join("app.toml")], &toolchain(d.path(), &["libc", "hdr"])).unwrap();
        let app = g.index("app").unwrap();
        let names = |v: Vec<NodeIndex>| v.into_iter().map(|i| g.name(i).to_string()).collect::<Vec<_>>();
        assert_eq!(names(g.runtime_closure(app)), ["app", "data"]);
        assert_eq!(names(g.sysroot_closure(app)), ["data", "hdr", "libc", "z"]);
        let order = names(g.order());
        assert_eq!(order.last().unwrap(), "app");
        let libc = g.index("libc").unwrap();
        let prio = g.priorities(|i| if g.name(i) == "libc" { 10.0 } else { 1.0 });
        assert_eq!(prio[&libc], 12.0);
        assert_eq!(prio[&app], 1.0);
    }
}
