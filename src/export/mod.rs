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

/// The largest write(2) an exporter makes. The kernel sizes new page-cache folios by the write: a 1 MiB
/// write asks for high-order folios, which on a VM that hands free memory back to its host are the cold
/// ones (each page faults on the host as it is first filled). 16 KiB writes take small, recently freed
/// folios: on benchmark (c) the tar export took 0.55-0.60 s with 16 KiB writes, 1.3-1.7 s with 1 MiB.
pub(crate) const WRITE_PIECE: usize = 16 << 10;

/// A writer that passes at most `WRITE_PIECE` bytes to `W` per call; put it under a `BufWriter`, whose
/// flush then writes its buffer in pieces.
pub(crate) struct SmallWrites<W>(pub W);

impl<W: std::io::Write> std::io::Write for SmallWrites<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(&buf[..buf.len().min(WRITE_PIECE)])
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
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
