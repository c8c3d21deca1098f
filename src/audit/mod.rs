//! Auditing an image: what it holds, package by package, and what in it widens the attack surface.
//!
//! `image::open` reads a rootfs tar, an OCI layout, an OCI archive or a docker-archive into a `Tree`
//! (layers applied in order, whiteouts honoured, blobs checked against their digests); `analyse` turns
//! the tree and, when there is one, the file manifest (`NAME.files.json`) into an `Audit`: sizes by
//! package, every ELF file and how it is linked, setuid/setgid and world-writable paths, shells and
//! network tools, unowned files and files that differ from the manifest. `policy` checks an audit
//! against the classes a user denies, and `chart` draws sizes by package as SVG or HTML.
//!
//! Guarantees: nothing is unpacked to the host filesystem and no path is ever resolved outside the
//! image; a damaged ELF file is reported as such, not fatal; without a manifest, ownership is reported
//! as unknown rather than guessed.

mod analyse;
pub mod chart;
pub mod elf;
pub mod image;
mod layer;
pub mod manifest;
pub mod policy;
pub mod tree;

use std::path::PathBuf;

pub use analyse::{
    Audit, Dep, ElfFile, Group, ImageSummary, ManifestSummary, Mismatch, Program, Sizes, Special, Writable, analyse,
};
pub use image::{Image, ImageKind, open};
pub use manifest::FileManifest;
pub use policy::{Class, Violation};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot read `{}`", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("`{}`: {what}", path.display())]
    Invalid { path: PathBuf, what: String },
    /// Several images and no `--tag`: `choices` names them.
    #[error("`{}`: {what}", path.display())]
    Ambiguous { path: PathBuf, what: String, choices: Vec<String> },
    #[error("`{}`: no image is tagged `{tag}`", path.display())]
    NoSuchTag { path: PathBuf, tag: String, choices: Vec<String> },
    #[error("cannot read the file manifest `{}`", path.display())]
    ReadManifest { path: PathBuf, source: std::io::Error },
    #[error("`{}` is not a valid file manifest", path.display())]
    ParseManifest { path: PathBuf, source: serde_json::Error },
    #[error("`{}` is a `{found}` document, not a `{}` file manifest", path.display(), manifest::FORMAT)]
    ManifestFormat { path: PathBuf, found: String },
    #[error("cannot write the chart `{}`", path.display())]
    WriteChart { path: PathBuf, source: std::io::Error },
}
