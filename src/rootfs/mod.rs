//! The rootfs: an in-memory tree of what the image will hold, assembled by named steps (skeleton,
//! packages, accounts, strip), each `fn(&mut RootfsTree, &Plan) -> Result<()>`. Exporters read this
//! tree, never the host filesystem by path, so they cannot follow a symlink out of it.

mod filter;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::build::file_index::Stamp;
use crate::recipe::{BUILTIN_GROUPS, BUILTIN_USERS, Group, User};

/// What an entry's bytes are.
#[derive(Debug, Clone)]
pub enum Content {
    /// A file on the host, with what `lstat` said of it when it entered the tree.
    Host {
        path: PathBuf,
        stamp: Stamp,
    },
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
pub enum Kind {
    Dir,
    File { content: Content, size: u64 },
    Symlink { target: String },
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky.
    pub mode: u32,
    pub mtime: u64,
    /// Numeric owner; 0 except for the home directories of the image's own users.
    pub uid: u32,
    pub gid: u32,
    /// The package that put it there, or `skeleton` / `accounts`.
    pub owner: String,
}

/// Relative paths without a leading `/`, sorted.
#[derive(Debug, Default)]
pub struct RootfsTree {
    pub entries: BTreeMap<String, Entry>,
}

/// One package of the image.
pub struct PackageInput {
    pub name: String,
    /// The package's installed tree (its artifact).
    pub tree: PathBuf,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub strip: bool,
}

pub struct Plan {
    pub packages: Vec<PackageInput>,
    /// Lay down the standard directories and /etc/passwd, /etc/group (false for an empty image).
    pub skeleton: bool,
    /// Accounts added to /etc/passwd and /etc/group beside root and nobody.
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub source_date_epoch: u64,
    /// Scratch space for generated files (stripped binaries); must outlive the export.
    pub scratch: PathBuf,
    /// The `strip` that knows the target's ELF (`aarch64-linux-gnu-strip`; the host's `strip` for x86_64).
    pub strip_program: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("`{path}` is installed by both `{first}` and `{second}`")]
    Conflict { path: String, first: String, second: String },
    #[error("step `{step}`: cannot {op} `{}`", path.display())]
    Io { step: &'static str, op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("step `accounts`: `{package}` ships its own `/{file}`, so the image's users cannot be added to it")]
    AccountsShipped { package: String, file: String },
    #[error("step `strip`: `{program}` failed on `{path}` from `{package}`: {message}")]
    Strip { program: String, path: String, package: String, message: String },
}

type Step = fn(&mut RootfsTree, &Plan) -> Result<(), RootfsError>;

/// The image, as a recipe of steps.
const STEPS: &[(&str, Step)] =
    &[("skeleton", skeleton), ("packages", install_packages), ("accounts", accounts), ("strip", strip)];

pub fn assemble(plan: &Plan) -> Result<RootfsTree, RootfsError> {
    let mut tree = RootfsTree::default();
    for (_, step) in STEPS {
        step(&mut tree, plan)?;
    }
    Ok(tree)
}

impl RootfsTree {
    fn insert(&mut self, path: String, entry: Entry) -> Result<(), RootfsError> {
        if let Some(old) = self.entries.get(&path) {
            let both_dirs = matches!(old.kind, Kind::Dir) && matches!(entry.kind, Kind::Dir);
            if both_dirs {
                return Ok(());
            }
            return Err(RootfsError::Conflict {
                path: format!("/{path}"),
                first: old.owner.clone(),
                second: entry.owner,
            });
        }
        self.entries.insert(path, entry);
        Ok(())
    }

    /// The entry `path` names inside the tree, following symlinks as the kernel would with the tree
    /// as `/`. Returns the resolved path too. `None` if it does not exist or loops.
    pub fn resolve(&self, path: &str) -> Option<(String, &Entry)> {
        let mut pending: Vec<String> = path.split('/').filter(|c| !c.is_empty()).rev().map(String::from).collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    cur.pop();
                    continue;
                }
                _ => {}
            }
            cur.push(c);
            let key = cur.join("/");
            let entry = self.entries.get(&key)?;
            if let Kind::Symlink { target } = &entry.kind {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                cur.pop();
                if target.starts_with('/') {
                    cur.clear();
                }
                pending.extend(target.split('/').filter(|c| !c.is_empty()).rev().map(String::from));
            }
        }
        let key = cur.join("/");
        if key.is_empty() {
            return None;
        }
        self.entries.get(&key).map(|e| (key, e))
    }

    /// The bytes of a regular file in the tree.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        match &self.resolve(path)?.1.kind {
            Kind::File { content: Content::Bytes(b), .. } => Some(b.clone()),
            Kind::File { content: Content::Host { path, .. }, .. } => std::fs::read(path).ok(),
            _ => None,
        }
    }

    pub fn file_count(&self) -> usize {
        self.entries.values().filter(|e| !matches!(e.kind, Kind::Dir)).count()
    }
}

