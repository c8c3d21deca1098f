//! Comparing what two builds produced: every file of their output directories by sha256, each package's
//! artifact `tree_digest`, and, when the rootfs tarballs differ, their entries, each with the package
//! that installed it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::VerifyError;
use super::entries::{self, EntryDiff};
use crate::build::artifact::ArtifactStore;

/// One output file (relative to the output directory) and its sha256 in each build.
#[derive(Debug, Clone, PartialEq)]
pub struct FileDigest {
    pub path: String,
    pub a: Option<String>,
    pub b: Option<String>,
}

/// One package and its artifact's `tree_digest` in each build.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactDigest {
    pub name: String,
    pub a: Option<String>,
    pub b: Option<String>,
}

pub trait Same {
    fn same(&self) -> bool;
}
impl Same for FileDigest {
    fn same(&self) -> bool {
        self.a.is_some() && self.a == self.b
    }
}
impl Same for ArtifactDigest {
    fn same(&self) -> bool {
        self.a.is_some() && self.a == self.b
    }
}

/// A differing rootfs entry and the package that owns it (`skeleton or accounts` when none does).
#[derive(Debug, Clone)]
pub struct OwnedDiff {
    pub diff: EntryDiff,
    pub owner: String,
}

#[derive(Debug, Clone, Default)]
pub struct Comparison {
    pub outputs: Vec<FileDigest>,
    pub artifacts: Vec<ArtifactDigest>,
    /// Entry differences of the rootfs tarball (empty when it is identical or missing).
    pub entries: Vec<OwnedDiff>,
}

impl Comparison {
    pub fn reproducible(&self) -> bool {
        !self.outputs.is_empty() && self.outputs.iter().all(Same::same) && self.artifacts.iter().all(Same::same)
    }
}

/// Compares two builds: output directories `a_out`/`b_out`, caches `a_cache`/`b_cache`. `rootfs_tar`
/// is the rootfs tarball's name inside the output directories (`busybox.tar`).
pub fn compare(
    a_out: &Path,
    b_out: &Path,
    a_cache: &Path,
    b_cache: &Path,
    rootfs_tar: &str,
) -> Result<Comparison, VerifyError> {
    let outputs = output_digests(a_out, b_out)?;
    let artifacts = artifact_digests(a_cache, b_cache)?;
    let mut entries = Vec::new();
    let tar_differs = outputs.iter().any(|f| f.path == rootfs_tar && !f.same());
    if tar_differs && a_out.join(rootfs_tar).is_file() && b_out.join(rootfs_tar).is_file() {
        let (ea, eb) = (entries::read(&a_out.join(rootfs_tar))?, entries::read(&b_out.join(rootfs_tar))?);
        let trees = trees(a_cache);
        for diff in entries::diff(&ea, &eb) {
            let owner = owner_of(&diff.path, &trees).unwrap_or_else(|| "skeleton or accounts".into());
            entries.push(OwnedDiff { diff, owner });
        }
    }
    Ok(Comparison { outputs, artifacts, entries })
}

/// The sha256 of every file below `a` and `b` (relative paths, sorted; symlinks by their target).
pub fn output_digests(a: &Path, b: &Path) -> Result<Vec<FileDigest>, VerifyError> {
    let (da, db) = (digest_dir(a)?, digest_dir(b)?);
    let names: BTreeSet<&String> = da.keys().chain(db.keys()).collect();
    Ok(names
        .into_iter()
        .map(|n| FileDigest { path: n.clone(), a: da.get(n).cloned(), b: db.get(n).cloned() })
        .collect())
}

fn digest_dir(root: &Path) -> Result<BTreeMap<String, String>, VerifyError> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name().min_depth(1) {
        let e = e.map_err(|e| VerifyError::ReadDir { path: root.to_path_buf(), source: e.into() })?;
        let rel = e.path().strip_prefix(root).expect("below root").to_string_lossy().into_owned();
        let read = |source| VerifyError::ReadFile { path: e.path().to_path_buf(), source };
        if e.file_type().is_file() {
            let f = std::fs::File::open(e.path()).map_err(read)?;
            out.insert(rel, crate::source::sha256_of(f).map_err(read)?);
        } else if e.file_type().is_symlink() {
            let t = std::fs::read_link(e.path()).map_err(read)?;
            out.insert(rel, format!("symlink to {}", t.display()));
        }
    }
    Ok(out)
}

/// The `tree_digest` of each package's artifact in the two caches' stores (the newest, if several).
pub fn artifact_digests(a_cache: &Path, b_cache: &Path) -> Result<Vec<ArtifactDigest>, VerifyError> {
    let (da, db) = (tree_digests(a_cache)?, tree_digests(b_cache)?);
    let names: BTreeSet<&String> = da.keys().chain(db.keys()).collect();
    Ok(names
        .into_iter()
        .map(|n| ArtifactDigest { name: n.clone(), a: da.get(n).cloned(), b: db.get(n).cloned() })
        .collect())
}

fn tree_digests(cache: &Path) -> Result<BTreeMap<String, String>, VerifyError> {
    Ok(artifacts(cache)?.into_iter().map(|(name, (digest, _))| (name, digest)).collect())
}

