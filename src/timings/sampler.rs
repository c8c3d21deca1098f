//! CPU use during a build, sampled from `/proc/stat` on its own thread (every 250 ms) until finished.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::CpuSample;

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
