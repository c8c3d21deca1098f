//! One read of the whole cache: every entry (an artifact, a source, a log...) with the inodes under
//! it, each inode counted once, by the first entry that reaches it (artifacts first, so a sysroot's
//! hard links into the store count as the store's). Sizes are disk usage: allocated blocks, as `du`.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use super::CacheError;

/// The kinds of cache entries, in the order they are read and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Sources,
    Artifacts,
    Exports,
    Logs,
    Work,
    Other,
}

impl Kind {
    pub const ALL: [Kind; 6] = [Kind::Sources, Kind::Artifacts, Kind::Exports, Kind::Logs, Kind::Work, Kind::Other];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Artifacts => "artifacts",
            Kind::Sources => "sources",
            Kind::Exports => "exports",
            Kind::Logs => "logs",
            Kind::Work => "work",
            Kind::Other => "other",
        }
    }

    /// The directory of this kind under the cache root (none for `Other`).
    fn dir(self) -> Option<&'static str> {
        match self {
            Kind::Artifacts => Some("artifacts-v1"),
            Kind::Sources => Some("sources-v1"),
            Kind::Exports => Some("exports-v1"),
            Kind::Logs => Some("logs"),
            Kind::Work => Some("work"),
            Kind::Other => None,
        }
    }
}

/// What an entry is, which decides whether a prune may remove it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Role {
    /// `sources-v1/<sha256>`.
    Source { sha256: String },
    /// `artifacts-v1/<name>-<key>/`.
    Artifact { name: String, key: String, last_used: SystemTime },
    /// `artifacts-v1/<name>-<key>.lock`: goes with its artifact.
    ArtifactLock { artifact: String },
    /// A half commit or removal of a dead process (`.tmp-*`, `.old-*`, `.trash-*` in the store).
    Stale,
    /// One remembered tar digest in `exports-v1/`.
    Memo,
    /// `logs/<package>.log`: the link to the package's last build log.
    Log { package: String },
    /// `logs/<package>-<key12>.log`: the log of the last build of one key.
    KeyLog { package: String, key12: String },
    /// Anything in `work/`.
    Work,
    /// Never removed: the kinds' own directories, `cache.lock`, the source cache's temp and lock files,
    /// anything unknown.
    Fixed,
}

#[derive(Debug)]
pub(super) struct Entry {
    pub kind: Kind,
    /// Relative to the cache root.
    pub path: PathBuf,
    pub role: Role,
    /// Indexes into `Scan::inodes`.
    pub inodes: Vec<usize>,
    /// Bytes of the inodes this entry reached first.
    pub bytes: u64,
}

#[derive(Debug)]
pub(super) struct Inode {
    pub bytes: u64,
    /// Links on disk (1 for directories, which cannot be hard linked).
    pub nlink: u64,
    /// Links seen inside the cache.
    pub seen: u64,
}

#[derive(Debug)]
pub(super) struct Scan {
    pub entries: Vec<Entry>,
    pub inodes: Vec<Inode>,
}

impl Scan {
    pub fn read(root: &Path) -> Result<Scan, CacheError> {
        let mut reader = Reader { root, ids: HashMap::new(), scan: Scan { entries: vec![], inodes: vec![] } };
        reader.add(PathBuf::new(), Kind::Other, Role::Fixed, false)?;
        for kind in [Kind::Artifacts, Kind::Sources, Kind::Exports, Kind::Logs, Kind::Work] {
            let dir = PathBuf::from(kind.dir().expect("a kind with a directory"));
            reader.add(dir.clone(), kind, Role::Fixed, false)?;
            for name in list(&root.join(&dir))? {
                let role = role_of(kind, &name, &root.join(&dir).join(&name));
                reader.add(dir.join(&name), kind, role, true)?;
            }
        }
        let known: Vec<&str> = Kind::ALL.iter().filter_map(|k| k.dir()).collect();
        for name in list(root)?.into_iter().filter(|n| !known.contains(&n.as_str())) {
            reader.add(PathBuf::from(name), Kind::Other, Role::Fixed, true)?;
        }
        Ok(reader.scan)
    }

    /// Every byte in the cache, each inode once.
    pub fn total(&self) -> u64 {
        self.inodes.iter().map(|i| i.bytes).sum()
    }
}

struct Reader<'a> {
    root: &'a Path,
    ids: HashMap<(u64, u64), usize>,
    scan: Scan,
}

