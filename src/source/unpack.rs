//! Unpacks an untrusted source tarball (gzip, bzip2, xz, zstd or plain tar) into a fresh directory.
//!
//! We never call tar's `Entry::unpack`/`Archive::unpack`: they silently skip `../x` yet return
//! Ok, re-root absolute paths, write devices as empty files and leave escaping symlinks behind.
//! Every entry is validated here and created with plain std calls instead.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use tar::EntryType as T;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strip {
    /// Strip one leading component iff every entry lives under one single top-level directory.
    #[default]
    Auto,
    /// Drop this many leading components; entries with no more than that are skipped.
    Components(usize),
}

#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    pub strip: Strip,
    /// Patterns matched against the stripped path; empty means everything.
    pub include: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("cannot open `{}`", archive.display())]
    Open { archive: PathBuf, source: io::Error },
    #[error("cannot read `{}`", archive.display())]
    Read { archive: PathBuf, source: io::Error },
    #[error("destination `{}` exists and is not an empty directory", dest.display())]
    NotEmpty { dest: PathBuf },
    #[error("refusing entry `{entry}` in `{}`: {reason}", archive.display())]
    UnsafePath { archive: PathBuf, entry: String, reason: &'static str },
    #[error("cannot write `{}`", path.display())]
    Write { path: PathBuf, source: io::Error },
}

fn write_err(path: &Path) -> impl Fn(io::Error) -> UnpackError {
    let path = path.to_path_buf();
    move |source| UnpackError::Write { path: path.clone(), source }
}

fn read_err(archive: &Path) -> impl Fn(io::Error) -> UnpackError {
    let archive = archive.to_path_buf();
    move |source| UnpackError::Read { archive: archive.clone(), source }
}

/// Unpacks `archive` (gzip, bzip2, xz, zstd or plain tar, told apart by magic bytes) into `dest`, which
/// must not exist or be an empty directory. On any error `dest` is left as we found it.
pub fn unpack(archive: &Path, dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats, UnpackError> {
    let existed = prepare_dest(dest)?;
    // Auto is decided from the first entry and checked on the fly, so the archive is decompressed
    // once; only one that contradicts the guess (`None`) is unpacked again, unstripped.
    let result = extract(archive, dest, opts, opts.strip).and_then(|done| match done {
        Some(stats) => Ok(stats),
        None => {
            clear_dir(dest).map_err(write_err(dest))?;
            let stats = extract(archive, dest, opts, Strip::Components(0))?;
            Ok(stats.expect("only Strip::Auto gives up"))
        }
    });
    if result.is_err() {
        // Leave nothing half-written. A directory the caller handed us empty stays, empty.
        let _ = clear_dir(dest).and_then(|()| if existed { Ok(()) } else { fs::remove_dir(dest) });
    }
    result
}

/// `create_dir_all`, but every directory it creates gets exactly `mode`: the process umask must not
/// reach a build's inputs or outputs (`compose verify` runs its perturbed build under umask 077).
pub(crate) fn create_dir_all_mode(path: &Path, mode: u32) -> io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_all_mode(parent, mode)?;
    }
    match fs::create_dir(path) {
        Ok(()) => fs::set_permissions(path, fs::Permissions::from_mode(mode)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates `dest`, or accepts an existing empty directory (then returns true).
fn prepare_dest(dest: &Path) -> Result<bool, UnpackError> {
    let werr = write_err(dest);
    let meta = match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return create_dir_all_mode(dest, 0o755).map(|()| false).map_err(werr);
        }
        meta => meta.map_err(&werr)?,
    };
    if meta.is_dir() && fs::read_dir(dest).map_err(&werr)?.next().is_none() {
        return Ok(true);
    }
    Err(UnpackError::NotEmpty { dest: dest.to_path_buf() })
}

fn clear_dir(dir: &Path) -> io::Result<()> {
    for child in fs::read_dir(dir)? {
        let path = child?.path();
        if path.symlink_metadata()?.is_dir() { fs::remove_dir_all(path)? } else { fs::remove_file(path)? }
    }
    Ok(())
}

