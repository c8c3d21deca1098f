//! OCI images: layers, config, manifest and index as content-addressed blobs, written as an OCI image
//! layout directory, an OCI archive (the layout as a tar, plus Docker's `manifest.json` so that
//! `docker load` takes it too) and a docker-archive (`docker save`'s format, uncompressed layers).
//!
//! `write` exports one image; `write_index` puts the images of several platforms into one layout and
//! one OCI archive, their blobs side by side (a layer two platforms share is stored once) under one
//! tagged image index that lists a manifest per platform (see `index` for its shape and why). A
//! docker-archive holds one platform only: `write_docker_archive` writes one per image.
//!
//! Every JSON document is canonical and every time comes from SOURCE_DATE_EPOCH, so the same rootfs and
//! metadata give the same digests on every run.

mod archive;
mod image;
mod index;
mod layout;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::layers::{Compression, LayerBlob, Layering};
use super::reference::Reference;
use super::{ExportError, Exported};
use crate::recipe::ImageConfig;
use crate::rootfs::RootfsTree;
use crate::toolchain::Platform;
use image::ImageBlobs;
pub use image::config_json;
use layout::Staging;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// Everything about the image that is not its files.
#[derive(Debug, Clone)]
pub struct ImageMeta {
    pub reference: Reference,
    pub config: ImageConfig,
    /// Manifest annotations (`org.opencontainers.image.*` and the recipe's own).
    pub annotations: BTreeMap<String, String>,
    /// What the config's `os`, `architecture` and `variant` say, and an index entry's `platform`.
    pub platform: Platform,
    /// For `history`: how the image was made.
    pub created_by: String,
    pub source_date_epoch: u64,
}

/// Where to write each requested form of one image (`None`: not requested).
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub layout: Option<PathBuf>,
    pub oci_archive: Option<PathBuf>,
    pub docker_archive: Option<PathBuf>,
}

/// Where to write each requested form of a multi-platform index. There is no docker-archive: it
/// holds one platform (`write_docker_archive`).
#[derive(Debug, Clone, Default)]
pub struct IndexOutputs {
    pub layout: Option<PathBuf>,
    pub oci_archive: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct WrittenImage {
    pub index_digest: String,
    pub manifest_digest: String,
    pub config_digest: String,
    pub layers: Vec<LayerBlob>,
    pub files: Vec<Exported>,
}

/// One platform's image in a written index.
#[derive(Debug, Clone)]
pub struct WrittenManifest {
    pub platform: Platform,
    pub manifest_digest: String,
    pub config_digest: String,
    pub layers: Vec<LayerBlob>,
}

#[derive(Debug, Clone)]
pub struct WrittenIndex {
    /// sha256 of the layout's `index.json` (the layout output's `sha256`, as `WrittenImage`'s).
    pub index_digest: String,
    /// What the tag names: the image index of the platforms (the multi-platform image's digest, as
    /// `skopeo inspect` shows it and a registry would serve it), or with one image its manifest.
    pub image_digest: String,
    /// In the order the images were given.
    pub manifests: Vec<WrittenManifest>,
    /// The OCI archive, then the layout (whose `sha256` is the index digest's hex).
    pub files: Vec<Exported>,
}

/// One platform's image: its files and how they become layers.
#[derive(Clone, Copy)]
pub struct PlatformImage<'a> {
    pub tree: &'a RootfsTree,
    pub meta: &'a ImageMeta,
    pub layering: Layering,
    pub compression: Compression,
    /// Package names in image order, for per-package layers.
    pub packages: &'a [String],
}

/// One image and where to write it.
pub struct ImageRequest<'a> {
    pub tree: &'a RootfsTree,
    pub meta: &'a ImageMeta,
    pub layering: Layering,
    pub compression: Compression,
    /// Package names in image order, for per-package layers.
    pub packages: &'a [String],
    pub outputs: &'a Outputs,
    /// A directory on the same filesystem as the outputs, for staging.
    pub staging_parent: &'a Path,
}

impl<'a> ImageRequest<'a> {
    pub fn image(&self) -> PlatformImage<'a> {
        PlatformImage {
            tree: self.tree,
            meta: self.meta,
            layering: self.layering,
            compression: self.compression,
            packages: self.packages,
        }
    }
}

/// Writes one image in each requested form. Its `index.json` entry has no `platform` (the config
/// names it): the bytes compose wrote before multi-platform indexes.
pub fn write(req: &ImageRequest) -> Result<WrittenImage, ExportError> {
    let image = req.image();
    let meta = image.meta;
    let staging = Staging::new(req.staging_parent, req.outputs.docker_archive.is_some())?;
    let blobs = image::put(&image, &staging, "")?;
    let index_digest = staging.finish(&index::layout_index_json(MANIFEST_TYPE, &blobs.manifest, &meta.reference))?;
    let mut files = Vec::new();
    if let Some(out) = &req.outputs.oci_archive {
        let docker = archive::docker_manifest_of_blobs(meta, &blobs.config, &blobs.layers);
        files.push(archive::oci_archive(&staging.layout, docker, out, meta.source_date_epoch)?);
    }
    if let Some(out) = &req.outputs.docker_archive {
        files.push(archive::docker_archive(&staging.blobs, &blobs.config, &blobs.layers, meta, out)?);
    }
    if let Some(out) = &req.outputs.layout {
        staging.publish(out)?;
        files.push(layout_file(out, std::slice::from_ref(&blobs), None, &index_digest));
    }
    let ImageBlobs { manifest, config, layers } = blobs;
    Ok(WrittenImage { index_digest, manifest_digest: manifest.digest, config_digest: config.digest, layers, files })
}

