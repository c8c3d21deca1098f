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
    write_with(tree, out, source_date_epoch, None)
}

/// `write`, with the sha256 and size of the stream already known (from `memo`): the bytes are written
/// but not hashed. A stream of another size is an error.
pub fn write_with(
    tree: &RootfsTree,
    out: &Path,
    source_date_epoch: u64,
    known: Option<(String, u64)>,
) -> Result<Exported, ExportError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { op, path, source }
    };
    let tmp = super::temp_beside(out)?;
    let (sha256, size) = {
        let file = tmp.as_file().try_clone().map_err(io("open", out))?;
        let writer = ThreadedHasher::new(file, known.is_none());
        let w = write_stream(tree, tree.entries.keys(), writer, source_date_epoch, out)?;
        let (digest, size) = w.finish().map_err(io("write", out))?;
        match (digest, known) {
            (Some(sha256), _) => (sha256, size),
            (None, Some((sha256, n))) if n == size => (sha256, size),
            (None, _) => {
                let e =
                    std::io::Error::other(format!("the remembered digest is for a tar of another size than {size}"));
                return Err(io("write", out)(e));
            }
        }
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
pub(crate) fn write_stream<'a, W: TarSink>(
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
                    Content::Host { path: src, .. } => {
                        let mut f = std::fs::File::open(src).map_err(io("read", src))?;
                        // The header alone (an empty reader adds neither data nor padding), then the bytes
                        // and the padding to 512 that `append_data` would write. The size the tree holds
                        // is checked by the read itself (no fstat): a file that changed fails the export.
                        b.append_data(&mut h, path, std::io::empty()).map_err(io("write", out))?;
                        let w = b.get_mut();
                        let len = *size;
                        let n = w.copy_file(&mut f, len).map_err(io("read", src))?;
                        if n != len {
                            let now = if n > len { format!("more than {len}") } else { n.to_string() };
                            let err = std::io::Error::other(format!("size changed from {size} to {now} during export"));
                            return Err(io("read", src)(err));
                        }
                        let pad = (512 - len % 512) % 512;
                        w.write_all(&[0; 512][..pad as usize]).map_err(io("write", out))?;
                    }
                }
            }
        }
    }
    b.into_inner().map_err(io("finish", out))
}

/// Where a tar stream goes: a writer that may take a file's bytes straight from the file.
pub(crate) trait TarSink: Write {
    /// Appends the first `len` bytes of `f` and returns how long `f` is, as far as `len + 1`: fewer than
    /// `len` bytes if it is shorter, `len + 1` (without appending the extra byte) if it is longer.
    fn copy_file(&mut self, f: &mut std::fs::File, len: u64) -> std::io::Result<u64> {
        use std::io::Read;
        // io::copy reads straight into a BufReader's buffer: 256 KiB reads, not 8 KiB.
        let n = std::io::copy(&mut std::io::BufReader::with_capacity(256 << 10, (&mut *f).take(len)), self)?;
        Ok(if n == len && f.read(&mut [0])? == 1 { len + 1 } else { n })
    }
}

/// Collects the stream in 1 MiB buffers and hands each to a writer thread, which writes it to the file
/// and passes it on to a hashing thread, so that producing, writing and hashing the stream overlap. File
/// bytes are read straight into the buffer, and the hasher hands each buffer back to be filled again
/// (on a VM, fresh pages cost more than the copy they hold).
struct ThreadedHasher {
    /// Always `CHUNK` long; `filled` bytes of it are the stream's.
    buf: Vec<u8>,
    filled: usize,
    tx: Option<std::sync::mpsc::SyncSender<(Vec<u8>, usize)>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    writer: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    hasher: Option<std::thread::JoinHandle<(Option<String>, u64)>>,
}

impl ThreadedHasher {
    const CHUNK: usize = 1 << 20;

    /// `hash: false` only counts the bytes (their digest is known).
    fn new(file: std::fs::File, hash: bool) -> Self {
        use std::sync::mpsc::{channel, sync_channel};
        let (tx, to_write) = sync_channel::<(Vec<u8>, usize)>(4);
        let (to_hash, hash_rx) = sync_channel::<(Vec<u8>, usize)>(4);
        let (back, spare) = channel();
        let mut file = crate::small_writes::SmallWrites(file);
        let writer = std::thread::spawn(move || {
            for (chunk, len) in to_write {
                file.write_all(&chunk[..len])?;
                if to_hash.send((chunk, len)).is_err() {
                    break;
                }
            }
            Ok(())
        });
        let hasher = std::thread::spawn(move || {
            let (mut h, mut n) = (Sha256::new(), 0u64);
            for (chunk, len) in hash_rx {
                if hash {
                    h.update(&chunk[..len]);
                }
                n += len as u64;
                let _ = back.send(chunk);
            }
            (hash.then(|| h.hex()), n)
        });
        let buf = vec![0; Self::CHUNK];
        ThreadedHasher { buf, filled: 0, tx: Some(tx), spare, writer: Some(writer), hasher: Some(hasher) }
    }

    fn ship(&mut self) -> std::io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let next = self.spare.try_recv().unwrap_or_else(|_| vec![0; Self::CHUNK]);
        let full = std::mem::replace(&mut self.buf, next);
        let len = std::mem::take(&mut self.filled);
        match self.tx.as_ref().map(|tx| tx.send((full, len))) {
            Some(Ok(())) => Ok(()),
            _ => Err(self.writer_failure()),
        }
    }

    /// Why the writer thread stopped: its write error.
    fn writer_failure(&mut self) -> std::io::Error {
        drop(self.tx.take());
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(Err(e))) => e,
            _ => std::io::Error::other("the writer thread stopped"),
        }
    }

    /// Writes what is buffered, and returns the sha256 (if hashing) and length of everything written.
    fn finish(mut self) -> std::io::Result<(Option<String>, u64)> {
        self.ship()?;
        drop(self.tx.take());
        match self.writer.take().expect("once").join() {
            Ok(written) => written?,
            Err(_) => return Err(std::io::Error::other("the writer thread panicked")),
        }
        self.hasher.take().expect("once").join().map_err(|_| std::io::Error::other("the hasher panicked"))
    }
}