impl Reader<'_> {
    /// Adds the entry at `rel`: the whole tree under it when `deep`, else only the directory itself.
    fn add(&mut self, rel: PathBuf, kind: Kind, role: Role, deep: bool) -> Result<(), CacheError> {
        let path = self.root.join(&rel);
        let mut entry = Entry { kind, path: rel, role, inodes: Vec::new(), bytes: 0 };
        let walk = walkdir::WalkDir::new(&path).follow_links(false).max_depth(if deep { usize::MAX } else { 0 });
        for e in walk {
            let m = match e.and_then(|e| e.metadata()) {
                Ok(m) => m,
                // Gone while we looked (a build finished): it takes no space any more.
                Err(e) if e.io_error().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) => continue,
                Err(e) => {
                    let at = e.path().unwrap_or(&path).to_path_buf();
                    return Err(CacheError::Scan { path: at, source: e.into() });
                }
            };
            let next = self.scan.inodes.len();
            let id = *self.ids.entry((m.dev(), m.ino())).or_insert(next);
            if id == next {
                let nlink = if m.is_dir() { 1 } else { m.nlink() };
                self.scan.inodes.push(Inode { bytes: m.blocks() * 512, nlink, seen: 0 });
                entry.bytes += m.blocks() * 512;
            }
            self.scan.inodes[id].seen += 1;
            entry.inodes.push(id);
        }
        self.scan.entries.push(entry);
        Ok(())
    }
}

/// The names in `dir`, sorted; a missing directory has none.
fn list(dir: &Path) -> Result<Vec<String>, CacheError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(CacheError::Scan { path: dir.into(), source }),
    };
    let mut names = Vec::new();
    for e in rd {
        let e = e.map_err(|source| CacheError::Scan { path: dir.into(), source })?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

fn role_of(kind: Kind, name: &str, path: &Path) -> Role {
    match kind {
        Kind::Sources if is_hex64(name) => Role::Source { sha256: name.into() },
        Kind::Artifacts => artifact_role(name, path),
        Kind::Exports => Role::Memo,
        Kind::Logs => log_role(name.strip_suffix(".log").unwrap_or(name)),
        Kind::Work => Role::Work,
        _ => Role::Fixed,
    }
}

fn log_role(stem: &str) -> Role {
    match stem.rsplit_once('-') {
        Some((package, key12))
            if !package.is_empty() && key12.len() == 12 && key12.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Role::KeyLog { package: package.into(), key12: key12.into() }
        }
        _ => Role::Log { package: stem.into() },
    }
}

fn artifact_role(name: &str, path: &Path) -> Role {
    if [".tmp-", ".old-", ".trash-"].iter().any(|p| name.starts_with(p)) {
        return Role::Stale;
    }
    if let Some(artifact) = name.strip_suffix(".lock") {
        return Role::ArtifactLock { artifact: artifact.into() };
    }
    match split_artifact(name) {
        Some((pkg, key)) if path.is_dir() => {
            Role::Artifact { name: pkg.into(), key: key.into(), last_used: super::last_used(path) }
        }
        _ => Role::Fixed,
    }
}

/// `<name>-<key>` with a 64-hex key.
pub(super) fn split_artifact(dir_name: &str) -> Option<(&str, &str)> {
    let (name, key) = dir_name.rsplit_once('-')?;
    (!name.is_empty() && is_hex64(key)).then_some((name, key))
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Sizes by kind (`compose cache du`).
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// Always `disk-usage`: allocated blocks, each inode counted once.
    pub unit: &'static str,
    /// Per kind, in `Kind::ALL` order: the names in its directory and their bytes (with the directory's).
    pub kinds: Vec<KindUsage>,
    /// Artifacts per package, by name.
    pub packages: Vec<PackageUsage>,
    pub total: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct KindUsage {
    pub kind: Kind,
    pub entries: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageUsage {
    pub name: String,
    pub keys: usize,
    pub bytes: u64,
}

/// How much each kind of entry takes in the cache at `root`. Reads only; takes no lock.
pub fn usage(root: &Path) -> Result<Usage, CacheError> {
    let scan = Scan::read(root)?;
    let mut kinds: Vec<KindUsage> = Kind::ALL.iter().map(|&kind| KindUsage { kind, entries: 0, bytes: 0 }).collect();
    let mut packages: std::collections::BTreeMap<String, PackageUsage> = Default::default();
    for e in &scan.entries {
        let k = kinds.iter_mut().find(|k| k.kind == e.kind).expect("every kind is listed");
        k.bytes += e.bytes;
        // Names inside the kind's directory (for `other`, inside the cache root).
        let depth = if e.kind == Kind::Other { 1 } else { 2 };
        if e.path.components().count() == depth {
            k.entries += 1;
        }
        if let Role::Artifact { name, .. } = &e.role {
            let p = packages.entry(name.clone()).or_insert(PackageUsage { name: name.clone(), keys: 0, bytes: 0 });
            p.keys += 1;
            p.bytes += e.bytes;
        }
    }
    Ok(Usage { unit: "disk-usage", kinds, packages: packages.into_values().collect(), total: scan.total() })
}