/// Writes the images of several platforms (one tag) as one layout and one OCI archive: every image's
/// blobs, an image index listing their manifests with their platforms (in the order given), and an
/// `index.json` tagging that index. The OCI archive's Docker `manifest.json` names one image, the
/// host's if it is there, else the first (see `index::docker_choice`). One image gives exactly what
/// `write` gives: `index.json` tags its manifest.
pub fn write_index(
    images: &[PlatformImage],
    outputs: &IndexOutputs,
    staging_parent: &Path,
) -> Result<WrittenIndex, ExportError> {
    let named = outputs.layout.as_deref().or(outputs.oci_archive.as_deref()).unwrap_or(staging_parent);
    check_platforms(images, named)?;
    let staging = Staging::new(staging_parent, false)?;
    // The platforms' layers compress in parallel too (each image's layers already do).
    let blobs: Vec<ImageBlobs> = images
        .par_iter()
        .enumerate()
        .map(|(n, image)| image::put(image, &staging, &format!("{n}-")))
        .collect::<Result<_, _>>()?;
    let (list, index_digest) = tag(&staging, images, &blobs)?;
    let image_digest = list.as_ref().unwrap_or(&blobs[0].manifest).digest.clone();
    let mut files = Vec::new();
    if let Some(out) = &outputs.oci_archive {
        let chosen = index::docker_choice(images.iter().map(|i| &i.meta.platform), &Platform::host());
        let (meta, b) = (images[chosen].meta, &blobs[chosen]);
        let docker = archive::docker_manifest_of_blobs(meta, &b.config, &b.layers);
        files.push(archive::oci_archive(&staging.layout, docker, out, meta.source_date_epoch)?);
    }
    if let Some(out) = &outputs.layout {
        staging.publish(out)?;
        files.push(layout_file(out, &blobs, list.as_ref(), &index_digest));
    }
    let manifests = images
        .iter()
        .zip(blobs)
        .map(|(i, b)| WrittenManifest {
            platform: i.meta.platform.clone(),
            manifest_digest: b.manifest.digest,
            config_digest: b.config.digest,
            layers: b.layers,
        })
        .collect();
    Ok(WrittenIndex { index_digest, image_digest, manifests, files })
}

/// Completes the layout with an `index.json` that tags the one image's manifest, or an image index of
/// the platforms' manifests (returned). Returns `index.json`'s digest too.
fn tag(
    staging: &Staging,
    images: &[PlatformImage],
    blobs: &[ImageBlobs],
) -> Result<(Option<layout::Blob>, String), ExportError> {
    let reference = &images[0].meta.reference;
    if let [one] = blobs {
        return Ok((None, staging.finish(&index::layout_index_json(MANIFEST_TYPE, &one.manifest, reference))?));
    }
    let entries: Vec<_> = images.iter().zip(blobs).map(|(i, b)| (&i.meta.platform, &b.manifest)).collect();
    let list = staging.put_json(&index::platforms_index_json(&entries))?;
    let index_digest = staging.finish(&index::layout_index_json(INDEX_TYPE, &list, reference))?;
    Ok((Some(list), index_digest))
}

/// Writes `image` as a docker-archive at `out`, staging beside it: the bytes `write` gives for it.
pub fn write_docker_archive(image: &PlatformImage, out: &Path) -> Result<Exported, ExportError> {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let staging = Staging::new(parent, true)?;
    let blobs = image::put(image, &staging, "")?;
    archive::docker_archive(&staging.blobs, &blobs.config, &blobs.layers, image.meta, out)
}

/// An index needs an image, one tag (`index.json` tags the whole list), and each platform at most
/// once (a tool picking by platform could not choose).
fn check_platforms(images: &[PlatformImage], path: &Path) -> Result<(), ExportError> {
    let path = path.to_path_buf();
    let Some(first) = images.first() else { return Err(ExportError::NoImages { path }) };
    for (n, image) in images.iter().enumerate() {
        let (p, r) = (&image.meta.platform, &image.meta.reference);
        if r != &first.meta.reference {
            return Err(ExportError::TagsDiffer { path, first: first.meta.reference.familiar(), other: r.familiar() });
        }
        if images[..n].iter().any(|other| &other.meta.platform == p) {
            return Err(ExportError::PlatformTwice { path, platform: p.to_string() });
        }
    }
    Ok(())
}

/// The layout as an output: its size is its blobs' (each counted once), its sha256 `index.json`'s.
fn layout_file(out: &Path, images: &[ImageBlobs], list: Option<&layout::Blob>, index_digest: &str) -> Exported {
    let mut sizes: BTreeMap<&String, u64> = list.map(|l| (&l.digest, l.size)).into_iter().collect();
    for b in images {
        sizes.insert(&b.manifest.digest, b.manifest.size);
        sizes.insert(&b.config.digest, b.config.size);
        sizes.extend(b.layers.iter().map(|l| (&l.digest, l.size)));
    }
    Exported { path: out.to_path_buf(), size: sizes.values().sum(), sha256: index_digest[7..].to_string() }
}

#[cfg(test)]
mod tests;