impl Write for ThreadedHasher {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(Self::CHUNK - self.filled);
        self.buf[self.filled..self.filled + n].copy_from_slice(&data[..n]);
        self.filled += n;
        if self.filled == Self::CHUNK {
            self.ship()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.ship()
    }
}

impl TarSink for ThreadedHasher {
    fn copy_file(&mut self, f: &mut std::fs::File, len: u64) -> std::io::Result<u64> {
        use std::io::Read;
        let mut left = len;
        loop {
            if self.filled == Self::CHUNK {
                self.ship()?;
            }
            // One byte more than is left: a short read then shows the end of the file, with no extra call.
            let want = (Self::CHUNK - self.filled).min(usize::try_from(left).unwrap_or(usize::MAX).saturating_add(1));
            let n = match f.read(&mut self.buf[self.filled..self.filled + want]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n as u64 > left {
                return Ok(len + 1); // longer than `len`: the extra byte stays out of the stream
            }
            self.filled += n;
            left -= n as u64;
            if n == 0 || (left == 0 && n < want) {
                return Ok(len - left);
            }
        }
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

impl<W: Write> TarSink for HashingWriter<W> {}

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

    /// Host files (read straight into the hashing buffers, across 1 MiB chunk edges) give the bytes
    /// the tar crate writes for the same contents in memory, and `digest` agrees without writing.
    #[test]
    fn host_files_stream_as_the_tar_crate_writes_them() {
        use crate::build::file_index::Stamp;
        let d = tempfile::tempdir().unwrap();
        let (mut host, mut bytes) = (tree(), tree());
        let sizes = [0usize, 1, 511, 512, 513, (1 << 20) - 700, 1 << 20, (1 << 20) + 300, 3 << 20];
        for (i, n) in sizes.into_iter().enumerate() {
            let data: Vec<u8> = (0..n).map(|j| (j * 31 + i * 7) as u8).collect();
            let p = d.path().join(format!("f{i}"));
            std::fs::write(&p, &data).unwrap();
            let stamp = Stamp::of(&p.symlink_metadata().unwrap());
            let e = |content| Entry {
                kind: Kind::File { content, size: n as u64 },
                mode: 0o644,
                mtime: 1,
                uid: 0,
                gid: 0,
                owner: "t".into(),
            };
            host.entries.insert(format!("usr/f{i}"), e(Content::Host { path: p, stamp }));
            bytes.entries.insert(format!("usr/f{i}"), e(Content::Bytes(data)));
        }
        let a = write(&host, &d.path().join("host.tar"), 1_700_000_000).unwrap();
        let b = write(&bytes, &d.path().join("bytes.tar"), 1_700_000_000).unwrap();
        let written = std::fs::read(&a.path).unwrap();
        assert!(written == std::fs::read(&b.path).unwrap(), "same bytes from host files and from memory");
        assert_eq!(a.size, written.len() as u64);
        assert_eq!(a.sha256, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&written)));
        assert_eq!(digest(&host, 1_700_000_000).unwrap(), (a.sha256.clone(), a.size));
        // A file that shrank or grew (by one byte, at a chunk's edge too) after it entered the tree is an
        // error naming it, from both writers, and nothing is left behind.
        for (name, change) in [("f6", -1i64), ("f6", 1), ("f0", 1), ("f4", 1), ("f7", -300)] {
            let Kind::File { content: Content::Host { path, .. }, size } = &host.entries[&format!("usr/{name}")].kind
            else {
                panic!()
            };
            let before = std::fs::read(path).unwrap();
            let mut now = before.clone();
            now.resize((*size as i64 + change) as usize, b'x');
            std::fs::write(path, &now).unwrap();
            let err = write(&host, &d.path().join("bad.tar"), 1_700_000_000).unwrap_err();
            let msg = format!("{err}: {}", std::error::Error::source(&err).unwrap());
            assert!(msg.contains(name) && msg.contains("size changed"), "{name} {change}: {msg}");
            assert!(digest(&host, 1_700_000_000).is_err(), "{name} {change}: digest notices too");
            assert!(!d.path().join("bad.tar").exists());
            assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), sizes.len() + 2, "no temp file is left");
            std::fs::write(path, &before).unwrap();
        }
        assert_eq!(write(&host, &d.path().join("again.tar"), 1_700_000_000).unwrap().sha256, a.sha256);
    }

    /// With the digest known, the same bytes are written and the known digest is reported; a known size
    /// that is not the stream's is an error, and nothing is left behind.
    #[test]
    fn a_known_digest_is_reported_and_its_size_checked() {
        let d = tempfile::tempdir().unwrap();
        let a = write(&tree(), &d.path().join("a.tar"), 1_700_000_000).unwrap();
        let known = ("f".repeat(64), a.size);
        let b = write_with(&tree(), &d.path().join("b.tar"), 1_700_000_000, Some(known.clone())).unwrap();
        assert_eq!((b.sha256, b.size), known);
        assert_eq!(std::fs::read(&a.path).unwrap(), std::fs::read(&b.path).unwrap());
        let wrong = Some((a.sha256.clone(), a.size + 512));
        let err = write_with(&tree(), &d.path().join("c.tar"), 1_700_000_000, wrong).unwrap_err();
        let msg = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(msg.contains("c.tar") && msg.contains("another size"), "{msg}");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2, "no temp file or c.tar is left");
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