/// name -> (tree_digest, tree directory) for every package in a cache's store.
fn artifacts(cache: &Path) -> Result<BTreeMap<String, (String, PathBuf)>, VerifyError> {
    let root = cache.join("artifacts-v1");
    let read_dir = |source| VerifyError::ReadDir { path: root.clone(), source };
    let mut names = BTreeSet::new();
    match std::fs::read_dir(&root) {
        Ok(rd) => {
            for e in rd {
                let e = e.map_err(read_dir)?;
                let text = match std::fs::read_to_string(e.path().join("meta.json")) {
                    Ok(t) => t,
                    Err(_) => continue,
                };
                let meta: crate::build::artifact::ArtifactMeta = serde_json::from_str(&text)
                    .map_err(|e2| VerifyError::ReadFile { path: e.path().join("meta.json"), source: e2.into() })?;
                names.insert(meta.name);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(read_dir(e)),
    }
    let store = ArtifactStore::open(cache)
        .map_err(|e| VerifyError::ReadDir { path: root.clone(), source: std::io::Error::other(e.to_string()) })?;
    Ok(names
        .into_iter()
        .filter_map(|n| store.latest(&n).map(|a| (n, (a.meta.tree_digest.clone(), a.tree()))))
        .collect())
}

fn trees(cache: &Path) -> Vec<(String, PathBuf)> {
    artifacts(cache).unwrap_or_default().into_iter().map(|(n, (_, tree))| (n, tree)).collect()
}

/// The package whose installed tree holds `path` (absolute rootfs path).
fn owner_of(path: &str, trees: &[(String, PathBuf)]) -> Option<String> {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() {
        return None;
    }
    let mut owners = trees.iter().filter(|(_, t)| t.join(rel).symlink_metadata().is_ok()).map(|(n, _)| n);
    let first = owners.next()?;
    // A directory several packages install is shared; a file belongs to exactly one.
    Some(match owners.next() {
        Some(second) => format!("{first}, {second}, ..."),
        None => first.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn output_digests_cover_nested_files_and_one_sided_ones() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        write(&a.join("x.tar"), "same");
        write(&b.join("x.tar"), "same");
        write(&a.join("x.oci/index.json"), "1");
        write(&b.join("x.oci/index.json"), "2");
        write(&a.join("x.files.json"), "only a");
        let got = output_digests(&a, &b).unwrap();
        let paths: Vec<&str> = got.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["x.files.json", "x.oci/index.json", "x.tar"]);
        assert!(!got[0].same() && got[0].b.is_none());
        assert!(!got[1].same());
        assert!(got[2].same());
    }

    fn artifact(cache: &Path, name: &str, key: &str, digest: &str, files: &[&str]) {
        let dir = cache.join("artifacts-v1").join(format!("{name}-{key}"));
        for f in files {
            write(&dir.join("tree").join(f), f);
        }
        let meta = serde_json::json!({
            "name": name, "version": "1", "key": key, "tree_digest": digest, "build_seconds": 1.0,
            "inputs": {"compose_version": "0", "target": "t", "recipe": "r", "sources": [], "toolchain": "t",
                       "sandbox": true, "source_date_epoch": 1, "deps": []}
        });
        write(&dir.join("meta.json"), &meta.to_string());
    }

    #[test]
    fn artifacts_compare_by_tree_digest_and_name_the_owner_of_a_differing_entry() {
        let d = tempfile::tempdir().unwrap();
        let (ca, cb) = (d.path().join("ca"), d.path().join("cb"));
        let key = "k".repeat(64);
        artifact(&ca, "lib", &key, "d1", &["usr/lib/x"]);
        artifact(&cb, "lib", &key, "d1", &["usr/lib/x"]);
        artifact(&ca, "app", &key, "d2", &["etc/stamp", "bin/app"]);
        artifact(&cb, "app", &"j".repeat(64), "d3", &["etc/stamp", "bin/app"]);
        let got = artifact_digests(&ca, &cb).unwrap();
        assert_eq!(
            got,
            [
                ArtifactDigest { name: "app".into(), a: Some("d2".into()), b: Some("d3".into()) },
                ArtifactDigest { name: "lib".into(), a: Some("d1".into()), b: Some("d1".into()) },
            ]
        );
        let trees = trees(&ca);
        assert_eq!(owner_of("/etc/stamp", &trees).as_deref(), Some("app"));
        assert_eq!(owner_of("/usr/lib/x", &trees).as_deref(), Some("lib"));
        assert_eq!(owner_of("/etc/passwd", &trees), None);
    }

    #[test]
    fn reproducible_needs_outputs_and_every_digest_equal() {
        let same = FileDigest { path: "x.tar".into(), a: Some("1".into()), b: Some("1".into()) };
        let mut c = Comparison { outputs: vec![same.clone()], ..Default::default() };
        assert!(c.reproducible());
        c.artifacts.push(ArtifactDigest { name: "p".into(), a: Some("1".into()), b: None });
        assert!(!c.reproducible());
        assert!(!Comparison::default().reproducible(), "no outputs at all proves nothing");
        let c = Comparison { outputs: vec![FileDigest { b: Some("2".into()), ..same }], ..Default::default() };
        assert!(!c.reproducible());
    }
}