fn skeleton(tree: &mut RootfsTree, plan: &Plan) -> Result<(), RootfsError> {
    if !plan.skeleton {
        return Ok(());
    }
    let dirs: &[(&str, u32)] = &[
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("proc", 0o555),
        ("root", 0o700),
        ("run", 0o755),
        ("sbin", 0o755),
        ("sys", 0o555),
        ("tmp", 0o1777),
        ("usr", 0o755),
        ("usr/bin", 0o755),
        ("usr/sbin", 0o755),
        ("var", 0o755),
        ("var/tmp", 0o1777),
    ];
    for (d, mode) in dirs {
        tree.insert(
            d.to_string(),
            Entry {
                kind: Kind::Dir,
                mode: *mode,
                mtime: plan.source_date_epoch,
                uid: 0,
                gid: 0,
                owner: "skeleton".into(),
            },
        )?;
    }
    Ok(())
}

fn install_packages(tree: &mut RootfsTree, plan: &Plan) -> Result<(), RootfsError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for p in &plan.packages {
        let io = |op, path: &Path| {
            let path = path.to_path_buf();
            move |source| RootfsError::Io { step: "packages", op, path, source }
        };
        let mut found = Vec::new();
        walk(&p.tree, "", &mut found)?;
        found.retain(|f| filter::wanted(&f.rel, f.meta.is_dir(), &p.include, &p.exclude));
        found.par_sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
        for Found { rel, path, meta: m } in found {
            let kind = if m.file_type().is_symlink() {
                let t = std::fs::read_link(&path).map_err(io("read the link", &path))?;
                Kind::Symlink { target: t.to_string_lossy().into_owned() }
            } else if m.is_dir() {
                Kind::Dir
            } else if m.is_file() {
                Kind::File { content: Content::Host { stamp: Stamp::of(&m), path }, size: m.len() }
            } else {
                let err = std::io::Error::other("only files, directories and symlinks can enter an image");
                return Err(io("install", &path)(err));
            };
            let mode = m.permissions().mode() & 0o7777;
            let mtime = m.mtime().max(0) as u64;
            tree.insert(rel, Entry { kind, mode, mtime, uid: 0, gid: 0, owner: p.name.clone() })?;
        }
    }
    // Directories the filter emptied (an empty `usr/lib` once `pkgconfig` is gone), until none is left.
    loop {
        let empty: Vec<String> = tree
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.kind, Kind::Dir) && e.owner != "skeleton")
            .filter(|(path, _)| {
                let prefix = format!("{path}/");
                !tree.entries.range(prefix.clone()..).next().is_some_and(|(k, _)| k.starts_with(&prefix))
            })
            .map(|(p, _)| p.clone())
            .collect();
        if empty.is_empty() {
            break;
        }
        for p in empty {
            tree.entries.remove(&p);
        }
    }
    Ok(())
}

fn accounts(tree: &mut RootfsTree, plan: &Plan) -> Result<(), RootfsError> {
    if !plan.skeleton {
        return Ok(());
    }
    let (passwd, group) = account_files(&plan.users, &plan.groups);
    for (path, text) in [("etc/passwd", passwd), ("etc/group", group)] {
        if let Some(e) = tree.entries.get(path) {
            if plan.users.is_empty() && plan.groups.is_empty() {
                continue; // a package ships its own, and the image adds nobody
            }
            return Err(RootfsError::AccountsShipped { package: e.owner.clone(), file: path.into() });
        }
        let bytes = text.into_bytes();
        let size = bytes.len() as u64;
        let kind = Kind::File { content: Content::Bytes(bytes), size };
        let entry =
            Entry { kind, mode: 0o644, mtime: plan.source_date_epoch, uid: 0, gid: 0, owner: "accounts".into() };
        tree.insert(path.into(), entry)?;
    }
    for u in &plan.users {
        let home = u.home.trim_matches('/');
        if home.is_empty() || tree.entries.contains_key(home) {
            continue;
        }
        // Parents as root-owned 0755 directories, the home itself owned by the user.
        let parts: Vec<&str> = home.split('/').collect();
        for i in 1..=parts.len() {
            let p = parts[..i].join("/");
            if tree.entries.contains_key(&p) {
                continue;
            }
            let own = i == parts.len();
            let (uid, gid, mode) = if own { (u.uid, u.gid, 0o750) } else { (0, 0, 0o755) };
            let entry =
                Entry { kind: Kind::Dir, mode, mtime: plan.source_date_epoch, uid, gid, owner: "accounts".into() };
            tree.insert(p, entry)?;
        }
    }
    Ok(())
}

