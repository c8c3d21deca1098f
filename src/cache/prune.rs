//! `compose cache prune`: removes what no recipe of a set needs under the current toolchain and
//! settings, under the exclusive cache lock.
//!
//! What goes: artifacts whose key no package of the set needs now (a package whose key cannot be
//! computed yet, because a dependency is not in the store, needs none: `build::plan` knows a key only
//! once every dependency's output is), beyond the `keep_last` most recently used of each package; the
//! whole export memo (its keys are one-way hashes over artifact paths and inodes, so an entry cannot be
//! matched to the artifacts it needs; a missing entry costs the next export one sha256 pass over the
//! tar, never a different byte); the logs of packages outside the set; everything in `work/`; the
//! half commits of dead processes. Sources only with `sources`: those no recipe of the set names.
//! Then, with `max_size`, artifacts in least-recently-used order (those no recipe needs first) until
//! the cache fits.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::scan::{Entry, Kind, Role, Scan};
use super::{CacheError, CacheLock};
use crate::build::{self, BuildSettings};
use crate::graph::BuildGraph;
use crate::toolchain::Toolchain;

/// What a recipe set needs from the cache now.
#[derive(Debug, Default, Clone)]
pub struct Needed {
    /// Build keys by package (only the keys `build::plan` can compute now).
    pub keys: HashMap<String, HashSet<String>>,
    /// Every package of the closure, the toolchain's included.
    pub packages: HashSet<String>,
    /// The sha256 of every source of those packages.
    pub sources: HashSet<String>,
}

/// The keys, packages and sources of `graph` under `settings` (planning reads the store, never writes).
pub fn needed(graph: Option<&BuildGraph>, settings: &BuildSettings) -> Result<Needed, CacheError> {
    let mut n = Needed::default();
    let Some(g) = graph else { return Ok(n) };
    for step in build::plan(g, settings).map_err(|e| CacheError::Plan(Box::new(e)))? {
        if let Some(k) = step.key {
            n.keys.entry(step.name.clone()).or_default().insert(k);
        }
        n.packages.insert(step.name);
    }
    n.sources.extend(g.order().into_iter().flat_map(|i| g.recipe(i).sources.iter().map(|s| s.sha256.clone())));
    Ok(n)
}

#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Also keep the N most recently used artifacts of each package.
    pub keep_last: usize,
    /// Then remove least recently used artifacts until the cache takes at most this many bytes.
    pub max_size: Option<u64>,
    /// Also remove sources no recipe of the set names.
    pub sources: bool,
    /// Only say what would go.
    pub dry_run: bool,
}

/// One prune: the recipe set's graph (`None`: no packages, so no artifact is needed), under the toolchain
/// and settings a `compose build` would use (`settings.cache_root` is the cache).
pub struct PruneRequest {
    pub graph: Option<BuildGraph>,
    pub toolchain: Toolchain,
    pub settings: BuildSettings,
    pub options: PruneOptions,
}

/// Why an entry goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// An artifact whose key no recipe of the set needs now.
    NotNeeded,
    /// An artifact removed to get under `max_size`.
    OverMaxSize,
    /// A remembered tar digest.
    ExportMemo,
    /// The log of a key whose artifact is removed.
    OrphanLog,
    /// The log of a package outside the set.
    OtherPackageLog,
    /// A work directory (kept after a failure, or left by a dead process).
    WorkDir,
    /// A half commit or removal of a dead process, or a lock file without its artifact.
    Stale,
    /// A source no recipe of the set names.
    UnusedSource,
}

