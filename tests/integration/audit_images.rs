//! Hand-made inputs for the audit tests: a file manifest written from a rootfs tar, and OCI layouts
//! built layer by layer (gzip, zstd, plain).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;

use serde_json::{Value, json};

use crate::harness::sha256_bytes;

/// Writes a compose-files-v1 manifest for the rootfs tar `tar`, each path owned by `owner(path)`.
pub(crate) fn write_manifest(tar: &Path, out: &Path, owner: &dyn Fn(&str) -> String) {
    let mut ar = tar::Archive::new(std::fs::File::open(tar).unwrap());
    let (mut files, mut owners) = (Vec::new(), BTreeSet::new());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = format!("/{}", e.path().unwrap().to_string_lossy().trim_start_matches("./").trim_end_matches('/'));
        if path == "/" {
            continue;
        }
        let mode = format!("{:04o}", e.header().mode().unwrap() & 0o7777);
        let who = owner(&path);
        owners.insert(who.clone());
        let mut f = json!({"path": path, "mode": mode, "uid": 0, "gid": 0, "owner": who});
        match e.header().entry_type() {
            tar::EntryType::Directory => f["type"] = json!("dir"),
            tar::EntryType::Symlink => {
                f["type"] = json!("symlink");
                f["target"] = json!(e.link_name().unwrap().unwrap().to_string_lossy());
            }
            _ => {
                let mut body = Vec::new();
                e.read_to_end(&mut body).unwrap();
                f["type"] = json!("file");
                f["size"] = json!(body.len());
                f["sha256"] = json!(sha256_bytes(&body));
            }
        }
        files.push(f);
    }
    files.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    let packages: Vec<Value> = owners
        .iter()
        .filter(|o| *o != "skeleton" && *o != "accounts")
        .map(|o| json!({"name": o, "version": "1.0", "license": "MIT"}))
        .collect();
    let sha = crate::harness::sha256_file(tar);
    let doc = json!({"format": "compose-files-v1", "image": {"name": "x", "version": "1.0", "tar_sha256": sha},
        "packages": packages, "files": files});
    std::fs::write(out, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

/// Writes an OCI layout at `dir` with one image whose layers are `layers` (tar bytes), the first gzip,
/// the second zstd, the rest uncompressed; `names` tags one manifest descriptor each (same manifest).
pub(crate) fn oci_layout(dir: &Path, layers: &[Vec<u8>], names: &[&str]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let hex = sha256_bytes(bytes);
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let mut descs = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let (bytes, media) = match i {
            0 => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(l).unwrap();
                (e.finish().unwrap(), "application/vnd.oci.image.layer.v1.tar+gzip")
            }
            1 => (zstd::encode_all(l.as_slice(), 3).unwrap(), "application/vnd.oci.image.layer.v1.tar+zstd"),
            _ => (l.clone(), "application/vnd.oci.image.layer.v1.tar"),
        };
        let (d, s) = put(&bytes);
        descs.push(json!({"mediaType": media, "digest": d, "size": s}));
    }
    let (cd, cs) = put(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs}, "layers": descs});
    let (md, ms) = put(manifest.to_string().as_bytes());
    let list: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
            "annotations": {"org.opencontainers.image.ref.name": n}})
        })
        .collect();
    std::fs::write(dir.join("index.json"), json!({"schemaVersion": 2, "manifests": list}).to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

pub(crate) fn layer_tar(entries: &[(&str, u32, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, mode, body) in entries {
        let mut h = tar::Header::new_gnu();
        let dir = p.ends_with('/');
        h.set_entry_type(if dir { tar::EntryType::Directory } else { tar::EntryType::Regular });
        h.set_mode(*mode);
        h.set_size(body.len() as u64);
        b.append_data(&mut h, p, body.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

/// Writes an OCI layout at `dir` as `compose build --platform A,B` does: one manifest per platform
/// (`(layer tar, architecture, variant)`, one uncompressed layer each), listed in `index.json` with its
/// `platform` and the same `tag`.
pub(crate) fn oci_multi_platform(dir: &Path, images: &[(Vec<u8>, &str, Option<&str>)], tag: &str) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let hex = sha256_bytes(bytes);
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let mut list = Vec::new();
    for (layer, arch, variant) in images {
        let (ld, ls) = put(layer);
        let config = json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [ld]}});
        let (cd, cs) = put(config.to_string().as_bytes());
        let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}]});
        let (md, ms) = put(manifest.to_string().as_bytes());
        let mut platform = json!({"architecture": arch, "os": "linux"});
        if let Some(v) = variant {
            platform["variant"] = json!(v);
        }
        list.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
            "platform": platform, "annotations": {"org.opencontainers.image.ref.name": tag}}));
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": list});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}
