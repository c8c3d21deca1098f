//! From an image tree (and its file manifest, when there is one) to the facts an audit reports. Pure:
//! no I/O, so every rule is unit-tested on hand-made trees.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::elf::Linking;
use super::image::{Image, ImageKind};
use super::manifest::FileManifest;
use super::policy::Violation;
use super::tree::{Node, NodeKind, Tree};

/// Names that make a shell (run as `/bin/sh -> busybox`, they are one).
pub const SHELLS: &[&str] = &[
    "sh", "ash", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "oksh", "csh", "tcsh", "fish", "hush",
    "rbash", "yash",
];
/// Network clients and servers: ways in and out.
pub const NETWORK: &[&str] = &[
    "wget", "curl", "nc", "ncat", "netcat", "socat", "telnet", "ssh", "scp", "sftp", "dbclient", "dropbear", "sshd",
    "ftp", "ftpget", "ftpput", "lftp", "tftp", "tftpd", "ftpd", "httpd", "telnetd", "inetd", "rsync", "nslookup",
];
/// Where the loaders look when a binary names no run path.
const LIB_DIRS: &[&str] = &["/lib", "/usr/lib", "/lib64", "/usr/lib64", "/lib32", "/usr/lib32", "/usr/local/lib"];

#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    /// `compose-audit-v1`.
    pub format: &'static str,
    pub image: ImageSummary,
    pub manifest: Option<ManifestSummary>,
    /// `manifest` when a file manifest attributed the files, else `unknown`.
    pub ownership: &'static str,
    pub sizes: Sizes,
    /// How many readable ELF files there are for each machine (`{"aarch64": 12}`): one machine in an
    /// image that runs anywhere; several, or one that is not the platform's, is worth a look.
    pub machines: BTreeMap<String, usize>,
    pub elf: Vec<ElfFile>,
    pub setuid: Vec<Special>,
    pub setgid: Vec<Special>,
    pub world_writable: Vec<Writable>,
    pub shells: Vec<Program>,
    pub network: Vec<Program>,
    /// Paths in the image that the manifest does not list (`null` when ownership is unknown).
    pub unowned: Option<Vec<String>>,
    /// Paths whose type, mode, content or link target differ from the manifest.
    pub mismatched: Vec<Mismatch>,
    /// Manifest paths the image does not have.
    pub missing: Vec<String>,
    /// Filled by `policy::check` for the denied classes.
    pub violations: Vec<Violation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageSummary {
    pub path: PathBuf,
    pub kind: ImageKind,
    pub reference: Option<String>,
    /// The platform the image says it is for (`linux/arm64/v8`): the picked index entry's, else its
    /// config's; `null` for a rootfs tar.
    pub platform: Option<String>,
    /// Every platform a multi-platform image lists (empty for any other image).
    pub platforms: Vec<String>,
    pub layers: usize,
    pub entries: usize,
    pub files: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManifestSummary {
    pub path: PathBuf,
    /// Whether the manifest's `image.tar_sha256` is the audited rootfs tar's sha256 (`null`: not a
    /// rootfs tar, or the manifest does not say).
    pub tar_sha256_matches: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    /// `package` (from the manifest) or `top-directory` (no manifest).
    pub by: &'static str,
    /// Largest first. `(unowned)` collects files the manifest does not list.
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub entries: usize,
    pub files: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ElfFile {
    pub path: String,
    pub size: u64,
    pub class: Option<u8>,
    pub endian: Option<&'static str>,
    pub machine: Option<String>,
    pub linking: Option<Linking>,
    pub interpreter: Option<Dep>,
    pub needed: Vec<Dep>,
    /// Why the file could not be read as ELF, if it could not.
    pub error: Option<String>,
}

/// A file an ELF needs, and where in the image it was found (`null`: absent).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    pub found: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Special {
    pub path: String,
    pub mode: String,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Writable {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub mode: String,
    /// A sticky directory (like /tmp): anyone may add files, only owners remove them.
    pub sticky: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Program {
    pub path: String,
    /// The regular file it runs, after following symlinks inside the image.
    pub resolves_to: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    pub path: String,
    pub why: String,
}

fn mode_str(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

fn basename(p: &str) -> &str {
    &p[p.rfind('/').map_or(0, |i| i + 1)..]
}

/// The regular executable file `path` runs, following links inside the image.
fn executable(tree: &Tree, path: &str) -> Option<String> {
    let real = tree.resolve(path)?;
    let n = tree.entries.get(&real)?;
    (matches!(n.kind, NodeKind::File(_)) && n.mode & 0o111 != 0).then_some(real)
}

fn is_file(tree: &Tree, path: &str) -> Option<String> {
    let real = tree.resolve(path)?;
    matches!(tree.entries.get(&real)?.kind, NodeKind::File(_)).then_some(real)
}

/// Where the loader would find `name` for the ELF at `path` with run path `runpath`.
fn find_library(tree: &Tree, path: &str, name: &str, runpath: &[String]) -> Option<String> {
    if name.contains('/') {
        return is_file(tree, name);
    }
    let origin = &path[..path.rfind('/').unwrap_or(0)];
    let multiarch = tree.entries.iter().filter(|(p, n)| {
        matches!(n.kind, NodeKind::Dir | NodeKind::Symlink(_))
            && (p.starts_with("/lib/") || p.starts_with("/usr/lib/"))
            && p.matches('/').count() == if p.starts_with("/usr/") { 3 } else { 2 }
            && p.contains("-linux-")
    });
    let dirs = runpath
        .iter()
        .map(|d| d.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
        .chain(LIB_DIRS.iter().map(|d| d.to_string()))
        .chain(multiarch.map(|(p, _)| p.clone()));
    dirs.into_iter().find_map(|d| is_file(tree, &format!("{}/{name}", d.trim_end_matches('/'))))
}

pub fn analyse(image: &Image, manifest: Option<(&Path, &FileManifest)>) -> Audit {
    let tree = &image.tree;
    let owners: Option<BTreeMap<&str, &str>> =
        manifest.map(|(_, m)| m.files.iter().map(|f| (f.path.as_str(), f.owner.as_str())).collect());
    let owner_of = |p: &str| owners.as_ref().and_then(|o| o.get(p).map(|s| s.to_string()));

    let (mut files, mut bytes) = (0, 0);
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let (mut elf, mut setuid, mut setgid, mut writable, mut shells, mut network) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (path, node) in tree.entries.iter().filter(|(p, _)| *p != "/") {
        let group = match &owners {
            Some(o) => o.get(path.as_str()).map_or("(unowned)".to_string(), |s| s.to_string()),
            // Without owners: by top directory; files and links at the top count as `/`.
            None if path[1..].contains('/') || matches!(node.kind, NodeKind::Dir) => {
                format!("/{}", path[1..].split('/').next().unwrap_or_default())
            }
            None => "/".to_string(),
        };
        let g = groups.entry(group.clone()).or_insert_with(|| Group { name: group, entries: 0, files: 0, bytes: 0 });
        g.entries += 1;
        if let NodeKind::File(f) = &node.kind {
            files += 1;
            bytes += f.size;
            g.files += 1;
            g.bytes += f.size;
            if let Some(e) = &f.elf {
                elf.push(elf_file(tree, path, f.size, e));
            }
        }
        special(path, node, &owner_of, &mut setuid, &mut setgid, &mut writable);
        let name = basename(path);
        let is_shell = SHELLS.contains(&name);
        if (is_shell || NETWORK.contains(&name))
            && let Some(real) = executable(tree, path)
        {
            let p = Program { path: path.clone(), resolves_to: real };
            if is_shell { shells.push(p) } else { network.push(p) }
        }
    }
    let mut machines: BTreeMap<String, usize> = BTreeMap::new();
    for m in elf.iter().filter_map(|e: &ElfFile| e.machine.as_ref()) {
        *machines.entry(m.clone()).or_default() += 1;
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    groups.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(b.entries.cmp(&a.entries)).then(a.name.cmp(&b.name)));

    let (mut unowned, mut mismatched, mut missing) = (None, Vec::new(), Vec::new());
    if let Some((_, m)) = manifest {
        let listed: BTreeSet<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
        unowned = Some(tree.entries.keys().filter(|p| *p != "/" && !listed.contains(p.as_str())).cloned().collect());
        for f in &m.files {
            match tree.entries.get(&f.path) {
                None if f.path != "/" => missing.push(f.path.clone()),
                None => {}
                Some(n) => {
                    if let Some(why) = differs(f, n) {
                        mismatched.push(Mismatch { path: f.path.clone(), why });
                    }
                }
            }
        }
    }
    let manifest_summary = manifest.map(|(p, m)| ManifestSummary {
        path: p.to_path_buf(),
        tar_sha256_matches: match (&image.tar_sha256, m.image.as_ref().and_then(|i| i.tar_sha256.as_ref())) {
            (Some(have), Some(want)) => Some(have.eq_ignore_ascii_case(want)),
            _ => None,
        },
    });
    Audit {
        format: "compose-audit-v1",
        image: ImageSummary {
            path: image.path.clone(),
            kind: image.kind,
            reference: image.reference.clone(),
            platform: image.platform.as_ref().map(|p| p.to_string()),
            platforms: image.platforms.iter().map(|p| p.to_string()).collect(),
            layers: image.layers,
            entries: tree.entries.keys().filter(|p| *p != "/").count(),
            files,
            bytes,
        },
        manifest: manifest_summary,
        ownership: if manifest.is_some() { "manifest" } else { "unknown" },
        sizes: Sizes { by: if manifest.is_some() { "package" } else { "top-directory" }, groups },
        machines,
        elf,
        setuid,
        setgid,
        world_writable: writable,
        shells,
        network,
        unowned,
        mismatched,
        missing,
        violations: Vec::new(),
    }
}

fn elf_file(tree: &Tree, path: &str, size: u64, e: &Result<super::elf::Elf, String>) -> ElfFile {
    match e {
        Ok(e) => ElfFile {
            path: path.to_string(),
            size,
            class: Some(e.class),
            endian: Some(if e.big_endian { "big" } else { "little" }),
            machine: Some(e.machine.clone()),
            linking: Some(e.linking),
            interpreter: e.interpreter.as_ref().map(|i| Dep { name: i.clone(), found: is_file(tree, i) }),
            needed: e
                .needed
                .iter()
                .map(|n| Dep { name: n.clone(), found: find_library(tree, path, n, &e.runpath) })
                .collect(),
            error: None,
        },
        Err(why) => ElfFile {
            path: path.to_string(),
            size,
            class: None,
            endian: None,
            machine: None,
            linking: None,
            interpreter: None,
            needed: Vec::new(),
            error: Some(why.clone()),
        },
    }
}

fn special(
    path: &str,
    node: &Node,
    owner_of: &dyn Fn(&str) -> Option<String>,
    setuid: &mut Vec<Special>,
    setgid: &mut Vec<Special>,
    writable: &mut Vec<Writable>,
) {
    if matches!(node.kind, NodeKind::Symlink(_)) {
        return; // A link's own mode means nothing.
    }
    let s = || Special { path: path.to_string(), mode: mode_str(node.mode), owner: owner_of(path) };
    if node.mode & 0o4000 != 0 {
        setuid.push(s());
    }
    // setgid on a directory only makes new files inherit its group.
    if node.mode & 0o2000 != 0 && !matches!(node.kind, NodeKind::Dir) {
        setgid.push(s());
    }
    if node.mode & 0o002 != 0 {
        let sticky = matches!(node.kind, NodeKind::Dir) && node.mode & 0o1000 != 0;
        writable.push(Writable { path: path.to_string(), kind: node.type_name(), mode: mode_str(node.mode), sticky });
    }
}

/// How the image's entry differs from the manifest's, in words.
fn differs(f: &super::manifest::ManifestFile, n: &Node) -> Option<String> {
    if f.kind != n.type_name() {
        return Some(format!("a {} in the manifest, a {} in the image", f.kind, n.type_name()));
    }
    let mut why = Vec::new();
    if let Some(m) = &f.mode
        && u32::from_str_radix(m, 8).ok() != Some(n.mode & 0o7777)
        && f.kind != "symlink"
    {
        why.push(format!("mode {m} in the manifest, {} in the image", mode_str(n.mode)));
    }
    match &n.kind {
        NodeKind::File(facts) => {
            if let Some(want) = &f.sha256
                && !want.eq_ignore_ascii_case(&facts.sha256)
            {
                why.push(format!(
                    "content differs: sha256 {} in the manifest, {} in the image",
                    short(want),
                    short(&facts.sha256)
                ));
            } else if let Some(size) = f.size
                && size != facts.size
            {
                why.push(format!("size {size} in the manifest, {} in the image", facts.size));
            }
        }
        NodeKind::Symlink(t) => {
            if let Some(want) = &f.target
                && want != t
            {
                why.push(format!("links to `{want}` in the manifest, to `{t}` in the image"));
            }
        }
        _ => {}
    }
    (!why.is_empty()).then(|| why.join("; "))
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

#[cfg(test)]
#[path = "analyse_tests.rs"]
mod tests;
