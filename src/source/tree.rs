//! Local directory sources (`[[source]] path = "DIR"`): a directory of the project, packed as a
//! deterministic tar whose sha256 (the *tree digest*) is the source's identity, exactly as a
//! tarball's sha256 is. So the build key, the lock, the source cache, the bundle and the records need
//! nothing new: the packed tar goes into the source cache under its digest like a download.
//!
//! The packed tar, byte for byte (what the digest covers):
//! - every entry under the directory except `.git` (at any depth, file or directory) and what the
//!   root's `.composeignore` lists ([`Ignore`]); the directory itself has no entry;
//! - entries sorted bytewise by their relative path, directories (`path/`) included, each before
//!   what it holds;
//! - GNU headers with uid/gid 0, no user or group names, mtime 0; long paths and link targets as GNU
//!   `././@LongLink` entries (the tar crate writes them with mode 0644, owner 0, mtime 0);
//! - modes as git keeps them: a file is 0755 if its owner may execute it, else 0644; a directory 0755;
//!   a symlink 0777. The same checkout must have the same digest on every machine (a lock or a
//!   bundle made on one is checked on another), whatever the umask was; setuid, setgid, sticky and
//!   group/other write bits would be dropped on unpacking anyway (`unpack::sanitised_mode`);
//! - regular files (hard links are packed as separate files), directories and symlinks (packed as
//!   links, never followed; a target that is absolute or climbs out of the tree is an error, since
//!   unpacking would refuse it). Sockets, fifos and devices are errors naming the path;
//! - the end-of-archive marker of the tar crate (two zero blocks).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::digest::Sha256;

/// The ignore file, read at the tree's root only.
pub const IGNORE_FILE: &str = ".composeignore";

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("cannot read `{}`", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("`{}` is a {kind}: a local source may hold only files, directories and symlinks", path.display())]
    Special { path: PathBuf, kind: &'static str },
    #[error("symlink `{}` -> `{target}`: {reason}", path.display())]
    Symlink { path: PathBuf, target: String, reason: &'static str },
    #[error("{}:{line}: {message}", path.display())]
    Ignore { path: PathBuf, line: usize, message: String },
    #[error("`{}` changed while it was being packed", path.display())]
    Changed { path: PathBuf },
    #[error("cannot write the packed tree")]
    Write { source: io::Error },
}

impl TreeError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            TreeError::Special { .. } | TreeError::Symlink { .. } => {
                Some("list it in the directory's `.composeignore` if the build does not need it")
            }
            TreeError::Ignore { .. } => Some("see docs/recipes.md, \"Local sources\", for the `.composeignore` syntax"),
            _ => None,
        }
    }
}

/// One line of `.composeignore`.
#[derive(Debug, Clone)]
struct Rule {
    negate: bool,
    dir_only: bool,
    /// Matched against the whole relative path (the pattern had a `/` before its end); otherwise
    /// against the last component, at any depth.
    anchored: bool,
    /// The pattern's components; `**` alone matches any number of components (anchored only).
    parts: Vec<Vec<u8>>,
}

/// The rules of a `.composeignore`: gitignore-like. Blank lines and `#` comments are skipped; `name`
/// matches at any depth; `dir/` matches directories only; `/rooted` and `a/b` are anchored at the
/// root; `*`, `?` and `[a-z]` match within a component, `**` any number of components; `\` escapes.
/// `!pattern` re-includes what an earlier line excluded (the last matching line wins), except below
/// an excluded directory, which is never read (as in git).
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    rules: Vec<Rule>,
}

impl Ignore {
    /// Reads `ROOT/.composeignore`; none: nothing is ignored but `.git`.
    pub fn load(root: &Path) -> Result<Ignore, TreeError> {
        let path = root.join(IGNORE_FILE);
        match fs::read(&path) {
            Ok(bytes) => Ignore::parse(&bytes, &path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Ignore::default()),
            Err(source) => Err(TreeError::Read { path, source }),
        }
    }

