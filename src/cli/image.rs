//! The image flags of `compose build` (and `compose verify`, which passes them on), turned into the
//! pipeline's `ImageOptions`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use compose::export::{Compression, Layering};
use compose::pipeline::{Format, ImageOptions};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// The rootfs as a plain tar for `docker import` / `podman import`.
    Tar,
    /// An OCI image layout directory.
    Oci,
    /// The OCI layout as a tar, with Docker's manifest.json: `podman load` and `docker load` take it.
    OciArchive,
    /// `docker save`'s format, uncompressed layers.
    DockerArchive,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Tar => Format::Tar,
            FormatArg::Oci => Format::Oci,
            FormatArg::OciArchive => Format::OciArchive,
            FormatArg::DockerArchive => Format::DockerArchive,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayersArg {
    Single,
    PerPackage,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    Gzip,
    Zstd,
}

impl From<CompressionArg> for Compression {
    fn from(c: CompressionArg) -> Compression {
        match c {
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        }
    }
}

#[derive(Args)]
pub struct ImageArgs {
    /// Output directory: NAME.tar, NAME.oci/, NAME.oci.tar, NAME.docker.tar.
    #[arg(short = 'o', long, default_value = "out")]
    pub out_dir: PathBuf,
    /// What to write, comma-separated or repeated.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["tar", "oci-archive"])]
    pub format: Vec<FormatArg>,
    /// Image name and tag, e.g. `tools:1.0` or `registry.example/team/tools:1.0`. Default: NAME:VERSION.
    #[arg(long)]
    pub tag: Option<String>,
    /// One layer, or one per package (images sharing packages share those layers).
    #[arg(long, value_enum, default_value = "single")]
    pub layers: LayersArg,
    /// The most layers `--layers per-package` makes; the smallest packages share the last one.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(3..=127))]
    pub max_layers: u16,
    /// Layer compression (zstd needs podman or containerd; Docker's classic store reads gzip only).
    #[arg(long, value_enum, default_value = "gzip")]
    pub compression: CompressionArg,
}

impl ImageArgs {
    pub fn options(&self) -> ImageOptions {
        ImageOptions {
            out_dir: self.out_dir.clone(),
            formats: self.format.iter().map(|&f| f.into()).collect(),
            tag: self.tag.clone(),
            layering: match self.layers {
                LayersArg::Single => Layering::Single,
                LayersArg::PerPackage => Layering::PerPackage { max_layers: self.max_layers.into() },
            },
            compression: self.compression.into(),
        }
    }
}
