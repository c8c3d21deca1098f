//! The image's filesystem as audit sees it: absolute paths to facts about each entry (no contents),
//! built by applying layers in order with OCI whiteout semantics, and path resolution that follows
//! symlinks inside the image only (never the host's).

use std::collections::BTreeMap;

use super::elf::Elf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: NodeKind,
    /// Permission bits including setuid (0o4000), setgid (0o2000) and sticky (0o1000).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Dir,
    File(FileFacts),
    Symlink(String),
    /// Devices, fifos: named by type.
    Other(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    pub size: u64,
    pub sha256: String,
    /// For files starting with the ELF magic: what the reader found, or why it could not read it.
    pub elf: Option<Result<Elf, String>>,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Dir => "dir",
            NodeKind::File(_) => "file",
            NodeKind::Symlink(_) => "symlink",
            NodeKind::Other(t) => t,
        }
    }
}

/// One entry of a layer as read from its tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Add(Node),
    /// A tar hard link to another path of the image.
    HardLink(String),
}

#[derive(Debug, Default, Clone)]
pub struct Tree {
    /// Absolute, normalised paths (`/`, `/bin`, `/bin/sh`).
    pub entries: BTreeMap<String, Node>,
}

/// Turns a tar member name (`./bin/sh`, `bin/`, `/etc//passwd`) into `/bin/sh`; `None` for names that
/// climb out with `..`.
pub fn normalise(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

fn name(path: &str) -> &str {
    &path[path.rfind('/').map_or(0, |i| i + 1)..]
}

impl Tree {
    /// Removes `path` and everything below it.
    fn remove_tree(&mut self, path: &str) {
        self.entries.remove(path);
        self.remove_children(path);
    }

    /// Removes everything below `dir`, keeping `dir`.
    fn remove_children(&mut self, dir: &str) {
        let prefix = if dir == "/" { "/".to_string() } else { format!("{dir}/") };
        let doomed: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for k in doomed {
            self.entries.remove(&k);
        }
    }

    /// Applies one layer: first its whiteouts against the layers below (`.wh.NAME` deletes NAME and
    /// what is under it, `.wh..wh..opq` empties its directory), then its entries in order. A whiteout
    /// never hides an entry of its own layer, wherever it appears in the tar. `whiteouts: false` reads
    /// the names literally (a plain rootfs tar).
    pub fn apply(&mut self, layer: Vec<(String, Change)>, whiteouts: bool) {
        let mut entries = Vec::with_capacity(layer.len());
        for (path, change) in layer {
            let base = name(&path);
            if whiteouts && base == ".wh..wh..opq" {
                self.remove_children(parent(&path));
            } else if let Some(hidden) = base.strip_prefix(".wh.").filter(|_| whiteouts) {
                let dir = parent(&path);
                let victim = if dir == "/" { format!("/{hidden}") } else { format!("{dir}/{hidden}") };
                self.remove_tree(&victim);
            } else {
                entries.push((path, change));
            }
        }
        for (path, change) in entries {
            let node = match change {
                Change::Add(n) => n,
                // Both names share one inode: the link takes the target's content and metadata.
                Change::HardLink(target) => match self.entries.get(&target) {
                    Some(n) => n.clone(),
                    None => continue,
                },
            };
            // Anything over a directory that is not a directory replaces the whole subtree.
            if !matches!(node.kind, NodeKind::Dir) {
                self.remove_children(&path);
            }
            self.entries.insert(path, node);
        }
    }

    /// Follows symlinks inside the image, in every component, to the path `path` really names. `None`
    /// when a component is missing or the links loop (more than 40 hops, as Linux allows).
    pub fn resolve(&self, path: &str) -> Option<String> {
        let mut hops = 0;
        let mut pending: Vec<String> = path.split('/').filter(|c| !c.is_empty()).rev().map(str::to_string).collect();
        let mut at = String::from("/");
        while let Some(c) = pending.pop() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    at = parent(&at).to_string();
                    continue;
                }
                _ => {}
            }
            let next = if at == "/" { format!("/{c}") } else { format!("{at}/{c}") };
            match &self.entries.get(&next)?.kind {
                NodeKind::Symlink(target) => {
                    hops += 1;
                    if hops > 40 {
                        return None;
                    }
                    if target.starts_with('/') {
                        at = "/".into();
                    }
                    pending.extend(target.split('/').filter(|c| !c.is_empty()).rev().map(str::to_string));
                }
                _ => at = next,
            }
        }
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> Change {
        Change::Add(Node { kind: NodeKind::Dir, mode: 0o755, uid: 0, gid: 0 })
    }
    fn file(body: &str) -> Change {
        let facts = FileFacts { size: body.len() as u64, sha256: body.into(), elf: None };
        Change::Add(Node { kind: NodeKind::File(facts), mode: 0o644, uid: 0, gid: 0 })
    }
    fn link(t: &str) -> Change {
        Change::Add(Node { kind: NodeKind::Symlink(t.into()), mode: 0o777, uid: 0, gid: 0 })
    }
    fn layer(v: &[(&str, Change)]) -> Vec<(String, Change)> {
        v.iter().map(|(p, c)| (p.to_string(), c.clone())).collect()
    }
    fn paths(t: &Tree) -> Vec<&str> {
        t.entries.keys().map(String::as_str).collect()
    }

    #[test]
    fn names_are_normalised_and_escapes_refused() {
        assert_eq!(normalise("./bin/sh").as_deref(), Some("/bin/sh"));
        assert_eq!(normalise("bin/").as_deref(), Some("/bin"));
        assert_eq!(normalise("/etc//passwd").as_deref(), Some("/etc/passwd"));
        assert_eq!(normalise("./").as_deref(), Some("/"));
        assert_eq!(normalise("a/../../etc"), None);
    }

    #[test]
    fn whiteouts_delete_lower_entries_and_subtrees() {
        let mut t = Tree::default();
        t.apply(
            layer(&[
                ("/etc", dir()),
                ("/etc/a", file("a")),
                ("/etc/b", file("b")),
                ("/opt", dir()),
                ("/opt/x", dir()),
                ("/opt/x/y", file("y")),
            ]),
            true,
        );
        t.apply(layer(&[("/etc/.wh.a", file("")), ("/opt/.wh.x", file("")), ("/etc/c", file("c"))]), true);
        assert_eq!(paths(&t), ["/etc", "/etc/b", "/etc/c", "/opt"]);
    }

    #[test]
    fn opaque_directory_hides_lower_children_but_not_its_own_layer() {
        let mut t = Tree::default();
        t.apply(layer(&[("/d", dir()), ("/d/old", file("o")), ("/d/sub", dir()), ("/d/sub/deep", file("d"))]), true);
        // The marker comes after a new entry of the same layer: that entry must survive.
        t.apply(layer(&[("/d", dir()), ("/d/new", file("n")), ("/d/.wh..wh..opq", file(""))]), true);
        assert_eq!(paths(&t), ["/d", "/d/new"]);
        // A whiteout never shows up as a file.
        assert!(!t.entries.keys().any(|k| k.contains(".wh.")));
    }

    #[test]
    fn a_file_over_a_directory_replaces_the_subtree_and_hard_links_copy_facts() {
        let mut t = Tree::default();
        t.apply(layer(&[("/x", dir()), ("/x/inner", file("i")), ("/bin", dir()), ("/bin/a", file("A"))]), true);
        t.apply(layer(&[("/x", file("now a file")), ("/bin/b", Change::HardLink("/bin/a".into()))]), true);
        assert_eq!(paths(&t), ["/bin", "/bin/a", "/bin/b", "/x"]);
        assert_eq!(t.entries["/bin/b"], t.entries["/bin/a"]);
        assert!(matches!(t.entries["/x"].kind, NodeKind::File(_)));
    }

    #[test]
    fn plain_tars_keep_whiteout_names_literally() {
        let mut t = Tree::default();
        t.apply(layer(&[("/a", file("a")), ("/.wh.a", file(""))]), false);
        assert_eq!(paths(&t), ["/.wh.a", "/a"]);
    }

    #[test]
    fn resolve_follows_links_in_every_component() {
        let mut t = Tree::default();
        t.apply(
            layer(&[
                ("/usr", dir()),
                ("/usr/bin", dir()),
                ("/usr/bin/busybox", file("bb")),
                ("/bin", link("usr/bin")),
                ("/usr/bin/sh", link("busybox")),
                ("/usr/bin/ash", link("/bin/sh")),
                ("/usr/bin/up", link("../bin/./busybox")),
                ("/loop1", link("loop2")),
                ("/loop2", link("/loop1")),
                ("/dangling", link("/nowhere")),
            ]),
            true,
        );
        for p in ["/bin/sh", "/bin/ash", "/usr/bin/up", "/bin/busybox"] {
            assert_eq!(t.resolve(p).as_deref(), Some("/usr/bin/busybox"), "{p}");
        }
        assert_eq!(t.resolve("/loop1"), None);
        assert_eq!(t.resolve("/dangling"), None);
        assert_eq!(t.resolve("/").as_deref(), Some("/"));
    }
}