/// Picks the decompressor from magic bytes (names lie) and streams the archive through it.
pub(crate) fn open(archive: &Path) -> Result<Box<dyn Read>, UnpackError> {
    let read_err = read_err(archive);
    let mut file =
        File::open(archive).map_err(|source| UnpackError::Open { archive: archive.to_path_buf(), source })?;
    let mut magic = Vec::new();
    let mut head = (&mut file).take(6);
    head.read_to_end(&mut magic).map_err(&read_err)?;
    file.rewind().map_err(&read_err)?;
    // The Multi* decoders also accept concatenated streams (pigz, pbzip2, pixz output).
    Ok(match magic.as_slice() {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(file)),
        [b'B', b'Z', b'h', ..] => Box::new(bzip2::read::MultiBzDecoder::new(file)),
        [0xfd, b'7', b'z', b'X', b'Z', 0] => Box::new(liblzma::read::XzDecoder::new_multi_decoder(file)),
        // zstd frames; the decoder also reads concatenated frames (`zstd -T0`, pzstd).
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Box::new(zstd::stream::read::Decoder::new(file).map_err(&read_err)?),
        // Plain tar; pre-POSIX archives have no "ustar" magic, so let the tar parser judge.
        _ => Box::new(BufReader::with_capacity(1 << 16, file)),
    })
}

/// What `Strip::Auto` knows so far.
enum Plan {
    Fixed(usize),
    Undecided,
    Guessed(Vec<u8>),
}

fn extract(
    archive: &Path,
    dest: &Path,
    opts: &UnpackOptions,
    strip: Strip,
) -> Result<Option<UnpackStats>, UnpackError> {
    let read_err = read_err(archive);
    let mut tar = tar::Archive::new(open(archive)?);
    let mut stats = UnpackStats::default();
    // Symlinks we created, relative to dest. dest started empty, so these are the only symlinks
    // in the tree, and no entry may be written through one of them.
    let mut links: HashSet<PathBuf> = HashSet::new();
    let mut plan = match strip {
        Strip::Auto => Plan::Undecided,
        Strip::Components(n) => Plan::Fixed(n),
    };
    let mut buf = vec![0u8; 1 << 16];
    for entry in tar.entries().map_err(&read_err)? {
        let mut entry = entry.map_err(&read_err)?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let refuse = |reason| UnpackError::UnsafePath { archive: archive.to_path_buf(), entry: name.clone(), reason };
        let kind = match entry.header().entry_type() {
            T::XGlobalHeader => continue, // e.g. git archive's commit id; describes no file
            T::Regular if raw.ends_with(b"/") => T::Directory, // pre-POSIX directory marker
            T::Regular | T::Continuous | T::GNUSparse => T::Regular, // tar fills sparse holes
            kind @ (T::Directory | T::Symlink | T::Link) => kind,
            T::Char | T::Block => return Err(refuse("device node")),
            T::Fifo => return Err(refuse("fifo")),
            _ => return Err(refuse("unsupported entry type")),
        };
        let comps = components(&raw).map_err(refuse)?;
        if comps.is_empty() {
            continue; // "./": the destination itself
        }
        let under_top = comps.len() > 1 || kind == T::Directory;
        let n = match plan {
            Plan::Fixed(n) => n,
            Plan::Undecided if under_top => {
                plan = Plan::Guessed(comps[0].to_vec());
                1
            }
            Plan::Undecided => {
                plan = Plan::Fixed(0); // a top-level file: nothing to strip
                0
            }
            Plan::Guessed(ref top) if under_top && comps[0] == top.as_slice() => 1,
            Plan::Guessed(_) => return Ok(None),
        };
        let kept = &comps[n.min(comps.len())..];
        let rel: PathBuf = kept.iter().map(|c| OsStr::from_bytes(c)).collect();
        let through_link = |p: &Path| p.ancestors().skip(1).any(|a| links.contains(a));
        if through_link(&rel) {
            return Err(refuse("path passes through a symlink"));
        }
        let target = entry.link_name_bytes().unwrap_or_default().into_owned();
        let mut source = PathBuf::new(); // a hardlink's target, relative to dest
        if kind == T::Symlink {
            symlink_check(kept.len().saturating_sub(1), &target).map_err(refuse)?;
        } else if kind == T::Link {
            if target.starts_with(b"/") {
                return Err(refuse("hardlink target is absolute"));
            }
            let t = components(&target).map_err(|_| refuse("hardlink target has a `..` component"))?;
            source = t.iter().skip(n).map(|c| OsStr::from_bytes(c)).collect();
        }
        if kept.is_empty() || !included(&opts.include, rel.as_os_str().as_bytes()) {
            continue;
        }
        if kind == T::Link {
            // Regular files only: linking a symlink would re-root its relative target unchecked.
            let is_file = fs::symlink_metadata(dest.join(&source)).is_ok_and(|m| m.is_file());
            if source.as_os_str().is_empty() || through_link(&source) || !is_file {
                return Err(refuse("hardlink target is not an extracted regular file"));
            }
            if source == rel {
                continue; // linked to itself: already there
            }
        }

        let full = dest.join(&rel);
        let werr = write_err(&full);
        if let Some(parent) = full.parent() {
            // Tarballs often omit directory entries; those get 0755, whatever compose's umask is.
            create_dir_all_mode(parent, 0o755).map_err(write_err(parent))?;
        }
        match fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() && kind == T::Directory => {}
            Ok(m) if m.is_dir() => fs::remove_dir(&full).map_err(&werr)?, // only if empty
            Ok(_) => {
                fs::remove_file(&full).map_err(&werr)?; // duplicate entry: the last one wins
                links.remove(&rel);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(werr(e)),
        }
        let mode = sanitised_mode(entry.header().mode().map_err(&read_err)?);
        match kind {
            T::Directory => {
                if let Err(e) = fs::create_dir(&full)
                    && e.kind() != io::ErrorKind::AlreadyExists
                {
                    return Err(werr(e));
                }
                // Owner rwx always, so we can fill it now and delete it on error.
                let perms = fs::Permissions::from_mode(mode | 0o700);
                fs::set_permissions(&full, perms).map_err(&werr)?;
                stats.dirs += 1;
            }
            T::Regular => {
                let mtime = entry.header().mtime().map_err(&read_err)?;
                let mut file = File::create_new(&full).map_err(&werr)?;
                loop {
                    let len = entry.read(&mut buf).map_err(&read_err)?;
                    if len == 0 {
                        break;
                    }
                    file.write_all(&buf[..len]).map_err(&werr)?;
                    stats.bytes += len as u64;
                }
                let perms = fs::Permissions::from_mode(mode);
                file.set_permissions(perms).map_err(&werr)?;
                // make (autotools above all) relies on the shipped timestamps' order.
                if let Some(t) = UNIX_EPOCH.checked_add(Duration::from_secs(mtime)) {
                    file.set_modified(t).map_err(&werr)?;
                }
                stats.files += 1;
            }
            T::Symlink => {
                symlink(OsStr::from_bytes(&target), &full).map_err(&werr)?;
                links.insert(rel);
                stats.symlinks += 1;
            }
            _ => {
                fs::hard_link(dest.join(&source), &full).map_err(&werr)?;
                stats.files += 1;
            }
        }
    }
    Ok(Some(stats))
}

