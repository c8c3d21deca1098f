//! Gathering the `Inventory`: the build graph's packages split into image contents and build-time
//! inputs, their sources, patches and files with digests, and every rootfs entry hashed (on rayon).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use petgraph::graph::NodeIndex;
use rayon::prelude::*;

use super::{
    FileFacts, FileKind, ImageFacts, InputFile, Inventory, OciDigests, PackageFacts, RecordsError, Role, SourceFacts,
    Subject, ToolchainFacts,
};
use crate::build::file_index;
use crate::graph::BuildGraph;
use crate::lock::LockFile;
use crate::recipe::vex::BuildConfig;
use crate::rootfs::{Content, Kind, RootfsTree};
use crate::toolchain::Toolchain;

/// How the image was built: the parameters that shape its bytes (not the jobs count, the cache or
/// the network, which `compose verify` shows do not).
#[derive(Debug, Clone)]
pub struct BuildFacts {
    pub compose_version: String,
    pub sandboxed: bool,
    pub formats: Vec<String>,
    pub layers: String,
    pub compression: String,
}

pub struct CollectRequest<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub description: &'a str,
    /// The recipe file the user built.
    pub recipe: &'a Path,
    pub reference: String,
    pub license: Option<String>,
    pub graph: Option<&'a BuildGraph>,
    /// The image's packages: the runtime closure of its roots.
    pub contents: &'a [NodeIndex],
    /// The toolchain target these records describe (`Node::target`), and its toolchain.
    pub target: usize,
    pub toolchain: &'a Toolchain,
    /// Artifact tree digests of what was built.
    pub artifacts: &'a HashMap<NodeIndex, String>,
    /// The configuration each package's build used (`[build] config`), from its artifact.
    pub configs: &'a HashMap<NodeIndex, BuildConfig>,
    /// Every rootfs entry with its digests (`files(tree)`, which may run while the image is exported).
    pub files: Vec<FileFacts>,
    pub rootfs_sha256: String,
    pub rootfs_size: u64,
    pub oci: Option<OciDigests>,
    pub outputs: Vec<Subject>,
    pub build: BuildFacts,
    pub source_date_epoch: u64,
}

/// The directory recipe and toolchain paths are named relative to: the recipes directory's parent.
pub fn project_root(toolchain: &Toolchain) -> PathBuf {
    let dir = std::fs::canonicalize(&toolchain.recipes_dir).unwrap_or_else(|_| toolchain.recipes_dir.clone());
    dir.parent().unwrap_or(Path::new("/")).to_path_buf()
}

/// `p` relative to the project root when it is inside it (symlinks and `..` resolved).
fn relative(root: &Path, p: &Path) -> String {
    let full = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    full.strip_prefix(root).unwrap_or(&full).to_string_lossy().into_owned()
}

fn input(root: &Path, p: &Path) -> Result<InputFile, RecordsError> {
    Ok(InputFile { path: relative(root, p), sha256: sha256_path(p)? })
}

pub fn collect(req: &CollectRequest) -> Result<Inventory, RecordsError> {
    let root = project_root(req.toolchain);
    Ok(Inventory {
        image: ImageFacts {
            name: req.name.to_string(),
            version: req.version.to_string(),
            description: req.description.to_string(),
            recipe: input(&root, req.recipe)?,
            reference: req.reference.clone(),
            rootfs_sha256: req.rootfs_sha256.clone(),
            rootfs_size: req.rootfs_size,
            license: req.license.clone(),
            source_date_epoch: req.source_date_epoch,
            oci: req.oci.clone(),
        },
        packages: linked_into_programs(
            packages(req.graph, req.target, req.contents, req.toolchain, req.artifacts, req.configs)?,
            &req.files,
        ),
        toolchain: toolchain_facts(req.toolchain)?,
        build: req.build.clone(),
        files: req.files.clone(),
        outputs: req.outputs.clone(),
    })
}

/// Keeps in each `linked_into` only the packages that ship an executable file: a library linked
/// statically is in a program, and a package of data (certificates, zone files) has none.
fn linked_into_programs(mut packages: Vec<PackageFacts>, files: &[FileFacts]) -> Vec<PackageFacts> {
    for p in &mut packages {
        p.linked_into.retain(|n| super::ships_program(files, n));
    }
    packages
}

pub fn toolchain_facts(tc: &Toolchain) -> Result<ToolchainFacts, RecordsError> {
    Ok(ToolchainFacts {
        name: tc.name.clone(),
        target: tc.target.clone(),
        file: input(&project_root(tc), &tc.path)?,
        digest: tc.digest.clone(),
        host_tools: crate::toolchain::host::probe(tc).map_err(RecordsError::HostCompiler)?.to_vec(),
    })
}

