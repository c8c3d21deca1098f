//! Lock files: the reviewed inputs of an image, written by `compose lock` and enforced by
//! `compose build --locked`. A lock names every package of the closure (the toolchain's included) with
//! its recipe digest, every source sha256 (plus a summary of its unpacked contents, for hash-mismatch
//! triage), every patch and config file digest, the toolchain's digest, and the identity of the host
//! programs that write the artifacts and the image (`toolchain::host`: path, version line, sha256).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::graph::BuildGraph;
use crate::recipe::LOCAL_SCHEME;
use crate::source::triage::TreeSummary;
use crate::toolchain::host::{self, HostTool};
use crate::toolchain::{Toolchain, ToolchainError};

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    pub version: u32,
    /// The image (package or image recipe) the lock is for.
    pub image: String,
    /// sha256 of that recipe file.
    pub image_digest: String,
    pub toolchain: LockedToolchain,
    #[serde(rename = "package", default)]
    pub packages: Vec<LockedPackage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedToolchain {
    pub name: String,
    pub target: String,
    pub digest: String,
    /// The host compiler and the programs it runs (absent from locks written before compose probed them).
    #[serde(rename = "host_tool", default)]
    pub host_tools: Vec<HostTool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    /// The recipe's digest: its text, patches and files.
    pub recipe: String,
    #[serde(default)]
    pub toolchain: bool,
    #[serde(rename = "source", default)]
    pub sources: Vec<LockedSource>,
    #[serde(rename = "patch", default)]
    pub patches: Vec<LockedFile>,
    #[serde(rename = "file", default)]
    pub files: Vec<LockedFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedSource {
    /// The upstream file name; for a local source, `DIRNAME-tree.tar`.
    pub file: String,
    /// The tarball's sha256; for a local source, its tree digest.
    pub sha256: String,
    /// The download URL; for a local source, `path:DIR` (relative to the recipe's directory).
    pub url: String,
    /// What the archive unpacks to (see `source::triage`), when the source was at hand.
    pub contents: Option<TreeSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedFile {
    /// Relative to the recipe's directory.
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot {op} the lock file `{}`", path.display())]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    #[error("`{}` is a version {found} lock file; this compose writes version {VERSION}", path.display())]
    Version { path: PathBuf, found: u32 },
    #[error("cannot identify the host compiler to lock")]
    HostCompiler(#[source] ToolchainError),
}

impl LockFile {
    /// The lock of everything `graph` builds for `image`. `contents` holds tree summaries by sha256.
    pub fn resolve(
        image: &str,
        image_digest: &str,
        graph: Option<&BuildGraph>,
        toolchain: &Toolchain,
        contents: &HashMap<String, TreeSummary>,
    ) -> Result<LockFile, LockError> {
        let mut packages = Vec::new();
        for i in graph.map(|g| g.order()).unwrap_or_default() {
            let g = graph.expect("order came from it");
            let r = g.recipe(i);
            if packages.iter().any(|p: &LockedPackage| p.name == r.name) {
                continue; // the same recipe, for another target
            }
            let dir = r.path.parent().unwrap_or(Path::new("."));
            let files = |list: &[PathBuf]| -> Result<Vec<LockedFile>, LockError> {
                list.iter()
                    .map(|p| {
                        let f = std::fs::File::open(p).map_err(|source| LockError::Io {
                            op: "hash",
                            path: p.clone(),
                            source,
                        })?;
                        let sha256 = crate::source::sha256_of(f).map_err(|source| LockError::Io {
                            op: "hash",
                            path: p.clone(),
                            source,
                        })?;
                        let path = p.strip_prefix(dir).unwrap_or(p).to_string_lossy().into_owned();
                        Ok(LockedFile { path, sha256 })
                    })
                    .collect()
            };
            packages.push(LockedPackage {
                name: r.name.clone(),
                version: r.version.clone(),
                recipe: r.digest.clone(),
                toolchain: g.graph[i].in_toolchain,
                sources: r
                    .sources
                    .iter()
                    .map(|s| LockedSource {
                        file: s.file_name(),
                        sha256: s.sha256.clone(),
                        url: s.url.clone(),
                        contents: contents.get(&s.sha256).cloned(),
                    })
                    .collect(),
                patches: files(&r.patches)?,
                files: files(&r.files)?,
            });
        }
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(LockFile {
            version: VERSION,
            image: image.to_string(),
            image_digest: image_digest.to_string(),
            toolchain: LockedToolchain {
                name: toolchain.name.clone(),
                target: toolchain.target.clone(),
                digest: toolchain.digest.clone(),
                host_tools: host_tools(graph, toolchain)?,
            },
            packages,
        })
    }

    pub fn read(path: &Path) -> Result<LockFile, LockError> {
        let text = std::fs::read_to_string(path).map_err(|source| LockError::Io {
            op: "read",
            path: path.to_path_buf(),
            source,
        })?;
        let lock: LockFile = toml::from_str(&text).map_err(|e| {
            let (line, column) = crate::recipe::line_col(&text, e.span().map(|s| s.start).unwrap_or(0));
            LockError::Parse { path: path.to_path_buf(), line, column, message: e.message().trim().to_string() }
        })?;
        if lock.version != VERSION {
            return Err(LockError::Version { path: path.to_path_buf(), found: lock.version });
        }
        Ok(lock)
    }

    /// Writes the lock to `path` through a temp file and a rename.
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let io = |op, source| LockError::Io { op, path: path.to_path_buf(), source };
        let body = toml::to_string(self).map_err(|e| io("serialise", std::io::Error::other(e)))?;
        let text = format!(
            "# compose lock file for `{}`: the reviewed inputs. `compose build --locked` refuses anything else.\n\
             # Written by `compose lock`; do not edit by hand.\n\n{body}",
            self.image
        );
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io("create a temp file for", e))?;
        std::fs::write(tmp.path(), text).map_err(|e| io("write", e))?;
        {
            use std::os::unix::fs::PermissionsExt;
            let perm = std::fs::Permissions::from_mode(0o644);
            tmp.as_file().set_permissions(perm).map_err(|e| io("set permissions of", e))?;
        }
        tmp.persist(path).map_err(|e| io("rename into place", e.error))?;
        Ok(())
    }

    /// Every difference between this (locked) and `now`, for people; empty when they agree. Source
    /// contents summaries are not compared: they only serve triage.
    pub fn differences(&self, now: &LockFile) -> Vec<String> {
        let mut out = Vec::new();
        let short = |d: &str| d.chars().take(16).collect::<String>();
        if self.image != now.image {
            out.push(format!("image: locked `{}`, now `{}`", self.image, now.image));
        }
        // A package's own image has the package's recipe digest: reported with the package below.
        let is_package = now.packages.iter().any(|p| p.name == now.image && p.recipe == now.image_digest);
        if self.image_digest != now.image_digest && !is_package {
            out.push(format!(
                "image recipe `{}` changed: sha256 {} -> {}",
                now.image,
                short(&self.image_digest),
                short(&now.image_digest)
            ));
        }
        let (a, b) = (&self.toolchain, &now.toolchain);
        if (&a.name, &a.target, &a.digest) != (&b.name, &b.target, &b.digest) {
            out.push(format!(
                "toolchain: locked `{}` ({}, {}), now `{}` ({}, {})",
                a.name,
                a.target,
                short(&a.digest),
                b.name,
                b.target,
                short(&b.digest)
            ));
        }
        host_tool_differences(&mut out, &a.host_tools, &b.host_tools);
        let old: BTreeMap<&str, &LockedPackage> = self.packages.iter().map(|p| (p.name.as_str(), p)).collect();
        let new: BTreeMap<&str, &LockedPackage> = now.packages.iter().map(|p| (p.name.as_str(), p)).collect();
        for (name, o) in &old {
            let Some(n) = new.get(name) else {
                out.push(format!("package `{name}` is locked but no longer in the closure"));
                continue;
            };
            let before = out.len();
            if o.version != n.version {
                out.push(format!("package `{name}`: version {} -> {}", o.version, n.version));
            }
            // Downloads by file name; local trees by their directory (whose packed name does not change).
            let sources = |p: &LockedPackage, local: bool| -> BTreeMap<String, String> {
                p.sources
                    .iter()
                    .filter_map(|s| match s.url.strip_prefix(LOCAL_SCHEME) {
                        Some(dir) if local => Some((dir.to_string(), s.sha256.clone())),
                        None if !local => Some((s.file.clone(), s.sha256.clone())),
                        _ => None,
                    })
                    .collect()
            };
            diff_maps(&mut out, name, "source", &sources(o, false), &sources(n, false));
            diff_maps(&mut out, name, "local source", &sources(o, true), &sources(n, true));
            let files = |l: &[LockedFile]| -> BTreeMap<String, String> {
                l.iter().map(|f| (f.path.clone(), f.sha256.clone())).collect()
            };
            diff_maps(&mut out, name, "patch", &files(&o.patches), &files(&n.patches));
            diff_maps(&mut out, name, "file", &files(&o.files), &files(&n.files));
            if o.recipe != n.recipe && out.len() == before {
                let (o, n) = (short(&o.recipe), short(&n.recipe));
                out.push(format!("package `{name}`: recipe text changed: digest {o} -> {n}"));
            }
        }
        for name in new.keys().filter(|n| !old.contains_key(*n)) {
            out.push(format!("package `{name}` is in the closure but not in the lock"));
        }
        out
    }

    /// The locked contents summary of a source, for triage.
    pub fn contents_of(&self, sha256: &str) -> Option<&TreeSummary> {
        self.packages.iter().flat_map(|p| &p.sources).find(|s| s.sha256 == sha256).and_then(|s| s.contents.as_ref())
    }
}

/// The host tools of every target the graph builds for (else of `toolchain`). A target other than the
/// host's has its tools named `TRIPLE:ROLE` (`aarch64-linux-musl:cc`), so a lock for the host alone reads
/// as before and a cross compiler that changed is named as such.
fn host_tools(graph: Option<&BuildGraph>, toolchain: &Toolchain) -> Result<Vec<HostTool>, LockError> {
    let one = [std::sync::Arc::new(toolchain.clone())];
    let targets = graph.map(|g| g.toolchains.as_slice()).unwrap_or(&one);
    let mut out = Vec::new();
    for tc in targets {
        let tools = host::probe(tc).map_err(LockError::HostCompiler)?;
        let foreign = tc.platform != crate::toolchain::Platform::host();
        out.extend(tools.iter().cloned().map(|mut t| {
            if foreign {
                t.tool = format!("{}:{}", tc.target, t.tool);
            }
            t
        }));
    }
    Ok(out)
}

/// One line per host tool whose identity differs from the lock, or that appeared or went.
fn host_tool_differences(out: &mut Vec<String>, locked: &[HostTool], now: &[HostTool]) {
    let field = host::FIELD;
    for t in now {
        match locked.iter().find(|l| l.tool == t.tool) {
            Some(l) if l == t => {}
            Some(l) => out.push(format!(
                "host tool `{}` (from `{field}`): locked `{}` {}, now `{}` {}",
                t.tool,
                l.path,
                l.describe(),
                t.path,
                t.describe()
            )),
            None => out.push(format!(
                "host tool `{}` (from `{field}`) is not in the lock: now `{}` {}",
                t.tool,
                t.path,
                t.describe()
            )),
        }
    }
    for l in locked.iter().filter(|l| !now.iter().any(|t| t.tool == l.tool)) {
        out.push(format!(
            "host tool `{}` (from `{field}`) is locked (`{}` {}) but not found now",
            l.tool,
            l.path,
            l.describe()
        ));
    }
}

fn diff_maps(
    out: &mut Vec<String>,
    package: &str,
    what: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) {
    for (k, v) in old {
        match new.get(k) {
            None => out.push(format!("package `{package}`: {what} `{k}` removed")),
            Some(n) if n != v => out.push(format!("package `{package}`: {what} `{k}` changed: sha256 {v} -> {n}")),
            _ => {}
        }
    }
    for (k, v) in new.iter().filter(|(k, _)| !old.contains_key(*k)) {
        out.push(format!("package `{package}`: {what} `{k}` added (sha256 {v})"));
    }
}
