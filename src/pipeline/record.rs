//! The record stage: what the build knew gathered into an `Inventory`, and the file manifest, the SBOMs
//! and the provenance written beside the image.

use std::collections::HashMap;

use petgraph::graph::NodeIndex;

use super::image::PartRun;
use super::{PipelineError, Planned, PlatformOutcome, WrittenOci, combined_license};
use crate::build::artifact::Artifact;
use crate::export::{self, Layering};
use crate::records::{self, BuildFacts, CollectRequest, FileFacts, OciDigests, RecordFile};

/// Every platform's records, and one provenance for them all.
pub(super) fn write_all(
    p: &Planned,
    runs: Vec<PartRun>,
    oci: Option<&WrittenOci>,
    artifacts: &HashMap<NodeIndex, Artifact>,
) -> Result<(Vec<PlatformOutcome>, Vec<RecordFile>), PipelineError> {
    let dir = &p.request.image.out_dir;
    let single = runs.len() == 1;
    let (mut outcomes, mut invs, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for mut run in runs {
        let digests = oci.and_then(|o| o.digests_for(&run.part.platform));
        let files = std::mem::take(&mut run.files);
        let subjects = run.exported.subjects.clone();
        let inv = inventory(p, &run, artifacts, files, digests, subjects)?;
        let records = if single { records::write(&inv, dir)? } else { records::write_platform(&inv, dir)? };
        all.extend(records.iter().cloned());
        outcomes.push(PlatformOutcome {
            entries: run.tree.entries.len(),
            files: run.tree.file_count(),
            part: run.part,
            rootfs_tar: run.exported.tar,
            docker_archive: run.exported.docker,
            records,
        });
        invs.push(inv);
    }
    if !single {
        if let Some(o) = oci {
            let extra = o.files.iter().filter(|f| f.path.is_file()).map(super::image::subject);
            invs[0].outputs.extend(extra);
            // What the tag names: the image index of every platform's manifest.
            let sha256 = o.manifest_digest.trim_start_matches("sha256:").to_string();
            invs[0].outputs.push(records::Subject { name: p.reference.qualified(), sha256 });
        }
        all.push(records::write_provenance(&invs, dir, &p.spec.name)?);
    }
    Ok((outcomes, all))
}

/// What the records of one platform say.
fn inventory(
    p: &Planned,
    run: &PartRun,
    artifacts: &HashMap<NodeIndex, Artifact>,
    files: Vec<FileFacts>,
    oci: Option<OciDigests>,
    outputs: Vec<records::Subject>,
) -> Result<records::Inventory, PipelineError> {
    let (tree, contents, image) = (&run.tree, &run.contents, &run.exported);
    let sde = p.request.settings.source_date_epoch;
    let (rootfs_sha256, rootfs_size) = match &image.rootfs {
        Some(d) => d.clone(),
        None => export::tar::digest(tree, sde)?,
    };
    let digests: HashMap<NodeIndex, String> = artifacts.iter().map(|(i, a)| (*i, a.meta.tree_digest.clone())).collect();
    let configs: HashMap<NodeIndex, _> =
        artifacts.iter().filter_map(|(i, a)| Some((*i, a.meta.config.clone()?))).collect();
    let licenses = contents.iter().filter_map(|&i| p.graph.as_ref().map(|g| g.recipe(i).license.as_str()));
    Ok(records::collect(&CollectRequest {
        name: &run.part.name,
        version: &p.spec.version,
        description: &p.spec.description,
        recipe: &p.spec.recipe,
        reference: p.reference.qualified(),
        license: combined_license(licenses),
        graph: p.graph.as_ref(),
        contents,
        target: run.part.target,
        toolchain: &p.toolchains[run.part.target],
        artifacts: &digests,
        configs: &configs,
        files,
        rootfs_sha256,
        rootfs_size,
        oci,
        outputs,
        build: facts(p),
        source_date_epoch: sde,
    })?)
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
