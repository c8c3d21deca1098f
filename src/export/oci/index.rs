//! `index.json`: the layout's list of manifests, and which one Docker's `manifest.json` names.
//!
//! One image gives the index compose has always written (no `platform` on the entry: the config
//! says it), so single-platform digests do not move. Several give one entry per platform, each with
//! the OCI image-index `platform` object and the same ref-name annotations, so a tool that resolves
//! the tag to an index picks the platform it wants.

use serde_json::{Value, json};

use super::layout::Blob;
use super::{INDEX_TYPE, ImageMeta, MANIFEST_TYPE};
use crate::toolchain::Platform;

/// The index of `images` (each image's metadata and its manifest blob), in the order given.
pub(super) fn index_json(images: &[(&ImageMeta, &Blob)]) -> Value {
    let several = images.len() > 1;
    let manifests: Vec<Value> = images
        .iter()
        .map(|(meta, manifest)| {
            let mut d = json!({
                "mediaType": MANIFEST_TYPE,
                "digest": manifest.digest,
                "size": manifest.size,
                "annotations": {
                    "io.containerd.image.name": meta.reference.qualified(),
                    "org.opencontainers.image.ref.name": meta.reference.tag,
                },
            });
            if several {
                d["platform"] = platform_json(&meta.platform);
            }
            d
        })
        .collect();
    json!({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": manifests})
}

/// The image-index spec's `platform` object.
pub(super) fn platform_json(p: &Platform) -> Value {
    let mut v = json!({"architecture": p.architecture, "os": p.os});
    if let Some(variant) = &p.variant {
        v["variant"] = json!(variant);
    }
    v
}

/// Which of `platforms` Docker's `manifest.json` names: `host` if it is there, else the first.
/// `manifest.json` lists one image only: `docker load` tags every entry with its `RepoTags`, so
/// several entries with the same tag would leave the tag on whichever loaded last.
pub(super) fn docker_choice<'a>(platforms: impl IntoIterator<Item = &'a Platform>, host: &Platform) -> usize {
    platforms.into_iter().position(|p| p == host).unwrap_or(0)
}
