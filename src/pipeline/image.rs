//! The export stage: every requested format written from the assembled rootfs, while the records'
//! per-file digests are gathered beside it on another thread (from the artifacts' indexes, hashing on
//! rayon only what they do not describe).

use std::collections::{BTreeMap, HashMap};

use petgraph::graph::NodeIndex;

use super::{Format, PipelineError, Planned, WrittenOci};
use crate::build::artifact::Artifact;
use crate::export::memo::{self, DigestMemo, Origin};
use crate::export::{self, Exported, ImageMeta, Outputs};
use crate::recipe::Recipe;
use crate::records::{self, FileFacts, Subject};
use crate::rootfs::RootfsTree;

/// What the export stage wrote.
pub(super) struct ImageFiles {
    pub tar: Option<Exported>,
    pub oci: Option<WrittenOci>,
    /// sha256 and size of the rootfs tarball, when it was written or equals the single layer.
    pub rootfs: Option<(String, u64)>,
    /// Every image file written, for the provenance subject.
    pub subjects: Vec<Subject>,
}

/// Exports the image and, at the same time, hashes the rootfs for the records.
pub(super) fn export_and_hash(
    p: &Planned,
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
        let written = export(p, tree, contents, artifacts);
        // A panic on the hashing thread is a bug; carry it to this thread rather than hide it.
        (written, hashing.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
    });
    Ok((written?, files?))
}

fn export(
    p: &Planned,
    tree: &RootfsTree,
    contents: &[NodeIndex],
    artifacts: &HashMap<NodeIndex, Artifact>,
) -> Result<ImageFiles, PipelineError> {
    let opts = &p.request.image;
    // What a killed export left in the output directory goes first.
    export::sweep(&opts.out_dir);
    let sde = p.request.settings.source_date_epoch;
    let out = |f: Format| opts.out_dir.join(f.file_name(&p.spec.name));
    let mut w = ImageFiles { tar: None, oci: None, rootfs: None, subjects: Vec::new() };
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
    let outputs = Outputs {
        layout: opts.has(Format::Oci).then(|| out(Format::Oci)),
        oci_archive: opts.has(Format::OciArchive).then(|| out(Format::OciArchive)),
        docker_archive: opts.has(Format::DockerArchive).then(|| out(Format::DockerArchive)),
    };
    if outputs.layout.is_none() && outputs.oci_archive.is_none() && outputs.docker_archive.is_none() {
        return Ok(w);
    }
    let graph = p.graph.as_ref();
    let packages: Vec<&Recipe> = contents.iter().filter_map(|&i| graph.map(|g| g.recipe(i))).collect();
    let meta = ImageMeta {
        annotations: annotations(p, &packages),
        reference: p.reference.clone(),
        config: p.spec.config.clone(),
        platform: crate::toolchain::Platform::of_triple(&p.toolchain.target),
        created_by: format!(
            "compose {} build {}",
            env!("CARGO_PKG_VERSION"),
            p.spec.recipe.file_name().unwrap_or_default().to_string_lossy()
        ),
        source_date_epoch: sde,
    };
    let names: Vec<String> = packages.iter().map(|r| r.name.clone()).collect();
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
    if let ([layer], None) = (img.layers.as_slice(), &w.rootfs) {
        // One layer holds exactly the rootfs tarball's bytes: its diff_id is that tarball's sha256.
        w.rootfs = Some((layer.diff_id.trim_start_matches("sha256:").to_string(), layer.uncompressed_size));
    }
    w.oci = Some(WrittenOci {
        layers: img.layers.len(),
        files: img.files,
        index_digest: img.index_digest,
        manifest_digest: img.manifest_digest,
        config_digest: img.config_digest,
    });
    Ok(w)
}

fn subject(e: &Exported) -> Subject {
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

/// The OCI (GOARCH-style) architecture of a target triple.
pub fn architecture(target: &str) -> String {
    let arch = target.split('-').next().unwrap_or(target);
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i486" | "i586" | "i686" => "386",
        "armv7" | "arm" => "arm",
        other => other,
    }
    .to_string()
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

    #[test]
    fn architectures_use_oci_names() {
        assert_eq!(architecture("x86_64-linux-musl"), "amd64");
        assert_eq!(architecture("aarch64-linux-musl"), "arm64");
    }
}
