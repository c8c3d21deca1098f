//! The transport format of one artifact in the registry: an OCI image manifest used as an artifact
//! manifest (`artifactType`), tagged `{name}-{key}` in the cache's repository. Its config blob is the
//! artifact's `meta.json`, byte for byte; its one layer is the tree as a deterministic tar, zstd
//! compressed (`pack`). Pure functions over bytes: no network, no files.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::registry::Descriptor;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const ARTIFACT_TYPE: &str = "application/vnd.compose.artifact.v1";
pub const META_MEDIA_TYPE: &str = "application/vnd.compose.artifact.meta.v1+json";
pub const TREE_MEDIA_TYPE: &str = "application/vnd.compose.artifact.tree.v1.tar+zstd";
/// The longest `meta.json` a pull reads into memory: real ones are a few KiB.
pub const MAX_META_SIZE: u64 = 1 << 20;

/// The tag of `name`'s artifact under `key`, or why it cannot have one. OCI tags are
/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`: a name with other characters, or longer than 63, has none.
pub fn tag(name: &str, key: &str) -> Result<String, String> {
    let tag = format!("{name}-{key}");
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{key}` is not a build key"));
    }
    if tag.len() > 128 {
        return Err(format!("the tag `{name}-<key>` would be {} characters long; tags have at most 128", tag.len()));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') || !name.chars().all(ok_char) {
        return Err(format!("`{name}` has characters a registry tag cannot hold"));
    }
    Ok(tag)
}

/// A descriptor of `media_type` for a blob of `bytes` with sha256 `hex`.
pub fn descriptor(media_type: &str, hex: &str, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: format!("sha256:{hex}"),
        size,
        artifact_type: None,
        annotations: BTreeMap::new(),
        platform: None,
    }
}

/// The manifest bytes (compact JSON, keys sorted: serde_json's map is ordered) for one artifact.
pub fn manifest(config: &Descriptor, layer: &Descriptor, name: &str, version: &str, key: &str) -> Vec<u8> {
    let v = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": config,
        "layers": [layer],
        "annotations": {
            "dev.compose.artifact.name": name,
            "dev.compose.artifact.version": version,
            "dev.compose.artifact.key": key,
        },
    });
    serde_json::to_vec(&v).expect("a JSON value serialises")
}

/// The config (`meta.json`) and layer (tree) descriptors of a manifest, or why it is not one of ours.
pub fn parse(media_type: &str, bytes: &[u8]) -> Result<(Descriptor, Descriptor), String> {
    if media_type != MANIFEST_MEDIA_TYPE {
        return Err(format!("its manifest is a `{media_type}`, not an OCI image manifest"));
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("its manifest is not JSON: {e}"))?;
    if v["artifactType"] != ARTIFACT_TYPE {
        return Err(format!("its artifactType is {}, not `{ARTIFACT_TYPE}`", v["artifactType"]));
    }
    let config: Descriptor =
        serde_json::from_value(v["config"].clone()).map_err(|e| format!("its config descriptor: {e}"))?;
    let layers: Vec<Descriptor> =
        serde_json::from_value(v["layers"].clone()).map_err(|e| format!("its layer descriptors: {e}"))?;
    if config.media_type != META_MEDIA_TYPE {
        return Err(format!("its config is a `{}`, not `{META_MEDIA_TYPE}`", config.media_type));
    }
    if config.size > MAX_META_SIZE {
        return Err(format!("its metadata is {} bytes long; at most {MAX_META_SIZE} are read", config.size));
    }
    match <[Descriptor; 1]>::try_from(layers) {
        Ok([layer]) if layer.media_type == TREE_MEDIA_TYPE => Ok((config, layer)),
        Ok([layer]) => Err(format!("its layer is a `{}`, not `{TREE_MEDIA_TYPE}`", layer.media_type)),
        Err(l) => Err(format!("it has {} layers, not one", l.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn tags_are_name_dash_key_and_fit_the_tag_grammar() {
        assert_eq!(tag("busybox", KEY).unwrap(), format!("busybox-{KEY}"));
        assert_eq!(tag("linux-headers", KEY).unwrap(), format!("linux-headers-{KEY}"));
        let longest = "n".repeat(63);
        assert_eq!(tag(&longest, KEY).unwrap().len(), 128);
        let e = tag(&"n".repeat(64), KEY).unwrap_err();
        assert!(e.contains("129 characters"), "{e}");
        assert!(tag("c++", KEY).unwrap_err().contains("characters a registry tag cannot hold"));
        assert!(tag(".hidden", KEY).is_err());
        assert!(tag("busybox", "abc").is_err());
    }

    #[test]
    fn a_manifest_parses_back_and_foreign_ones_are_refused() {
        let c = descriptor(META_MEDIA_TYPE, &"a".repeat(64), 300);
        let l = descriptor(TREE_MEDIA_TYPE, &"b".repeat(64), 4000);
        let m = manifest(&c, &l, "busybox", "1.37.0", KEY);
        assert_eq!(m, manifest(&c, &l, "busybox", "1.37.0", KEY), "deterministic");
        assert_eq!(parse(MANIFEST_MEDIA_TYPE, &m).unwrap(), (c.clone(), l.clone()));
        assert!(parse("application/vnd.oci.image.index.v1+json", &m).is_err());
        let image = String::from_utf8(m.clone()).unwrap().replace(ARTIFACT_TYPE, "application/x-other");
        assert!(parse(MANIFEST_MEDIA_TYPE, image.as_bytes()).unwrap_err().contains("artifactType"));
        let two = manifest(&c, &l, "busybox", "1", KEY);
        let mut v: Value = serde_json::from_slice(&two).unwrap();
        v["layers"] = json!([l, l]);
        assert!(parse(MANIFEST_MEDIA_TYPE, &serde_json::to_vec(&v).unwrap()).unwrap_err().contains("2 layers"));
        let big = descriptor(META_MEDIA_TYPE, &"a".repeat(64), MAX_META_SIZE + 1);
        assert!(parse(MANIFEST_MEDIA_TYPE, &manifest(&big, &l, "b", "1", KEY)).is_err());
    }
}
