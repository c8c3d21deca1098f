//! The whole of `compose verify` after its sources are fetched: plan the two builds, mount disorderfs
//! (or plan again without it), run both child builds from fresh caches, and compare what they wrote.
//! The caller renders the `Verified` outcome; `Verified::diffoscope` and `Verified::discard` are the
//! steps after the verdict.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::child::{self, ChildRequest};
use super::{BuildSpec, Comparison, DirOrder, HostFacts, Perturbation, Plan, Same, VerifyError, diffoscope, mount};
use crate::toolchain::Platform;

/// One verify run.
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    /// The image's name: its rootfs tarball is `NAME.tar` (`NAME-ARCH.tar` for another platform).
    pub name: String,
    /// The one platform both builds are for (`compose build --platform`); `None`: the host's.
    pub platform: Option<Platform>,
    /// The work directory (`OUT/verify/NAME`, see `output_name`), emptied first.
    pub work: PathBuf,
    /// Jobs of the control build A.
    pub jobs: usize,
    pub child: ChildRequest,
    /// Every source of the closure, `(sha256, path in the user's cache)`, seeded into each fresh cache.
    pub sources: Vec<(String, PathBuf)>,
}

/// The name the outputs of a build of `name` for `platform` carry, as `compose build` names them
/// (`pipeline::part_name`): `busybox` for the host's platform, `busybox-arm64` for another.
pub fn output_name(name: &str, platform: Option<&Platform>) -> String {
    match platform {
        Some(p) => crate::pipeline::part_name(name, p, std::slice::from_ref(p)),
        None => name.to_string(),
    }
}

/// What a verify run tells its caller as it goes.
pub trait VerifyProgress {
    /// The perturbations, once it is known which this host allows.
    fn on_plan(&self, perturbations: &[Perturbation]);
    /// A stderr line of the child build `label` meant for people.
    fn on_child_line(&self, label: &str, line: &str);
    fn on_build_done(&self, spec: &BuildSpec, took: Duration);
}

/// Both builds ran; how their outputs compare.
#[derive(Debug, Clone)]
pub struct Verified {
    pub name: String,
    /// The platform built for, when one was named.
    pub platform: Option<Platform>,
    pub work: PathBuf,
    pub plan: Plan,
    /// How long A and B took.
    pub times: [Duration; 2],
    pub comparison: Comparison,
    /// `NAME.tar`, or `NAME-ARCH.tar` for another platform than the host's.
    pub rootfs_tar: String,
    /// Where B's cache is now (with disorderfs unmounted, in its backing directory).
    pub b_cache: PathBuf,
}

/// diffoscope's run on the differing outputs.
pub enum Diffoscope {
    NotInstalled,
    Failed(VerifyError),
    Ran { a: PathBuf, b: PathBuf, report: PathBuf, outcome: diffoscope::Outcome, head: Vec<String> },
}

