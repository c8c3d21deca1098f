//! Runs diffoscope (when installed) on two differing outputs, with a time limit, into a text file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::VerifyError;

pub enum Outcome {
    /// diffoscope finished (exit 0: no difference, 1: differences, else its own failure).
    Finished { code: Option<i32> },
    /// Killed at the time limit; the file holds nothing or a partial report.
    TimedOut,
}

/// `diffoscope --text REPORT A B`, killed (with its children) after `limit`.
pub fn run(bin: &Path, a: &Path, b: &Path, report: &Path, limit: Duration) -> Result<Outcome, VerifyError> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(bin)
        .arg("--text")
        .arg(report)
        .arg("--no-progress")
        .arg(a)
        .arg(b)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|source| VerifyError::Run { program: bin.to_path_buf(), source })?;
    let started = Instant::now();
    loop {
        if let Some(status) =
            child.try_wait().map_err(|source| VerifyError::Run { program: bin.to_path_buf(), source })?
        {
            return Ok(Outcome::Finished { code: status.code() });
        }
        if started.elapsed() > limit {
            // SAFETY: kill(2) on the process group diffoscope leads (it was started with its own).
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.wait();
            return Ok(Outcome::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The first `n` lines of a text file.
pub fn head(path: &Path, n: usize) -> Vec<String> {
    std::fs::read_to_string(path).map(|t| t.lines().take(n).map(str::to_string).collect()).unwrap_or_default()
}

pub fn find() -> Option<PathBuf> {
    super::plan::which("diffoscope")
}
