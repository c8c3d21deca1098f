//! One platform's image as blobs in a staged layout: its layers, its config (which names the
//! platform) and its manifest.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::layout::{Blob, Staging};
use super::{CONFIG_TYPE, DEFAULT_PATH, ImageMeta, MANIFEST_TYPE, PlatformImage};
use crate::export::ExportError;
use crate::export::json::rfc3339;
use crate::export::layers::{self, LayerBlob};

/// The blobs of one written image.
#[derive(Debug, Clone)]
pub(super) struct ImageBlobs {
    pub manifest: Blob,
    pub config: Blob,
    pub layers: Vec<LayerBlob>,
}

/// Writes `image`'s layers, config and manifest into `staging`. `tag` keeps this image's temp files
/// apart from those of other images written into the same layout at the same time. A layer whose
/// bytes another image already wrote lands on the same blob: it is stored once.
pub(super) fn put(image: &PlatformImage, staging: &Staging, tag: &str) -> Result<ImageBlobs, ExportError> {
    let plans = layers::plan(image.tree, image.layering, image.packages);
    let meta = image.meta;
    let layers = layers::write_all(
        image.tree,
        &plans,
        image.compression,
        &staging.blobs,
        staging.raw.as_deref(),
        tag,
        meta.source_date_epoch,
    )?;
    let config = staging.put_json(&config_json(meta, &layers))?;
    let layer_descs: Vec<Value> = layers
        .iter()
        .map(|l| json!({"mediaType": image.compression.media_type(), "digest": l.digest, "size": l.size}))
        .collect();
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": config.digest, "size": config.size},
        "layers": layer_descs,
    });
    if !meta.annotations.is_empty() {
        manifest["annotations"] = json!(meta.annotations);
    }
    let manifest = staging.put_json(&manifest)?;
    Ok(ImageBlobs { manifest, config, layers })
}

/// The image config. Env always carries PATH: neither `docker import` nor an OCI runtime sets one.
/// `os`, `architecture` and `variant` (when the platform has one) come from `meta.platform`.
pub fn config_json(meta: &ImageMeta, layers: &[LayerBlob]) -> Value {
    let c = &meta.config;
    let mut env = c.env.clone();
    env.entry("PATH".into()).or_insert_with(|| DEFAULT_PATH.into());
    let mut cfg = json!({
        "Env": env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "WorkingDir": c.workdir.clone().unwrap_or_else(|| "/".into()),
    });
    if let Some(u) = &c.user {
        cfg["User"] = json!(u);
    }
    if let Some(e) = &c.entrypoint {
        cfg["Entrypoint"] = json!(e);
    }
    if let Some(cmd) = &c.cmd {
        cfg["Cmd"] = json!(cmd);
    }
    let mut labels = meta.annotations.clone();
    labels.retain(|k, _| k.starts_with("org.opencontainers.image."));
    labels.extend(c.labels.clone());
    if !labels.is_empty() {
        cfg["Labels"] = json!(labels);
    }
    if !c.exposed_ports.is_empty() {
        let ports: BTreeMap<&String, Value> = c.exposed_ports.iter().map(|p| (p, json!({}))).collect();
        cfg["ExposedPorts"] = json!(ports);
    }
    if let Some(s) = &c.stop_signal {
        cfg["StopSignal"] = json!(s);
    }
    let created = rfc3339(meta.source_date_epoch);
    let history: Vec<Value> = layers
        .iter()
        .map(|l| json!({"created": created, "created_by": format!("{} ({})", meta.created_by, l.label)}))
        .collect();
    let p = &meta.platform;
    let mut config = json!({
        "created": created,
        "architecture": p.architecture,
        "os": p.os,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        "history": history,
    });
    if let Some(v) = &p.variant {
        config["variant"] = json!(v);
    }
    config
}
