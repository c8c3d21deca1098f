//! The records half of `compose build`: gathering what the build knew into an `Inventory` and writing
//! the file manifest, the SBOMs and the provenance beside the image.

use std::collections::HashMap;

use clap::ValueEnum;
use petgraph::graph::NodeIndex;

use compose::export::{self, Reference};
use compose::graph::BuildGraph;
use compose::records::{self, BuildFacts, CollectRequest};
use compose::rootfs::RootfsTree;
use compose::toolchain::Toolchain;

use super::image::{ImageArgs, ImageSpec, Written};
use super::{Failure, exit};

pub struct Records<'a> {
    pub spec: &'a ImageSpec,
    pub reference: &'a Reference,
    pub graph: Option<&'a BuildGraph>,
    pub contents: &'a [NodeIndex],
    pub toolchain: &'a Toolchain,
    pub artifacts: &'a HashMap<NodeIndex, String>,
    pub tree: &'a RootfsTree,
    /// `records::files(tree)`, hashed while the image was exported.
    pub files: Vec<compose::records::FileFacts>,
    pub written: &'a Written,
    pub image: &'a ImageArgs,
    pub sandboxed: bool,
    pub license: Option<String>,
    pub source_date_epoch: u64,
}

/// Writes the four records into the output directory; returns the lines to print.
pub fn write(r: Records) -> Result<Vec<String>, Failure> {
    let fail = |e: records::RecordsError| Failure::new(exit::EXPORT, e);
    let (rootfs_sha256, rootfs_size) = match &r.written.rootfs {
        Some(d) => d.clone(),
        None => export::tar::digest(r.tree, r.source_date_epoch).map_err(|e| Failure::new(exit::EXPORT, e))?,
    };
    let name = |v: &dyn Fn() -> Option<clap::builder::PossibleValue>| {
        v().map(|p| p.get_name().to_string()).unwrap_or_default()
    };
    let build = BuildFacts {
        compose_version: env!("CARGO_PKG_VERSION").to_string(),
        sandboxed: r.sandboxed,
        formats: r.image.format.iter().map(|f| name(&|| f.to_possible_value())).collect(),
        layers: name(&|| r.image.layers.to_possible_value()),
        compression: name(&|| r.image.compression.to_possible_value()),
    };
    let inv = records::collect(&CollectRequest {
        name: &r.spec.name,
        version: &r.spec.version,
        description: &r.spec.description,
        recipe: &r.spec.recipe,
        reference: r.reference.qualified(),
        license: r.license.clone(),
        graph: r.graph,
        contents: r.contents,
        toolchain: r.toolchain,
        artifacts: r.artifacts,
        files: r.files,
        rootfs_sha256,
        rootfs_size,
        oci: r.written.oci.clone(),
        outputs: r.written.outputs.clone(),
        build,
        source_date_epoch: r.source_date_epoch,
    })
    .map_err(fail)?;
    let written = records::write(&inv, &r.image.out_dir).map_err(fail)?;
    Ok(written.iter().map(|e| format!("record       {}  {} bytes", e.path.display(), e.size)).collect())
}
