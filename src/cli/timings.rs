//! `--timings`: a record of the build in the style of cargo's: when each package fetched, unpacked,
//! configured, built and installed; how busy the CPUs were; and the critical path. Written as JSON
//! and as a self-contained HTML page (an SVG Gantt chart and a CPU chart).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use compose::graph::BuildGraph;
use compose::report::Reporter;

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

/// Wraps the CLI's reporter and records every event with its time.
pub struct Recorder<'a> {
    inner: &'a dyn Reporter,
    started: Instant,
    state: Mutex<HashMap<String, PackageState>>,
}

impl<'a> Recorder<'a> {
    pub fn new(inner: &'a dyn Reporter) -> Self {
        Recorder { inner, started: Instant::now(), state: Mutex::new(HashMap::new()) }
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
    fn on_rebuild_reasons(&self, package: &str, reasons: &[compose::build::RebuildReason]) {
        self.inner.on_rebuild_reasons(package, reasons)
    }
    fn note(&self, line: &str) {
        self.inner.note(line)
    }
}

/// Samples /proc/stat until dropped.
pub struct CpuSampler {
    stop: std::sync::Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<Vec<CpuSample>>>,
}

fn proc_stat() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((v.iter().take(8).sum(), idle))
}

impl CpuSampler {
    pub fn start(started: Instant) -> Self {
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut last = proc_stat();
            loop {
                // Wake every 250 ms, or at once when stopped; either way take the sample.
                let mut stopped = false;
                for _ in 0..10 {
                    stopped = flag.load(Ordering::Relaxed);
                    if stopped {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
                let now = proc_stat();
                if let (Some((t0, i0)), Some((t1, i1))) = (last, now)
                    && t1 > t0
                {
                    let busy = 1.0 - (i1 - i0) as f64 / (t1 - t0) as f64;
                    out.push(CpuSample { t: started.elapsed().as_secs_f64(), busy: busy.clamp(0.0, 1.0) });
                }
                last = now;
                if stopped {
                    break;
                }
            }
            out
        });
        CpuSampler { stop, handle: Some(handle) }
    }

    pub fn finish(mut self) -> Vec<CpuSample> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().and_then(|h| h.join().ok()).unwrap_or_default()
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
        let mut path = Vec::new();
        let mut total = 0.0;
        if let Some(g) = graph {
            let mut best: HashMap<petgraph::graph::NodeIndex, (f64, Option<petgraph::graph::NodeIndex>)> =
                HashMap::new();
            for i in g.order() {
                let own = dur.get(g.name(i)).copied().unwrap_or(0.0);
                let prev = g.deps(i).into_iter().map(|d| (best[&d].0, Some(d))).max_by(|a, b| a.0.total_cmp(&b.0));
                let (before, via) = prev.unwrap_or((0.0, None));
                best.insert(i, (before + own, via));
            }
            if let Some((&end, &(t, _))) = best.iter().max_by(|a, b| a.1.0.total_cmp(&b.1.0)) {
                total = t;
                let mut cur = Some(end);
                while let Some(n) = cur {
                    path.push(g.name(n).to_string());
                    cur = best[&n].1;
                }
                path.reverse();
            }
        }
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

fn color(phase: &str) -> &'static str {
    match phase {
        "fetch" => "#9ecae1",
        "unpack" => "#c6dbef",
        "sysroot" => "#dadaeb",
        "configure" => "#fdd0a2",
        "build" => "#fd8d3c",
        "install" => "#74c476",
        "commit" => "#bdbdbd",
        _ => "#cccccc",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub fn render_html(r: &Report) -> String {
    let (w, row, left) = (1000.0, 22.0, 140.0);
    let span = r.wall_seconds.max(0.001);
    let x = |t: f64| left + (w - left - 10.0) * t / span;
    let mut svg = String::new();
    let h = 30.0 + row * r.packages.len() as f64;
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    for k in 0..=10 {
        let t = span * k as f64 / 10.0;
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" y1="15" x2="{0:.1}" y2="{h}" stroke="#eee"/><text x="{0:.1}" y="12" text-anchor="middle">{t:.1}s</text>"##,
            x(t)
        );
    }
    for (i, p) in r.packages.iter().enumerate() {
        let y = 20.0 + row * i as f64;
        let weight = if p.critical { "bold" } else { "normal" };
        let label = if p.cached { format!("{} (cached)", p.name) } else { p.name.clone() };
        let _ = write!(svg, r#"<text x="4" y="{:.1}" font-weight="{weight}">{}</text>"#, y + 14.0, esc(&label));
        for s in &p.phases {
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {:.2}s</title></rect>"#,
                x(s.start),
                (x(s.end) - x(s.start)).max(1.0),
                row - 4.0,
                color(&s.name),
                esc(&p.name),
                esc(&s.name),
                s.end - s.start
            );
        }
        if p.critical {
            let _ = write!(
                svg,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#d62728" stroke-width="2"/>"##,
                x(p.start),
                y - 1.0,
                (x(p.end) - x(p.start)).max(1.0),
                row - 2.0
            );
        }
    }
    svg.push_str("</svg>");
    let ch = 120.0;
    let mut cpu = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{}" font-family="sans-serif" font-size="12">"#,
        ch + 20.0
    );
    let _ = write!(
        cpu,
        r##"<rect x="{left}" y="5" width="{:.1}" height="{ch}" fill="none" stroke="#ccc"/><text x="4" y="15">100%</text><text x="4" y="{:.1}">0%</text>"##,
        w - left - 10.0,
        ch + 5.0
    );
    let pts: Vec<String> = r.cpu.iter().map(|c| format!("{:.1},{:.1}", x(c.t), 5.0 + ch * (1.0 - c.busy))).collect();
    let _ = write!(
        cpu,
        r##"<polyline points="{}" fill="none" stroke="#1f77b4" stroke-width="1.5"/></svg>"##,
        pts.join(" ")
    );
    let legend: String = ["fetch", "unpack", "sysroot", "configure", "build", "install", "commit"]
        .iter()
        .map(|p| format!(r#"<span style="background:{};padding:2px 6px;margin-right:4px">{p}</span>"#, color(p)))
        .collect();
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>compose timings: {img}</title>
<style>body{{font-family:sans-serif;margin:20px}}td,th{{padding:2px 10px;text-align:right}}th{{text-align:left}}</style></head><body>
<h1>compose timings: {img}</h1>
<p>Wall time {wall:.1} s with {jobs} jobs on {cores} cores; CPUs {avg:.0}% busy on average.
Critical path ({cp:.1} s of building, outlined in red): {path}.</p>
<p>{legend}</p>
<h2>Packages over time</h2>{svg}
<h2>CPU utilisation</h2>{cpu}
<h2>Table</h2><table><tr><th>package</th><th>start</th><th>end</th><th>duration</th><th>cached</th></tr>{rows}</table>
</body></html>
"#,
        img = esc(&r.image),
        wall = r.wall_seconds,
        jobs = r.jobs,
        cores = r.cores,
        avg = r.cpu_busy_average * 100.0,
        cp = r.critical_path_seconds,
        path = esc(&r.critical_path.join(" → ")),
        rows = r
            .packages
            .iter()
            .map(|p| format!(
                "<tr><th>{}</th><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>",
                esc(&p.name),
                p.start,
                p.end,
                p.end - p.start,
                if p.cached { "yes" } else { "" }
            ))
            .collect::<String>(),
    )
}