/// Every package of `graph` for `target`: the image's `contents` as runtime, the rest as build-time
/// inputs; sorted by role, then name.
pub fn packages(
    graph: Option<&BuildGraph>,
    target: usize,
    contents: &[NodeIndex],
    toolchain: &Toolchain,
    artifacts: &HashMap<NodeIndex, String>,
    configs: &HashMap<NodeIndex, BuildConfig>,
) -> Result<Vec<PackageFacts>, RecordsError> {
    let root = project_root(toolchain);
    let mut packages = Vec::new();
    let Some(g) = graph else { return Ok(packages) };
    let lock = LockFile::resolve("", "", graph, toolchain, &HashMap::new()).map_err(|e| RecordsError::Io {
        op: "hash the inputs of",
        path: toolchain.recipes_dir.clone(),
        source: io_of(e),
    })?;
    let locked: HashMap<&str, _> = lock.packages.iter().map(|p| (p.name.as_str(), p)).collect();
    let contents: BTreeSet<NodeIndex> = contents.iter().copied().collect();
    for i in g.order().into_iter().filter(|&i| g.graph[i].target == target) {
        let r = g.recipe(i);
        let l = locked[r.name.as_str()];
        let role = if contents.contains(&i) {
            Role::Runtime
        } else if g.graph[i].in_toolchain {
            Role::Toolchain
        } else {
            Role::Build
        };
        let dir = r.path.parent().unwrap_or(Path::new("."));
        let rel = |f: &crate::lock::LockedFile| InputFile {
            path: relative(&root, &dir.join(&f.path)),
            sha256: f.sha256.clone(),
        };
        packages.push(PackageFacts {
            name: r.name.clone(),
            version: r.version.clone(),
            license: r.license.clone(),
            homepage: r.homepage.clone(),
            description: r.description.clone(),
            cpe: r.cpe.clone(),
            osv: r.osv.clone(),
            role,
            recipe: input(&root, &r.path)?,
            recipe_digest: r.digest.clone(),
            sources: r
                .sources
                .iter()
                .map(|s| SourceFacts {
                    file: s.file_name(),
                    url: s.url.clone(),
                    sha256: s.sha256.clone(),
                    path: s.path.as_ref().map(|d| relative(&root, d)),
                })
                .collect(),
            patches: l.patches.iter().map(rel).collect(),
            files: l.files.iter().map(rel).collect(),
            build_deps: r.build_deps.clone(),
            runtime_deps: r.runtime_deps.clone(),
            artifact: artifacts.get(&i).cloned(),
            vex: r.vex.clone(),
            config: configs.get(&i).cloned(),
            linked_into: match role {
                Role::Runtime => Vec::new(),
                _ if !r.linked => Vec::new(),
                _ => contents
                    .iter()
                    .filter(|&&c| g.sysroot_closure(c).contains(&i))
                    .map(|&c| g.recipe(c).name.clone())
                    .collect(),
            },
        });
    }
    packages.sort_by(|a, b| (a.role, &a.name).cmp(&(b.role, &b.name)));
    Ok(packages)
}

fn io_of(e: crate::lock::LockError) -> std::io::Error {
    match e {
        crate::lock::LockError::Io { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    }
}

fn sha256_path(p: &Path) -> Result<String, RecordsError> {
    let io = |source| RecordsError::Io { op: "hash", path: p.to_path_buf(), source };
    crate::source::sha256_of(std::fs::File::open(p).map_err(io)?).map_err(io)
}

/// Every rootfs entry with its digests. A file an artifact's index (`known`) still describes is not read
/// again; the others are hashed, in parallel.
pub fn files(tree: &RootfsTree, known: &file_index::Known) -> Result<Vec<FileFacts>, RecordsError> {
    let entries: Vec<(&String, &crate::rootfs::Entry)> = tree.entries.iter().collect();
    entries
        .par_iter()
        .map(|(path, e)| {
            let kind = match &e.kind {
                Kind::Dir => FileKind::Dir,
                Kind::Symlink { target } => FileKind::Symlink { target: target.clone() },
                Kind::File { content, size } => {
                    let (sha256, sha1) = match content {
                        Content::Host { path: p, stamp } => match file_index::lookup(known, p, *size, *stamp) {
                            Some(d) => (d.sha256.clone(), d.sha1.clone()),
                            _ => {
                                let io = |source| RecordsError::Io { op: "hash", path: p.clone(), source };
                                crate::source::sha256_sha1_of(std::fs::File::open(p).map_err(io)?, *size).map_err(io)?
                            }
                        },
                        Content::Bytes(b) => crate::source::sha256_sha1_of(b.as_slice(), b.len() as u64)
                            .map_err(|source| RecordsError::Io { op: "hash", path: path.into(), source })?,
                    };
                    FileKind::File { size: *size, sha256, sha1 }
                }
            };
            Ok(FileFacts {
                path: format!("/{path}"),
                kind,
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
                owner: e.owner.clone(),
            })
        })
        .collect()
}
