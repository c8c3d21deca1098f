//! Reading feeds: which schema a file is in is decided by its content (gzip and zip by magic bytes,
//! NVD by a top-level `vulnerabilities`, OSV by a top-level `id`), never by its name. Each feed is
//! hashed over exactly the bytes read, so the recorded sha256 is the one of what was checked.
//!
//! Decompression is capped, so a small crafted file cannot make compose use gigabytes of memory (a
//! "decompression bomb"); a feed beyond a cap is refused as corrupt:
//! - a zip member (one OSV record) may expand to at most 16 MiB (real records are a few KiB), checked
//!   against the size the zip declares and again while reading, so a lying header is caught too;
//! - a zip's members together may expand to at most 4 GiB (all of OSV's ecosystems are far less);
//! - a gzip'd NVD feed may expand to at most 2 GiB (the largest yearly NVD CVE API 2.0 feed is a few
//!   hundred MB of JSON).
//!
//! Withdrawn OSV records and rejected NVD CVEs are read but give no advisory (and are not counted in
//! `FeedInfo::records`).

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde::Deserialize;

use super::{Advisory, FeedInfo, FeedKind, Feeds, VulnError, nvd, osv};
use crate::digest::Sha256;

/// Loads every feed in order; `Finding::feed` indexes `Feeds::info` in the same order.
///
/// Each path: NVD CVE API 2.0 JSON (plain or gzip), or OSV: one JSON record, a directory of `*.json`
/// records (read recursively, in sorted path order), or a zip of them.
pub fn load_feeds(paths: &[PathBuf]) -> Result<Feeds, VulnError> {
    load_feeds_limited(paths, Limits::DEFAULT)
}

/// How many bytes decompression may produce (see the module comment).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// One zip member.
    pub member: u64,
    /// All the members of one zip.
    pub zip_total: u64,
    /// One gzip'd feed.
    pub gzip: u64,
}

const MIB: u64 = 1 << 20;

impl Limits {
    pub const DEFAULT: Limits = Limits { member: 16 * MIB, zip_total: 4096 * MIB, gzip: 2048 * MIB };
}

/// `n` bytes in words: whole MiB when it is, else bytes.
fn size_words(n: u64) -> String {
    match n % MIB {
        0 => format!("{} MiB", n / MIB),
        _ => format!("{n} bytes"),
    }
}

pub(crate) fn load_feeds_limited(paths: &[PathBuf], limits: Limits) -> Result<Feeds, VulnError> {
    let mut feeds = Feeds::default();
    for (index, path) in paths.iter().enumerate() {
        let (info, mut advisories) = load_one(path, limits)?;
        for a in &mut advisories {
            a.feed = index;
        }
        feeds.info.push(info);
        feeds.advisories.append(&mut advisories);
    }
    Ok(feeds)
}

/// A JSON feed document: NVD's array beside OSV's fields, told apart after parsing.
#[derive(Deserialize)]
struct Document {
    vulnerabilities: Option<nvd::Vulnerabilities>,
    #[serde(flatten)]
    osv: osv::Record,
}

type Loaded = (FeedInfo, Vec<Advisory>);

fn load_one(path: &Path, limits: Limits) -> Result<Loaded, VulnError> {
    let read_err = |source| VulnError::Read { path: path.to_path_buf(), source };
    if fs::metadata(path).map_err(read_err)?.is_dir() {
        return load_dir(path);
    }
    let mut file = File::open(path).map_err(read_err)?;
    let mut magic = Vec::with_capacity(4);
    (&mut file).take(4).read_to_end(&mut magic).map_err(read_err)?;
    file.rewind().map_err(read_err)?;
    if magic.starts_with(b"PK\x03\x04") || magic.starts_with(b"PK\x05\x06") {
        return load_zip(path, file, limits);
    }
    let mut hashing = Hashing { inner: file, hash: Sha256::new() };
    let gzip = magic.starts_with(&[0x1f, 0x8b]);
    let doc = if gzip {
        let mut capped =
            Capped { inner: MultiGzDecoder::new(BufReader::new(&mut hashing)), left: limits.gzip, over: false };
        let parsed = parse_reader(BufReader::with_capacity(1 << 16, &mut capped), path, true);
        if capped.over {
            return Err(VulnError::Corrupt {
                path: path.to_path_buf(),
                what: format!("the gzip stream expands beyond {}", size_words(limits.gzip)),
            });
        }
        parsed?
    } else {
        parse_reader(BufReader::with_capacity(1 << 16, &mut hashing), path, false)?
    };
    // Bytes after the JSON (or after the gzip member) still belong to the file's digest.
    io::copy(&mut hashing, &mut io::sink()).map_err(read_err)?;
    let sha256 = hashing.hash.hex();
    let info = |kind, records| FeedInfo { path: path.to_path_buf(), sha256: sha256.clone(), kind, records };
    match classify(doc, path)? {
        (FeedKind::Nvd, advisories) => Ok((info(FeedKind::Nvd, advisories.len()), advisories)),
        (FeedKind::Osv, advisories) => Ok((info(FeedKind::Osv, advisories.len()), advisories)),
    }
}

/// NVD when `vulnerabilities` is there, else OSV when `id` is, else neither. A withdrawn OSV record
/// gives no advisory.
fn classify(doc: Document, path: &Path) -> Result<(FeedKind, Vec<Advisory>), VulnError> {
    if let Some(v) = doc.vulnerabilities {
        return Ok((FeedKind::Nvd, v.0));
    }
    if doc.osv.id.is_some() && doc.osv.withdrawn() {
        return Ok((FeedKind::Osv, Vec::new()));
    }
    match doc.osv.into_advisory() {
        Some(a) => Ok((FeedKind::Osv, vec![a])),
        None => Err(VulnError::UnknownFormat {
            path: path.to_path_buf(),
            what: "the JSON object has neither `vulnerabilities` (NVD) nor `id` (OSV)".into(),
        }),
    }
}

