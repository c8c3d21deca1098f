//! The rootfs tarball entry by entry: what each path is (kind, mode, owner, mtime, size, content digest
//! or link target), and which of those differ between two tarballs.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::digest::Sha256;

use super::VerifyError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    /// `file`, `dir`, `symlink`, `hardlink` or `other`.
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub size: u64,
    /// Files only.
    pub sha256: Option<String>,
    /// Links only.
    pub link: Option<String>,
}

/// One path whose entries differ (or that only one tarball has).
#[derive(Debug, Clone, PartialEq)]
pub struct EntryDiff {
    /// Absolute, without a trailing slash: `/etc/stamp`.
    pub path: String,
    pub a: Option<TarEntry>,
    pub b: Option<TarEntry>,
}

/// Reads every entry of a tarball, keyed by absolute path.
pub fn read(path: &Path) -> Result<BTreeMap<String, TarEntry>, VerifyError> {
    let err = |source| VerifyError::ReadTar { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(err)?;
    let mut ar = tar::Archive::new(std::io::BufReader::new(file));
    let mut out = BTreeMap::new();
    for e in ar.entries().map_err(err)? {
        let mut e = e.map_err(err)?;
        let h = e.header();
        let name = e.path().map_err(err)?.to_string_lossy().trim_end_matches('/').to_string();
        let kind = match h.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => "file",
            tar::EntryType::Directory => "dir",
            tar::EntryType::Symlink => "symlink",
            tar::EntryType::Link => "hardlink",
            _ => "other",
        };
        let (mode, uid, gid, mtime, size) = (
            h.mode().map_err(err)?,
            h.uid().map_err(err)?,
            h.gid().map_err(err)?,
            h.mtime().map_err(err)?,
            h.size().map_err(err)?,
        );
        let link = e.link_name().map_err(err)?.map(|l| l.to_string_lossy().into_owned());
        let sha256 = if kind == "file" {
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = e.read(&mut buf).map_err(err)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            Some(hasher.hex())
        } else {
            None
        };
        out.insert(format!("/{name}"), TarEntry { kind, mode, uid, gid, mtime, size, sha256, link });
    }
    Ok(out)
}

/// Every path whose entry differs in any field, sorted by path.
pub fn diff(a: &BTreeMap<String, TarEntry>, b: &BTreeMap<String, TarEntry>) -> Vec<EntryDiff> {
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| EntryDiff { path: p.clone(), a: a.get(p).cloned(), b: b.get(p).cloned() })
        .collect()
}

impl EntryDiff {
    /// What differs, in words: `content a1b2… -> c3d4…; mode 0644 -> 0600`.
    pub fn describe(&self) -> String {
        let (a, b) = match (&self.a, &self.b) {
            (None, Some(b)) => return format!("only in B ({})", b.kind),
            (Some(a), None) => return format!("only in A ({})", a.kind),
            (Some(a), Some(b)) => (a, b),
            (None, None) => return "same".into(),
        };
        let short = |s: &Option<String>| s.as_deref().map(|s| s[..s.len().min(16)].to_string()).unwrap_or("-".into());
        let mut parts = Vec::new();
        if a.kind != b.kind {
            parts.push(format!("kind {} -> {}", a.kind, b.kind));
        }
        if a.sha256 != b.sha256 {
            parts.push(format!("content sha256 {} -> {}", short(&a.sha256), short(&b.sha256)));
        }
        if a.size != b.size {
            parts.push(format!("size {} -> {}", a.size, b.size));
        }
        if a.mode != b.mode {
            parts.push(format!("mode {:04o} -> {:04o}", a.mode, b.mode));
        }
        if (a.uid, a.gid) != (b.uid, b.gid) {
            parts.push(format!("owner {}:{} -> {}:{}", a.uid, a.gid, b.uid, b.gid));
        }
        if a.link != b.link {
            parts.push(format!("link target {:?} -> {:?}", a.link, b.link));
        }
        if a.mtime != b.mtime {
            parts.push(format!("mtime {} -> {}", a.mtime, b.mtime));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(sha: &str) -> TarEntry {
        TarEntry {
            kind: "file",
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1,
            size: 3,
            sha256: Some(sha.repeat(64)),
            link: None,
        }
    }

    #[test]
    fn diff_names_each_changed_field_and_one_sided_paths() {
        let mut a = BTreeMap::new();
        let mut b = BTreeMap::new();
        a.insert("/same".to_string(), file("a"));
        b.insert("/same".to_string(), file("a"));
        a.insert("/etc/stamp".to_string(), file("a"));
        b.insert("/etc/stamp".to_string(), TarEntry { mode: 0o600, mtime: 2, ..file("b") });
        a.insert("/gone".to_string(), file("a"));
        b.insert("/new".to_string(), TarEntry { kind: "symlink", sha256: None, link: Some("x".into()), ..file("a") });
        let d = diff(&a, &b);
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["/etc/stamp", "/gone", "/new"]);
        assert_eq!(
            d[0].describe(),
            "content sha256 aaaaaaaaaaaaaaaa -> bbbbbbbbbbbbbbbb; mode 0644 -> 0600; mtime 1 -> 2"
        );
        assert_eq!(d[1].describe(), "only in A (file)");
        assert_eq!(d[2].describe(), "only in B (symlink)");
    }

    #[test]
    fn read_gives_absolute_paths_digests_and_link_targets() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.tar");
        let mut builder = tar::Builder::new(std::fs::File::create(&p).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        builder.append_data(&mut h.clone(), "etc/", std::io::empty()).unwrap();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o600);
        h.set_size(2);
        h.set_mtime(7);
        builder.append_data(&mut h.clone(), "etc/stamp", &b"hi"[..]).unwrap();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        builder.append_link(&mut h, "bin/sh", "busybox").unwrap();
        builder.finish().unwrap();
        drop(builder);
        let e = read(&p).unwrap();
        assert_eq!(e.keys().collect::<Vec<_>>(), ["/bin/sh", "/etc", "/etc/stamp"]);
        let stamp = &e["/etc/stamp"];
        assert_eq!((stamp.kind, stamp.mode, stamp.mtime, stamp.size), ("file", 0o600, 7, 2));
        assert_eq!(stamp.sha256.as_deref(), Some("8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"));
        assert_eq!(e["/bin/sh"].link.as_deref(), Some("busybox"));
        assert_eq!(e["/etc"].kind, "dir");
    }
}
