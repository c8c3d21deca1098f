//! Reading one tar stream (a rootfs tar or an image layer) into the changes it makes: per entry its
//! type, mode and owner, and for files their size, sha256 and, when they start with the ELF magic,
//! what the ELF reader says. Compression (gzip, zstd) is detected from the stream's first bytes, not
//! from a media type, so mislabelled layers still read.

use std::io::{self, BufRead, BufReader, Read};

use crate::digest::Sha256;

use super::elf;
use super::tree::{Change, FileFacts, Node, NodeKind, normalise};

/// A reader that hashes what passes through it (to check a blob against its digest).
pub struct Hashing<R> {
    pub inner: R,
    hasher: Sha256,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Self {
        Hashing { inner, hasher: Sha256::new() }
    }
    /// Reads what is left and returns the hex sha256 of everything read.
    pub fn finish(mut self) -> io::Result<String> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.hasher.hex())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Looks at the first bytes: gzip (1f 8b), zstd (28 b5 2f fd), anything else is taken as a tar.
pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Wraps `r` in the decompressor its first bytes call for.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::with_capacity(1 << 16, r);
    Ok(match sniff(r.fill_buf()?) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Compression::None => Box::new(r),
    })
}

/// Every entry of the tar stream `r`, in order. Names that climb out with `..` are skipped: they
/// could not land in the image.
pub fn read(r: impl Read) -> io::Result<Vec<(String, Change)>> {
    let mut ar = tar::Archive::new(r);
    let mut out = Vec::new();
    for entry in ar.entries()? {
        let mut e = entry?;
        let Some(path) = normalise(&String::from_utf8_lossy(&e.path_bytes())) else { continue };
        let h = e.header();
        let (mode, uid, gid) = (h.mode()? & 0o7777, h.uid().unwrap_or(0), h.gid().unwrap_or(0));
        let kind = match h.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                NodeKind::File(facts(&mut e)?)
            }
            tar::EntryType::Directory => NodeKind::Dir,
            tar::EntryType::Symlink => NodeKind::Symlink(
                e.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default(),
            ),
            tar::EntryType::Link => {
                let target = e.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
                if let Some(t) = normalise(&target) {
                    out.push((path, Change::HardLink(t)));
                }
                continue;
            }
            tar::EntryType::Char => NodeKind::Other("char-device"),
            tar::EntryType::Block => NodeKind::Other("block-device"),
            tar::EntryType::Fifo => NodeKind::Other("fifo"),
            // Metadata entries (pax headers, long names) are consumed by the tar crate; skip the rest.
            _ => continue,
        };
        out.push((path, Change::Add(Node { kind, mode, uid, gid })));
    }
    Ok(out)
}

/// Size and sha256 of a file's content; ELF files are held in memory once to be parsed.
fn facts(r: &mut impl Read) -> io::Result<FileFacts> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut head = Vec::new();
    // Enough bytes to know whether this is an ELF file.
    while head.len() < 4 {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let elf = if elf::is_elf(&head) {
        r.read_to_end(&mut head)?;
        Some(elf::parse(&head).map_err(|e| e.to_string()))
    } else {
        None
    };
    hasher.update(&head);
    let mut size = head.len() as u64;
    if elf.is_none() {
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
    }
    Ok(FileFacts { size, sha256: hasher.hex(), elf })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, body) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o4755);
            h.set_size(body.len() as u64);
            b.append_data(&mut h, p, *body).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn reads_gzip_zstd_and_plain_layers_alike() {
        let elf = std::fs::read("/bin/ls").unwrap();
        let raw = tar_of(&[("./bin/ls", &elf), ("etc/motd", b"hi\n")]);
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            io::Write::write_all(&mut e, &raw).unwrap();
            e.finish().unwrap()
        };
        let zst = zstd::encode_all(raw.as_slice(), 3).unwrap();
        for (what, bytes) in [("plain", &raw), ("gzip", &gz), ("zstd", &zst)] {
            let v = read(decompress(bytes.as_slice()).unwrap()).unwrap();
            assert_eq!(v.len(), 2, "{what}");
            let Change::Add(Node { kind: NodeKind::File(ls), mode, .. }) = &v[0].1 else { panic!("{what}: {v:?}") };
            assert_eq!((v[0].0.as_str(), *mode), ("/bin/ls", 0o4755));
            assert_eq!(ls.size, elf.len() as u64);
            assert_eq!(ls.sha256, Sha256::hex_of(&elf));
            assert_eq!(ls.elf.as_ref().unwrap().as_ref().unwrap().linking, elf::Linking::Dynamic);
            let Change::Add(Node { kind: NodeKind::File(motd), .. }) = &v[1].1 else { panic!() };
            assert_eq!((motd.size, motd.elf.is_none()), (3, true));
            assert_eq!(motd.sha256, Sha256::hex_of(b"hi\n"));
        }
    }

    #[test]
    fn hashing_reader_digests_the_whole_stream() {
        let mut h = Hashing::new(&b"abcdef"[..]);
        let mut two = [0u8; 2];
        h.read_exact(&mut two).unwrap();
        assert_eq!(h.finish().unwrap(), Sha256::hex_of(b"abcdef"));
    }
}
