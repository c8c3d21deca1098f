//! Auditing an image: what it holds, package by package, and what in it widens the attack surface.
//!
//! `image::open` reads a rootfs tar, an OCI layout, an OCI archive or a docker-archive into a `Tree`
//! (one image picked by tag, then by platform from a multi-platform index; layers applied in order,
//! whiteouts honoured, blobs checked against their digests); `analyse` turns the tree and, when there
//! is one, the file manifest (`NAME.files.json`) into an `Audit`: sizes by package, every ELF file and
//! how it is linked, the machines the ELF files are for, setuid/setgid and world-writable paths, shells
//! and network tools, unowned files and files that differ from the manifest. `policy` checks an audit
//! against the classes a user denies, `chart` draws sizes by package as SVG or HTML, and `text` writes
//! the report people read. `audit` runs them for one `AuditRequest`.
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
mod text;
pub mod tree;

use std::path::PathBuf;

use crate::toolchain::Platform;

pub use analyse::{
    Audit, Dep, ElfFile, Group, ImageSummary, ManifestSummary, Mismatch, Program, Sizes, Special, Writable, analyse,
};
pub use image::{Image, ImageKind, Select, open};
pub use manifest::FileManifest;
pub use policy::{Class, Violation};
pub use text::text;

/// One audit: which image, which manifest, which classes of findings are denied.
#[derive(Debug, Clone, Default)]
pub struct AuditRequest {
    /// A rootfs tar, an OCI layout directory, an OCI archive or a docker-archive.
    pub image: PathBuf,
    /// Which image of several (a tag or a full name).
    pub tag: Option<String>,
    /// Which platform's image, when the index lists several platforms; `None`: this machine's.
    /// Not checked against a rootfs tar or a docker-archive (one platform each).
    pub platform: Option<Platform>,
    /// The file manifest; `None`: `NAME.files.json` beside the image, if it is there (for a platform
    /// picked from a multi-platform image, `NAME-ARCH.files.json` first).
    pub manifest: Option<PathBuf>,
    pub deny: Vec<Class>,
}

/// Opens the image and its manifest, analyses it, and checks it against the denied classes
/// (`Audit::violations`).
pub fn audit(req: &AuditRequest) -> Result<Audit, AuditError> {
    let image = open(&req.image, Select { tag: req.tag.as_deref(), platform: req.platform.as_ref() })?;
    // A multi-platform build writes one image and a manifest per platform, NAME-ARCH.files.json.
    let arch = image.platform.as_ref().filter(|_| !image.platforms.is_empty()).map(Platform::arch);
    let manifest_path = req.manifest.clone().or_else(|| manifest::beside(&req.image, arch));
    let manifest = manifest_path.as_deref().map(manifest::read).transpose()?;
    let mut report = analyse(&image, manifest_path.as_deref().zip(manifest.as_ref()));
    report.violations = policy::check(&report, &req.deny);
    Ok(report)
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot read `{}`", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("`{}`: {what}", path.display())]
    Invalid { path: PathBuf, what: String },
    /// Several images and no `--tag` (or several platforms matching `--platform`): `choices` names them,
    /// `by` is the flag that picks one.
    #[error("`{}`: {what}", path.display())]
    Ambiguous { path: PathBuf, what: String, choices: Vec<String>, by: &'static str },
    #[error("`{}`: no image is tagged `{tag}`", path.display())]
    NoSuchTag { path: PathBuf, tag: String, choices: Vec<String> },
    /// A multi-platform image without one for `platform` (`host`: no `--platform` was given, so this
    /// machine's); `choices` names the platforms it has.
    #[error(
        "`{}`: {what} has no image for {}{platform}",
        path.display(),
        if *host { "this machine's platform " } else { "" }
    )]
    NoSuchPlatform { path: PathBuf, what: String, platform: String, host: bool, choices: Vec<String> },
    #[error("cannot read the file manifest `{}`", path.display())]
    ReadManifest { path: PathBuf, source: std::io::Error },
    #[error("`{}` is not a valid file manifest", path.display())]
    ParseManifest { path: PathBuf, source: serde_json::Error },
    #[error("`{}` is a `{found}` document, not a `{}` file manifest", path.display(), manifest::FORMAT)]
    ManifestFormat { path: PathBuf, found: String },
    #[error("cannot write the chart `{}`", path.display())]
    WriteChart { path: PathBuf, source: std::io::Error },
}
