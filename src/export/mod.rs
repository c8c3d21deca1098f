//! Exporters: read an assembled `RootfsTree` and write image files. Every output is written to a temp
//! file beside its final path and renamed into place, so a failed export leaves nothing half-written.

pub mod tar;

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
