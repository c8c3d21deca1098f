//! The whole job of `compose build` as one library call: a `BuildRequest` goes in, named stages run in
//! order, and an `Outcome` comes out with every written output, its digests and each stage's time.
//!
//! ```text
//! plan      load recipes, toolchain and graph; the image reference; the lock check
//! build     every package the store lacks (build::build), with the timings report when asked
//! assemble  the image's packages (the roots' runtime closures) into a RootfsTree
//! export    every requested format, while the records hash the rootfs beside it
//! record    the file manifest, SPDX, CycloneDX and the provenance
//! ```
//!
//! The command layer only turns flags into a `BuildRequest` and the `Outcome` (or a `PipelineError`)
//! into lines and an exit code.

mod image;
mod record;
mod request;
mod spec;
#[cfg(test)]
mod tests;

pub use image::combined_license;
pub use request::{BuildRequest, Format, ImageOptions, LockPolicy};
pub use spec::{Closure, ImageSpec, LoadError, load, load_for, recipes_in};

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use petgraph::graph::NodeIndex;

use crate::build::{self, BuildError, Janitor, PlanStep, artifact::Artifact};
use crate::export::{ConfigError, ExportError, Exported, Reference};
use crate::graph::BuildGraph;
use crate::lock::{LockError, LockFile};
use crate::records::{RecordFile, RecordsError};
use crate::report::Reporter;
use crate::rootfs::{self, RootfsError, RootfsTree};
use crate::timings;
use crate::toolchain::{Platform, Toolchain};