/// The permission bits an entry is created with: no setuid, setgid or sticky bit, and nothing
/// world-writable (a file shipped 0777, or a directory shipped 1777, would stay so into the image).
fn sanitised_mode(shipped: u32) -> u32 {
    shipped & 0o775
}

/// Splits an archive path into its components, dropping `.` and empty ones.
pub(crate) fn components(raw: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    if raw.starts_with(b"/") {
        return Err("absolute path");
    }
    let mut out = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("`..` component"),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Checks a symlink target for a link `depth` directories below the root. A `..` may only lead:
/// the directories it climbs are then real ones (no entry passes through a symlink), so the link
/// stays inside even when it points at other links. After a name, `..` could climb out of a
/// symlinked directory: `a/up -> ..` plus `b -> a/up/..` is dest/.. though each looks harmless.
pub(crate) fn symlink_check(mut depth: usize, target: &[u8]) -> Result<(), &'static str> {
    if target.starts_with(b"/") {
        return Err("symlink target is absolute");
    }
    let mut named = false;
    for c in target.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." if named => return Err("symlink target has `..` after a name"),
            b".." if depth == 0 => return Err("symlink escapes the tree"),
            b".." => depth -= 1,
            _ => named = true,
        }
    }
    Ok(())
}

/// `dir/` matches the directory and everything below; `*` matches anything, `/` included;
/// a plain pattern matches that exact path or anything below it.
fn included(patterns: &[String], path: &[u8]) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| {
            let p = p.as_bytes();
            if let Some(dir) = p.strip_suffix(b"/") {
                glob(dir, path) || glob(&[p, b"*"].concat(), path)
            } else {
                glob(p, path) || (!p.contains(&b'*') && glob(&[p, b"/*"].concat(), path))
            }
        })
}

