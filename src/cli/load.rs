//! Loading what a command works on (`compose::pipeline::load`), with its errors turned into failures:
//! exit codes and hints. Shared by build, fetch, sources, lock, doctor, explain and verify.

use std::path::PathBuf;

use compose::graph::GraphError;
pub use compose::pipeline::Closure;
use compose::pipeline::{self, LoadError};
use compose::toolchain::Platform;

use super::{Failure, exit};

/// Loads `recipes` and everything they need (see `compose::pipeline::load`).
pub fn closure(recipes: &[PathBuf], toolchain: &str) -> Result<Closure, Failure> {
    pipeline::load(recipes, toolchain).map_err(load_failure)
}

/// `closure`, for `platforms` (none: the host's).
pub fn closure_for(recipes: &[PathBuf], toolchain: &str, platforms: &[Platform]) -> Result<Closure, Failure> {
    pipeline::load_for(recipes, toolchain, platforms).map_err(load_failure)
}

pub fn load_failure(e: LoadError) -> Failure {
    let code = match &e {
        LoadError::Tag { .. } => exit::USAGE,
        LoadError::ImagePackage { .. }
        | LoadError::Base { .. }
        | LoadError::Graph(GraphError::Missing { .. } | GraphError::Cycle { .. } | GraphError::Ambiguous { .. }) => {
            exit::GRAPH
        }
        _ => exit::RECIPE,
    };
    Failure { hint: e.hint(), ..Failure::new(code, e) }
}
