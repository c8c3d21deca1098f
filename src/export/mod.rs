//! Exporters: read an assembled `RootfsTree` and write image files. Every output is written to a temp
//! file beside its final path and renamed into place, so a failed export leaves nothing half-written.

mod check;
mod json;
mod layers;
pub mod memo;
pub mod oci;
mod reference;
pub mod tar;

pub use check::{ConfigError, check_config};
pub use json::{canonical, rfc3339};
pub use layers::{Compression, LayerBlob, Layering};
pub use oci::{
    ImageMeta, ImageRequest, IndexOutputs, Outputs, PlatformImage, WrittenImage, WrittenIndex, WrittenManifest,
};
pub use reference::Reference;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot {op} `{}`", path.display())]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("cannot write the image index `{}`: no image was given", path.display())]
    NoImages { path: PathBuf },
    #[error("cannot write the image index `{}`: platform `{platform}` is given twice", path.display())]
    PlatformTwice { path: PathBuf, platform: String },
    #[error("cannot write the image index `{}`: its images are tagged both `{first}` and `{other}`", path.display())]
    TagsDiffer { path: PathBuf, first: String, other: String },
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Exported {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

/// A temp file beside `out` (same filesystem, so `publish` is a rename), creating `out`'s directory.
pub(crate) fn temp_beside(out: &std::path::Path) -> Result<tempfile::NamedTempFile, ExportError> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let io = |op, source| ExportError::Io { op, path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(|e| io("create the output directory", e))?;
    tempfile::Builder::new().prefix(&temp_prefix()).tempfile_in(dir).map_err(|e| io("create a temp file in", e))
}

/// Every temp file and staging directory compose makes in an output directory starts with this, then
/// its pid: `.compose-<pid>-`. A process killed mid-export leaves one behind; `sweep` removes it.
const TEMP_PREFIX: &str = ".compose-";

pub(crate) fn temp_prefix() -> String {
    format!("{TEMP_PREFIX}{}-", std::process::id())
}

/// Removes from `dir` what killed compose processes left: `.compose-<pid>-*` entries whose process no
/// longer exists (a live one, another compose writing here now, is never touched). Best effort: an
/// entry that cannot be removed is left for the next sweep. Returns how many were removed.
pub fn sweep(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(TEMP_PREFIX).and_then(|r| r.split('-').next()?.parse::<i32>().ok()) else {
            continue;
        };
        if pid_alive(pid) {
            continue;
        }
        let p = e.path();
        let gone = if e.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        removed += usize::from(gone.is_ok());
    }
    removed
}

/// Whether a process with this pid exists (`kill(pid, 0)`: EPERM still means it exists).
fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Renames a finished temp file to `out`, readable by all (a temp file is created 0600).
pub(crate) fn publish(tmp: tempfile::NamedTempFile, out: &std::path::Path) -> Result<(), ExportError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |op, source| ExportError::Io { op, path: out.to_path_buf(), source };
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(|e| io("set permissions of", e))?;
    tmp.persist(out).map_err(|e| io("rename into place", e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A killed export's temp file and staging directory go; a live process's (this one's) stay, and so
    /// does everything that is not compose's.
    #[test]
    fn sweep_removes_only_what_dead_processes_left() {
        let d = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        std::fs::write(d.path().join(format!(".compose-{dead}-abc")), b"half a tar").unwrap();
        std::fs::create_dir_all(d.path().join(format!(".compose-{dead}-xyz/layout/blobs"))).unwrap();
        let mine = temp_beside(&d.path().join("busybox.tar")).unwrap();
        std::fs::write(d.path().join(".compose-notapid-1"), b"").unwrap();
        std::fs::write(d.path().join("busybox.tar"), b"").unwrap();
        assert_eq!(sweep(d.path()), 2);
        let mut left: Vec<String> =
            std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        let own = mine.path().file_name().unwrap().to_str().unwrap().to_string();
        assert!(own.starts_with(&format!(".compose-{}-", std::process::id())), "{own}");
        let mut want = vec![".compose-notapid-1".to_string(), own, "busybox.tar".to_string()];
        want.sort();
        assert_eq!(left, want);
    }
}
