//! Reproducibility checks for `compose verify`: the perturbation plan for two independent builds of
//! one image (`plan`), the comparison of everything they output (`compare`, `entries`), and the host
//! helpers around them (disorderfs in `mount`, `diffoscope`). Running the builds themselves is the
//! command layer's job: each is a child `compose build`.

pub mod compare;
pub mod diffoscope;
pub mod entries;
pub mod mount;
pub mod plan;

use std::path::PathBuf;

pub use compare::{ArtifactDigest, Comparison, FileDigest, OwnedDiff, Same, compare};
pub use plan::{BuildSpec, DirOrder, HostFacts, Perturbation, Plan, Status, plan};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot create `{}`", path.display())]
    Create { path: PathBuf, source: std::io::Error },
    #[error("cannot read the directory `{}`", path.display())]
    ReadDir { path: PathBuf, source: std::io::Error },
    #[error("cannot read `{}`", path.display())]
    ReadFile { path: PathBuf, source: std::io::Error },
    #[error("cannot read the tarball `{}`", path.display())]
    ReadTar { path: PathBuf, source: std::io::Error },
    #[error("cannot mount disorderfs at `{}`: {message}", path.display())]
    Mount { path: PathBuf, message: String },
    #[error("cannot run `{}`", program.display())]
    Run { program: PathBuf, source: std::io::Error },
}
