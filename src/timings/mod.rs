//! `--timings`: a record of the build in the style of cargo's: when each package fetched, unpacked,
//! configured, built and installed; how busy the CPUs were; and the critical path. Written as JSON
//! and as a self-contained HTML page (an SVG Gantt chart and a CPU chart).

mod html;
mod sampler;

pub use html::render_html;
pub use sampler::CpuSampler;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::graph::BuildGraph;
use crate::report::Reporter;

#[derive(Debug, Clone, Serialize)]
pub struct Span {
    pub name: String,
    pub start: f64,
    pub end: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageTimes {
    pub name: String,
    pub cached: bool,
    pub start: f64,
    pub end: f64,
    pub phases: Vec<Span>,
    pub critical: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CpuSample {
    pub t: f64,
    /// Fraction of all cores busy since the previous sample.
    pub busy: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub image: String,
    pub jobs: usize,
    pub cores: usize,
    pub wall_seconds: f64,
    pub cpu_busy_average: f64,
    pub critical_path: Vec<String>,
    pub critical_path_seconds: f64,
    pub packages: Vec<PackageTimes>,
    pub cpu: Vec<CpuSample>,
}

/// The open phase (name, start), the closed spans, and whether the package came from the cache.
type PackageState = (Option<(String, f64)>, Vec<Span>, bool);

/// Wraps another reporter (the CLI's) and records every event with its time.
pub struct Recorder<'a> {
    inner: &'a dyn Reporter,
    started: Instant,
    state: Mutex<HashMap<String, PackageState>>,
}

impl<'a> Recorder<'a> {
    pub fn new(inner: &'a dyn Reporter) -> Self {
        Recorder { inner, started: Instant::now(), state: Mutex::new(HashMap::new()) }
    }

    /// When recording began: the zero of every time in the report.
    pub fn started(&self) -> Instant {
        self.started
    }

    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn open(&self, package: &str, phase: &str) {
        let t = self.now();
        let mut s = self.state.lock().expect("not poisoned");
        let e = s.entry(package.to_string()).or_default();
        if let Some((name, start)) = e.0.take() {
            e.1.push(Span { name, start, end: t });
        }
        e.0 = Some((phase.to_string(), t));
    }

    fn close(&self, package: &str) {
        let t = self.now();
        let mut s = self.state.lock().expect("not poisoned");
        let e = s.entry(package.to_string()).or_default();
        if let Some((name, start)) = e.0.take() {
            e.1.push(Span { name, start, end: t });
        }
    }
}

impl Reporter for Recorder<'_> {
    fn on_fetch_start(&self, package: &str, url: &str, total: Option<u64>) {
        self.open(package, "fetch");
        self.inner.on_fetch_start(package, url, total)
    }
    fn on_fetch_bytes(&self, package: &str, n: u64) {
        self.inner.on_fetch_bytes(package, n)
    }
    fn on_fetch_done(&self, package: &str) {
        self.close(package);
        self.inner.on_fetch_done(package)
    }
    fn on_build_start(&self, package: &str) {
        self.inner.on_build_start(package)
    }
    fn on_phase(&self, package: &str, phase: &str) {
        self.open(package, phase);
        self.inner.on_phase(package, phase)
    }
    fn on_build_done(&self, package: &str, took: Duration) {
        self.close(package);
        self.inner.on_build_done(package, took)
    }
    fn on_cached(&self, package: &str) {
        self.state.lock().expect("not poisoned").entry(package.to_string()).or_default().2 = true;
        self.inner.on_cached(package)
    }
    fn on_build_failed(&self, package: &str) {
        self.close(package);
        self.inner.on_build_failed(package)
    }
    fn on_rebuild_reasons(&self, package: &str, reasons: &[crate::build::RebuildReason]) {
        self.inner.on_rebuild_reasons(package, reasons)
    }
    fn on_waiting(&self, package: &str, pid: Option<u32>) {
        self.inner.on_waiting(package, pid)
    }
    fn on_remote_hit(&self, package: &str, bytes: u64) {
        // Not built here: shown as cached, as a package the local store had.
        self.state.lock().expect("not poisoned").entry(package.to_string()).or_default().2 = true;
        self.inner.on_remote_hit(package, bytes)
    }
    fn on_remote_pushed(&self, package: &str, bytes: u64) {
        self.inner.on_remote_pushed(package, bytes)
    }
    fn warning(&self, line: &str) {
        self.inner.warning(line)
    }
    fn note(&self, line: &str) {
        self.inner.note(line)
    }
}

impl Recorder<'_> {
    pub fn report(&self, image: &str, jobs: usize, graph: Option<&BuildGraph>, cpu: Vec<CpuSample>) -> Report {
        let wall = self.now();
        let state = self.state.lock().expect("not poisoned");
        let mut packages: Vec<PackageTimes> = state
            .iter()
            .map(|(name, (_, spans, cached))| {
                let start = spans.iter().map(|s| s.start).fold(f64::INFINITY, f64::min);
                let end = spans.iter().map(|s| s.end).fold(0.0, f64::max);
                PackageTimes {
                    name: name.clone(),
                    cached: *cached && spans.iter().all(|s| s.name == "fetch"),
                    start: if start.is_finite() { start } else { 0.0 },
                    end,
                    phases: spans.clone(),
                    critical: false,
                }
            })
            .collect();
        packages.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.name.cmp(&b.name)));
        // The critical path: the chain of dependencies with the longest total build time.
        let dur: HashMap<&str, f64> = packages
            .iter()
            .map(|p| (p.name.as_str(), p.phases.iter().filter(|s| s.name != "fetch").map(|s| s.end - s.start).sum()))
            .collect();
        let (path, total) = match graph {
            Some(g) => {
                let (nodes, total) = g.critical_path(|i| dur.get(g.name(i)).copied().unwrap_or(0.0));
                (nodes.into_iter().map(|i| g.name(i).to_string()).collect(), total)
            }
            None => (Vec::new(), 0.0),
        };
        for p in &mut packages {
            p.critical = path.contains(&p.name);
        }
        let avg = if cpu.is_empty() { 0.0 } else { cpu.iter().map(|c| c.busy).sum::<f64>() / cpu.len() as f64 };
        Report {
            image: image.to_string(),
            jobs,
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            wall_seconds: wall,
            cpu_busy_average: avg,
            critical_path: path,
            critical_path_seconds: total,
            packages,
            cpu,
        }
    }
}

/// Writes `<dir>/<image>.timings.json` and `.html`; returns their paths.
pub fn write(report: &Report, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let json = dir.join(format!("{}.timings.json", report.image));
    let html = dir.join(format!("{}.timings.html", report.image));
    std::fs::write(&json, serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?)?;
    std::fs::write(&html, render_html(report))?;
    Ok((json, html))
}
