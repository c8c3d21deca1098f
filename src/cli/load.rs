//! Loading what a command works on (`compose::pipeline::load`), with its errors turned into failures:
//! exit codes and hints. Shared by build, fetch, sources, lock, doctor, explain and verify.

use std::path::PathBuf;
use std::time::Duration;

use compose::graph::GraphError;
pub use compose::pipeline::Closure;
use compose::pipeline::{self, LoadError};
use compose::source::{self, FetchSettings};

use super::settings::Common;
use super::{Failure, exit};

/// Loads `recipes` and everything they need (see `compose::pipeline::load`).
pub fn closure(recipes: &[PathBuf], toolchain: &str) -> Result<Closure, Failure> {
    pipeline::load(recipes, toolchain).map_err(load_failure)
}

pub fn load_failure(e: LoadError) -> Failure {
    let code = match &e {
        LoadError::Tag { .. } => exit::USAGE,
        LoadError::ImagePackage { .. } | LoadError::Graph(GraphError::Missing { .. } | GraphError::Cycle { .. }) => {
            exit::GRAPH
        }
        _ => exit::RECIPE,
    };
    Failure { hint: e.hint(), ..Failure::new(code, e) }
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
