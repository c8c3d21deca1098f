//! How library stages tell the user what is happening. Stages call a `Reporter`; only the CLI decides
//! whether that becomes progress bars (a TTY) or plain lines.

use std::time::Duration;

use crate::build::RebuildReason;

pub trait Reporter: Sync {
    fn on_fetch_start(&self, _package: &str, _url: &str, _total: Option<u64>) {}
    fn on_fetch_bytes(&self, _package: &str, _n: u64) {}
    fn on_fetch_done(&self, _package: &str) {}
    fn on_build_start(&self, _package: &str) {}
    fn on_phase(&self, _package: &str, _phase: &str) {}
    fn on_build_done(&self, _package: &str, _took: Duration) {}
    fn on_cached(&self, _package: &str) {}
    fn on_build_failed(&self, _package: &str) {}
    /// Why a package is about to be built (what changed since its last artifact).
    fn on_rebuild_reasons(&self, _package: &str, _reasons: &[RebuildReason]) {}
    /// Another compose process (`pid`, if known) holds the build lock of `package`; this one waits, then
    /// takes its artifact. The default says so through `note`, so wrappers that forward `note` keep it.
    fn on_waiting(&self, package: &str, pid: Option<u32>) {
        let pid = pid.map(|p| p.to_string()).unwrap_or_else(|| "unknown".into());
        self.note(&format!("waiting for another compose building {package} (pid {pid})"))
    }
    /// `package` came from the remote artifact cache (`bytes`: the layer downloaded) instead of being built.
    fn on_remote_hit(&self, _package: &str, _bytes: u64) {}
    /// `package`'s artifact, built by this run, was pushed to the remote artifact cache (`bytes` uploaded).
    fn on_remote_pushed(&self, _package: &str, _bytes: u64) {}
    /// A `warning: ...` line for people: shown even when progress is not (`-q`). The default says it
    /// through `note`.
    fn warning(&self, line: &str) {
        self.note(line)
    }
    /// One plain line for people (stderr).
    fn note(&self, _line: &str) {}
}

/// Reports nothing.
pub struct Silent;
impl Reporter for Silent {}
