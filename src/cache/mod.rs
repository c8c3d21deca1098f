//! Cache housekeeping: how much each kind of cache entry takes (`usage`), and removing what a recipe
//! set no longer needs (`prune`), beside running builds.
//!
//! Guarantees:
//! - Nothing in use disappears. Every `compose build` (for its whole run), `compose fetch` and
//!   `compose sources import` hold `<cache>/cache.lock` shared; a prune holds it exclusive, so it waits
//!   for them, and they wait for it. While a prune holds it, everything under `work/` and every
//!   half-committed `.tmp-*` artifact belongs to a dead process.
//! - An artifact is never left half-removed under its own name: it is renamed to `.trash-*` first.
//! - Sizes count each inode once: the hard links of a sysroot into the store are not counted twice.
//! - Each artifact carries a `used` stamp (its mtime is the last time a build used the artifact: built,
//!   found cached, or as a dependency); without one, `meta.json`'s mtime (the commit) stands in.

mod lock;
mod prune;
mod scan;
mod size;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use lock::{CacheLock, LOCK_FILE};
pub use prune::{Needed, PruneOptions, PruneReport, PruneRequest, Removal, Why, needed, prune};
pub use scan::{Kind, PackageUsage, Usage, usage};
pub use size::{format_size, parse_size};

/// The stamp file whose mtime is an artifact's last use.
pub const USED_STAMP: &str = "used";

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot open the cache lock `{}`", path.display())]
    OpenLock { path: PathBuf, source: std::io::Error },
    #[error("cannot lock `{}`", path.display())]
    Lock { path: PathBuf, source: std::io::Error },
    #[error("cannot read the cache entry `{}`", path.display())]
    Scan { path: PathBuf, source: std::io::Error },
    #[error("cannot move `{}` aside to remove it", path.display())]
    MoveAside { path: PathBuf, source: std::io::Error },
    #[error("cannot remove `{}`", path.display())]
    Remove { path: PathBuf, source: std::io::Error },
    #[error("cannot compute the build keys the recipes need")]
    Plan(#[source] Box<crate::build::BuildError>),
}

/// Records that a build used the artifact in `dir` now. Best effort: a stamp that cannot be written
/// only makes the artifact look older to `prune --keep-last` and `--max-size`.
pub fn mark_used(dir: &Path) {
    let stamp = dir.join(USED_STAMP);
    if let Ok(f) = std::fs::File::options().create(true).truncate(false).write(true).open(&stamp) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// When a build last used the artifact in `dir`: its `used` stamp, else its `meta.json` (the commit),
/// else the directory itself.
pub fn last_used(dir: &Path) -> SystemTime {
    [dir.join(USED_STAMP), dir.join("meta.json"), dir.to_path_buf()]
        .iter()
        .find_map(|p| p.metadata().and_then(|m| m.modified()).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}