    /// Parses the ignore file's text; `path` names it in errors.
    pub fn parse(text: &[u8], path: &Path) -> Result<Ignore, TreeError> {
        let mut rules = Vec::new();
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            let err =
                |message: &str| TreeError::Ignore { path: path.to_path_buf(), line: n + 1, message: message.into() };
            let mut line = line.strip_suffix(b"\r").unwrap_or(line);
            // Trailing blanks go, unless escaped.
            while let [rest @ .., b' ' | b'\t'] = line {
                if rest.ends_with(b"\\") {
                    break;
                }
                line = rest;
            }
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let (negate, mut pat) = match line.strip_prefix(b"!") {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let dir_only = pat.ends_with(b"/") && !pat.ends_with(b"\\/");
            if dir_only {
                pat = &pat[..pat.len() - 1];
            }
            let anchored = pat.contains(&b'/');
            let pat = pat.strip_prefix(b"/").unwrap_or(pat);
            let parts: Vec<Vec<u8>> = pat.split(|&b| b == b'/').map(<[u8]>::to_vec).collect();
            if parts.iter().any(|p| p.is_empty()) {
                return Err(err("empty path component (`//`, or only `/`)"));
            }
            if parts.iter().any(|p| p == b"." || p == b"..") {
                return Err(err("`.` and `..` are not allowed: patterns are relative to the tree's root"));
            }
            if !anchored && parts[0] == b"**" {
                // `**` alone is `*` at any depth, as git reads it.
                rules.push(Rule { negate, dir_only, anchored: false, parts: vec![b"*".to_vec()] });
                continue;
            }
            rules.push(Rule { negate, dir_only, anchored, parts });
        }
        Ok(Ignore { rules })
    }

    /// Whether the entry at `rel` (relative to the root, `/`-separated) is left out.
    pub fn is_ignored(&self, rel: &[u8], is_dir: bool) -> bool {
        let comps: Vec<&[u8]> = rel.split(|&b| b == b'/').collect();
        let mut ignored = false;
        for r in &self.rules {
            if r.dir_only && !is_dir {
                continue;
            }
            let hit = if r.anchored {
                match_parts(&r.parts, &comps)
            } else {
                comps.last().is_some_and(|last| glob(&r.parts[0], last))
            };
            if hit {
                ignored = !r.negate;
            }
        }
        ignored
    }
}

/// Components of a pattern against components of a path; `**` takes zero or more, and at least one
/// when it ends the pattern (`foo/**` is everything inside `foo`, not `foo` itself, as in git).
fn match_parts(pat: &[Vec<u8>], path: &[&[u8]]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((p, rest)) if p == b"**" => {
            (usize::from(rest.is_empty())..=path.len()).any(|skip| match_parts(rest, &path[skip..]))
        }
        Some((p, rest)) => path.split_first().is_some_and(|(c, tail)| glob(p, c) && match_parts(rest, tail)),
    }
}

/// One component against one pattern component: `*`, `?`, `[...]` (`!`/`^` negates, `a-z` ranges),
/// `\` escapes the next byte.
fn glob(pat: &[u8], s: &[u8]) -> bool {
    match pat.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((b'[', rest)) => match class(rest) {
            Some((set, negated, after)) => {
                s.first().is_some_and(|&c| set.iter().any(|&(lo, hi)| lo <= c && c <= hi) != negated)
                    && glob(after, &s[1..])
            }
            None => s.first() == Some(&b'[') && glob(rest, &s[1..]),
        },
        Some((b'\\', [c, rest @ ..])) => s.first() == Some(c) && glob(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

/// A bracket expression's byte ranges, whether it is negated, and the pattern after its `]`.
type Class<'a> = (Vec<(u8, u8)>, bool, &'a [u8]);

/// A bracket expression after its `[`; `None` if it is not closed (then `[` is literal).
fn class(p: &[u8]) -> Option<Class<'_>> {
    let (negated, mut p) = match p {
        [b'!' | b'^', rest @ ..] => (true, rest),
        _ => (false, p),
    };
    let mut set = Vec::new();
    let mut first = true;
    loop {
        match p {
            [] => return None,
            [b']', rest @ ..] if !first => return Some((set, negated, rest)),
            [lo, b'-', hi, rest @ ..] if *hi != b']' => {
                set.push((*lo, *hi));
                p = rest;
            }
            [c, rest @ ..] => {
                set.push((*c, *c));
                p = rest;
            }
        }
        first = false;
    }
}

/// What an entry of the tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File { size: u64 },
    Symlink { target: Vec<u8> },
}

/// One entry of the tree, as it is packed.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Relative to the root, `/`-separated, no trailing slash.
    pub path: Vec<u8>,
    pub kind: Kind,
    /// The packed mode (see the module's doc).
    pub mode: u32,
}

