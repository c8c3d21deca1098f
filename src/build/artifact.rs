//! The artifact store: one directory per built package and key, `artifacts-v1/<name>-<key>/`, holding
//! `tree/` (what the package installed into `$DESTDIR`) and `meta.json`. An entry appears atomically
//! (built beside, `meta.json` fsynced, then renamed), so a reader never sees half an artifact; an entry
//! whose `meta.json` is unreadable or corrupt counts as absent, and the next build replaces it.
//!
//! A process killed at any moment leaves at worst a `.tmp-*` or `.old-*` directory, which no lookup
//! reads and `sweep` removes, or a complete entry (the rename is the commit). The tree's files are not
//! fsynced (only `meta.json` and `files.tsv` are): a killed process loses nothing the kernel already
//! has; a power cut may.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::digest::Sha256;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::file_index::{self, FileDigest};
use super::key::KeyInputs;
use crate::recipe::vex::BuildConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactMeta {
    pub name: String,
    pub version: String,
    pub key: String,
    pub inputs: KeyInputs,
    /// sha256 over the installed tree (paths, modes, contents, link targets).
    pub tree_digest: String,
    pub build_seconds: f64,
    /// The configuration file the build used (`[build] config`), captured after its install phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BuildConfig>,
}

#[derive(Debug, Clone)]
pub struct Artifact {
    pub dir: PathBuf,
    pub meta: ArtifactMeta,
}

impl Artifact {
    pub fn tree(&self) -> PathBuf {
        self.dir.join("tree")
    }

    /// The digests of the tree's regular files, by full path, as taken when the artifact was committed
    /// (empty for an artifact from before the index). Check each with `file_index::lookup`.
    pub fn file_digests(&self) -> file_index::Known {
        file_index::load(&self.dir.join(file_index::FILE_NAME), &self.tree())
    }
}

pub struct ArtifactStore {
    root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot {op} `{}`", path.display())]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ArtifactError + 'a {
    move |source| ArtifactError::Io { op, path: path.to_path_buf(), source }
}

impl ArtifactStore {
    pub fn open(cache_root: &Path) -> Result<Self, ArtifactError> {
        let root = cache_root.join("artifacts-v1");
        std::fs::create_dir_all(&root).map_err(io("create the artifact store", &root))?;
        Ok(ArtifactStore { root })
    }

