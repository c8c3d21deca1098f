//! Remembered tarball digests. The rootfs tar's bytes are a function of the tree's headers and of each
//! file's bytes; when a build exports a tree that is the same in all of that as one exported before (a
//! no-op `compose build`, or the same image into another OUT-DIR), the tar is written again but its
//! sha256 is taken from here instead of being computed (SHA-256 is the slowest part of the export).
//!
//! The key covers every header field and, for each host file, its path, size and stamp (mtime and
//! inode, as the artifact file index trusts them) together with the tree digest of the artifact it
//! lies in, which was taken from the file bytes when the artifact was committed. A file from anywhere
//! else (a stripped copy in a scratch directory) makes the tree unkeyable: its digest is computed.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::digest::Sha256;
use crate::rootfs::{Content, Kind, RootfsTree};

/// Bump when the tar writer changes what it writes for the same tree.
const STREAM_VERSION: &str = "compose-rootfs-tar-1";

/// The committed artifact a host file comes from.
pub struct Origin<'a> {
    pub tree: &'a Path,
    /// The artifact's tree digest, taken from its bytes when it was committed.
    pub tree_digest: &'a str,
}

/// A directory of remembered digests, one small file per key (`sha256 size`).
pub struct DigestMemo {
    dir: PathBuf,
}

impl DigestMemo {
    /// The memo under a cache root (`CACHE/exports-v1`).
    pub fn in_cache(cache_root: &Path) -> DigestMemo {
        DigestMemo { dir: cache_root.join("exports-v1") }
    }

    /// The sha256 and size remembered for `key`, if any (a damaged entry counts as none).
    pub fn get(&self, key: &str) -> Option<(String, u64)> {
        let text = std::fs::read_to_string(self.dir.join(key)).ok()?;
        let (sha256, size) = text.trim_end().split_once(' ')?;
        let hex = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        Some((sha256.to_string(), size.parse().ok()?)).filter(|_| hex)
    }

    /// Remembers the digest for `key` (temp file, then rename: a reader never sees half an entry).
    pub fn put(&self, key: &str, sha256: &str, size: u64) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        writeln!(tmp, "{sha256} {size}")?;
        tmp.persist(self.dir.join(key)).map_err(|e| e.error)?;
        Ok(())
    }
}

/// `tar::write`, with the sha256 taken from `memo` when this tree (keyed with `origins`) was exported
/// before, and remembered when it was not.
pub fn write_tar(
    tree: &RootfsTree,
    out: &Path,
    source_date_epoch: u64,
    memo: &DigestMemo,
    origins: &[Origin],
) -> Result<super::Exported, super::ExportError> {
    let Some(key) = key(tree, source_date_epoch, origins) else {
        return super::tar::write(tree, out, source_date_epoch);
    };
    let known = memo.get(&key);
    let remembered = known.is_some();
    let e = super::tar::write_with(tree, out, source_date_epoch, known)?;
    if !remembered {
        // A memo that cannot be written only costs the next export of this tree a hash.
        let _ = memo.put(&key, &e.sha256, e.size);
    }
    Ok(e)
}

