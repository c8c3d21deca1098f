//! The OCI image layout being written: a staging directory beside the outputs that holds
//! `layout/{oci-layout,index.json,blobs/sha256/*}` (and, for a docker-archive, the raw layer tars),
//! and the atomic swap that puts a finished layout where the user asked for it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::super::ExportError;
use super::super::json::canonical;

/// A content-addressed blob: `sha256:<hex>` and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Blob {
    pub digest: String,
    pub size: u64,
}

/// A layout under construction, removed (with any layout it displaced) when dropped.
pub(super) struct Staging {
    _dir: tempfile::TempDir,
    pub layout: PathBuf,
    pub blobs: PathBuf,
    /// Where layers' uncompressed tars go, when a docker-archive wants them.
    pub raw: Option<PathBuf>,
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ExportError {
    let path = path.to_path_buf();
    move |source| ExportError::Io { op, path, source }
}

impl Staging {
    /// A fresh staging directory in `parent` (on the outputs' filesystem, so publishing is a rename).
    pub fn new(parent: &Path, want_raw: bool) -> Result<Staging, ExportError> {
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        let dir = tempfile::Builder::new()
            .prefix(&super::super::temp_prefix())
            .tempdir_in(parent)
            .map_err(io("create a staging directory in", parent))?;
        let layout = dir.path().join("layout");
        let blobs = layout.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).map_err(io("create", &blobs))?;
        let raw = want_raw.then(|| dir.path().join("raw"));
        if let Some(r) = &raw {
            std::fs::create_dir_all(r).map_err(io("create", r))?;
        }
        Ok(Staging { _dir: dir, layout, blobs, raw })
    }

    /// Writes `v` as a canonical JSON blob.
    pub fn put_json(&self, v: &Value) -> Result<Blob, ExportError> {
        let bytes = canonical(v);
        let hex = crate::digest::Sha256::hex_of(&bytes);
        write_file(&self.blobs.join(&hex), &bytes)?;
        Ok(Blob { digest: format!("sha256:{hex}"), size: bytes.len() as u64 })
    }

    /// Writes `index.json` and `oci-layout`, completing the layout; returns the index's digest.
    pub fn finish(&self, index: &Value) -> Result<String, ExportError> {
        let bytes = canonical(index);
        write_file(&self.layout.join("index.json"), &bytes)?;
        write_file(&self.layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        Ok(format!("sha256:{}", crate::digest::Sha256::hex_of(&bytes)))
    }

    /// Puts the finished layout at `out` (see `replace_dir`).
    pub fn publish(&self, out: &Path) -> Result<(), ExportError> {
        replace_dir(&self.layout, out)
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    std::fs::write(path, bytes).map_err(io("write", path))
}

/// Puts the staged directory at `out` in one step: a plain rename when nothing is there, else an atomic
/// exchange (`renameat2(RENAME_EXCHANGE)`) after which the old layout sits at the staged path and is
/// removed with the staging directory. A reader (or a process killed at any moment) sees the old
/// layout or the new one, never none and never half; concurrent writers each swap in a whole layout.
/// A filesystem without the exchange falls back to moving the old one aside first.
fn replace_dir(staged: &Path, out: &Path) -> Result<(), ExportError> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    // Left by a compose that was killed mid-way through the fallback below (or by an older compose).
    let old = out.with_extension("old-compose");
    let _ = std::fs::remove_dir_all(&old);
    loop {
        if out.symlink_metadata().is_err() {
            match std::fs::rename(staged, out) {
                Ok(()) => return Ok(()),
                // Another process put one there meanwhile: exchange with it instead.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => continue,
                Err(e) => return Err(io("rename into place", out)(e)),
            }
        }
        match exchange(staged, out) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => break,
            Err(e) => return Err(io("swap into place", out)(e)),
        }
    }
    std::fs::rename(out, &old).map_err(io("move aside", out))?;
    std::fs::rename(staged, out).map_err(io("rename into place", out))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Swaps two paths atomically.
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths, relative to the working directory.
    let r = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}
