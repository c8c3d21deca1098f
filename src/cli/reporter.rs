//! Turns library progress into output for people: one spinner per running package on a TTY, plain
//! tagged lines otherwise. Everything goes to stderr; stdout is for data.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use compose::report::Reporter;

pub struct CliReporter {
    bars: Option<(MultiProgress, Mutex<HashMap<String, ProgressBar>>)>,
    verbose: bool,
    quiet: bool,
    started: Instant,
    /// Packages compiled, and taken from the remote cache, for the summary.
    compiled: AtomicUsize,
    from_remote: AtomicUsize,
}

impl CliReporter {
    pub fn new(quiet: bool, verbose: bool) -> Self {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("TERM").is_some_and(|t| t != "dumb") && !quiet;
        CliReporter {
            bars: tty.then(|| (MultiProgress::new(), Mutex::new(HashMap::new()))),
            verbose,
            quiet,
            started: Instant::now(),
            compiled: AtomicUsize::new(0),
            from_remote: AtomicUsize::new(0),
        }
    }

    /// How many packages this run compiled, and how many came from the remote cache.
    pub fn counts(&self) -> (usize, usize) {
        (self.compiled.load(Ordering::Relaxed), self.from_remote.load(Ordering::Relaxed))
    }

    fn line(&self, package: &str, text: &str) {
        if self.quiet {
            return;
        }
        let msg = format!("[{:>6.1}s] {package:<14} {text}", self.started.elapsed().as_secs_f64());
        match &self.bars {
            Some((m, _)) => drop(m.println(msg)),
            None => eprintln!("{msg}"),
        }
    }

    fn bar(&self, package: &str, msg: &str) {
        let Some((m, bars)) = &self.bars else { return };
        let mut bars = bars.lock().expect("reporter lock");
        let bar = bars.entry(package.to_string()).or_insert_with(|| {
            let b = m.add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("{spinner} {prefix:<14} {msg} {elapsed}").expect("valid template"),
            );
            b.set_prefix(package.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        bar.set_message(msg.to_string());
    }

    fn finish_bar(&self, package: &str) {
        if let Some((_, bars)) = &self.bars
            && let Some(b) = bars.lock().expect("reporter lock").remove(package)
        {
            b.finish_and_clear();
        }
    }
}

impl Reporter for CliReporter {
    fn on_fetch_start(&self, package: &str, url: &str, _total: Option<u64>) {
        if self.verbose || self.bars.is_none() {
            self.line(package, &format!("fetch {url}"));
        }
        self.bar(package, "fetching");
    }
    fn on_fetch_done(&self, package: &str) {
        self.finish_bar(package);
    }
    fn on_build_start(&self, package: &str) {
        self.line(package, "build started");
        self.bar(package, "starting");
    }
    fn on_phase(&self, package: &str, phase: &str) {
        if self.bars.is_none() || self.verbose {
            self.line(package, phase);
        }
        self.bar(package, phase);
    }
    fn on_build_done(&self, package: &str, took: Duration) {
        self.compiled.fetch_add(1, Ordering::Relaxed);
        self.finish_bar(package);
        self.line(package, &format!("built in {:.1}s", took.as_secs_f64()));
    }
    fn on_cached(&self, package: &str) {
        if self.verbose {
            self.line(package, "cached");
        }
    }
    fn on_remote_hit(&self, package: &str, bytes: u64) {
        self.from_remote.fetch_add(1, Ordering::Relaxed);
        self.line(package, &format!("from the remote cache ({})", compose::cache::format_size(bytes)));
    }
    fn on_remote_pushed(&self, package: &str, bytes: u64) {
        self.line(package, &format!("pushed to the remote cache ({})", compose::cache::format_size(bytes)));
    }
    fn on_build_failed(&self, package: &str) {
        self.finish_bar(package);
        self.line(package, "FAILED");
    }
    fn on_rebuild_reasons(&self, package: &str, reasons: &[compose::build::RebuildReason]) {
        if self.verbose {
            for r in reasons {
                self.line(package, &format!("why: {r}"));
            }
        }
    }
    fn warning(&self, line: &str) {
        match &self.bars {
            Some((m, _)) => drop(m.println(line)),
            None => eprintln!("{line}"),
        }
    }
    fn note(&self, line: &str) {
        if !self.quiet {
            match &self.bars {
                Some((m, _)) => drop(m.println(line)),
                None => eprintln!("{line}"),
            }
        }
    }
}
