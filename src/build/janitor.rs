//! Removes the work directories of finished builds on background threads, so that neither a dependent
//! package nor the image waits for thousands of unlinks (1 to 1.5 s for musl or busybox here), and keeps
//! the claim on a failed build's directories until the run ends.

use std::sync::Mutex;
use std::thread::JoinHandle;

use super::lock::WorkDir;

/// Dropping it waits for every removal, so nothing is left behind once its owner is done, and then
/// releases the failed builds' directories (kept for inspection; the next run's `lock::sweep` removes
/// them).
#[derive(Default)]
pub struct Janitor {
    removals: Mutex<Vec<JoinHandle<()>>>,
    kept: Mutex<Vec<WorkDir>>,
}

impl Janitor {
    /// Removes a successful build's directories in the background (its claim goes last).
    pub fn remove(&self, dirs: WorkDir) {
        let removal = std::thread::spawn(move || dirs.remove());
        self.removals.lock().unwrap_or_else(|e| e.into_inner()).push(removal);
    }

    /// Keeps a failed build's directories, still claimed, until the janitor is dropped: no other compose
    /// removes them while this run may still name them.
    pub fn keep(&self, dirs: WorkDir) {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).push(dirs);
    }
}

impl Drop for Janitor {
    fn drop(&mut self) {
        for removal in self.removals.get_mut().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = removal.join();
        }
    }
}