    /// `artifacts-v1/`: temp directories beside the entries make a commit a rename.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, name: &str, key: &str) -> PathBuf {
        self.root.join(format!("{name}-{key}"))
    }

    /// The build lock of `name` under `key` (`super::lock::KeyLock`): whoever holds it builds or commits
    /// that key; everyone else waits, then finds the artifact here.
    pub fn lock_path(&self, name: &str, key: &str) -> PathBuf {
        self.root.join(format!("{name}-{key}.lock"))
    }

    /// Removes what a killed `commit` left (`.tmp-<name>-<key>-<pid>/`, `.old-<name>-<key>-<pid>/`) for
    /// every key whose build lock is free: no live process is committing it. Such entries are never read
    /// as artifacts in any case; this only reclaims the space. Best effort.
    pub fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.root) else { return };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(".tmp-").or_else(|| name.strip_prefix(".old-")) else { continue };
            let Some((name_key, _pid)) = rest.rsplit_once('-') else { continue };
            let lock = self.root.join(format!("{name_key}.lock"));
            if let Ok(Some(_held)) = super::lock::KeyLock::try_acquire(&lock) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// The artifact of `name` under `key`, if the store has one whose `meta.json` reads back as this very
    /// entry. Anything else (no entry, an unreadable or corrupt `meta.json`) is `None`: the package is
    /// built again, and `commit` replaces the damaged entry.
    pub fn get(&self, name: &str, key: &str) -> Option<Artifact> {
        let dir = self.dir(name, key);
        let text = std::fs::read_to_string(dir.join("meta.json")).ok()?;
        let meta: ArtifactMeta = serde_json::from_str(&text).ok()?;
        (meta.name == name && meta.key == key).then_some(Artifact { dir, meta })
    }

    /// The newest artifact of `name` under any key: its build time weighs the schedule, and its inputs
    /// explain a rebuild.
    pub fn latest(&self, name: &str) -> Option<Artifact> {
        self.latest_where(name, |_| true)
    }

    /// `latest`, among the artifacts built for `target` (a triple).
    pub fn latest_for(&self, name: &str, target: &str) -> Option<Artifact> {
        self.latest_where(name, |a| a.meta.inputs.target == target)
    }

    fn latest_where(&self, name: &str, keep: impl Fn(&Artifact) -> bool) -> Option<Artifact> {
        let prefix = format!("{name}-");
        let mut best: Option<(std::time::SystemTime, Artifact)> = None;
        for e in std::fs::read_dir(&self.root).ok()?.flatten() {
            let file_name = e.file_name().to_string_lossy().into_owned();
            let Some(key) = file_name.strip_prefix(&prefix) else { continue };
            if key.len() != 64 {
                continue;
            }
            let Ok(m) = e.path().join("meta.json").metadata() else { continue };
            let t = m.modified().unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(bt, _)| t > *bt)
                && let Some(a) = self.get(name, key)
                && keep(&a)
            {
                best = Some((t, a));
            }
        }
        best.map(|(_, a)| a)
    }

    /// Moves a finished `$DESTDIR` into the store. The caller holds the key's build lock, so no other
    /// process commits the same key at the same time (a second commit of a key already stored keeps the
    /// first).
    pub fn commit(
        &self,
        name: &str,
        version: &str,
        inputs: &KeyInputs,
        dest: &Path,
        took: Duration,
        config: Option<BuildConfig>,
    ) -> Result<Artifact, ArtifactError> {
        let hashed = hash_tree(dest).map_err(io("hash the installed tree", dest))?;
        self.commit_hashed(name, version, inputs, dest, took, hashed, config)
    }

    /// `commit`, for a tree the caller has just hashed with `hash_tree` (a remote artifact, hashed to be
    /// checked before it may enter the store): it is not read twice.
    pub fn commit_hashed(
        &self,
        name: &str,
        version: &str,
        inputs: &KeyInputs,
        dest: &Path,
        took: Duration,
        (tree_digest, files): (String, Vec<(PathBuf, FileDigest)>),
        config: Option<BuildConfig>,
    ) -> Result<Artifact, ArtifactError> {
        let key = inputs.key();
        let final_dir = self.dir(name, &key);
        let tmp = self.root.join(format!(".tmp-{name}-{key}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io("create", &tmp))?;
        std::fs::rename(dest, tmp.join("tree")).map_err(io("move the installed tree into", &tmp))?;
        let meta = ArtifactMeta {
            name: name.into(),
            version: version.into(),
            key: key.clone(),
            inputs: inputs.clone(),
            tree_digest,
            build_seconds: took.as_secs_f64(),
            config,
        };
        let index = tmp.join(file_index::FILE_NAME);
        write_synced(&index, file_index::render(&files).as_bytes()).map_err(io("write", &index))?;
        let meta_path = tmp.join("meta.json");
        let json = serde_json::to_vec_pretty(&meta).map_err(|e| ArtifactError::Io {
            op: "write",
            path: meta_path.clone(),
            source: e.into(),
        })?;
        // `meta.json` is what makes an entry count (`get`), so it is on disk before the rename publishes it.
        write_synced(&meta_path, &json).map_err(io("write", &meta_path))?;
        if let Some(theirs) = self.get(name, &key) {
            // Another run committed the same key first; its tree is equivalent.
            let _ = std::fs::remove_dir_all(&tmp);
            return Ok(theirs);
        }
        if final_dir.exists() {
            // An entry whose `meta.json` is unreadable or corrupt counts as absent: ours replaces it.
            let old = self.root.join(format!(".old-{name}-{key}-{}", std::process::id()));
            std::fs::rename(&final_dir, &old).map_err(io("move aside the damaged artifact", &final_dir))?;
            let _ = std::fs::remove_dir_all(&old);
        }
        std::fs::rename(&tmp, &final_dir).map_err(io("commit the artifact", &final_dir))?;
        if let Ok(d) = std::fs::File::open(&self.root) {
            let _ = d.sync_all();
        }
        Ok(Artifact { dir: final_dir, meta })
    }
}

/// Writes `bytes` to a new file at `path` and waits until they are on disk.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The tree digest of `root`, and the digests of its regular files (relative paths) taken in the same
/// read. The tree digest depends only on what a rootfs would carry: sorted relative paths, kinds,
/// permission bits, file contents and link targets. Not mtimes, not owners.
pub fn hash_tree(root: &Path) -> std::io::Result<(String, Vec<(PathBuf, FileDigest)>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries = Vec::new();
    for e in walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name() {
        let e = e.map_err(std::io::Error::other)?;
        entries.push(e.into_path());
    }
    let lines: Vec<(String, Option<FileDigest>)> = entries
        .par_iter()
        .map(|p| -> std::io::Result<_> {
            let rel = p.strip_prefix(root).unwrap_or(p).to_string_lossy().into_owned();
            let m = std::fs::symlink_metadata(p)?;
            let mode = m.permissions().mode() & 0o7777;
            Ok(if m.file_type().is_symlink() {
                (format!("l {rel} -> {}", std::fs::read_link(p)?.display()), None)
            } else if m.is_dir() {
                (format!("d {rel} {mode:o}"), None)
            } else {
                let d = file_index::hash_file(p, &m)?;
                (format!("f {rel} {mode:o} {}", d.sha256), Some(d))
            })
        })
        .collect::<std::io::Result<_>>()?;
    let mut h = Sha256::new();
    let mut files = Vec::new();
    for ((l, d), p) in lines.into_iter().zip(&entries) {
        h.update(l.as_bytes());
        h.update(b"\n");
        if let Some(d) = d {
            files.push((p.strip_prefix(root).unwrap_or(p).to_path_buf(), d));
        }
    }
    Ok((h.hex(), files))
}
