//! Removes the work directories of finished builds on background threads, so that neither a dependent
//! package nor the image waits for thousands of unlinks (1 to 1.5 s for musl or busybox here).

use std::path::PathBuf;

/// Dropping it waits for every removal, so nothing is left behind once its owner is done.
#[derive(Default)]
pub struct Janitor {
    removals: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Janitor {
    pub fn remove(&self, dirs: impl IntoIterator<Item = PathBuf> + Send + 'static) {
        let removal = std::thread::spawn(move || {
            for d in dirs {
                let _ = std::fs::remove_dir_all(d);
            }
        });
        self.removals.lock().unwrap_or_else(|e| e.into_inner()).push(removal);
    }
}

impl Drop for Janitor {
    fn drop(&mut self) {
        for removal in self.removals.get_mut().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = removal.join();
        }
    }
}
