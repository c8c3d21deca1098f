//! Loading what a command works on: recipe files (package or image recipes), the toolchain, and the
//! build graph of all their packages. Shared by build, fetch, sources and lock.

use std::path::{Path, PathBuf};
use std::time::Duration;

use compose::graph::{BuildGraph, GraphError};
use compose::recipe;
use compose::source::{self, FetchSettings};
use compose::toolchain::{self, Toolchain};

use super::image::ImageSpec;
use super::settings::Common;
use super::{Failure, absolute, exit};

pub struct Closure {
    pub specs: Vec<ImageSpec>,
    pub toolchain: Toolchain,
    /// `None` when no recipe has a package (scratch): nothing to build, not even the toolchain.
    pub graph: Option<BuildGraph>,
}

/// Loads `recipes` and everything they need. The toolchain is looked up beside the first recipe's
/// directory (`../toolchains/NAME.toml`) unless `toolchain` is a path.
pub fn closure(recipes: &[PathBuf], toolchain: &str) -> Result<Closure, Failure> {
    let mut specs = Vec::new();
    for r in recipes {
        let path = absolute(r);
        if !path.is_file() {
            return Err(Failure::msg(
                exit::RECIPE,
                format!("no recipe at `{}`", r.display()),
                Some("give the path to a recipe file, e.g. `recipes/busybox.toml`".into()),
            ));
        }
        let dir = path.parent().expect("a file has a parent").to_path_buf();
        let file = recipe::load_file(&path).map_err(|r| Failure { hint: r.hint(), ..Failure::new(exit::RECIPE, r) })?;
        specs.push(ImageSpec::from_file(file, &dir)?);
    }
    let first_dir = specs.first().and_then(|s| s.recipe.parent()).unwrap_or(Path::new("recipes"));
    let search = first_dir.parent().map(|p| p.join("toolchains")).unwrap_or_else(|| PathBuf::from("toolchains"));
    let tc = toolchain::load(toolchain, &search).map_err(|e| {
        let hint = match &e {
            toolchain::ToolchainError::Recipe(r) => r.hint(),
            _ => Some("pass `--toolchain NAME` (looked up in toolchains/) or a path to a toolchain file".into()),
        };
        Failure { hint, ..Failure::new(exit::RECIPE, e) }
    })?;
    let mut roots: Vec<PathBuf> = Vec::new();
    for s in &specs {
        for r in &s.roots {
            if !roots.contains(r) {
                roots.push(r.clone());
            }
        }
    }
    let graph = if roots.is_empty() { None } else { Some(BuildGraph::load(&roots, &tc).map_err(graph_failure)?) };
    Ok(Closure { specs, toolchain: tc, graph })
}

pub fn fetch_settings(common: &Common) -> FetchSettings {
    FetchSettings {
        mirrors: common.mirrors.clone(),
        offline: common.offline,
        debian_base: source::debian_base_from_apt(),
        retries: 3,
        timeout: Duration::from_secs(60),
    }
}

pub fn graph_failure(e: GraphError) -> Failure {
    match e {
        GraphError::Recipe(r) => Failure { hint: r.hint(), ..Failure::new(exit::RECIPE, r) },
        GraphError::Missing { ref name, .. } => {
            let hint = Some(format!("write `{name}.toml` beside the recipe that needs it, or remove the dependency"));
            Failure { hint, ..Failure::new(exit::GRAPH, e) }
        }
        GraphError::Cycle { .. } => Failure {
            hint: Some("a package cannot need itself, directly or through others".into()),
            ..Failure::new(exit::GRAPH, e)
        },
    }
}
