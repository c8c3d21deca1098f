//! The export stage: every requested format written from the assembled rootfs, while the records'
//! per-file digests are gathered beside it on another thread (from the artifacts' indexes, hashing on
//! rayon only what they do not describe).

use std::collections::{BTreeMap, HashMap};

use petgraph::graph::NodeIndex;

use super::{Format, Part, PipelineError, Planned, WrittenOci};
use crate::build::artifact::Artifact;
use crate::export::memo::{self, DigestMemo, Origin};
use crate::export::{self, Exported, ImageMeta, IndexOutputs, Outputs, PlatformImage};
use crate::recipe::Recipe;
use crate::records::{self, FileFacts, Subject};
use crate::rootfs::RootfsTree;

/// One platform's assembled rootfs and what the export stage wrote from it.
pub(super) struct PartRun {
    pub part: Part,
    /// Holds the generated files the tree points at until the run is done.
    pub _scratch: crate::build::lock::WorkDir,
    pub tree: RootfsTree,
    pub contents: Vec<NodeIndex>,
    pub exported: ImageFiles,
    pub files: Vec<FileFacts>,
}

/// What the export stage wrote.
pub(super) struct ImageFiles {
    pub tar: Option<Exported>,
    pub docker: Option<Exported>,
    /// The OCI image, when the run has one platform (else the index is written after every platform).
    pub oci: Option<WrittenOci>,
    /// sha256 and size of the rootfs tarball, when it was written or equals the single layer.
    pub rootfs: Option<(String, u64)>,
    /// Every image file written, for the provenance subject.
    pub subjects: Vec<Subject>,
}

