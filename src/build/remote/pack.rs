//! An artifact's `tree/` as a transport layer, and back.
//!
//! `pack` writes a deterministic tar (entries sorted by path, GNU headers built by hand: owner 0:0 with
//! no names, permission bits kept with setuid and sticky, `mtime = min(mtime, SOURCE_DATE_EPOCH)`,
//! symlinks as links), zstd level 3, single-threaded: the same tree packs to the same bytes on every
//! machine. The root directory is the entry `./`, since the tree digest covers its mode.
//!
//! `unpack` trusts nothing in the layer: no absolute path, no `..`, no entry twice, no hard link,
//! device or fifo, no symlink that leaves the tree (absolute, or climbing above the root:
//! `source::unpack::symlink_check`), and every entry's directory must be an earlier directory entry, so
//! nothing is ever written through a symlink. The tree is created in a fresh directory; on any error it
//! is removed. Directories get their modes and mtimes last, so a read-only directory can be filled.
//! `pack` refuses (`Unshareable`) any tree `unpack` would refuse, so a published artifact always unpacks.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use tar::EntryType as T;

use crate::source::unpack::{components, symlink_check};

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("`{}` cannot be shared: {reason}", path.display())]
    Unshareable { path: PathBuf, reason: String },
    #[error("cannot {op} `{}`", path.display())]
    Io { op: &'static str, path: PathBuf, source: io::Error },
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("refusing the layer's entry `{entry}`: {reason}")]
    Refused { entry: String, reason: &'static str },
    #[error("cannot read the layer `{}`", layer.display())]
    Read { layer: PathBuf, source: io::Error },
    #[error("cannot write `{}`", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// Writes `tree` into `out` as a zstd-compressed deterministic tar, and returns `out` and the number of
/// content bytes of the tree's files.
pub fn pack<W: Write>(tree: &Path, source_date_epoch: u64, out: W) -> Result<(W, u64), PackError> {
    let io = |op, p: &Path| {
        let path = p.to_path_buf();
        move |source| PackError::Io { op, path, source }
    };
    let mut z = zstd::stream::write::Encoder::new(out, 3).map_err(io("start zstd for", tree))?;
    z.include_checksum(true).map_err(io("configure zstd for", tree))?;
    let mut b = tar::Builder::new(z);
    let mut bytes = 0;
    for e in walkdir::WalkDir::new(tree).follow_links(false).sort_by_file_name() {
        let e = e.map_err(|e| {
            let path = e.path().unwrap_or(tree).to_path_buf();
            PackError::Io { op: "read", path, source: e.into() }
        })?;
        let (path, rel) = (e.path(), e.path().strip_prefix(tree).expect("walkdir stays under its root"));
        let m = path.symlink_metadata().map_err(io("stat", path))?;
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(m.mode() & 0o7777);
        h.set_mtime((m.mtime().max(0) as u64).min(source_date_epoch));
        h.set_size(0);
        let ft = m.file_type();
        let unshareable = |reason: String| PackError::Unshareable { path: path.to_path_buf(), reason };
        if rel.as_os_str().is_empty() {
            h.set_entry_type(T::Directory);
            h.as_gnu_mut().expect("a GNU header").name[..2].copy_from_slice(b"./");
            h.set_cksum();
            b.append(&h, io::empty()).map_err(io("pack", path))?;
        } else if ft.is_dir() {
            h.set_entry_type(T::Directory);
            let mut name = rel.as_os_str().to_owned();
            name.push("/");
            b.append_data(&mut h, name, io::empty()).map_err(io("pack", path))?;
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(io("read the link", path))?;
            symlink_check(rel.components().count() - 1, target.as_os_str().as_bytes())
                .map_err(|r| unshareable(format!("{r} (`{}`)", target.display())))?;
            h.set_entry_type(T::Symlink);
            b.append_link(&mut h, rel, &target).map_err(io("pack", path))?;
        } else if ft.is_file() {
            h.set_entry_type(T::Regular);
            h.set_size(m.len());
            let mut f = Counted { inner: File::open(path).map_err(io("read", path))?.take(m.len()), n: 0 };
            b.append_data(&mut h, rel, &mut f).map_err(io("pack", path))?;
            if f.n != m.len() {
                return Err(unshareable(format!("its size changed from {} while it was packed", m.len())));
            }
            bytes += m.len();
        } else {
            return Err(unshareable("not a file, directory or symlink".into()));
        }
    }
    let z = b.into_inner().map_err(io("finish the tar of", tree))?;
    let out = z.finish().map_err(io("finish zstd for", tree))?;
    Ok((out, bytes))
}

/// A reader that counts what it gave.
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// Unpacks the zstd tar `layer` into `dest`, which must not exist. Returns the content bytes written.
/// On any error `dest` is removed.
pub fn unpack(layer: &Path, dest: &Path) -> Result<u64, UnpackError> {
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| UnpackError::Write { path, source }
    };
    fs::create_dir(dest).map_err(werr(dest))?;
    fs::set_permissions(dest, fs::Permissions::from_mode(0o700)).map_err(werr(dest))?;
    let result = extract(layer, dest);
    if result.is_err() {
        let _ = make_removable(dest).and_then(|()| fs::remove_dir_all(dest));
    }
    result
}