fn parse_reader(reader: impl Read, path: &Path, gzip: bool) -> Result<Document, VulnError> {
    serde_json::from_reader(reader).map_err(|e| json_error(e, path, gzip))
}

fn json_error(e: serde_json::Error, path: &Path, gzip: bool) -> VulnError {
    let path = path.to_path_buf();
    if e.is_io() {
        let source = io::Error::from(e);
        return match gzip {
            true => VulnError::Corrupt { path, what: format!("damaged or truncated gzip stream ({source})") },
            false => VulnError::Read { path, source },
        };
    }
    let what = match e.is_eof() {
        true => format!("JSON ends too early, the file may be truncated ({e})"),
        false => format!("bad JSON: {e}"),
    };
    VulnError::Corrupt { path, what }
}

/// An OSV record from a directory or zip member (`None` when withdrawn); an NVD document there is
/// refused.
fn parse_member(bytes: &[u8], path: &Path) -> Result<Option<Advisory>, VulnError> {
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| json_error(e, path, false))?;
    match classify(doc, path)? {
        (FeedKind::Osv, mut a) if a.len() <= 1 => Ok(a.pop()),
        _ => Err(VulnError::UnknownFormat {
            path: path.to_path_buf(),
            what: "an NVD document among OSV records; give NVD feeds as their own files".into(),
        }),
    }
}

fn load_zip(path: &Path, mut file: File, limits: Limits) -> Result<Loaded, VulnError> {
    let read_err = |source| VulnError::Read { path: path.to_path_buf(), source };
    let mut hash = Sha256::new();
    io::copy(&mut file, &mut HashWriter(&mut hash)).map_err(read_err)?;
    file.rewind().map_err(read_err)?;
    let corrupt = |what: String| VulnError::Corrupt { path: path.to_path_buf(), what };
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| corrupt(format!("bad zip: {e}")))?;
    let mut names = Vec::with_capacity(zip.len());
    for name in zip.file_names() {
        let name = name.map_err(|e| corrupt(format!("bad zip member name: {e}")))?;
        if name.ends_with(".json") {
            names.push(name.into_owned());
        }
    }
    names.sort();
    let mut advisories = Vec::with_capacity(names.len());
    let mut total: u64 = 0;
    for name in names {
        let member = path.join(&name);
        let too_big = || VulnError::Corrupt {
            path: member.clone(),
            what: format!("zip member `{name}` expands beyond {}", size_words(limits.member)),
        };
        let entry = zip.by_name(&name).map_err(|e| corrupt(format!("bad zip member `{name}`: {e}")))?;
        // The declared size first (cheap), then the bytes actually produced: a header can lie.
        if entry.size() > limits.member {
            return Err(too_big());
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.take(limits.member + 1).read_to_end(&mut bytes).map_err(|e| VulnError::Corrupt {
            path: member.clone(),
            what: format!("cannot decompress zip member: {e}"),
        })?;
        if bytes.len() as u64 > limits.member {
            return Err(too_big());
        }
        total += bytes.len() as u64;
        if total > limits.zip_total {
            return Err(corrupt(format!("the zip's members expand beyond {} in total", size_words(limits.zip_total))));
        }
        advisories.extend(parse_member(&bytes, &member)?);
    }
    let info =
        FeedInfo { path: path.to_path_buf(), sha256: hash.hex(), kind: FeedKind::Osv, records: advisories.len() };
    Ok((info, advisories))
}

/// A directory of OSV records; its sha256 is over `sha256sum`-style lines of its sorted `*.json`.
fn load_dir(path: &Path) -> Result<Loaded, VulnError> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(path).follow_links(true) {
        let entry = entry.map_err(|e| VulnError::Read {
            path: e.path().unwrap_or(path).to_path_buf(),
            source: e.into_io_error().unwrap_or_else(|| io::Error::other("symlink loop")),
        })?;
        let rel = entry.path().strip_prefix(path).unwrap_or(entry.path()).to_string_lossy().into_owned();
        if entry.file_type().is_file() && rel.ends_with(".json") {
            files.push(rel);
        }
    }
    files.sort();
    let mut listing = Sha256::new();
    let mut advisories = Vec::with_capacity(files.len());
    for rel in files {
        let file = path.join(&rel);
        let bytes = fs::read(&file).map_err(|source| VulnError::Read { path: file.clone(), source })?;
        listing.update(format!("{}  {rel}\n", Sha256::hex_of(&bytes)).as_bytes());
        advisories.extend(parse_member(&bytes, &file)?);
    }
    let info =
        FeedInfo { path: path.to_path_buf(), sha256: listing.hex(), kind: FeedKind::Osv, records: advisories.len() };
    Ok((info, advisories))
}

/// Hashes what passes through.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads at most `left` bytes of `inner` and then fails: a decompressed stream beyond its cap is
/// refused, never silently cut (the caller names the cap when `over` is set).
struct Capped<R> {
    inner: R,
    left: u64,
    over: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // One byte more than the cap means the stream is beyond it; exactly the cap is fine.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.over = true;
                    Err(io::Error::other("decompressed size beyond the cap"))
                }
            };
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[path = "feed_tests.rs"]
mod tests;