/// Every entry to pack, sorted by path. Symlinks are not followed.
pub fn walk(root: &Path, ignore: &Ignore) -> Result<Vec<Entry>, TreeError> {
    let mut out = Vec::new();
    walk_dir(root, &[], ignore, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk_dir(root: &Path, rel: &[u8], ignore: &Ignore, out: &mut Vec<Entry>) -> Result<(), TreeError> {
    let dir = root.join(OsStr::from_bytes(rel));
    let read = |source| TreeError::Read { path: dir.clone(), source };
    for child in fs::read_dir(&dir).map_err(read)? {
        let child = child.map_err(read)?;
        let name = child.file_name();
        if name.as_bytes() == b".git" {
            continue;
        }
        let path = if rel.is_empty() { name.as_bytes().to_vec() } else { [rel, b"/", name.as_bytes()].concat() };
        let full = child.path();
        let meta = fs::symlink_metadata(&full).map_err(|source| TreeError::Read { path: full.clone(), source })?;
        let ft = meta.file_type();
        if ignore.is_ignored(&path, ft.is_dir()) {
            continue;
        }
        let mode = meta.permissions().mode();
        let special = |kind| Err(TreeError::Special { path: full.clone(), kind });
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File { size: meta.len() }
        } else if ft.is_symlink() {
            let target = fs::read_link(&full).map_err(|source| TreeError::Read { path: full.clone(), source })?;
            let target = target.into_os_string().into_vec();
            let depth = path.iter().filter(|&&b| b == b'/').count();
            if let Err(reason) = super::unpack::symlink_check(depth, &target) {
                let target = String::from_utf8_lossy(&target).into_owned();
                return Err(TreeError::Symlink { path: full, target, reason });
            }
            Kind::Symlink { target }
        } else if ft.is_socket() {
            return special("socket");
        } else if ft.is_fifo() {
            return special("fifo");
        } else if ft.is_block_device() || ft.is_char_device() {
            return special("device");
        } else {
            return special("file of an unknown type");
        };
        let mode = match kind {
            Kind::Dir => 0o755,
            Kind::Symlink { .. } => 0o777,
            Kind::File { .. } if mode & 0o100 != 0 => 0o755,
            Kind::File { .. } => 0o644,
        };
        let is_dir = kind == Kind::Dir;
        out.push(Entry { path: path.clone(), kind, mode });
        if is_dir {
            walk_dir(root, &path, ignore, out)?;
        }
    }
    Ok(())
}

/// Packs the tree at `root` (minus what `ignore` and `.git` leave out) into `w` as the deterministic
/// tar the module's doc describes.
pub fn pack<W: Write>(root: &Path, ignore: &Ignore, w: W) -> Result<W, TreeError> {
    let entries = walk(root, ignore)?;
    let werr = |source| TreeError::Write { source };
    let mut b = tar::Builder::new(w);
    let mut buf = vec![0u8; 1 << 16];
    for e in &entries {
        let rel = OsStr::from_bytes(&e.path);
        let mut h = tar::Header::new_gnu();
        h.set_mode(e.mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                let name = [e.path.as_slice(), b"/"].concat();
                b.append_data(&mut h, OsStr::from_bytes(&name), io::empty()).map_err(werr)?;
            }
            Kind::Symlink { target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, rel, OsStr::from_bytes(target)).map_err(werr)?;
            }
            Kind::File { size } => {
                let full = root.join(rel);
                let changed = || TreeError::Changed { path: full.clone() };
                let mut f = File::open(&full).map_err(|source| TreeError::Read { path: full.clone(), source })?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(*size);
                // The header alone, then exactly `size` bytes and the padding: a file that grew or shrank
                // since it was listed is an error, never a malformed entry.
                b.append_data(&mut h, rel, io::empty()).map_err(werr)?;
                let w = b.get_mut();
                let mut left = *size;
                while left > 0 {
                    let want = buf.len().min(left as usize);
                    let n = match f.read(&mut buf[..want]) {
                        Ok(0) => return Err(changed()),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(source) => return Err(TreeError::Read { path: full.clone(), source }),
                    };
                    w.write_all(&buf[..n]).map_err(werr)?;
                    left -= n as u64;
                }
                if f.read(&mut buf[..1]).map_err(|source| TreeError::Read { path: full.clone(), source })? != 0 {
                    return Err(changed());
                }
                let pad = ((512 - size % 512) % 512) as usize;
                w.write_all(&[0; 512][..pad]).map_err(werr)?;
            }
        }
    }
    b.into_inner().map_err(werr)
}