impl Why {
    pub fn describe(self) -> &'static str {
        match self {
            Why::NotNeeded => "no recipe needs this key",
            Why::OverMaxSize => "least recently used, over --max-size",
            Why::ExportMemo => "export memo entry",
            Why::OtherPackageLog => "log of a package outside the recipes",
            Why::OrphanLog => "log of a removed artifact",
            Why::WorkDir => "work directory",
            Why::Stale => "left by a dead process",
            Why::UnusedSource => "no recipe names this source",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Removal {
    pub kind: Kind,
    /// Relative to the cache root.
    pub path: PathBuf,
    pub why: Why,
    /// Disk usage this removal frees (hard links still held elsewhere free nothing).
    pub bytes: u64,
}

#[derive(Debug, Clone)]
pub struct PruneReport {
    pub removed: Vec<Removal>,
    /// Cache disk usage before, and after (what it would be, with `dry_run`).
    pub before: u64,
    pub after: u64,
    pub dry_run: bool,
}

impl PruneReport {
    pub fn freed(&self) -> u64 {
        self.before - self.after
    }
}

/// Takes the cache lock exclusively (calling `on_wait` once if builds hold it), computes what the recipe
/// set needs (under the lock, so artifacts a build just committed count), and removes the rest.
pub fn prune(req: &PruneRequest, on_wait: &dyn Fn()) -> Result<PruneReport, CacheError> {
    let root = &req.settings.cache_root;
    let _lock = CacheLock::exclusive(root, on_wait)?;
    let needed = needed(req.graph.as_ref(), &req.settings)?;
    let scan = Scan::read(root)?;
    let mut ledger = Ledger::new(&scan);
    select(&scan, &needed, &req.options, &mut ledger);
    if let Some(max) = req.options.max_size {
        evict(&scan, &needed, max, &mut ledger);
    }
    drop_orphan_logs(&scan, &mut ledger);
    let report = ledger.report(req.options.dry_run);
    if !req.options.dry_run {
        for r in &report.removed {
            remove(root, r)?;
        }
    }
    Ok(report)
}

/// Marks what goes regardless of size.
fn select(scan: &Scan, needed: &Needed, opts: &PruneOptions, ledger: &mut Ledger) {
    let artifacts: Vec<(usize, ArtifactView)> =
        scan.entries.iter().enumerate().filter_map(|(i, e)| view(e, needed).map(|v| (i, v))).collect();
    let views: Vec<ArtifactView> = artifacts.iter().map(|(_, v)| v.clone()).collect();
    for ((i, _), keep) in artifacts.iter().zip(keep_flags(&views, opts.keep_last)) {
        if !keep {
            ledger.remove(*i, Why::NotNeeded);
        }
    }
    let artifact_dirs: HashSet<String> = scan
        .entries
        .iter()
        .filter(|e| matches!(e.role, Role::Artifact { .. }))
        .map(|e| e.path.file_name().unwrap_or_default().to_string_lossy().into_owned())
        .collect();
    for (i, e) in scan.entries.iter().enumerate() {
        let why = match &e.role {
            Role::Source { sha256 } if opts.sources && !needed.sources.contains(sha256) => Some(Why::UnusedSource),
            Role::Stale => Some(Why::Stale),
            Role::Memo => Some(Why::ExportMemo),
            Role::Log { package } if !needed.packages.contains(package) => Some(Why::OtherPackageLog),
            Role::Work => Some(Why::WorkDir),
            Role::ArtifactLock { artifact } if !artifact_dirs.contains(artifact) => Some(Why::Stale),
            _ => None,
        };
        if let Some(why) = why {
            ledger.remove(i, why);
        }
    }
}

/// Removes the per-key logs (`logs/<name>-<key12>.log`) of keys whose artifact is gone or going.
fn drop_orphan_logs(scan: &Scan, ledger: &mut Ledger) {
    let kept: HashSet<(String, String)> = scan
        .entries
        .iter()
        .enumerate()
        .filter(|(i, _)| !ledger.gone[*i])
        .filter_map(|(_, e)| match &e.role {
            Role::Artifact { name, key, .. } => Some((name.clone(), key[..12].to_string())),
            _ => None,
        })
        .collect();
    for (i, e) in scan.entries.iter().enumerate() {
        if let Role::KeyLog { package, key12 } = &e.role
            && !ledger.gone[i]
            && !kept.contains(&(package.clone(), key12.clone()))
        {
            ledger.remove(i, Why::OrphanLog);
        }
    }
}

/// Removes artifacts, least valuable first, until the cache fits in `max` bytes.
fn evict(scan: &Scan, needed: &Needed, max: u64, ledger: &mut Ledger) {
    let candidates: Vec<(usize, ArtifactView)> = scan
        .entries
        .iter()
        .enumerate()
        .filter(|(i, _)| !ledger.gone[*i])
        .filter_map(|(i, e)| view(e, needed).map(|v| (i, v)))
        .collect();
    let views: Vec<ArtifactView> = candidates.iter().map(|(_, v)| v.clone()).collect();
    for pick in eviction_order(&views) {
        if ledger.size() <= max {
            break;
        }
        ledger.remove(candidates[pick].0, Why::OverMaxSize);
    }
}

/// What the selection needs to know of one artifact.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ArtifactView {
    pub name: String,
    pub last_used: SystemTime,
    pub needed: bool,
}

fn view(e: &Entry, needed: &Needed) -> Option<ArtifactView> {
    let Role::Artifact { name, key, last_used } = &e.role else { return None };
    let is_needed = needed.keys.get(name).is_some_and(|k| k.contains(key));
    Some(ArtifactView { name: name.clone(), last_used: *last_used, needed: is_needed })
}

/// Which artifacts stay: every needed one, and the `keep_last` most recently used of each package.
pub(super) fn keep_flags(artifacts: &[ArtifactView], keep_last: usize) -> Vec<bool> {
    let mut by_package: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, a) in artifacts.iter().enumerate() {
        by_package.entry(&a.name).or_default().push(i);
    }
    let mut keep: Vec<bool> = artifacts.iter().map(|a| a.needed).collect();
    for list in by_package.values_mut() {
        list.sort_by_key(|&i| std::cmp::Reverse(artifacts[i].last_used));
        for &i in list.iter().take(keep_last) {
            keep[i] = true;
        }
    }
    keep
}

