//! `--message-format json`: what `compose build` did, as one JSON object per line on stdout, for
//! scripts and tests (cargo's `--message-format json` is the model). Every object has a `reason`;
//! docs/cli.md lists them. Human progress still goes to stderr.

use std::time::Duration;

use serde_json::{Value, json};

use compose::build::{PlanStep, RebuildReason};
use compose::pipeline::{Outcome, Planned};
use compose::report::Reporter;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    /// Lines for people: the files written on stdout, progress on stderr.
    Human,
    /// One JSON object per line on stdout: every package event, then every file written.
    Json,
}

fn emit(v: Value) {
    // One `println!` per object: stdout's lock keeps each line whole when workers report at once.
    println!("{v}");
}

/// Forwards every event to the human reporter and prints it as a JSON line.
pub struct JsonReporter<'a> {
    pub inner: &'a dyn Reporter,
}

impl Reporter for JsonReporter<'_> {
    fn on_fetch_start(&self, package: &str, url: &str, total: Option<u64>) {
        emit(json!({"reason": "fetch-started", "package": package, "url": url, "size": total}));
        self.inner.on_fetch_start(package, url, total)
    }
    fn on_fetch_bytes(&self, package: &str, n: u64) {
        self.inner.on_fetch_bytes(package, n)
    }
    fn on_fetch_done(&self, package: &str) {
        emit(json!({"reason": "fetch-finished", "package": package}));
        self.inner.on_fetch_done(package)
    }
    fn on_build_start(&self, package: &str) {
        emit(json!({"reason": "package-started", "package": package}));
        self.inner.on_build_start(package)
    }
    fn on_phase(&self, package: &str, phase: &str) {
        emit(json!({"reason": "phase-started", "package": package, "phase": phase}));
        self.inner.on_phase(package, phase)
    }
    fn on_build_done(&self, package: &str, took: Duration) {
        emit(json!({"reason": "package-built", "package": package, "seconds": took.as_secs_f64()}));
        self.inner.on_build_done(package, took)
    }
    fn on_cached(&self, package: &str) {
        emit(json!({"reason": "package-cached", "package": package}));
        self.inner.on_cached(package)
    }
    fn on_build_failed(&self, package: &str) {
        emit(json!({"reason": "package-failed", "package": package}));
        self.inner.on_build_failed(package)
    }
    fn on_rebuild_reasons(&self, package: &str, reasons: &[RebuildReason]) {
        let lines: Vec<String> = reasons.iter().map(|r| r.to_string()).collect();
        emit(json!({"reason": "rebuild-reasons", "package": package, "reasons": lines}));
        self.inner.on_rebuild_reasons(package, reasons)
    }
    fn on_waiting(&self, package: &str, pid: Option<u32>) {
        emit(json!({"reason": "package-waiting", "package": package, "pid": pid}));
        self.inner.on_waiting(package, pid)
    }
    fn on_remote_hit(&self, package: &str, bytes: u64) {
        emit(json!({"reason": "package-from-remote-cache", "package": package, "size": bytes}));
        self.inner.on_remote_hit(package, bytes)
    }
    fn on_remote_pushed(&self, package: &str, bytes: u64) {
        emit(json!({"reason": "package-pushed-to-remote-cache", "package": package, "size": bytes}));
        self.inner.on_remote_pushed(package, bytes)
    }
    fn warning(&self, line: &str) {
        self.inner.warning(line)
    }
    fn note(&self, line: &str) {
        self.inner.note(line)
    }
}

/// `--dry-run`: the plan, then one object per step.
pub fn plan(planned: &Planned, steps: &[PlanStep]) {
    emit(json!({
        "reason": "plan",
        "image": planned.spec.name,
        "toolchain": planned.toolchain.name,
        "jobs": planned.request.settings.jobs,
    }));
    for s in steps {
        let reasons: Vec<String> = s.reasons.iter().map(|r| r.to_string()).collect();
        emit(json!({
            "reason": "plan-step",
            "package": s.label,
            "version": s.version,
            "cached": s.cached,
            "toolchain": s.toolchain,
            "key": s.key,
            "rebuild_reasons": reasons,
        }));
    }
}

/// Every file written, then the image as a whole with its stage times.
pub fn outcome(o: &Outcome) {
    if let Some((json, html)) = &o.timings {
        emit(json!({"reason": "timings", "json": json, "html": html}));
    }
    for p in &o.platforms {
        let platform = p.part.platform.to_string();
        if let Some(e) = &p.rootfs_tar {
            emit(
                json!({"reason": "output", "format": "tar", "platform": platform, "path": e.path, "size": e.size, "sha256": e.sha256}),
            );
        }
        if let (Some(e), true) = (&p.docker_archive, o.platforms.len() > 1) {
            emit(
                json!({"reason": "output", "format": "image", "platform": platform, "path": e.path, "size": e.size, "sha256": e.sha256}),
            );
        }
    }
    if let Some(img) = &o.oci {
        for f in &img.files {
            emit(json!({"reason": "output", "format": "image", "path": f.path, "size": f.size, "sha256": f.sha256}));
        }
    }
    for r in &o.records {
        emit(json!({"reason": "output", "format": "record", "path": r.path, "size": r.size}));
    }
    let stages: serde_json::Map<String, Value> =
        o.stages.iter().map(|(s, d)| (s.name().to_string(), json!(d.as_secs_f64()))).collect();
    emit(json!({
        "reason": "image-built",
        "image": o.name,
        "reference": o.reference.qualified(),
        "index": o.oci.as_ref().map(|i| &i.index_digest),
        "manifest": o.oci.as_ref().map(|i| &i.manifest_digest),
        "config": o.oci.as_ref().map(|i| &i.config_digest),
        "layers": o.oci.as_ref().map(|i| i.layers),
        "platforms": o.platforms.iter().map(|p| p.part.platform.to_string()).collect::<Vec<_>>(),
        "entries": o.entries,
        "files": o.files,
        "stages": stages,
    }));
}
