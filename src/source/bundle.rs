//! Source bundles: the sources of a closure in one tar, to carry across an air gap.
//!
//! Layout: `manifest.json` first (format, and per source its sha256, file name, size, packages and
//! URLs), then `sources/<sha256>` for each. Import trusts nothing: every entry must be named in the
//! manifest and hash to its name, every manifest entry must be present, and nothing reaches the cache
//! until the whole bundle has been checked.

use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::Sha256;
use crate::recipe::Recipe;
use serde::{Deserialize, Serialize};

use super::{SourceCache, is_sha256};

pub const FORMAT: &str = "compose-sources-v1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BundleManifest {
    pub format: String,
    pub sources: Vec<BundleSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BundleSource {
    pub sha256: String,
    pub file_name: String,
    pub size: u64,
    pub packages: Vec<String>,
    pub urls: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot {op} `{}`", path.display())]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("source {sha256} (`{file_name}`) is not in the cache; fetch it first (`compose fetch`)")]
    NotCached { sha256: String, file_name: String },
    #[error("`{}`: not a compose source bundle: {reason}", bundle.display())]
    NotABundle { bundle: PathBuf, reason: String },
    #[error("`{}`: entry `{entry}` is not listed in the bundle's manifest (foreign entry); nothing was imported", bundle.display())]
    Foreign { bundle: PathBuf, entry: String },
    #[error("`{}`: entry `{entry}` (`{file_name}`) is corrupted: its sha256 is {got}; nothing was imported", bundle.display())]
    Corrupted { bundle: PathBuf, entry: String, file_name: String, got: String },
    #[error("`{}`: the manifest lists `{file_name}` ({sha256}) but the bundle does not hold it; nothing was imported", bundle.display())]
    Missing { bundle: PathBuf, sha256: String, file_name: String },
    #[error(transparent)]
    Cache(#[from] super::FetchError),
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub added: Vec<BundleSource>,
    pub already: Vec<BundleSource>,
}

/// The bundle entries of `recipes`' sources: one per sha256, with every package that uses it and every
/// URL it is known under, in sha256 order.
pub fn sources_of<'a>(recipes: impl IntoIterator<Item = &'a Recipe>) -> Vec<BundleSource> {
    let mut by_sha: BTreeMap<String, BundleSource> = BTreeMap::new();
    for r in recipes {
        for s in &r.sources {
            let e = by_sha.entry(s.sha256.clone()).or_insert_with(|| BundleSource {
                sha256: s.sha256.clone(),
                file_name: s.file_name(),
                size: 0,
                packages: Vec::new(),
                urls: std::iter::once(s.url.clone()).chain(s.mirrors.iter().cloned()).collect(),
            });
            e.packages.push(r.name.clone());
        }
    }
    by_sha.into_values().collect()
}

/// Writes the bundle of `sources` (all must be cached) to `out`, via a temp file and a rename.
pub fn export(cache: &SourceCache, sources: &[BundleSource], out: &Path, mtime: u64) -> Result<u64, BundleError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| BundleError::Io { op, path, source }
    };
    let mut sources = sources.to_vec();
    sources.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    sources.dedup_by(|a, b| a.sha256 == b.sha256);
    for s in &mut sources {
        let path = cache
            .lookup(&s.sha256)
            .ok_or_else(|| BundleError::NotCached { sha256: s.sha256.clone(), file_name: s.file_name.clone() })?;
        s.size = path.metadata().map_err(io("stat", &path))?.len();
    }
    let manifest = BundleManifest { format: FORMAT.into(), sources };
    let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("create a temp file in", dir))?;
    let mut b = tar::Builder::new(BufWriter::with_capacity(1 << 20, crate::small_writes::SmallWrites(tmp.as_file())));
    let header = |size: u64, dir: bool| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(size);
        h.set_entry_type(if dir { tar::EntryType::Directory } else { tar::EntryType::Regular });
        h
    };
    b.append_data(&mut header(json.len() as u64, false), "manifest.json", json.as_slice()).map_err(io("write", out))?;
    b.append_data(&mut header(0, true), "sources/", std::io::empty()).map_err(io("write", out))?;
    for s in &manifest.sources {
        let path = cache.path(&s.sha256);
        let f = std::fs::File::open(&path).map_err(io("read", &path))?;
        b.append_data(&mut header(s.size, false), format!("sources/{}", s.sha256), f).map_err(io("write", out))?;
    }
    let mut w = b.into_inner().map_err(io("finish", out))?;
    w.flush().map_err(io("write", out))?;
    drop(w);
    tmp.as_file().sync_all().map_err(io("sync", out))?;
    let size = tmp.as_file().metadata().map_err(io("stat", out))?.len();
    {
        use std::os::unix::fs::PermissionsExt;
        let perm = std::fs::Permissions::from_mode(0o644);
        tmp.as_file().set_permissions(perm).map_err(io("set permissions of", out))?;
    }
    tmp.persist(out).map_err(|e| BundleError::Io {
        op: "rename into place",
        path: out.to_path_buf(),
        source: e.error,
    })?;
    Ok(size)
}

