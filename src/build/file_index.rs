//! The per-file digests of an artifact's tree, taken in the same read that computes its `tree_digest`
//! and kept beside it as `files.tsv`, so that the image records need not read every file again.
//!
//! A line is trusted only while the file still has the size, mtime and inode it had when it was hashed
//! (the test git's index makes); any other file is hashed afresh by the reader.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "files.tsv";
const HEADER: &str = "# compose-artifact-files-v1: sha256 sha1 size mtime_ns ino path";

/// What one regular file was when it was hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub sha256: String,
    pub sha1: String,
    pub size: u64,
    pub stamp: Stamp,
}

/// The metadata that must be unchanged for a `FileDigest` to still describe the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub mtime_ns: i128,
    pub ino: u64,
}

impl Stamp {
    pub fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp { mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128, ino: m.ino() }
    }
}

/// Hashes the regular file `path` (whose metadata is `m`): sha256 and sha1 in one read.
pub fn hash_file(path: &Path, m: &std::fs::Metadata) -> std::io::Result<FileDigest> {
    let (sha256, sha1) = crate::source::sha256_sha1_of(std::fs::File::open(path)?, m.len())?;
    Ok(FileDigest { sha256, sha1, size: m.len(), stamp: Stamp::of(m) })
}

/// The index text for `files` (paths relative to the tree). Paths a line cannot hold (not UTF-8, or
/// with a tab or newline) are left out: their readers hash them.
pub fn render(files: &[(PathBuf, FileDigest)]) -> String {
    let mut s = String::with_capacity(64 + files.len() * 160);
    s.push_str(HEADER);
    s.push('\n');
    for (rel, d) in files {
        let Some(rel) = rel.to_str().filter(|r| !r.contains(['\t', '\n'])) else { continue };
        let FileDigest { sha256, sha1, size, stamp } = d;
        s.push_str(&format!("{sha256}\t{sha1}\t{size}\t{}\t{}\t{rel}\n", stamp.mtime_ns, stamp.ino));
    }
    s
}

/// Digests by the file's full path (`tree/rel`, as bytes: hashing a `Path` walks its components).
pub type Known = HashMap<OsString, FileDigest>;

/// Reads the index of the tree at `tree` from `index`, keyed by each file's full path under `tree`.
/// A missing or unreadable index gives an empty map (artifacts from before the index, or damaged).
pub fn load(index: &Path, tree: &Path) -> Known {
    let Ok(text) = std::fs::read_to_string(index) else { return HashMap::new() };
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return HashMap::new();
    }
    let mut out = HashMap::with_capacity(text.len() / 128);
    for line in lines {
        let mut f = line.splitn(6, '\t');
        let mut next = || f.next().unwrap_or_default();
        let (sha256, sha1, size, mtime_ns, ino, rel) = (next(), next(), next(), next(), next(), next());
        let (Ok(size), Ok(mtime_ns), Ok(ino)) = (size.parse(), mtime_ns.parse(), ino.parse()) else {
            return HashMap::new();
        };
        if sha256.len() != 64 || sha1.len() != 40 || rel.is_empty() {
            return HashMap::new();
        }
        let mut path = OsString::with_capacity(tree.as_os_str().len() + 1 + rel.len());
        path.push(tree.as_os_str());
        path.push("/");
        path.push(rel);
        let d = FileDigest { sha256: sha256.into(), sha1: sha1.into(), size, stamp: Stamp { mtime_ns, ino } };
        out.insert(path, d);
    }
    out
}

/// The digests of `path` from `known` if the file is unchanged since they were taken: `size` and
/// `stamp` are what `lstat` says of it now (the rootfs took them when the file entered the tree).
pub fn lookup<'a>(known: &'a Known, path: &Path, size: u64, stamp: Stamp) -> Option<&'a FileDigest> {
    let d = known.get(path.as_os_str())?;
    (d.size == size && d.stamp == stamp).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_trusted_only_while_the_file_is_unchanged() {
        let d = tempfile::tempdir().unwrap();
        let tree = d.path().join("tree");
        std::fs::create_dir_all(tree.join("usr/bin")).unwrap();
        let f = tree.join("usr/bin/x");
        std::fs::write(&f, b"hello\n").unwrap();
        std::fs::write(tree.join("odd\tname"), b"").unwrap();
        let digest = hash_file(&f, &f.symlink_metadata().unwrap()).unwrap();
        assert_eq!(digest.sha256, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
        assert_eq!(digest.sha1, "f572d396fae9206628714fb2ce00f72e94f2258f");
        let odd = tree.join("odd\tname");
        let odd_digest = hash_file(&odd, &odd.symlink_metadata().unwrap()).unwrap();
        let text = render(&[("odd\tname".into(), odd_digest), ("usr/bin/x".into(), digest.clone())]);
        std::fs::write(d.path().join(FILE_NAME), &text).unwrap();
        let known = load(&d.path().join(FILE_NAME), &tree);
        assert_eq!(known.len(), 1, "a name with a tab is left to be hashed: {text}");
        let now = |f: &Path| {
            let m = f.symlink_metadata().unwrap();
            (m.len(), Stamp::of(&m))
        };
        let (size, stamp) = now(&f);
        assert_eq!(lookup(&known, &f, size, stamp), Some(&digest));
        // Rewritten in place (same size): the mtime moves, so the line is no longer trusted.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&f, b"HELLO\n").unwrap();
        let (size, stamp) = now(&f);
        assert_eq!(lookup(&known, &f, size, stamp), None);
        // A damaged index is ignored as a whole.
        std::fs::write(d.path().join(FILE_NAME), text.replace("\t6\t", "\tsix\t")).unwrap();
        assert!(load(&d.path().join(FILE_NAME), &tree).is_empty());
        assert!(load(&d.path().join("missing"), &tree).is_empty());
    }
}
