//! What to build and into which outputs: plain library types, filled by the command layer from flags,
//! environment and the config file.

use std::path::PathBuf;

use crate::build::BuildSettings;
use crate::export::{Compression, Layering};

/// One `compose build`.
pub struct BuildRequest {
    /// The package or image recipe file.
    pub recipe: PathBuf,
    /// A toolchain name (looked up in `toolchains/` beside the recipes directory) or a path.
    pub toolchain: String,
    /// The platforms to build for, each a target of the toolchain file; empty: the host's (or the file's
    /// only target).
    pub platforms: Vec<crate::toolchain::Platform>,
    pub image: ImageOptions,
    pub settings: BuildSettings,
    pub lock: LockPolicy,
    /// Write a timings report (HTML and JSON) into `OUT_DIR/timings/`.
    pub timings: bool,
}

/// The image files to write.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    pub out_dir: PathBuf,
    pub formats: Vec<Format>,
    /// `NAME[:TAG]`; default NAME:VERSION.
    pub tag: Option<String>,
    pub layering: Layering,
    pub compression: Compression,
}

impl ImageOptions {
    pub fn has(&self, f: Format) -> bool {
        self.formats.contains(&f)
    }
}

/// Where the lock file is, and whether every input must match it.
#[derive(Debug, Clone)]
pub struct LockPolicy {
    pub path: PathBuf,
    pub locked: bool,
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The rootfs as a plain tar for `docker import` / `podman import`.
    Tar,
    /// An OCI image layout directory.
    Oci,
    /// The OCI layout as a tar, with Docker's manifest.json: `podman load` and `docker load` take it.
    OciArchive,
    /// `docker save`'s format, uncompressed layers.
    DockerArchive,
}

impl Format {
    /// The name the CLI and the provenance use.
    pub fn name(self) -> &'static str {
        match self {
            Format::Tar => "tar",
            Format::Oci => "oci",
            Format::OciArchive => "oci-archive",
            Format::DockerArchive => "docker-archive",
        }
    }

    /// The output file (or directory, for `oci`) of image `name` in this format.
    pub fn file_name(self, name: &str) -> String {
        let suffix = match self {
            Format::Tar => ".tar",
            Format::Oci => ".oci",
            Format::OciArchive => ".oci.tar",
            Format::DockerArchive => ".docker.tar",
        };
        format!("{name}{suffix}")
    }
}