/// Hashes what is written through it, and counts it.
pub struct HashWriter<W> {
    pub inner: W,
    hash: Sha256,
    pub len: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        HashWriter { inner, hash: Sha256::new(), len: 0 }
    }
    /// The lowercase hex sha256 of what was written, and the writer.
    pub fn finish(self) -> (String, W) {
        (self.hash.hex(), self.inner)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The tree digest of `root`: the sha256 of the tar [`pack`] writes, streamed into the hasher.
pub fn digest(root: &Path) -> Result<String, TreeError> {
    let ignore = Ignore::load(root)?;
    let w = pack(root, &ignore, HashWriter::new(io::sink()))?;
    Ok(w.finish().0)
}

/// What one path of a tree is, for explaining a change: its type, packed mode, and the sha256 of its
/// content (a file) or its link target (a symlink); empty for a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub kind: char,
    pub mode: u32,
    pub sha256: String,
}

/// Every path of a tree and what it is.
pub type Listing = BTreeMap<String, Item>;

/// The listing of the tree at `root`, as it would be packed now. File contents are hashed on rayon.
pub fn listing(root: &Path) -> Result<Listing, TreeError> {
    let ignore = Ignore::load(root)?;
    let entries = walk(root, &ignore)?;
    entries
        .par_iter()
        .map(|e| {
            let (kind, sha256) = match &e.kind {
                Kind::Dir => ('d', String::new()),
                Kind::Symlink { target } => ('l', Sha256::hex_of(target)),
                Kind::File { .. } => {
                    let full = root.join(OsStr::from_bytes(&e.path));
                    let read = |source| TreeError::Read { path: full.clone(), source };
                    ('f', super::sha256_of(File::open(&full).map_err(read)?).map_err(read)?)
                }
            };
            Ok((String::from_utf8_lossy(&e.path).into_owned(), Item { kind, mode: e.mode, sha256 }))
        })
        .collect()
}

/// The listing of a packed tree (a tar [`pack`] wrote, from the source cache).
pub fn listing_of_tar(tar_path: &Path) -> Result<Listing, TreeError> {
    let read = |source| TreeError::Read { path: tar_path.to_path_buf(), source };
    let mut ar = tar::Archive::new(io::BufReader::new(File::open(tar_path).map_err(read)?));
    let mut out = Listing::new();
    for e in ar.entries().map_err(read)? {
        let mut e = e.map_err(read)?;
        let path = String::from_utf8_lossy(&e.path_bytes()).trim_end_matches('/').to_string();
        let h = e.header();
        let mode = h.mode().map_err(read)?;
        let kind = h.entry_type();
        let item = if kind.is_dir() {
            Item { kind: 'd', mode, sha256: String::new() }
        } else if kind.is_symlink() {
            let target = e.link_name_bytes().unwrap_or_default().into_owned();
            Item { kind: 'l', mode, sha256: Sha256::hex_of(&target) }
        } else if kind.is_file() {
            Item { kind: 'f', mode, sha256: super::sha256_of(&mut e).map_err(read)? }
        } else {
            continue;
        };
        out.insert(path, item);
    }
    Ok(out)
}

/// How one path differs between two listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added(String),
    Removed(String),
    /// Same type, other content or link target.
    Modified(String),
    /// Same content, other mode (the executable bit).
    Mode(String),
    /// A file became a directory, a symlink a file...
    Type(String),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Added(p) => write!(f, "`{p}` added"),
            Change::Removed(p) => write!(f, "`{p}` removed"),
            Change::Modified(p) => write!(f, "`{p}` modified"),
            Change::Mode(p) => write!(f, "`{p}` mode changed"),
            Change::Type(p) => write!(f, "`{p}` type changed"),
        }
    }
}

