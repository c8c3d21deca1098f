//! Reproducibility checks for `compose verify`: the perturbation plan for two independent builds of
//! one image (`plan`), the comparison of everything they output (`compare`, `entries`), and the host
//! helpers around them (disorderfs in `mount`, `diffoscope`). `run` does the whole job: each build is a
//! child `compose build` (`child`), and the outcome comes back for the command layer to render.

pub mod child;
pub mod compare;
pub mod diffoscope;
pub mod entries;
pub mod mount;
pub mod plan;
mod run;

use std::path::PathBuf;

pub use child::{ChildRequest, PHASE_ENV_VAR};
pub use compare::{ArtifactDigest, Comparison, FileDigest, OwnedDiff, Same, compare};
pub use plan::{BuildSpec, DirOrder, HostFacts, Perturbation, Plan, Status, plan};
pub use run::{Diffoscope, Verified, VerifyProgress, VerifyRequest, output_name, run};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot clear the old verify directory `{}`", path.display())]
    ClearWork { path: PathBuf, source: std::io::Error },
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
    /// A source could not be placed in a build's fresh cache.
    #[error(transparent)]
    Seed(crate::source::FetchError),
    /// A child `compose build` failed; `tail` holds its last stderr lines.
    #[error("build {label} ({}) failed with exit code {code}", role(label))]
    ChildBuild { label: &'static str, code: u8, log: PathBuf, tail: Vec<String> },
    /// The verdict: what differs between the two builds.
    #[error(
        "`{name}`{} is not reproducible: {differing} of {outputs} output file(s) differ; package artifact(s) that differ: {}{}",
        platform.as_ref().map(|p| format!(" for {p}")).unwrap_or_default(),
        if packages.is_empty() { "none".into() } else { packages.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ") },
        if owners.is_empty() { String::new() } else { format!("; differing rootfs entries belong to {}", owners.join(", ")) }
    )]
    Unreproducible {
        name: String,
        platform: Option<String>,
        differing: usize,
        outputs: usize,
        packages: Vec<String>,
        owners: Vec<String>,
    },
}

/// What build `label` is for.
pub fn role(label: &str) -> &'static str {
    if label == "A" { "control" } else { "perturbed" }
}
