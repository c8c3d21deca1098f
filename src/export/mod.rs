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
pub use json::rfc3339;
pub use layers::{Compression, LayerBlob, Layering};
pub use oci::{ImageMeta, ImageRequest, Outputs, WrittenImage};
pub use reference::Reference;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot {op} `{}`", path.display())]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
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
    tempfile::NamedTempFile::new_in(dir).map_err(|e| io("create a temp file in", e))
}

/// Renames a finished temp file to `out`, readable by all (a temp file is created 0600).
pub(crate) fn publish(tmp: tempfile::NamedTempFile, out: &std::path::Path) -> Result<(), ExportError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |op, source| ExportError::Io { op, path: out.to_path_buf(), source };
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(|e| io("set permissions of", e))?;
    tmp.persist(out).map_err(|e| io("rename into place", e.error))?;
    Ok(())
}