/// Exports the image and, at the same time, hashes the rootfs for the records.
pub(super) fn export_and_hash(
    p: &Planned,
    part: &Part,
    single: bool,
    tree: &RootfsTree,
    contents: &[NodeIndex],
    artifacts: &HashMap<NodeIndex, Artifact>,
) -> Result<(ImageFiles, Vec<FileFacts>), PipelineError> {
    if let Err(error) = export::check_config(tree, &p.spec.config) {
        return Err(PipelineError::Config { recipe: p.spec.recipe.clone(), error: Box::new(error) });
    }
    let (written, files) = std::thread::scope(|s| {
        let hashing = s.spawn(|| {
            let mut known = HashMap::new();
            for i in contents {
                known.extend(artifacts[i].file_digests());
            }
            records::files(tree, &known)
        });
        let written = export(p, part, single, tree, contents, artifacts);
        // A panic on the hashing thread is a bug; carry it to this thread rather than hide it.
        (written, hashing.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
    });
    Ok((written?, files?))
}

fn export(
    p: &Planned,
    part: &Part,
    single: bool,
    tree: &RootfsTree,
    contents: &[NodeIndex],
    artifacts: &HashMap<NodeIndex, Artifact>,
) -> Result<ImageFiles, PipelineError> {
    let opts = &p.request.image;
    // What a killed export left in the output directory goes first.
    export::sweep(&opts.out_dir);
    let sde = p.request.settings.source_date_epoch;
    let out = |f: Format| opts.out_dir.join(f.file_name(&part.name));
    let mut w = ImageFiles { tar: None, docker: None, oci: None, rootfs: None, subjects: Vec::new() };
    if opts.has(Format::Tar) {
        let memo = DigestMemo::in_cache(&p.request.settings.cache_root);
        let trees: Vec<_> = contents.iter().map(|i| artifacts[i].tree()).collect();
        let origins: Vec<Origin> = contents
            .iter()
            .zip(&trees)
            .map(|(i, tree)| Origin { tree, tree_digest: &artifacts[i].meta.tree_digest })
            .collect();
        let e = memo::write_tar(tree, &out(Format::Tar), sde, &memo, &origins)?;
        w.subjects.push(subject(&e));
        w.rootfs = Some((e.sha256.clone(), e.size));
        w.tar = Some(e);
    }
    // With several platforms the OCI layout and archive hold them all: `export_index` writes them, and
    // each platform's docker-archive.
    if !single {
        return Ok(w);
    }
    let outputs = Outputs {
        layout: opts.has(Format::Oci).then(|| out(Format::Oci)),
        oci_archive: opts.has(Format::OciArchive).then(|| out(Format::OciArchive)),
        docker_archive: opts.has(Format::DockerArchive).then(|| out(Format::DockerArchive)),
    };
    if outputs.layout.is_none() && outputs.oci_archive.is_none() && outputs.docker_archive.is_none() {
        return Ok(w);
    }
    let (meta, names) = image_meta(p, part, contents);
    let req = export::ImageRequest {
        tree,
        meta: &meta,
        layering: opts.layering,
        compression: opts.compression,
        packages: &names,
        outputs: &outputs,
        staging_parent: &opts.out_dir,
    };
    let img = export::oci::write(&req)?;
    w.subjects.extend(img.files.iter().filter(|f| f.path.is_file()).map(subject));
    w.docker = img.files.iter().find(|f| Some(&f.path) == outputs.docker_archive.as_ref()).cloned();
    if let ([layer], None) = (img.layers.as_slice(), &w.rootfs) {
        // One layer holds exactly the rootfs tarball's bytes: its diff_id is that tarball's sha256.
        w.rootfs = Some((layer.diff_id.trim_start_matches("sha256:").to_string(), layer.uncompressed_size));
    }
    w.oci = Some(WrittenOci {
        manifests: vec![(part.platform.clone(), img.manifest_digest.clone(), img.config_digest.clone())],
        layers: img.layers.len(),
        files: img.files,
        index_digest: img.index_digest,
        manifest_digest: img.manifest_digest,
        config_digest: img.config_digest,
    });
    Ok(w)
}

/// The image's metadata for one platform, and its packages' names in image order.
fn image_meta(p: &Planned, part: &Part, contents: &[NodeIndex]) -> (ImageMeta, Vec<String>) {
    let graph = p.graph.as_ref();
    let packages: Vec<&Recipe> = contents.iter().filter_map(|&i| graph.map(|g| g.recipe(i))).collect();
    let meta = ImageMeta {
        annotations: annotations(p, &packages),
        reference: p.reference.clone(),
        config: p.spec.config.clone(),
        platform: p.toolchains[part.target].platform.clone(),
        created_by: format!(
            "compose {} build {}",
            env!("CARGO_PKG_VERSION"),
            p.spec.recipe.file_name().unwrap_or_default().to_string_lossy()
        ),
        source_date_epoch: p.request.settings.source_date_epoch,
    };
    (meta, packages.iter().map(|r| r.name.clone()).collect())
}

/// The OCI layout and archive of a run for several platforms: `index.json` tags one image index that lists
/// a manifest per platform (what skopeo, podman and docker read; see `export::oci`). Each platform's
/// docker-archive is written here too, as that format holds one platform.
pub(super) fn export_index(p: &Planned, runs: &mut [PartRun]) -> Result<Option<WrittenOci>, PipelineError> {
    let opts = &p.request.image;
    let metas: Vec<(ImageMeta, Vec<String>)> = runs.iter().map(|r| image_meta(p, &r.part, &r.contents)).collect();
    let images: Vec<PlatformImage> = runs
        .iter()
        .zip(&metas)
        .map(|(r, (meta, names))| PlatformImage {
            tree: &r.tree,
            meta,
            layering: opts.layering,
            compression: opts.compression,
            packages: names,
        })
        .collect();
    let mut dockers = Vec::new();
    if opts.has(Format::DockerArchive) {
        for (r, img) in runs.iter().zip(&images) {
            let out = opts.out_dir.join(Format::DockerArchive.file_name(&r.part.name));
            dockers.push(export::oci::write_docker_archive(img, &out)?);
        }
    }
    let outputs = IndexOutputs {
        layout: opts.has(Format::Oci).then(|| opts.out_dir.join(Format::Oci.file_name(&p.spec.name))),
        oci_archive: opts
            .has(Format::OciArchive)
            .then(|| opts.out_dir.join(Format::OciArchive.file_name(&p.spec.name))),
    };
    let written = match (&outputs.layout, &outputs.oci_archive) {
        (None, None) => None,
        _ => Some(export::oci::write_index(&images, &outputs, &opts.out_dir)?),
    };
    drop(images);
    for (r, e) in runs.iter_mut().zip(dockers) {
        r.exported.subjects.push(subject(&e));
        r.exported.docker = Some(e);
    }
    Ok(written.map(|w| {
        let first = &w.manifests[0];
        WrittenOci {
            manifest_digest: w.image_digest.clone(),
            config_digest: first.config_digest.clone(),
            layers: first.layers.len(),
            manifests: w
                .manifests
                .iter()
                .map(|m| (m.platform.clone(), m.manifest_digest.clone(), m.config_digest.clone()))
                .collect(),
            index_digest: w.index_digest,
            files: w.files,
        }
    }))
}

pub(super) fn subject(e: &Exported) -> Subject {
    Subject { name: e.path.file_name().unwrap_or_default().to_string_lossy().into_owned(), sha256: e.sha256.clone() }
}

fn annotations(p: &Planned, packages: &[&Recipe]) -> BTreeMap<String, String> {
    let spec = &p.spec;
    let mut a = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        a.insert(format!("org.opencontainers.image.{k}"), v);
    };
    put("title", spec.name.clone());
    put("version", spec.version.clone());
    put("created", export::rfc3339(p.request.settings.source_date_epoch));
    put("revision", format!("sha256:{}", spec.digest));
    if !spec.description.is_empty() {
        put("description", spec.description.clone());
    }
    if let Some(l) = combined_license(packages.iter().map(|r| r.license.as_str())) {
        put("licenses", l);
    }
    if let Some(s) = &spec.source {
        put("source", s.clone());
    }
    a.extend(spec.config.annotations.clone());
    a
}

/// The SPDX expression for a set of packages' licences: each distinct one, AND-ed, compound ones in
/// parentheses.
pub fn combined_license<'a>(licenses: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut set: Vec<&str> = licenses.into_iter().map(str::trim).filter(|l| !l.is_empty()).collect();
    set.sort();
    set.dedup();
    match set.len() {
        0 => None,
        1 => Some(set[0].to_string()),
        _ => Some(
            set.iter()
                .map(|l| if l.contains(' ') && !l.starts_with('(') { format!("({l})") } else { l.to_string() })
                .collect::<Vec<_>>()
                .join(" AND "),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licences_combine_into_one_expression() {
        assert_eq!(combined_license(["MIT"]), Some("MIT".into()));
        assert_eq!(combined_license(["MIT", "GPL-2.0-only", "MIT"]), Some("GPL-2.0-only AND MIT".into()));
        assert_eq!(combined_license(["MIT OR Apache-2.0", "Zlib"]), Some("(MIT OR Apache-2.0) AND Zlib".into()));
        assert_eq!(combined_license([]), None);
    }
}