/// Runs both builds and compares them. Errors of the builds themselves (`Seed`, `ChildBuild`) leave
/// the work directory for inspection.
pub fn run(req: &VerifyRequest, progress: &dyn VerifyProgress) -> Result<Verified, VerifyError> {
    let work = &req.work;
    if work.exists() {
        std::fs::remove_dir_all(work).map_err(|source| VerifyError::ClearWork { path: work.clone(), source })?;
    }
    std::fs::create_dir_all(work).map_err(|source| VerifyError::Create { path: work.clone(), source })?;

    let mut facts = HostFacts::probe();
    let unique = format!("{}-{}", req.name, std::process::id());
    let mut plan = super::plan(&facts, req.jobs, work, &unique);
    // Mount disorderfs now; if it does not work here, plan again without it (tmpfs instead).
    let mut guard = None;
    if let DirOrder::Disorderfs { bin, backing, mountpoint } = &plan.perturbed.dir_order {
        match mount::Disorderfs::mount(bin, backing, mountpoint) {
            Ok(g) => guard = Some(g),
            Err(e) => {
                facts.disorderfs = Err(e.to_string());
                plan = super::plan(&facts, req.jobs, work, &unique);
            }
        }
    }
    progress.on_plan(&plan.perturbations);

    let mut times = [Duration::ZERO; 2];
    for (spec, took) in [&plan.control, &plan.perturbed].into_iter().zip(&mut times) {
        let started = Instant::now();
        child::seed(&spec.cache_dir, &req.sources)?;
        child::build(&req.child, req.platform.as_ref(), spec, &|line| progress.on_child_line(spec.label, line))?;
        *took = started.elapsed();
        progress.on_build_done(spec, *took);
    }

    let rootfs_tar = format!("{}.tar", output_name(&req.name, req.platform.as_ref()));
    let (a, b) = (&plan.control, &plan.perturbed);
    let comparison = super::compare(&a.out_dir, &b.out_dir, &a.cache_dir, &b.cache_dir, &rootfs_tar)?;
    drop(guard);
    let b_cache = match &b.dir_order {
        DirOrder::Disorderfs { backing, .. } => backing.join("cache"),
        _ => b.cache_dir.clone(),
    };
    Ok(Verified {
        name: req.name.clone(),
        platform: req.platform.clone(),
        work: work.clone(),
        plan,
        times,
        comparison,
        rootfs_tar,
        b_cache,
    })
}

impl Verified {
    /// Whether both builds wrote the same: `Unreproducible` names the differing output files, package
    /// artifacts, and the packages owning differing rootfs entries.
    pub fn verdict(&self) -> Result<(), VerifyError> {
        let cmp = &self.comparison;
        if cmp.reproducible() {
            return Ok(());
        }
        let mut owners: Vec<String> = cmp.entries.iter().map(|d| d.owner.clone()).collect();
        owners.sort();
        owners.dedup();
        Err(VerifyError::Unreproducible {
            name: self.name.clone(),
            platform: self.platform.as_ref().map(Platform::to_string),
            differing: cmp.outputs.iter().filter(|f| !f.same()).count(),
            outputs: cmp.outputs.len(),
            packages: cmp.artifacts.iter().filter(|p| !p.same()).map(|p| p.name.clone()).collect(),
            owners,
        })
    }

    /// Runs diffoscope (when installed) on the rootfs tarballs when they differ, else on both output
    /// directories, into `WORK/diffoscope.txt`, and reads the report's first `lines`.
    pub fn diffoscope(&self, limit: Duration, lines: usize) -> Diffoscope {
        let Some(bin) = diffoscope::find() else { return Diffoscope::NotInstalled };
        let (a, b) = (&self.plan.control.out_dir, &self.plan.perturbed.out_dir);
        let tar_differs = self.comparison.outputs.iter().any(|f| f.path == self.rootfs_tar && !f.same());
        let (a, b) =
            if tar_differs { (a.join(&self.rootfs_tar), b.join(&self.rootfs_tar)) } else { (a.clone(), b.clone()) };
        let report = self.work.join("diffoscope.txt");
        match diffoscope::run(&bin, &a, &b, &report, limit) {
            Ok(outcome) => Diffoscope::Ran { head: diffoscope::head(&report, lines), a, b, report, outcome },
            Err(e) => Diffoscope::Failed(e),
        }
    }

    /// Removes the work directory (and B's tmpfs root, which is outside it).
    pub fn discard(&self) {
        let _ = std::fs::remove_dir_all(&self.work);
        if self.plan.perturbed.dir_order == DirOrder::Tmpfs {
            let _ = std::fs::remove_dir_all(&self.plan.perturbed.root);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_named_as_compose_build_names_them() {
        let host = Platform::host();
        let foreign = Platform::parse(if host.arch() == "arm64" { "linux/riscv64" } else { "linux/arm64" }).unwrap();
        assert_eq!(output_name("bb", None), "bb");
        assert_eq!(output_name("bb", Some(&host)), "bb", "the host's platform keeps the plain names");
        assert_eq!(output_name("bb", Some(&foreign)), format!("bb-{}", foreign.arch()));
    }
}
