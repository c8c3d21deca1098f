//! Locks that let several compose processes share one cache: a per-key build lock in the artifact
//! store, and a claim on each build's work directory.
//!
//! Both are `flock`s (`File::lock`), so the kernel releases them when their process dies, however it
//! dies: a lock is never "stale", only free. What is written inside a lock file (the holder's pid) is
//! for messages only and is never trusted.
//!
//! Guarantees:
//! - `KeyLock::try_acquire`/`acquire` hold `artifacts-v1/<name>-<key>.lock`, the one file at that path
//!   (a lock taken on a file that was unlinked meanwhile is retried), and unlink it before unlocking, so
//!   the store keeps no lock files between builds (the source cache's `<sha256>.lock` does the same);
//! - `WorkDir::claim` holds `work/<stem>.lock` for as long as the build uses `work/<stem>/` and
//!   `work/<stem>.sysroot/`; `sweep` removes only directories whose lock it could take itself, so a live
//!   process's directories are never touched.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Opens and locks the file at `path`, blocking or not. `None`: someone else holds it (non-blocking).
/// Loops until the locked inode is the one the path names, since holders unlink before unlocking.
fn lock_file(path: &Path, block: bool) -> io::Result<Option<File>> {
    loop {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        if block {
            file.lock()?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
        let held = file.metadata()?;
        match fs::metadata(path) {
            Ok(now) if (now.dev(), now.ino()) == (held.dev(), held.ino()) => return Ok(Some(file)),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The build lock of one key: whoever holds it builds (or finds in the store) that key's artifact.
pub struct KeyLock {
    path: PathBuf,
    _file: File,
}

impl KeyLock {
    /// The lock if it is free now; `None` if another process (or thread) holds it.
    pub fn try_acquire(path: &Path) -> io::Result<Option<KeyLock>> {
        lock_file(path, false)?.map(|f| KeyLock::held(path, f)).transpose()
    }

    /// Waits for the lock.
    pub fn acquire(path: &Path) -> io::Result<KeyLock> {
        let f = lock_file(path, true)?.expect("a blocking lock returns a file");
        KeyLock::held(path, f)
    }

    fn held(path: &Path, mut file: File) -> io::Result<KeyLock> {
        file.set_len(0)?;
        file.write_all(std::process::id().to_string().as_bytes())?;
        Ok(KeyLock { path: path.to_path_buf(), _file: file })
    }

    /// The pid the holder of the lock at `path` wrote, for the waiting message. The holder writes it just
    /// after locking, so an empty file is read again a few times.
    pub fn holder(path: &Path) -> Option<u32> {
        for _ in 0..10 {
            let mut text = String::new();
            let mut f = File::open(path).ok()?;
            f.rewind().ok()?;
            f.read_to_string(&mut text).ok()?;
            if let Ok(pid) = text.trim().parse() {
                return Some(pid);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        // Unlink while still locked (`_file` closes after this); see `lock_file`.
        let _ = fs::remove_file(&self.path);
    }
}

/// One build's (or one run's scratch) directories under `work/`: `<stem>/` and `<stem>.sysroot/`,
/// claimed by a lock on `<stem>.lock` for as long as this value lives.
pub struct WorkDir {
    dir: PathBuf,
    lock_path: PathBuf,
    lock: Option<File>,
    remove_on_drop: bool,
}

impl WorkDir {
    /// Claims `root/<stem>` (waiting if a sweeper holds its lock), removing whatever a dead process left
    /// under that name. Creates no directory.
    pub fn claim(root: &Path, stem: &str) -> io::Result<WorkDir> {
        fs::create_dir_all(root)?;
        let lock_path = root.join(format!("{stem}.lock"));
        let lock = lock_file(&lock_path, true)?;
        let w = WorkDir { dir: root.join(stem), lock_path, lock, remove_on_drop: false };
        for d in [w.path().to_path_buf(), w.sysroot()] {
            if d.symlink_metadata().is_ok() {
                fs::remove_dir_all(&d)?;
            }
        }
        Ok(w)
    }

    /// A claimed, created directory named `<prefix>-<pid>-<n>` that is removed when dropped (the rootfs
    /// scratch space); if the process dies first, the next `sweep` removes it.
    pub fn scratch(root: &Path, prefix: &str) -> io::Result<WorkDir> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut w = WorkDir::claim(root, &format!("{prefix}-{}-{n}", std::process::id()))?;
        fs::create_dir_all(w.path())?;
        w.remove_on_drop = true;
        Ok(w)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn sysroot(&self) -> PathBuf {
        let mut s = self.dir.clone().into_os_string();
        s.push(".sysroot");
        s.into()
    }

    /// Removes both directories, then the lock file, then unlocks.
    pub fn remove(mut self) {
        self.remove_now();
    }

    fn remove_now(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_dir_all(self.sysroot());
        let _ = fs::remove_file(&self.lock_path);
        self.lock = None;
    }
}

impl Drop for WorkDir {
    /// Without `remove`, the directories stay (a failed build's, for inspection) and only the lock goes:
    /// the next `sweep` in any process removes them.
    fn drop(&mut self) {
        if self.remove_on_drop && self.lock.is_some() {
            self.remove_now();
        }
    }
}

/// Removes every `<stem>/` and `<stem>.sysroot/` under `root` whose `<stem>.lock` no live process holds
/// (a build that was killed, or that failed in a run that has ended), with the lock file. Best effort.
pub fn sweep(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".lock") else { continue };
        if let Ok(Some(lock)) = lock_file(&e.path(), false) {
            let w = WorkDir { dir: root.join(stem), lock_path: e.path(), lock: Some(lock), remove_on_drop: false };
            w.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_lock_is_exclusive_names_its_holder_and_leaves_no_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k.lock");
        let held = KeyLock::try_acquire(&p).unwrap().expect("free");
        assert!(KeyLock::try_acquire(&p).unwrap().is_none(), "a second holder is refused");
        assert_eq!(KeyLock::holder(&p), Some(std::process::id()));
        drop(held);
        assert!(!p.exists());
        let waiter = std::thread::spawn(move || KeyLock::acquire(&p).map(|_| ()));
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn sweep_removes_unclaimed_dirs_only() {
        let d = tempfile::tempdir().unwrap();
        let live = WorkDir::claim(d.path(), "live-1").unwrap();
        fs::create_dir_all(live.path().join("src")).unwrap();
        fs::create_dir_all(live.sysroot()).unwrap();
        let dead = WorkDir::claim(d.path(), "dead-2").unwrap();
        fs::create_dir_all(dead.path().join("src")).unwrap();
        fs::create_dir_all(dead.sysroot()).unwrap();
        drop(dead); // a failed build's directories: kept, but no longer claimed
        assert!(d.path().join("dead-2/src").exists());
        sweep(d.path());
        assert!(!d.path().join("dead-2").exists() && !d.path().join("dead-2.sysroot").exists());
        assert!(!d.path().join("dead-2.lock").exists());
        assert!(live.path().join("src").exists() && live.sysroot().exists(), "a live claim is never swept");
        live.remove();
        let left: Vec<_> = fs::read_dir(d.path()).unwrap().collect();
        assert!(left.is_empty());
        let scratch = WorkDir::scratch(d.path(), "rootfs").unwrap();
        assert!(scratch.path().is_dir());
        drop(scratch);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0, "a scratch dir goes when dropped");
    }
}
