//! The record stage: what the build knew gathered into an `Inventory`, and the file manifest, the SBOMs
//! and the provenance written beside the image.

use std::collections::HashMap;

use petgraph::graph::NodeIndex;

use super::image::ImageFiles;
use super::{PipelineError, Planned, combined_license};
use crate::build::artifact::Artifact;
use crate::export::{self, Layering};
use crate::records::{self, BuildFacts, CollectRequest, FileFacts, OciDigests, RecordFile};
use crate::rootfs::RootfsTree;

pub(super) fn write(
    p: &Planned,
    tree: &RootfsTree,
    contents: &[NodeIndex],
    artifacts: &HashMap<NodeIndex, Artifact>,
    files: Vec<FileFacts>,
    image: &ImageFiles,
) -> Result<Vec<RecordFile>, PipelineError> {
    let sde = p.request.settings.source_date_epoch;
    let (rootfs_sha256, rootfs_size) = match &image.rootfs {
        Some(d) => d.clone(),
        None => export::tar::digest(tree, sde)?,
    };
    let digests: HashMap<NodeIndex, String> = artifacts.iter().map(|(i, a)| (*i, a.meta.tree_digest.clone())).collect();
    let licenses = contents.iter().filter_map(|&i| p.graph.as_ref().map(|g| g.recipe(i).license.as_str()));
    let inv = records::collect(&CollectRequest {
        name: &p.spec.name,
        version: &p.spec.version,
        description: &p.spec.description,
        recipe: &p.spec.recipe,
        reference: p.reference.qualified(),
        license: combined_license(licenses),
        graph: p.graph.as_ref(),
        contents,
        toolchain: &p.toolchain,
        artifacts: &digests,
        files,
        rootfs_sha256,
        rootfs_size,
        oci: image.oci.as_ref().map(|o| OciDigests {
            index: o.index_digest.clone(),
            manifest: o.manifest_digest.clone(),
            config: o.config_digest.clone(),
        }),
        outputs: image.subjects.clone(),
        build: facts(p),
        source_date_epoch: sde,
    })?;
    Ok(records::write(&inv, &p.request.image.out_dir)?)
}

/// The parameters that shape the image's bytes, named as the CLI names them.
fn facts(p: &Planned) -> BuildFacts {
    let opts = &p.request.image;
    BuildFacts {
        compose_version: env!("CARGO_PKG_VERSION").to_string(),
        sandboxed: p.request.settings.sandboxed,
        formats: opts.formats.iter().map(|f| f.name().to_string()).collect(),
        layers: match opts.layering {
            Layering::Single => "single",
            Layering::PerPackage { .. } => "per-package",
        }
        .to_string(),
        compression: opts.compression.name().to_string(),
    }
}