/// The text of /etc/passwd and /etc/group: root and nobody, then the image's own accounts. A user
/// whose primary gid has no group gets one of its own name.
pub fn account_files(users: &[User], groups: &[Group]) -> (String, String) {
    let mut passwd =
        String::from("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
    for u in users {
        passwd.push_str(&format!("{}:x:{}:{}:{}:{}:{}\n", u.name, u.uid, u.gid, u.gecos, u.home, u.shell));
    }
    let mut group: Vec<(String, u32, Vec<String>)> =
        BUILTIN_GROUPS.iter().map(|(n, g)| (n.to_string(), *g, Vec::new())).collect();
    for g in groups {
        group.push((g.name.clone(), g.gid, g.members.clone()));
    }
    for u in users {
        if !group.iter().any(|(_, g, _)| *g == u.gid) {
            group.push((u.name.clone(), u.gid, Vec::new()));
        }
    }
    let group = group.iter().map(|(n, g, m)| format!("{n}:x:{g}:{}\n", m.join(","))).collect();
    debug_assert!(BUILTIN_USERS.len() == 2);
    (passwd, group)
}

fn strip(tree: &mut RootfsTree, plan: &Plan) -> Result<(), RootfsError> {
    let strip_owners: Vec<&str> = plan.packages.iter().filter(|p| p.strip).map(|p| p.name.as_str()).collect();
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| RootfsError::Io { step: "strip", op, path, source }
    };
    std::fs::create_dir_all(&plan.scratch).map_err(io("create", &plan.scratch))?;
    for (path, e) in tree.entries.iter_mut() {
        let Kind::File { content: Content::Host { path: src, stamp }, size } = &mut e.kind else { continue };
        if !strip_owners.contains(&e.owner.as_str()) || !is_elf(src) {
            continue;
        }
        let out = plan.scratch.join(path.replace('/', "%"));
        let res = std::process::Command::new(&plan.strip_program)
            .arg("--strip-all")
            .arg("-o")
            .arg(&out)
            .arg(&*src)
            .output()
            .map_err(io("run strip on", src))?;
        if !res.status.success() {
            return Err(RootfsError::Strip {
                program: plan.strip_program.clone(),
                path: format!("/{path}"),
                package: e.owner.clone(),
                message: String::from_utf8_lossy(&res.stderr).trim().to_string(),
            });
        }
        let m = out.metadata().map_err(io("stat", &out))?;
        (*size, *stamp) = (m.len(), Stamp::of(&m));
        *src = out;
    }
    Ok(())
}

/// One entry under a package's tree: its path relative to the tree, its full path and its `lstat`.
struct Found {
    rel: String,
    path: PathBuf,
    meta: std::fs::Metadata,
}

/// Lists everything under `dir` (whose path relative to the tree is `rel`) into `out`, in no order.
/// Each entry is stat'ed relative to its open directory (no path lookup from `/`, links not followed),
/// and subdirectories are read in parallel on rayon.
fn walk(dir: &Path, rel: &str, out: &mut Vec<Found>) -> Result<(), RootfsError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| RootfsError::Io { step: "packages", op, path, source }
    };
    let start = out.len();
    for e in std::fs::read_dir(dir).map_err(io("read the directory", dir))? {
        let e = e.map_err(io("read the directory", dir))?;
        let path = e.path();
        let meta = e.metadata().map_err(io("stat", &path))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        let rel = if rel.is_empty() { name.into_owned() } else { format!("{rel}/{name}") };
        out.push(Found { rel, path, meta });
    }
    let nested: Vec<Vec<Found>> = out[start..]
        .par_iter()
        .filter(|f| f.meta.is_dir())
        .map(|f| {
            let mut v = Vec::new();
            walk(&f.path, &f.rel, &mut v).map(|()| v)
        })
        .collect::<Result<_, _>>()?;
    out.extend(nested.into_iter().flatten());
    Ok(())
}

pub fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"\x7fELF"
}
