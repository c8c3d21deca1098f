//! The cache-wide lock, `<cache>/cache.lock`: users of the cache (builds, fetches, imports) hold it
//! shared, `compose cache prune` exclusive. The file is never removed, so every process locks the same
//! inode (no unlink race as with per-key lock files).

use std::fs::{File, TryLockError};
use std::path::Path;

use super::CacheError;

pub const LOCK_FILE: &str = "cache.lock";

/// A held `flock` on `cache.lock`, released when dropped.
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
}

impl CacheLock {
    /// Shared: many builds at once; waits while a prune runs, calling `on_wait` once if it has to.
    pub fn shared(cache_root: &Path, on_wait: &dyn Fn()) -> Result<CacheLock, CacheError> {
        Self::acquire(cache_root, false, on_wait)
    }

    /// Exclusive: waits until no build, fetch or import holds the cache, calling `on_wait` once if it
    /// has to.
    pub fn exclusive(cache_root: &Path, on_wait: &dyn Fn()) -> Result<CacheLock, CacheError> {
        Self::acquire(cache_root, true, on_wait)
    }

    fn acquire(cache_root: &Path, exclusive: bool, on_wait: &dyn Fn()) -> Result<CacheLock, CacheError> {
        let path = cache_root.join(LOCK_FILE);
        let open_err = |source| CacheError::OpenLock { path: path.clone(), source };
        std::fs::create_dir_all(cache_root).map_err(open_err)?;
        let file = File::options().read(true).write(true).create(true).truncate(false).open(&path);
        let file = file.map_err(open_err)?;
        let lock_err = |source| CacheError::Lock { path: path.clone(), source };
        let tried = if exclusive { file.try_lock() } else { file.try_lock_shared() };
        match tried {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                on_wait();
                let locked = if exclusive { file.lock() } else { file.lock_shared() };
                locked.map_err(lock_err)?;
            }
            Err(TryLockError::Error(e)) => return Err(lock_err(e)),
        }
        Ok(CacheLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn shared_holders_coexist_and_exclusive_waits_for_them() {
        let d = tempfile::tempdir().unwrap();
        let waited = Cell::new(0);
        let a = CacheLock::shared(d.path(), &|| waited.set(waited.get() + 1)).unwrap();
        let _b = CacheLock::shared(d.path(), &|| waited.set(waited.get() + 1)).unwrap();
        assert_eq!(waited.get(), 0, "shared locks do not wait for each other");
        drop(a);
        let root = d.path().to_path_buf();
        let t = std::thread::spawn(move || {
            let waited = Cell::new(false);
            let _x = CacheLock::exclusive(&root, &|| waited.set(true)).unwrap();
            waited.get()
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(_b);
        assert!(t.join().unwrap(), "the exclusive lock said it waited");
    }
}