fn glob(pat: &[u8], s: &[u8]) -> bool {
    // Iterative wildcard match: on mismatch, let the last `*` swallow one more byte.
    let (mut p, mut i, mut star) = (0, 0, None);
    while i < s.len() {
        if p < pat.len() && pat[p] == b'*' {
            star = Some((p, i));
            p += 1;
        } else if p < pat.len() && pat[p] == s[i] {
            p += 1;
            i += 1;
        } else if let Some((sp, si)) = star {
            star = Some((sp, si + 1));
            (p, i) = (sp + 1, si + 1);
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// (type, name, file content or link target)
    type E<'a> = (T, &'a str, &'a str);
    const DIR: T = T::Directory;
    const REG: T = T::Regular;
    const SYM: T = T::Symlink;
    const LNK: T = T::Link;

    /// Writes name and link bytes straight into the header: Builder would refuse hostile paths.
    fn add(b: &mut tar::Builder<Vec<u8>>, (kind, name, extra): E, mode: u32) {
        let (link, data) = if matches!(kind, SYM | LNK) { (extra, "") } else { ("", extra) };
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_000_000_000);
        h.set_cksum();
        b.append(&h, data.as_bytes()).unwrap();
    }

    fn tarball(entries: &[E]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for &e in entries {
            add(&mut b, e, if e.0 == DIR { 0o755 } else { 0o644 });
        }
        b.into_inner().unwrap()
    }

    type Outcome = (tempfile::TempDir, Result<UnpackStats, UnpackError>);

    /// Unpacks `bytes` from `<tmp>/archive` (no extension: detection is by magic) into `<tmp>/out`.
    fn run(bytes: &[u8], strip: Strip, include: &[&str]) -> Outcome {
        let tmp = tempfile::tempdir().unwrap();
        let (archive, dest) = (tmp.path().join("archive"), tmp.path().join("out"));
        fs::write(&archive, bytes).unwrap();
        let include = include.iter().map(|s| s.to_string()).collect();
        let result = unpack(&archive, &dest, &UnpackOptions { strip, include });
        (tmp, result)
    }

    /// Every path under `dir`, sorted, directories with a trailing `/`.
    fn tree(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let name = e.file_name().into_string().unwrap();
            if e.file_type().unwrap().is_dir() {
                out.push(format!("{name}/"));
                out.extend(tree(&e.path()).iter().map(|p| format!("{name}/{p}")));
            } else {
                out.push(name);
            }
        }
        out.sort();
        out
    }

    #[test]
    #[rustfmt::skip]
    fn rejects_unsafe_entries_and_removes_dest() {
        let cases: &[(&[E], &str, &str)] = &[
            (&[(REG, "ok", "x"), (REG, "../evil", "x")], "../evil", "`..` component"),
            (&[(REG, "/abs/x", "x")], "/abs/x", "absolute path"),
            (&[(DIR, "a/", ""), (SYM, "a/l", "../../etc")], "a/l", "symlink escapes the tree"),
            (&[(SYM, "l", "/etc/passwd")], "l", "symlink target is absolute"),
            (&[(SYM, "d", "."), (REG, "d/d/x", "x")], "d/d/x", "path passes through a symlink"),
            // Lexically inside, but a/up is a symlink to the root, so b is out/..
            (&[(SYM, "a/up", ".."), (SYM, "b", "a/up/..")], "b", "symlink target has `..` after a name"),
            (&[(T::Char, "null", "")], "null", "device node"),
            (&[(T::Fifo, "p", "")], "p", "fifo"),
            (&[(T::new(b'Z'), "z", "")], "z", "unsupported entry type"),
            (&[(REG, "x", ""), (LNK, "h", "/x")], "h", "hardlink target is absolute"),
            (&[(REG, "x", ""), (LNK, "h", "a/../x")], "h", "hardlink target has a `..` component"),
            (&[(LNK, "h", "gone")], "h", "hardlink target is not an extracted regular file"),
            (&[(SYM, "s", "x"), (LNK, "h", "s")], "h", "hardlink target is not an extracted regular file"),
        ];
        for &(entries, want_entry, want_reason) in cases {
            let (tmp, result) = run(&tarball(entries), Strip::Components(0), &[]);
            match result {
                Err(UnpackError::UnsafePath { entry, reason, .. }) => {
                    assert_eq!((entry.as_str(), reason), (want_entry, want_reason));
                }
                other => panic!("{entries:?}: expected {want_reason}, got {other:?}"),
            }
            // dest is gone and nothing landed beside it (`../evil` would be <tmp>/evil).
            assert_eq!(tree(tmp.path()), ["archive"], "{entries:?}");
        }
        let (tmp, result) = run(&tarball(&[(REG, "../evil", "")]), Strip::Auto, &[]);
        let archive = tmp.path().join("archive").display().to_string();
        let want = format!("refusing entry `../evil` in `{archive}`: `..` component");
        assert_eq!(result.unwrap_err().to_string(), want);
    }

    #[test]
    fn excluded_entries_are_still_validated() {
        let entries = [(REG, "src/a", ""), (T::Block, "sda", "")];
        let (_tmp, result) = run(&tarball(&entries), Strip::Auto, &["src/"]);
        assert!(matches!(result, Err(UnpackError::UnsafePath { reason: "device node", .. })));
    }

    #[test]
    fn modes_are_sanitised_and_mtime_kept() {
        let mut b = tar::Builder::new(Vec::new());
        add(&mut b, (DIR, "ro/", ""), 0o500);
        add(&mut b, (REG, "ro/suid", "#!"), 0o4755);
        add(&mut b, (REG, "ro/readonly", ""), 0o444);
        add(&mut b, (DIR, "shared/", ""), 0o1777);
        add(&mut b, (REG, "shared/open", ""), 0o777);
        add(&mut b, (REG, "shared/sgid", ""), 0o2666);
        let (tmp, result) = run(&b.into_inner().unwrap(), Strip::Components(0), &[]);
        result.unwrap();
        let meta = |p: &str| fs::metadata(tmp.path().join("out").join(p)).unwrap();
        let paths = ["ro", "ro/suid", "ro/readonly", "shared", "shared/open", "shared/sgid"];
        let modes = paths.map(|p| meta(p).mode() & 0o7777);
        // No setuid, setgid or sticky bit, and nothing world-writable.
        assert_eq!(modes, [0o700, 0o755, 0o444, 0o775, 0o775, 0o664]);
        let mtime = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(meta("ro/suid").modified().unwrap(), mtime);
    }

    #[test]
    #[rustfmt::skip]
    fn strip() {
        let pax = (T::XGlobalHeader, "pax_global_header", "18 comment=abcdef\n");
        let cases: &[(&[E], Strip, &[&str])] = &[
            (&[pax, (DIR, "pkg/", ""), (REG, "pkg/Makefile", ""), (REG, "./pkg/src/a.c", "")],
                Strip::Auto, &["Makefile", "src/", "src/a.c"]),
            // The first entry suggests `a/`; `b/y` disproves it, forcing a clean restart unstripped.
            (&[(REG, "a/x", ""), (REG, "b/y", "")], Strip::Auto, &["a/", "a/x", "b/", "b/y"]),
            (&[(REG, "README", ""), (REG, "pkg/x", "")], Strip::Auto, &["README", "pkg/", "pkg/x"]),
            (&[(DIR, "./", ""), (DIR, "./pkg/", ""), (REG, "./pkg/x", "")], Strip::Auto, &["x"]),
            (&[(REG, "a/b", ""), (REG, "a/c/d", "")], Strip::Components(2), &["d"]),
        ];
        for &(entries, strip, want) in cases {
            let (tmp, result) = run(&tarball(entries), strip, &[]);
            result.unwrap();
            assert_eq!(tree(&tmp.path().join("out")), want, "{entries:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn include_patterns() {
        let names = ["Makefile", "Makefile.old", "scripts/a.sh", "scripts/sub/b", "scriptsx",
            "arch/x86/Makefile", "arch/x86/Makefile_32.cpu", "arch/x86/boot/x",
            "include/linux/kconfig.h", "include/linux/k.h", "tools/t", "toolsx"];
        let entries: Vec<E> = names.iter().map(|n| (REG, *n, "")).collect();
        let pats = ["Makefile", "scripts/", "arch/x86/Makefile*", "include/linux/kconfig.h", "tools"];
        let (tmp, result) = run(&tarball(&entries), Strip::Components(0), &pats);
        assert_eq!(result.unwrap().files, 7);
        assert_eq!(tree(&tmp.path().join("out")), ["Makefile", "arch/", "arch/x86/",
            "arch/x86/Makefile", "arch/x86/Makefile_32.cpu", "include/", "include/linux/",
            "include/linux/kconfig.h", "scripts/", "scripts/a.sh", "scripts/sub/", "scripts/sub/b",
            "tools/", "tools/t"]);
        // `*` crosses `/`; a trailing `/` also matches the directory entry itself.
        let inc = |p: &str, path: &str| included(&[p.to_string()], path.as_bytes());
        assert!(inc("a*c", "ab/xc") && inc("scripts/", "scripts") && inc("*", "x/y"));
        assert!(!inc("a*c", "ab/xcd") && !inc("x*y", "x") && !inc("a/b", "a"));
    }

    #[test]
    fn every_compression_is_detected_by_magic() {
        let big: String = (0..20_000).map(|i| format!("{i:09}\n")).collect(); // > one read buffer
        let plain = tarball(&[(DIR, "pkg/", ""), (REG, "pkg/big", &big), (SYM, "pkg/l", "big")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        gz.write_all(&plain).unwrap();
        bz.write_all(&plain).unwrap();
        xz.write_all(&plain).unwrap();
        let archives = [gz.finish(), bz.finish(), xz.finish()].map(Result::unwrap);
        let zst = zstd::encode_all(plain.as_slice(), 3).unwrap();
        for bytes in archives.iter().chain([&zst, &plain]) {
            let (tmp, result) = run(bytes, Strip::Auto, &[]);
            let want = UnpackStats { files: 1, dirs: 0, symlinks: 1, bytes: big.len() as u64 };
            assert_eq!(result.unwrap(), want);
            assert_eq!(fs::read_to_string(tmp.path().join("out/l")).unwrap(), big);
        }
    }

    #[test]
    fn links_inside_the_tree_and_duplicates() {
        let entries = [
            (DIR, "pkg/lib/", ""),
            (REG, "pkg/lib/x.so.1", "elf"),
            (SYM, "pkg/lib/x.so", "x.so.1"),
            (SYM, "pkg/lib/again", "./../lib"),
            (LNK, "pkg/y", "pkg/lib/x.so.1"), // hardlink targets are stripped too
            (REG, "pkg/dup", "old"),
            (REG, "pkg/dup", "new"),
            (LNK, "pkg/dup", "pkg/dup"), // GNU tar's form of a file archived twice
            (SYM, "pkg/s", "dup"),
            (REG, "pkg/s", "file replaces link"),
            (SYM, "pkg/d", "lib"),
            (DIR, "pkg/d/", ""), // replaces the link, so `d/f` is no longer through a symlink
            (REG, "pkg/d/f", ""),
        ];
        let (tmp, result) = run(&tarball(&entries), Strip::Auto, &[]);
        let want = UnpackStats { files: 6, dirs: 2, symlinks: 4, bytes: 27 };
        assert_eq!(result.unwrap(), want);
        let read = |p: &str| fs::read_to_string(tmp.path().join("out").join(p)).unwrap();
        assert_eq!([read("lib/x.so"), read("lib/again/x.so.1"), read("dup")], ["elf", "elf", "new"]);
        let meta = |p: &str| fs::symlink_metadata(tmp.path().join("out").join(p)).unwrap();
        assert_eq!(meta("y").ino(), meta("lib/x.so.1").ino());
        assert!(meta("s").is_file());
    }

    #[test]
    fn dest_must_be_missing_or_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let (archive, dest) = (tmp.path().join("a.tar"), tmp.path().join("out"));
        let opts = UnpackOptions::default();
        fs::write(&archive, tarball(&[(REG, "x", "")])).unwrap();
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("mine"), "keep").unwrap();
        let err = unpack(&archive, &dest, &opts).unwrap_err();
        assert!(matches!(err, UnpackError::NotEmpty { .. }), "{err:?}");
        assert_eq!(fs::read_to_string(dest.join("mine")).unwrap(), "keep");
        // An empty directory is fine, and after a failure it is handed back empty, not deleted.
        fs::remove_file(dest.join("mine")).unwrap();
        unpack(&archive, &dest, &opts).unwrap();
        assert_eq!(tree(&dest), ["x"]);
        fs::remove_file(dest.join("x")).unwrap();
        fs::write(&archive, tarball(&[(REG, "x", ""), (REG, "/y", "")])).unwrap();
        unpack(&archive, &dest, &opts).unwrap_err();
        assert!(dest.is_dir() && tree(&dest).is_empty());
    }

    #[test]
    fn unreadable_archives() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("missing");
        let err = unpack(&missing, &tmp.path().join("o"), &UnpackOptions::default());
        assert!(matches!(err, Err(UnpackError::Open { .. })), "{err:?}");
        let mut corrupt = tarball(&[(REG, "x", "hello")]);
        corrupt[0] ^= 1; // header checksum mismatch
        let bad_gzip = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3];
        for bytes in [&bad_gzip[..], &corrupt] {
            let (tmp, result) = run(bytes, Strip::Auto, &[]);
            assert!(matches!(result, Err(UnpackError::Read { .. })), "{result:?}");
            assert_eq!(tree(tmp.path()), ["archive"]);
        }
    }
}
