//! Hash-mismatch triage: what an archive *contains*, independent of how it was compressed.
//!
//! A `TreeSummary` digests every entry (path with the single top-level directory removed, type, the
//! executable bit, link target, content sha256), so an archive that upstream merely recompressed (as
//! GitHub's generated tarballs were in 2023) has the same tree digest under a different file sha256.
//! Per top-level entry digests say where two trees differ without storing whole listings.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::digest::Sha256;
use serde::{Deserialize, Serialize};

use super::unpack::{UnpackError, open};
use super::{FetchError, SourceRequest};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeSummary {
    /// `sha256:` over every entry, in path order.
    pub tree: String,
    pub files: u64,
    pub bytes: u64,
    /// Per first path component (after the common top directory): a digest of everything under it.
    pub top: BTreeMap<String, String>,
}

/// Reads the archive once (gzip, bzip2, xz, zstd or plain tar) and summarises its contents.
pub fn summarize(archive: &Path) -> Result<TreeSummary, UnpackError> {
    let read_err = |source| UnpackError::Read { archive: archive.to_path_buf(), source };
    let mut ar = tar::Archive::new(open(archive)?);
    // path -> line describing the entry
    let mut lines: BTreeMap<String, String> = BTreeMap::new();
    let (mut files, mut bytes) = (0u64, 0u64);
    for e in ar.entries().map_err(read_err)? {
        let mut e = e.map_err(read_err)?;
        let path = String::from_utf8_lossy(&e.path_bytes()).trim_start_matches("./").trim_end_matches('/').to_string();
        if path.is_empty() || path == "pax_global_header" {
            continue;
        }
        let h = e.header();
        let kind = h.entry_type();
        let line = if kind.is_file() {
            let exec = h.mode().map(|m| m & 0o111 != 0).unwrap_or(false);
            let mut hash = Sha256::new();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = e.read(&mut buf).map_err(read_err)?;
                if n == 0 {
                    break;
                }
                hash.update(&buf[..n]);
                bytes += n as u64;
            }
            files += 1;
            format!("f {} {}", if exec { "x" } else { "-" }, hash.hex())
        } else if kind.is_dir() {
            "d".to_string()
        } else if kind.is_symlink() || kind.is_hard_link() {
            let target = e.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
            format!("l {target}")
        } else if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() || kind.is_gnu_longname() {
            continue;
        } else {
            format!("o {:?}", kind)
        };
        lines.insert(path, line);
    }
    // The single top-level directory (name-version/) is not content: drop it when all share it.
    let first = lines.keys().next().map(|k| k.split('/').next().unwrap_or("").to_string()).unwrap_or_default();
    let strip = !first.is_empty() && lines.keys().all(|k| k == &first || k.starts_with(&format!("{first}/")));
    let mut all = Sha256::new();
    let mut tops: BTreeMap<String, Sha256> = BTreeMap::new();
    for (path, line) in &lines {
        let rel = if strip { path.strip_prefix(&first).unwrap_or(path).trim_start_matches('/') } else { path.as_str() };
        if rel.is_empty() {
            continue;
        }
        let entry = format!("{rel}\0{line}\n");
        all.update(entry.as_bytes());
        let top = rel.split('/').next().unwrap_or(rel).to_string();
        tops.entry(top).or_default().update(entry.as_bytes());
    }
    Ok(TreeSummary {
        tree: format!("sha256:{}", all.hex()),
        files,
        bytes,
        top: tops.into_iter().map(|(k, h)| (k, h.hex()[..16].to_string())).collect(),
    })
}

/// A verdict for people, comparing what was expected (from a lock file) with what arrived.
pub fn explain(expected: &TreeSummary, got: &TreeSummary) -> String {
    if expected.tree == got.tree {
        return "the archive unpacks to exactly the expected files: upstream recompressed or repacked it \
                (as GitHub's generated tarballs were in 2023); the contents are what was reviewed"
            .to_string();
    }
    let mut changed = Vec::new();
    for (k, v) in &got.top {
        match expected.top.get(k) {
            None => changed.push(format!("added `{k}`")),
            Some(e) if e != v => changed.push(format!("changed `{k}`")),
            _ => {}
        }
    }
    for k in expected.top.keys().filter(|k| !got.top.contains_key(*k)) {
        changed.push(format!("removed `{k}`"));
    }
    format!(
        "the contents differ: expected {} files / {} bytes, got {} files / {} bytes; {}",
        expected.files,
        expected.bytes,
        got.files,
        got.bytes,
        if changed.is_empty() { "same top-level entries, metadata differs".into() } else { changed.join(", ") }
    )
}

/// The summary of every request's archive (`paths` in request order), by sha256: what a lock records.
/// Unpacking every archive in memory is CPU work, on rayon.
pub fn summarize_all(
    requests: &[SourceRequest],
    paths: &[PathBuf],
) -> Result<HashMap<String, TreeSummary>, UnpackError> {
    requests.par_iter().zip(paths.par_iter()).map(|(r, p)| summarize(p).map(|t| (r.sha256.clone(), t))).collect()
}

/// What a hash mismatch means, as lines for people: when the download was kept and `recorded` (a lock
/// file) knows what the expected archive unpacks to, compare contents; otherwise say what arrived.
/// Nothing for other errors.
pub fn mismatch<'a>(e: &FetchError, recorded: impl FnOnce(&str) -> Option<&'a TreeSummary>) -> Vec<String> {
    let FetchError::HashMismatch { expected, kept: Some(kept), .. } = e else { return Vec::new() };
    let got = match summarize(kept) {
        Ok(t) => t,
        Err(err) => return vec![format!("triage: the download is not a readable archive ({err})")],
    };
    match recorded(expected) {
        Some(want) => vec![format!("triage: {}", explain(want, &got))],
        None => vec![
            format!(
                "triage: the download holds {} files / {} bytes (tree {}); no lock file records what {} unpacks to,",
                got.files,
                got.bytes,
                got.tree,
                &expected[..16]
            ),
            "  so compose cannot tell a recompressed archive from a changed one: `compose lock` where it matched"
                .into(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(dir: &Path, name: &str, top: &str, files: &[(&str, &str)], gz_level: u32) -> std::path::PathBuf {
        let p = dir.join(name);
        let gz = flate2::write::GzEncoder::new(std::fs::File::create(&p).unwrap(), flate2::Compression::new(gz_level));
        let mut b = tar::Builder::new(gz);
        for (path, body) in files {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(body.len() as u64);
            h.set_mtime(gz_level as u64); // metadata that does not count
            b.append_data(&mut h, format!("{top}/{path}"), body.as_bytes()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
        p
    }

    #[test]
    fn recompressed_is_the_same_tree_and_a_change_is_located() {
        let d = tempfile::tempdir().unwrap();
        let files = [("Makefile", "all:\n"), ("src/a.c", "int a;\n")];
        let a = summarize(&archive(d.path(), "a.tgz", "x-1.0", &files, 1)).unwrap();
        let b = summarize(&archive(d.path(), "b.tgz", "x-1.0-renamed", &files, 9)).unwrap();
        assert_eq!(a, b);
        assert!(explain(&a, &b).contains("recompressed"));
        let c = summarize(&archive(d.path(), "c.tgz", "x-1.0", &[("Makefile", "all:\n"), ("src/a.c", "int b;\n")], 6))
            .unwrap();
        assert_ne!(a.tree, c.tree);
        let why = explain(&a, &c);
        assert!(why.contains("changed `src`") && !why.contains("Makefile"), "{why}");
    }
}