/// The order `--max-size` removes artifacts in: those no recipe needs before needed ones, each group
/// least recently used first.
pub(super) fn eviction_order(artifacts: &[ArtifactView]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..artifacts.len()).collect();
    order.sort_by_key(|&i| (artifacts[i].needed, artifacts[i].last_used));
    order
}

/// What is removed so far, and the disk usage it frees (an inode is freed once its last link goes).
struct Ledger<'a> {
    scan: &'a Scan,
    gone: Vec<bool>,
    /// The lock file entry of each artifact directory name.
    locks: HashMap<String, usize>,
    links_removed: Vec<u64>,
    freed: u64,
    removed: Vec<Removal>,
}

impl<'a> Ledger<'a> {
    fn new(scan: &'a Scan) -> Self {
        let locks = scan.entries.iter().enumerate().filter_map(|(i, e)| match &e.role {
            Role::ArtifactLock { artifact } => Some((artifact.clone(), i)),
            _ => None,
        });
        Ledger {
            scan,
            gone: vec![false; scan.entries.len()],
            locks: locks.collect(),
            links_removed: vec![0; scan.inodes.len()],
            freed: 0,
            removed: vec![],
        }
    }

    fn size(&self) -> u64 {
        self.scan.total() - self.freed
    }

    fn remove(&mut self, i: usize, why: Why) {
        if std::mem::replace(&mut self.gone[i], true) {
            return;
        }
        let scan = self.scan;
        let e = &scan.entries[i];
        let mut bytes = 0;
        for &id in &e.inodes {
            self.links_removed[id] += 1;
            let inode = &scan.inodes[id];
            if self.links_removed[id] == inode.seen && inode.seen >= inode.nlink {
                bytes += inode.bytes;
            }
        }
        self.freed += bytes;
        self.removed.push(Removal { kind: e.kind, path: e.path.clone(), why, bytes });
        // An artifact's lock file goes with it.
        if let Role::Artifact { .. } = e.role {
            let dir_name = e.path.file_name().unwrap_or_default().to_string_lossy();
            if let Some(&l) = self.locks.get(dir_name.as_ref()) {
                self.remove(l, why);
            }
        }
    }

    fn report(self, dry_run: bool) -> PruneReport {
        PruneReport { before: self.scan.total(), after: self.size(), removed: self.removed, dry_run }
    }
}

/// Removes one entry. An artifact is first renamed to `.trash-*`, so a crash mid-delete leaves nothing
/// that looks like a whole artifact (the next prune removes the rest).
fn remove(root: &Path, r: &Removal) -> Result<(), CacheError> {
    let path = root.join(&r.path);
    let target = if matches!(r.why, Why::NotNeeded | Why::OverMaxSize) && r.kind == Kind::Artifacts && path.is_dir() {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let trash = path.with_file_name(format!(".trash-{name}-{}", std::process::id()));
        match std::fs::rename(&path, &trash) {
            Ok(()) => trash,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(CacheError::MoveAside { path, source }),
        }
    } else {
        path
    };
    remove_any(&target).map_err(|source| CacheError::Remove { path: target.clone(), source })
}

/// Removes a file or a whole tree; directories without write permission (a package may install
/// `0555` ones) are made writable first.
fn remove_any(path: &Path) -> std::io::Result<()> {
    let m = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !m.is_dir() {
        return std::fs::remove_file(path);
    }
    if std::fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    use std::os::unix::fs::PermissionsExt;
    for e in walkdir::WalkDir::new(path).follow_links(false).into_iter().flatten() {
        if e.file_type().is_dir() {
            let _ = std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o755));
        }
    }
    std::fs::remove_dir_all(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn a(name: &str, age_s: u64, needed: bool) -> ArtifactView {
        let last_used = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 - age_s);
        ArtifactView { name: name.into(), last_used, needed }
    }

    #[test]
    fn keeps_needed_keys_and_the_most_recent_per_package() {
        let list = [a("p", 30, false), a("p", 10, false), a("p", 20, true), a("q", 5, false), a("q", 1, false)];
        assert_eq!(keep_flags(&list, 0), [false, false, true, false, false]);
        assert_eq!(keep_flags(&list, 1), [false, true, true, false, true]);
        assert_eq!(keep_flags(&list, 2), [false, true, true, true, true]);
    }

    #[test]
    fn evicts_unneeded_first_then_least_recently_used() {
        let list = [a("p", 10, true), a("q", 50, true), a("p", 5, false), a("r", 40, false)];
        assert_eq!(eviction_order(&list), [3, 2, 1, 0]);
    }
}
