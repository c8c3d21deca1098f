//! The deterministic rootfs tarball that `docker import` and `podman import` accept.
//!
//! Headers are built by hand from the tree (never from host metadata): entries sorted by path, owner
//! 0:0 with no names, mtimes clamped to SOURCE_DATE_EPOCH, no atime or ctime, symlinks stored as links,
//! setuid and sticky bits kept (the tar crate's deterministic mode would drop them: /tmp must stay 1777).

use std::io::Write;
use std::path::Path;

use crate::digest::Sha256;

use super::{ExportError, Exported};
use crate::rootfs::{Content, Kind, RootfsTree};

pub fn write(tree: &RootfsTree, out: &Path, source_date_epoch: u64) -> Result<Exported, ExportError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { op, path, source }
    };
    let tmp = super::temp_beside(out)?;
    let (sha256, size) = {
        let writer = ThreadedHasher::new(tmp.as_file());
        let w = write_stream(tree, tree.entries.keys(), writer, source_date_epoch, out)?;
        w.finish().map_err(io("write", out))?
    };
    super::publish(tmp, out)?;
    Ok(Exported { path: out.to_path_buf(), size, sha256 })
}

/// The sha256 and size of the tarball `write` would write, without writing it.
pub fn digest(tree: &RootfsTree, source_date_epoch: u64) -> Result<(String, u64), ExportError> {
    let w = write_stream(
        tree,
        tree.entries.keys(),
        HashingWriter::new(std::io::sink()),
        source_date_epoch,
        Path::new("-"),
    )?;
    let mut w = w;
    Ok((w.hex_digest(), w.len))
}

/// Writes the entries at `paths` (which must be sorted, parents first) as one tar stream into `w`,
/// finishes the archive and returns the writer. `out` names the destination in errors.
pub(crate) fn write_stream<'a, W: Write>(
    tree: &RootfsTree,
    paths: impl IntoIterator<Item = &'a String>,
    w: W,
    source_date_epoch: u64,
    out: &Path,
) -> Result<W, ExportError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { op, path, source }
    };
    let mut b = tar::Builder::new(w);
    for path in paths {
        let e = &tree.entries[path];
        let mut h = tar::Header::new_gnu();
        h.set_uid(e.uid.into());
        h.set_gid(e.gid.into());
        h.set_mode(e.mode);
        h.set_mtime(e.mtime.min(source_date_epoch));
        match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{path}/"), std::io::empty()).map_err(io("write", out))?;
            }
            Kind::Symlink { target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, path, target).map_err(io("write", out))?;
            }
            Kind::File { content, size } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(*size);
                match content {
                    Content::Bytes(bytes) => b.append_data(&mut h, path, bytes.as_slice()).map_err(io("write", out))?,
                    Content::Host(src) => {
                        let f = std::fs::File::open(src).map_err(io("read", src))?;
                        let len = f.metadata().map_err(io("stat", src))?.len();
                        // io::copy reads straight into a BufReader's buffer: 256 KiB reads, not 8 KiB.
                        let f = std::io::BufReader::with_capacity(256 << 10, f);
                        if len != *size {
                            let err = std::io::Error::other(format!("size changed from {size} to {len} during export"));
                            return Err(io("read", src)(err));
                        }
                        b.append_data(&mut h, path, f).map_err(io("write", out))?;
                    }
                }
            }
        }
    }
    b.into_inner().map_err(io("finish", out))
}

/// Buffers the stream in 1 MiB chunks, writes each to `inner` and hands it to a hashing thread, so
/// hashing the output (sha256 is most of the CPU time of an export) overlaps with producing it.
struct ThreadedHasher<W: Write> {
    inner: W,
    buf: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    hasher: Option<std::thread::JoinHandle<(String, u64)>>,
}

impl<W: Write> ThreadedHasher<W> {
    const CHUNK: usize = 1 << 20;

    fn new(inner: W) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let hasher = std::thread::spawn(move || {
            let (mut h, mut n) = (Sha256::new(), 0u64);
            for chunk in rx {
                h.update(&chunk);
                n += chunk.len() as u64;
            }
            (h.hex(), n)
        });
        ThreadedHasher { inner, buf: Vec::with_capacity(Self::CHUNK), tx: Some(tx), hasher: Some(hasher) }
    }

    fn ship(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.inner.write_all(&self.buf)?;
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(Self::CHUNK));
        self.tx.as_ref().expect("open until finish").send(full).map_err(|_| std::io::Error::other("hasher stopped"))
    }

    /// Writes what is buffered, and returns the sha256 and length of everything written.
    fn finish(mut self) -> std::io::Result<(String, u64)> {
        self.ship()?;
        self.inner.flush()?;
        drop(self.tx.take());
        self.hasher.take().expect("once").join().map_err(|_| std::io::Error::other("hasher panicked"))
    }
}

impl<W: Write> Write for ThreadedHasher<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(Self::CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == Self::CHUNK {
            self.ship()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.ship()?;
        self.inner.flush()
    }
}

/// Passes bytes through to `inner`, hashing and counting them.
pub(crate) struct HashingWriter<W: Write> {
    pub inner: W,
    hash: Sha256,
    pub len: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hash: Sha256::new(), len: 0 }
    }
    pub fn hex_digest(&mut self) -> String {
        std::mem::take(&mut self.hash).hex()
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::Entry;

    fn tree() -> RootfsTree {
        let mut t = RootfsTree::default();
        let e = |kind, mode| Entry { kind, mode, mtime: 2_000_000_000, uid: 0, gid: 0, owner: "t".into() };
        t.entries.insert("tmp".into(), e(Kind::Dir, 0o1777));
        t.entries.insert("bin".into(), e(Kind::Dir, 0o755));
        t.entries.insert("bin/sh".into(), e(Kind::Symlink { target: "busybox".into() }, 0o777));
        t.entries
            .insert("bin/busybox".into(), e(Kind::File { content: Content::Bytes(b"#!".to_vec()), size: 2 }, 0o4755));
        let long = format!("usr/{}/x", "d".repeat(120));
        t.entries.insert(long, e(Kind::File { content: Content::Bytes(vec![]), size: 0 }, 0o644));
        t
    }

    #[test]
    fn deterministic_sorted_clamped_and_modes_kept() {
        let d = tempfile::tempdir().unwrap();
        let a = write(&tree(), &d.path().join("a.tar"), 1_700_000_000).unwrap();
        let b = write(&tree(), &d.path().join("b.tar"), 1_700_000_000).unwrap();
        assert_eq!(a.sha256, b.sha256);
        assert_eq!(std::fs::read(&a.path).unwrap(), std::fs::read(&b.path).unwrap());
        let mut ar = tar::Archive::new(std::fs::File::open(&a.path).unwrap());
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!(h.mtime().unwrap(), 1_700_000_000);
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            let p = e.path().unwrap().to_string_lossy().into_owned();
            match p.as_str() {
                "tmp/" => assert_eq!(h.mode().unwrap(), 0o1777),
                "bin/busybox" => assert_eq!(h.mode().unwrap(), 0o4755),
                "bin/sh" => assert_eq!(e.link_name().unwrap().unwrap().to_str(), Some("busybox")),
                _ => {}
            }
            seen.push(p);
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        assert_eq!(seen.len(), 5);
        assert!(seen.iter().any(|p| p.len() > 120), "long names survive");
    }
}