fn extract(layer: &Path, dest: &Path) -> Result<u64, UnpackError> {
    let rerr = |source| UnpackError::Read { layer: layer.to_path_buf(), source };
    let file = File::open(layer).map_err(rerr)?;
    let mut ar = tar::Archive::new(zstd::stream::read::Decoder::new(file).map_err(rerr)?);
    // Relative paths: every entry seen, and the directories among them ("" is the root).
    let (mut seen, mut dirs) = (HashSet::new(), HashSet::from([PathBuf::new()]));
    // Modes and mtimes of directories, applied once everything is written.
    let mut dir_stamps: Vec<(PathBuf, u32, u64)> = vec![(dest.to_path_buf(), 0o755, 0)];
    let mut bytes = 0;
    for entry in ar.entries().map_err(rerr)? {
        let mut entry = entry.map_err(rerr)?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let refuse = |reason| UnpackError::Refused { entry: name.clone(), reason };
        let h = entry.header();
        let (kind, mode, mtime) = (h.entry_type(), h.mode().map_err(rerr)? & 0o7777, h.mtime().map_err(rerr)?);
        let comps = components(&raw).map_err(refuse)?;
        if comps.is_empty() {
            if kind != T::Directory || raw != b"./" || !seen.insert(PathBuf::new()) {
                return Err(refuse("an entry with no name"));
            }
            dir_stamps[0] = (dest.to_path_buf(), mode, mtime);
            continue;
        }
        let rel: PathBuf = comps.iter().map(|c| OsStr::from_bytes(c)).collect();
        if !dirs.contains(rel.parent().unwrap_or(Path::new(""))) {
            return Err(refuse("its directory is not an earlier directory entry"));
        }
        if !seen.insert(rel.clone()) {
            return Err(refuse("a second entry for the same path"));
        }
        let full = dest.join(&rel);
        let werr = |source| UnpackError::Write { path: full.clone(), source };
        match kind {
            T::Directory => {
                fs::create_dir(&full).map_err(werr)?;
                fs::set_permissions(&full, fs::Permissions::from_mode(0o700)).map_err(werr)?;
                dir_stamps.push((full.clone(), mode, mtime));
                dirs.insert(rel);
            }
            T::Regular => {
                let mut f = File::create_new(&full).map_err(werr)?;
                bytes += io::copy(&mut entry, &mut f).map_err(werr)?;
                f.set_permissions(fs::Permissions::from_mode(mode)).map_err(werr)?;
                drop(f);
                set_mtime(&full, mtime).map_err(werr)?;
            }
            T::Symlink => {
                let target = entry.link_name_bytes().ok_or_else(|| refuse("a symlink without a target"))?;
                symlink_check(comps.len() - 1, &target).map_err(refuse)?;
                symlink(OsStr::from_bytes(&target), &full).map_err(werr)?;
                set_mtime(&full, mtime).map_err(werr)?;
            }
            T::Link => return Err(refuse("a hard link")),
            T::Char | T::Block => return Err(refuse("a device node")),
            T::Fifo => return Err(refuse("a fifo")),
            _ => return Err(refuse("an unsupported entry type")),
        }
    }
    for (dir, mode, mtime) in dir_stamps.iter().rev() {
        let werr = |source| UnpackError::Write { path: dir.clone(), source };
        set_mtime(dir, *mtime).map_err(werr)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(*mode)).map_err(werr)?;
    }
    Ok(bytes)
}

/// Sets the mtime (and atime) of `path` itself, never of what a symlink points at.
fn set_mtime(path: &Path, mtime: u64) -> io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let t = libc::timespec { tv_sec: mtime.min(i64::MAX as u64) as libc::time_t, tv_nsec: 0 };
    let times = [t, t];
    // SAFETY: `c` is a NUL-terminated path and `times` two valid timespecs, both alive for the call.
    let r = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Removes `dir` even where a tree it holds has directories without write permission (a refused
/// download's tree keeps the modes it was packed with).
pub fn remove_tree(dir: &Path) {
    let _ = make_removable(dir);
    let _ = fs::remove_dir_all(dir);
}

/// Gives the owner rwx on every directory under `dir`, so a half-unpacked tree can be removed.
fn make_removable(dir: &Path) -> io::Result<()> {
    for e in walkdir::WalkDir::new(dir).follow_links(false).into_iter().flatten() {
        if e.file_type().is_dir() {
            let mode = e.metadata().map(|m| m.mode()).unwrap_or(0);
            fs::set_permissions(e.path(), fs::Permissions::from_mode((mode & 0o7777) | 0o700))?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "pack_tests.rs"]
mod tests;