/// The memo key of the tar `tar::write` makes of `tree`, or `None` if a host file lies outside every
/// origin (its bytes are vouched for by nothing).
pub fn key(tree: &RootfsTree, source_date_epoch: u64, origins: &[Origin]) -> Option<String> {
    let mut s = Vec::with_capacity(64 + tree.entries.len() * 96);
    let mut put = |parts: &[&[u8]]| {
        for p in parts {
            s.extend_from_slice(&(p.len() as u64).to_le_bytes());
            s.extend_from_slice(p);
        }
    };
    put(&[STREAM_VERSION.as_bytes(), env!("CARGO_PKG_VERSION").as_bytes(), &source_date_epoch.to_le_bytes()]);
    for o in origins {
        put(&[o.tree.as_os_str().as_encoded_bytes(), o.tree_digest.as_bytes()]);
    }
    for (path, e) in &tree.entries {
        let mtime = e.mtime.min(source_date_epoch);
        put(&[
            path.as_bytes(),
            &e.mode.to_le_bytes(),
            &e.uid.to_le_bytes(),
            &e.gid.to_le_bytes(),
            &mtime.to_le_bytes(),
        ]);
        match &e.kind {
            Kind::Dir => put(&[b"d"]),
            Kind::Symlink { target } => put(&[b"l", target.as_bytes()]),
            Kind::File { content: Content::Bytes(bytes), size } => put(&[b"b", &size.to_le_bytes(), bytes]),
            Kind::File { content: Content::Host { path, stamp }, size } => {
                let p = path.as_os_str().as_encoded_bytes();
                let inside = |o: &Origin| {
                    let t = o.tree.as_os_str().as_encoded_bytes();
                    p.len() > t.len() && p.starts_with(t) && p[t.len()] == b'/'
                };
                if !origins.iter().any(inside) {
                    return None;
                }
                let (mtime_ns, ino) = (stamp.mtime_ns.to_le_bytes(), stamp.ino.to_le_bytes());
                put(&[b"h", &size.to_le_bytes(), p, &mtime_ns, &ino]);
            }
        }
    }
    Some(Sha256::hex_of(&s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::file_index::Stamp;
    use crate::rootfs::Entry;

    fn file(content: Content, size: u64) -> Entry {
        Entry { kind: Kind::File { content, size }, mode: 0o644, mtime: 5, uid: 0, gid: 0, owner: "p".into() }
    }

    const ART: &str = "/cache/artifacts-v1/p-1/tree";

    fn host_at(ino: u64) -> Content {
        Content::Host { path: Path::new(ART).join("usr/x"), stamp: Stamp { mtime_ns: 7, ino } }
    }

    #[test]
    fn every_header_field_and_file_identity_moves_the_key() {
        let art = Path::new(ART);
        let mut t = RootfsTree::default();
        t.entries.insert("usr".into(), Entry { kind: Kind::Dir, ..file(Content::Bytes(vec![]), 0) });
        t.entries.insert("usr/x".into(), file(host_at(1), 3));
        t.entries.insert("etc/a".into(), file(Content::Bytes(b"abc".to_vec()), 3));
        let origins = [Origin { tree: art, tree_digest: "d1" }];
        let base = key(&t, 100, &origins).unwrap();
        assert_eq!(key(&t, 100, &origins), Some(base.clone()), "stable");
        let changed = |f: &dyn Fn(&mut RootfsTree)| {
            let mut t2 = RootfsTree { entries: t.entries.clone() };
            f(&mut t2);
            key(&t2, 100, &origins).unwrap()
        };
        let entry_changes: [fn(&mut Entry); 7] = [
            |e| e.mode = 0o755,
            |e| e.uid = 1,
            |e| e.gid = 1,
            |e| e.mtime = 6,
            |e| *e = file(host_at(2), 3),
            |e| *e = file(host_at(1), 4),
            |e| e.kind = Kind::Symlink { target: "y".into() },
        ];
        for (i, f) in entry_changes.iter().enumerate() {
            assert_ne!(changed(&|t| f(t.entries.get_mut("usr/x").unwrap())), base, "change {i} of usr/x");
        }
        let tree_changes: [fn(&mut RootfsTree); 2] = [
            |t| {
                t.entries.insert("etc/a".into(), file(Content::Bytes(b"abd".to_vec()), 3));
            },
            |t| {
                let e = t.entries.remove("etc/a").unwrap();
                t.entries.insert("etc/b".into(), e);
            },
        ];
        for (i, f) in tree_changes.iter().enumerate() {
            assert_ne!(changed(f), base, "tree change {i}");
        }
        // mtimes past SOURCE_DATE_EPOCH are clamped in the tar, and so in the key.
        assert_eq!(key(&t, 5, &origins), changed_at(&t, 5, &origins, |e| e.mtime = 9));
        assert_ne!(key(&t, 101, &origins).unwrap(), base, "the epoch is in the key");
        let rebuilt = [Origin { tree: art, tree_digest: "d2" }];
        assert_ne!(key(&t, 100, &rebuilt).unwrap(), base, "a rebuilt artifact with other bytes");
        let elsewhere = [Origin { tree: Path::new("/cache/artifacts-v1/q-1/tree"), tree_digest: "d1" }];
        assert_eq!(key(&t, 100, &elsewhere), None, "a host file no artifact vouches for");
    }

    fn changed_at(t: &RootfsTree, sde: u64, origins: &[Origin], f: impl Fn(&mut Entry)) -> Option<String> {
        let mut t2 = RootfsTree { entries: t.entries.clone() };
        f(t2.entries.get_mut("usr/x").unwrap());
        key(&t2, sde, origins)
    }

    #[test]
    fn remembers_and_ignores_damaged_entries() {
        let d = tempfile::tempdir().unwrap();
        let memo = DigestMemo::in_cache(d.path());
        assert_eq!(memo.get("k"), None);
        let sha = "a".repeat(64);
        memo.put("k", &sha, 42).unwrap();
        assert_eq!(memo.get("k"), Some((sha.clone(), 42)));
        std::fs::write(d.path().join("exports-v1/k"), format!("{} 42\n", &sha[..63])).unwrap();
        assert_eq!(memo.get("k"), None);
        std::fs::write(d.path().join("exports-v1/k"), format!("{sha} x\n")).unwrap();
        assert_eq!(memo.get("k"), None);
        assert_eq!(std::fs::read_dir(d.path().join("exports-v1")).unwrap().count(), 1, "no temp file left");
    }
}