/// Checks every entry of `bundle` and only then stores the new sources in `cache`.
pub fn import(cache: &SourceCache, bundle: &Path) -> Result<ImportReport, BundleError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| BundleError::Io { op, path, source }
    };
    let not_a_bundle = |reason: String| BundleError::NotABundle { bundle: bundle.to_path_buf(), reason };
    let file = std::fs::File::open(bundle).map_err(io("open", bundle))?;
    let mut ar = tar::Archive::new(std::io::BufReader::with_capacity(1 << 20, file));
    let mut entries = ar.entries().map_err(io("read", bundle))?;
    let mut first =
        entries.next().ok_or_else(|| not_a_bundle("it is empty".into()))?.map_err(|e| not_a_bundle(e.to_string()))?;
    if first.path().map_err(io("read", bundle))?.to_str() != Some("manifest.json") {
        return Err(not_a_bundle("the first entry is not `manifest.json`".into()));
    }
    let mut json = Vec::new();
    first.read_to_end(&mut json).map_err(io("read", bundle))?;
    let manifest: BundleManifest =
        serde_json::from_slice(&json).map_err(|e| not_a_bundle(format!("manifest.json: {e}")))?;
    if manifest.format != FORMAT {
        return Err(not_a_bundle(format!("format `{}`, expected `{FORMAT}`", manifest.format)));
    }
    let mut wanted: BTreeMap<String, BundleSource> = BTreeMap::new();
    for s in manifest.sources {
        if !is_sha256(&s.sha256) {
            return Err(not_a_bundle(format!("manifest.json: `{}` is not a sha256", s.sha256)));
        }
        wanted.insert(s.sha256.clone(), s);
    }
    // Staged temp files in the cache directory; dropped (deleted) unless every check passes.
    let mut staged: Vec<(tempfile::NamedTempFile, String)> = Vec::new();
    let mut report = ImportReport::default();
    let mut seen = std::collections::BTreeSet::new();
    for e in entries {
        let mut e = e.map_err(|e| not_a_bundle(e.to_string()))?;
        let name = e.path().map_err(io("read", bundle))?.to_string_lossy().into_owned();
        if name == "sources/" || name == "sources" {
            continue;
        }
        let sha = name.strip_prefix("sources/").unwrap_or("");
        let Some(src) = wanted.get(sha).filter(|_| e.header().entry_type().is_file()) else {
            return Err(BundleError::Foreign { bundle: bundle.to_path_buf(), entry: name });
        };
        if !seen.insert(sha.to_string()) {
            return Err(BundleError::Foreign { bundle: bundle.to_path_buf(), entry: format!("{name} (twice)") });
        }
        if cache.lookup(sha).is_some() {
            // Still read and check it: a bundle with a bad entry is refused as a whole.
            let got = super::sha256_of(&mut e).map_err(io("read", bundle))?;
            if got != sha {
                return Err(corrupted(bundle, name, src, got));
            }
            report.already.push(src.clone());
            continue;
        }
        let mut tmp = cache.temp_file()?;
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = e.read(&mut buf).map_err(io("read", bundle))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            tmp.as_file_mut().write_all(&buf[..n]).map_err(io("write", cache.dir()))?;
        }
        let got = hash.hex();
        if got != sha {
            return Err(corrupted(bundle, name, src, got));
        }
        staged.push((tmp, sha.to_string()));
        report.added.push(src.clone());
    }
    if let Some((sha, s)) = wanted.iter().find(|(sha, _)| !seen.contains(*sha)) {
        return Err(BundleError::Missing {
            bundle: bundle.to_path_buf(),
            sha256: sha.clone(),
            file_name: s.file_name.clone(),
        });
    }
    for (tmp, sha) in staged {
        cache.store_verified(tmp, &sha)?;
    }
    Ok(report)
}

fn corrupted(bundle: &Path, entry: String, src: &BundleSource, got: String) -> BundleError {
    BundleError::Corrupted { bundle: bundle.to_path_buf(), entry, file_name: src.file_name.clone(), got }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(cache: &SourceCache, body: &[u8]) -> BundleSource {
        let sha = Sha256::hex_of(body);
        std::fs::write(cache.path(&sha), body).unwrap();
        BundleSource { sha256: sha, file_name: "f.tar".into(), size: 0, packages: vec!["p".into()], urls: vec![] }
    }

    #[test]
    fn round_trip_into_an_empty_cache() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (ca, cb) = (SourceCache::open(a.path()).unwrap(), SourceCache::open(b.path()).unwrap());
        let s1 = cached(&ca, b"one");
        let s2 = cached(&ca, b"two");
        let out = a.path().join("bundle.tar");
        export(&ca, &[s2.clone(), s1.clone(), s1.clone()], &out, 1).unwrap();
        let r = import(&cb, &out).unwrap();
        assert_eq!(r.added.len(), 2);
        assert!(cb.verify(&s1.sha256).unwrap() && cb.verify(&s2.sha256).unwrap());
        let again = import(&cb, &out).unwrap();
        assert_eq!((again.added.len(), again.already.len()), (0, 2));
    }

    #[test]
    fn a_corrupted_entry_refuses_the_whole_bundle() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (ca, cb) = (SourceCache::open(a.path()).unwrap(), SourceCache::open(b.path()).unwrap());
        let s1 = cached(&ca, b"aaaa-good");
        let s2 = cached(&ca, b"zzzz-will-rot");
        let out = a.path().join("bundle.tar");
        export(&ca, &[s1.clone(), s2.clone()], &out, 1).unwrap();
        let mut bytes = std::fs::read(&out).unwrap();
        let at = bytes.windows(13).position(|w| w == b"zzzz-will-rot").unwrap();
        bytes[at] = b'Z';
        std::fs::write(&out, bytes).unwrap();
        let e = import(&cb, &out).unwrap_err();
        assert!(matches!(&e, BundleError::Corrupted { entry, .. } if entry.ends_with(&s2.sha256)), "{e}");
        assert!(cb.lookup(&s1.sha256).is_none(), "the good entry before it was not imported either");
        let leftovers: Vec<_> = std::fs::read_dir(cb.dir()).unwrap().collect();
        assert!(leftovers.is_empty(), "no temp files left: {leftovers:?}");
    }
}