/// Every difference from `old` to `new`, in path order.
pub fn changes(old: &Listing, new: &Listing) -> Vec<Change> {
    let mut out = Vec::new();
    let mut paths: Vec<&String> = old.keys().chain(new.keys()).collect();
    paths.sort();
    paths.dedup();
    for p in paths {
        match (old.get(p), new.get(p)) {
            (None, Some(_)) => out.push(Change::Added(p.clone())),
            (Some(_), None) => out.push(Change::Removed(p.clone())),
            (Some(a), Some(b)) if a.kind != b.kind => out.push(Change::Type(p.clone())),
            (Some(a), Some(b)) if a.sha256 != b.sha256 => out.push(Change::Modified(p.clone())),
            (Some(a), Some(b)) if a.mode != b.mode => out.push(Change::Mode(p.clone())),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn ignore(text: &str) -> Ignore {
        Ignore::parse(text.as_bytes(), Path::new(".composeignore")).unwrap()
    }

    #[test]
    fn ignore_rules_follow_gitignore() {
        let i = ignore("# comment\n\n*.o\nbuild/\n/top\ndocs/*.md\nsub/**/gen\n!keep.o\nfile?.[ch]\n");
        let yes = |p: &str, dir: bool| assert!(i.is_ignored(p.as_bytes(), dir), "{p} should be ignored");
        let no = |p: &str, dir: bool| assert!(!i.is_ignored(p.as_bytes(), dir), "{p} should be kept");
        yes("a.o", false);
        yes("deep/er/a.o", false);
        no("keep.o", false); // the later `!` line wins
        no("deep/keep.o", false);
        yes("build", true);
        yes("x/build", true);
        no("build", false); // `build/` matches directories only
        yes("top", false);
        no("x/top", false); // `/top` is anchored
        yes("docs/a.md", false);
        no("x/docs/a.md", false); // `a/b` patterns are anchored
        no("docs/sub/a.md", false); // `*` stays within a component
        yes("sub/gen", true);
        yes("sub/a/b/gen", false);
        yes("file1.c", false);
        no("file12.c", false);
        no("file1.o.x", false);
        no("# comment", false);
        // `foo/**` is what is inside foo, not foo: so `!foo/keep` can bring one file back.
        let i = ignore("foo/**\n!foo/keep\n");
        assert!(!i.is_ignored(b"foo", true), "foo itself is kept");
        assert!(i.is_ignored(b"foo/x", false) && i.is_ignored(b"foo/d/y", false));
        assert!(!i.is_ignored(b"foo/keep", false), "re-included");
    }

    #[test]
    fn ignore_file_errors_name_the_line() {
        let e = Ignore::parse(b"ok\n/../x\n", Path::new("ig")).unwrap_err();
        assert_eq!(e.to_string(), "ig:2: `.` and `..` are not allowed: patterns are relative to the tree's root");
        assert!(Ignore::parse(b"a//b\n", Path::new("ig")).is_err());
        // Escapes and trailing blanks.
        let i = ignore("\\#lit\nsp  \n\\!bang\n");
        assert!(i.is_ignored(b"#lit", false) && i.is_ignored(b"sp", false) && i.is_ignored(b"!bang", false));
    }

    fn write(root: &Path, rel: &str, body: &str, mode: u32) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, body).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The same small project, its files created in the given order.
    fn project(order: &[usize]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let files = [("src/main.c", "int main;\n", 0o644), ("run.sh", "#!/bin/sh\n", 0o755), ("a/b/c.txt", "c", 0o600)];
        for &i in order {
            let (p, b, m) = files[i];
            write(d.path(), p, b, m);
        }
        symlink("src/main.c", d.path().join("link")).unwrap();
        fs::create_dir(d.path().join("empty")).unwrap();
        d
    }

    #[test]
    fn digest_is_deterministic_across_creation_order_mtime_and_umask_bits() {
        let a = project(&[0, 1, 2]);
        let b = project(&[2, 0, 1]);
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(123_456);
        File::options().write(true).open(b.path().join("run.sh")).unwrap().set_modified(t).unwrap();
        // Group write and the like are not part of the digest (git keeps only the executable bit).
        fs::set_permissions(b.path().join("src/main.c"), fs::Permissions::from_mode(0o664)).unwrap();
        assert_eq!(digest(a.path()).unwrap(), digest(b.path()).unwrap());
        assert_eq!(listing(a.path()).unwrap(), listing(b.path()).unwrap());
    }

    #[test]
    fn bytes_mode_type_and_path_each_change_the_digest() {
        let d = project(&[0, 1, 2]);
        let root = d.path();
        let mut seen = vec![digest(root).unwrap()];
        let mut changed = |what: &str| {
            let now = digest(root).unwrap();
            assert!(!seen.contains(&now), "{what} did not change the digest");
            seen.push(now);
        };
        write(root, "src/main.c", "int main2;\n", 0o644);
        changed("content");
        fs::set_permissions(root.join("src/main.c"), fs::Permissions::from_mode(0o755)).unwrap();
        changed("executable bit");
        fs::rename(root.join("a/b/c.txt"), root.join("a/b/d.txt")).unwrap();
        changed("path");
        fs::remove_file(root.join("link")).unwrap();
        write(root, "link", "src/main.c", 0o777);
        changed("type (symlink -> file with the target as content)");
        fs::remove_dir(root.join("empty")).unwrap();
        changed("an empty directory");
    }

    #[test]
    fn git_and_ignored_entries_are_left_out_and_the_tar_reads_back() {
        let d = project(&[0, 1, 2]);
        let root = d.path();
        let before = digest(root).unwrap();
        write(root, ".git/HEAD", "ref", 0o644);
        write(root, "src/.git", "gitdir: a submodule's", 0o644);
        assert_eq!(digest(root).unwrap(), before, "`.git/` is not part of the tree");
        write(root, ".composeignore", "*.tmp\nout/\n", 0o644);
        let with_ignore = digest(root).unwrap();
        assert_ne!(with_ignore, before, "the ignore file itself is content");
        write(root, "x.tmp", "scratch", 0o644);
        write(root, "src/y.tmp", "scratch", 0o644);
        write(root, "out/image.tar", "big", 0o644);
        assert_eq!(digest(root).unwrap(), with_ignore, "ignored files do not change the digest");

        let mut bytes = Vec::new();
        pack(root, &Ignore::load(root).unwrap(), &mut bytes).unwrap();
        assert_eq!(Sha256::hex_of(&bytes), with_ignore);
        let tar = root.join("../packed.tar");
        fs::write(&tar, &bytes).unwrap();
        let (from_tar, from_dir) = (listing_of_tar(&tar).unwrap(), listing(root).unwrap());
        fs::remove_file(&tar).unwrap();
        assert_eq!(from_tar, from_dir);
        let paths: Vec<&str> = from_dir.keys().map(String::as_str).collect();
        assert_eq!(paths, [".composeignore", "a", "a/b", "a/b/c.txt", "empty", "link", "run.sh", "src", "src/main.c"]);
        assert_eq!(from_dir["run.sh"].mode, 0o755);
        assert_eq!(from_dir["a/b/c.txt"].mode, 0o644);

        // Headers: owner 0, no names, mtime 0.
        let mut ar = tar::Archive::new(bytes.as_slice());
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!((h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()), (0, 0, 0));
            assert_eq!((h.username_bytes(), h.groupname_bytes()), (Some(&b""[..]), Some(&b""[..])));
        }
    }

    #[test]
    fn long_names_and_link_targets_survive_packing() {
        let d = tempfile::tempdir().unwrap();
        let long = format!("{}/{}.c", "d".repeat(120), "f".repeat(150));
        write(d.path(), &long, "x", 0o644);
        let target = format!("{}/{}.c", "d".repeat(120), "f".repeat(150));
        symlink(&target, d.path().join("l")).unwrap();
        let mut bytes = Vec::new();
        pack(d.path(), &Ignore::default(), &mut bytes).unwrap();
        let tar = d.path().join("t.tar");
        fs::write(&tar, &bytes).unwrap();
        let l = listing_of_tar(&tar).unwrap();
        assert_eq!(l[&long].kind, 'f');
        assert_eq!(l["l"].sha256, Sha256::hex_of(target.as_bytes()));
    }

    #[test]
    fn special_files_and_escaping_symlinks_are_errors_naming_the_path() {
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("s.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let e = digest(d.path()).unwrap_err();
        assert!(matches!(&e, TreeError::Special { path, kind: "socket" } if *path == sock), "{e}");
        fs::write(d.path().join(IGNORE_FILE), "*.sock\n").unwrap();
        digest(d.path()).unwrap();
        symlink("../../etc/passwd", d.path().join("up")).unwrap();
        let e = digest(d.path()).unwrap_err();
        assert!(e.to_string().starts_with("symlink `") && e.to_string().contains("escapes the tree"), "{e}");
    }

    #[test]
    fn changes_name_each_path() {
        let d = project(&[0, 1, 2]);
        let old = listing(d.path()).unwrap();
        write(d.path(), "src/main.c", "changed", 0o644);
        write(d.path(), "new.h", "", 0o644);
        fs::remove_file(d.path().join("a/b/c.txt")).unwrap();
        fs::set_permissions(d.path().join("run.sh"), fs::Permissions::from_mode(0o644)).unwrap();
        let c: Vec<String> = changes(&old, &listing(d.path()).unwrap()).iter().map(|c| c.to_string()).collect();
        assert_eq!(c, ["`a/b/c.txt` removed", "`new.h` added", "`run.sh` mode changed", "`src/main.c` modified"]);
    }
}