/// The named stages, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Plan,
    Build,
    Assemble,
    Export,
    Record,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Plan => "plan",
            Stage::Build => "build",
            Stage::Assemble => "assemble",
            Stage::Export => "export",
            Stage::Record => "record",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Load(#[from] LoadError),
    /// `--locked` without a readable lock file.
    #[error(transparent)]
    LockRead(LockError),
    #[error("cannot describe the inputs for the lock check")]
    LockResolve(#[source] LockError),
    #[error("--locked: {} input(s) differ from `{}`:", differences.len(), path.display())]
    LockMismatch { path: PathBuf, differences: Vec<String> },
    /// The shared hold on `cache.lock` that keeps `compose cache prune` away during the run.
    #[error(transparent)]
    CacheLock(#[from] crate::cache::CacheError),
    #[error(transparent)]
    Build(Box<BuildError>),
    #[error("cannot write the timings report into `{}`", dir.display())]
    Timings { dir: PathBuf, source: std::io::Error },
    #[error("cannot create a scratch directory in `{}`", dir.display())]
    Scratch { dir: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error("{}: {error}", recipe.display())]
    Config { recipe: PathBuf, error: Box<ConfigError> },
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Records(#[from] RecordsError),
}

impl From<BuildError> for PipelineError {
    fn from(e: BuildError) -> Self {
        PipelineError::Build(Box::new(e))
    }
}

/// The image's OCI digests and files, when an OCI format was written.
#[derive(Debug, Clone)]
pub struct WrittenOci {
    pub files: Vec<Exported>,
    pub index_digest: String,
    /// The first platform's manifest and config.
    pub manifest_digest: String,
    pub config_digest: String,
    pub layers: usize,
    /// Per platform: (platform, manifest digest, config digest).
    pub manifests: Vec<(Platform, String, String)>,
}

impl WrittenOci {
    /// The digests the records of `platform` name.
    pub fn digests_for(&self, platform: &Platform) -> Option<crate::records::OciDigests> {
        let (_, manifest, config) = self.manifests.iter().find(|(p, _, _)| p == platform)?;
        Some(crate::records::OciDigests {
            index: self.index_digest.clone(),
            manifest: manifest.clone(),
            config: config.clone(),
        })
    }
}

/// One platform of a run: its target in the graph and the name its own files carry (`busybox`, or
/// `busybox-arm64` unless the run is for the host's platform alone).
#[derive(Debug, Clone)]
pub struct Part {
    pub target: usize,
    pub platform: Platform,
    pub name: String,
}

/// The name the files of `platform` carry in a run for `platforms` (as named with `--platform`; none:
/// the host's): `NAME-ARCH` (`busybox-arm64`), unless the run is for one platform that is the host's or
/// names none, which keeps today's names (`busybox`). `compose verify` finds its outputs by it.
pub fn part_name(name: &str, platform: &Platform, platforms: &[Platform]) -> String {
    if platforms.is_empty() || platforms == [Platform::host()] {
        name.to_string()
    } else {
        format!("{name}-{}", platform.arch())
    }
}

/// What a run wrote for one platform.
#[derive(Debug, Clone)]
pub struct PlatformOutcome {
    pub part: Part,
    pub rootfs_tar: Option<Exported>,
    pub docker_archive: Option<Exported>,
    /// Its file manifest and SBOMs (and the provenance, when the run has one platform).
    pub records: Vec<RecordFile>,
    pub entries: usize,
    pub files: usize,
}

/// Everything a finished run wrote and how long each stage took.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub reference: Reference,
    /// The first platform's rootfs tarball, when `Format::Tar` was asked for.
    pub rootfs_tar: Option<Exported>,
    /// The OCI layout or archive: one manifest, or an index of one per platform.
    pub oci: Option<WrittenOci>,
    /// Every record written: each platform's file manifest and SBOMs, and the provenance.
    pub records: Vec<RecordFile>,
    /// Per platform, in the order asked for.
    pub platforms: Vec<PlatformOutcome>,
    /// The timings report (JSON, HTML), when asked for.
    pub timings: Option<(PathBuf, PathBuf)>,
    pub stages: Vec<(Stage, Duration)>,
    /// Rootfs entries, and of those the regular files.
    pub entries: usize,
    pub files: usize,
}

impl Outcome {
    pub fn stage_time(&self, stage: Stage) -> Duration {
        self.stages.iter().filter(|(s, _)| *s == stage).map(|(_, d)| *d).sum()
    }
}

/// A request whose recipes are loaded and whose lock is checked: ready to show its plan or to run.
pub struct Planned {
    pub request: BuildRequest,
    pub spec: ImageSpec,
    /// The first platform's toolchain target.
    pub toolchain: Toolchain,
    /// Every platform's, in the order asked for.
    pub toolchains: Vec<Toolchain>,
    pub graph: Option<BuildGraph>,
    pub reference: Reference,
    /// The lock file read (required with `--locked`, else used only to triage hash mismatches).
    pub lock: Option<LockFile>,
    planned_in: Duration,
}

/// The plan stage: loads the recipe, its toolchain and graph, resolves the image reference and, when the
/// request is locked, refuses any input that differs from the lock file.
pub fn plan(request: BuildRequest) -> Result<Planned, PipelineError> {
    let started = Instant::now();
    let Closure { mut specs, toolchain, toolchains, graph } =
        load_for(std::slice::from_ref(&request.recipe), &request.toolchain, &request.platforms)?;
    let spec = specs.pop().expect("one recipe was loaded");
    let reference = spec.reference(request.image.tag.as_deref())?;
    let lock = check_lock(&request.lock, &spec, graph.as_ref(), &toolchain)?;
    Ok(Planned { request, spec, toolchain, toolchains, graph, reference, lock, planned_in: started.elapsed() })
}

fn check_lock(
    policy: &LockPolicy,
    spec: &ImageSpec,
    graph: Option<&BuildGraph>,
    tc: &Toolchain,
) -> Result<Option<LockFile>, PipelineError> {
    if !policy.locked {
        return Ok(LockFile::read(&policy.path).ok());
    }
    let lock = LockFile::read(&policy.path).map_err(PipelineError::LockRead)?;
    let now = LockFile::resolve(&spec.name, &spec.digest, graph, tc, &Default::default())
        .map_err(PipelineError::LockResolve)?;
    let differences = lock.differences(&now);
    if !differences.is_empty() {
        return Err(PipelineError::LockMismatch { path: policy.path.clone(), differences });
    }
    Ok(Some(lock))
}

impl Planned {
    /// What would be built, in order, and what the store already holds (`--dry-run`).
    pub fn steps(&self) -> Result<Vec<PlanStep>, PipelineError> {
        match &self.graph {
            Some(g) => Ok(build::plan(g, &self.request.settings)?),
            None => Ok(Vec::new()),
        }
    }

    /// Runs the build, assemble, export and record stages.
    pub fn run(&self, reporter: &dyn Reporter) -> Result<Outcome, PipelineError> {
        let mut clock = StageClock::new(self.planned_in);
        // Held until the records are written: a prune waits for the run, so nothing it uses disappears.
        let waiting = || reporter.note("waiting for `compose cache prune` to finish (cache.lock)");
        let _cache_lock = crate::cache::CacheLock::shared(&self.request.settings.cache_root, &waiting)?;
        // Finished builds' work directories are removed on background threads while later stages run;
        // dropping the janitor at the end of this function waits for them, so none outlives the run.
        let janitor = Janitor::default();
        let (artifacts, timings) = self.build(reporter, &janitor)?;
        artifacts.values().for_each(|a| crate::cache::mark_used(&a.dir));
        clock.lap(Stage::Build);
        let parts = self.parts();
        let mut runs = Vec::new();
        for part in &parts {
            let contents = self.graph.as_ref().map(|g| g.image_contents_of(part.target)).unwrap_or_default();
            let scratch = self.scratch_dir()?;
            let tree = self.assemble(part, &contents, &artifacts, scratch.path())?;
            clock.lap(Stage::Assemble);
            let (exported, files) = image::export_and_hash(self, part, parts.len() == 1, &tree, &contents, &artifacts)?;
            clock.lap(Stage::Export);
            runs.push(image::PartRun { part: part.clone(), _scratch: scratch, tree, contents, exported, files });
        }
        let oci = match parts.len() {
            1 => runs[0].exported.oci.take(),
            _ => {
                let index = image::export_index(self, &mut runs)?;
                clock.lap(Stage::Export);
                index
            }
        };
        let (platforms, records) = record::write_all(self, runs, oci.as_ref(), &artifacts)?;
        clock.lap(Stage::Record);
        drop(janitor);
        let first = &platforms[0];
        Ok(Outcome {
            name: self.spec.name.clone(),
            reference: self.reference.clone(),
            rootfs_tar: first.rootfs_tar.clone(),
            entries: first.entries,
            files: first.files,
            oci,
            records,
            platforms,
            timings,
            stages: clock.stages,
        })
    }

    /// The platforms of the run, each with the name its files carry (`part_name`).
    pub fn parts(&self) -> Vec<Part> {
        let named: Vec<Platform> = match self.request.platforms.is_empty() {
            true => Vec::new(),
            false => self.toolchains.iter().map(|tc| tc.platform.clone()).collect(),
        };
        self.toolchains
            .iter()
            .enumerate()
            .map(|(target, tc)| Part {
                target,
                platform: tc.platform.clone(),
                name: part_name(&self.spec.name, &tc.platform, &named),
            })
            .collect()
    }

    /// The build stage; with `timings`, it records every event and writes the report once it is done.
    fn build(&self, reporter: &dyn Reporter, janitor: &Janitor) -> Result<BuildResult, PipelineError> {
        let Some(graph) = &self.graph else { return Ok((HashMap::new(), None)) };
        let settings = &self.request.settings;
        if !self.request.timings {
            return Ok((build::build(graph, settings, reporter, janitor)?, None));
        }
        let recorder = timings::Recorder::new(reporter);
        let sampler = timings::CpuSampler::start(recorder.started());
        let artifacts = build::build(graph, settings, &recorder, janitor)?;
        let report = recorder.report(&self.spec.name, settings.jobs, Some(graph), sampler.finish());
        let dir = self.request.image.out_dir.join("timings");
        let written = timings::write(&report, &dir).map_err(|source| PipelineError::Timings { dir, source })?;
        Ok((artifacts, Some(written)))
    }

    /// Scratch space for generated rootfs files, in the cache (same filesystem as the artifacts).
    /// Claimed like a build's work directory (`work/rootfs-<pid>-<n>/`), so that if this process is
    /// killed, the next run's sweep removes it; dropped, it is removed.
    fn scratch_dir(&self) -> Result<build::lock::WorkDir, PipelineError> {
        let dir = self.request.settings.cache_root.join("work");
        build::lock::WorkDir::scratch(&dir, "rootfs").map_err(|source| PipelineError::Scratch { dir, source })
    }

    fn assemble(
        &self,
        part: &Part,
        contents: &[NodeIndex],
        artifacts: &HashMap<NodeIndex, Artifact>,
        scratch: &std::path::Path,
    ) -> Result<RootfsTree, PipelineError> {
        let packages = contents
            .iter()
            .map(|&i| {
                let r = self.graph.as_ref().expect("contents come from the graph").recipe(i);
                rootfs::PackageInput {
                    name: r.name.clone(),
                    tree: artifacts[&i].tree(),
                    include: r.image.include.clone(),
                    exclude: r.image.exclude.clone(),
                    strip: r.image.strip,
                }
            })
            .collect();
        let plan = rootfs::Plan {
            packages,
            skeleton: self.spec.skeleton,
            users: self.spec.config.users.clone(),
            groups: self.spec.config.groups.clone(),
            source_date_epoch: self.request.settings.source_date_epoch,
            scratch: scratch.to_path_buf(),
            strip_program: self.toolchains[part.target].compiler.strip(),
        };
        Ok(rootfs::assemble(&plan)?)
    }
}

type BuildResult = (HashMap<NodeIndex, Artifact>, Option<(PathBuf, PathBuf)>);

/// Times each stage from the end of the one before.
struct StageClock {
    last: Instant,
    stages: Vec<(Stage, Duration)>,
}

impl StageClock {
    fn new(planned_in: Duration) -> Self {
        StageClock { last: Instant::now(), stages: vec![(Stage::Plan, planned_in)] }
    }

    fn lap(&mut self, stage: Stage) {
        let now = Instant::now();
        self.stages.push((stage, now - self.last));
        self.last = now;
    }
}
