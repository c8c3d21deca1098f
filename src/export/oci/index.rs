//! `index.json` and the multi-platform image index, and which image Docker's `manifest.json` names.
//!
//! One image gives the `index.json` compose has always written: one tagged entry for its manifest,
//! no `platform` (the config says it), so single-platform digests do not move. Several give an
//! image-index blob listing one manifest per platform, each with the image-index spec's `platform`,
//! and an `index.json` whose one tagged entry is that index (as `skopeo copy --all` and buildx write
//! it). The tag has to name the list, not each manifest: containers/image (skopeo, podman) resolves
//! `oci:DIR:TAG` to the first entry with that ref name, so per-platform entries would make
//! `--override-arch` silently copy the first platform, and an archive with several entries is
//! refused ("more than one image in oci").

use serde_json::{Value, json};

use super::layout::Blob;
use super::{INDEX_TYPE, MANIFEST_TYPE};
use crate::export::reference::Reference;
use crate::toolchain::Platform;

/// The layout's `index.json`: one entry, `target` (a manifest or an image index), tagged `reference`.
pub(super) fn layout_index_json(media_type: &str, target: &Blob, reference: &Reference) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [{
            "mediaType": media_type,
            "digest": target.digest,
            "size": target.size,
            "annotations": {
                "io.containerd.image.name": reference.qualified(),
                "org.opencontainers.image.ref.name": reference.tag,
            },
        }],
    })
}

/// The image index of several platforms' manifests, in the order given.
pub(super) fn platforms_index_json(images: &[(&Platform, &Blob)]) -> Value {
    let manifests: Vec<Value> = images
        .iter()
        .map(|(platform, manifest)| {
            json!({
                "mediaType": MANIFEST_TYPE,
                "digest": manifest.digest,
                "size": manifest.size,
                "platform": platform_json(platform),
            })
        })
        .collect();
    json!({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": manifests})
}

/// The image-index spec's `platform` object.
fn platform_json(p: &Platform) -> Value {
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
