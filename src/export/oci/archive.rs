//! The two tar forms of an image: the OCI archive (a layout as a tar, plus Docker's `manifest.json`
//! so that `docker load` takes it too) and the docker-archive (`docker save`'s format, uncompressed
//! layers). Both are deterministic: sorted members, fixed owners, modes and times.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::super::json::canonical;
use super::super::{ExportError, Exported};
use super::ImageMeta;
use super::layout::Blob;
use crate::export::layers::LayerBlob;

/// One image as Docker's `manifest.json` lists it: its config and layers, as paths in the archive.
pub(super) fn docker_manifest(meta: &ImageMeta, config: &str, layers: &[String]) -> Vec<u8> {
    canonical(&json!([{"Config": config, "RepoTags": [meta.reference.familiar()], "Layers": layers}]))
}

/// `manifest.json` for an OCI archive, whose layers and config are `blobs/sha256/<hex>`.
pub(super) fn docker_manifest_of_blobs(meta: &ImageMeta, config: &Blob, layers: &[LayerBlob]) -> Vec<u8> {
    let layer_paths: Vec<String> = layers.iter().map(|l| format!("blobs/sha256/{}", &l.digest[7..])).collect();
    docker_manifest(meta, &format!("blobs/sha256/{}", &config.digest[7..]), &layer_paths)
}

/// One entry of an archive: a name and either a directory or a file to copy.
enum Member {
    Dir(String),
    File(String, PathBuf),
    Bytes(String, Vec<u8>),
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ExportError {
    let path = path.to_path_buf();
    move |source| ExportError::Io { op, path, source }
}

/// Writes `members` (already in order) as a deterministic tar at `out`, via a temp file and a rename.
fn write_archive(members: Vec<Member>, out: &Path, source_date_epoch: u64) -> Result<Exported, ExportError> {
    let tmp = super::super::temp_beside(out)?;
    let hw = super::super::tar::HashingWriter::new(BufWriter::with_capacity(
        1 << 20,
        crate::small_writes::SmallWrites(tmp.as_file()),
    ));
    let mut b = tar::Builder::new(hw);
    for m in members {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(source_date_epoch);
        match m {
            Member::Dir(name) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, name, std::io::empty()).map_err(io("write", out))?;
            }
            Member::File(name, src) => {
                let f = std::fs::File::open(&src).map_err(io("read", &src))?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(f.metadata().map_err(io("stat", &src))?.len());
                let f = std::io::BufReader::with_capacity(1 << 20, f);
                b.append_data(&mut h, name, f).map_err(io("write", out))?;
            }
            Member::Bytes(name, bytes) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(bytes.len() as u64);
                b.append_data(&mut h, name, bytes.as_slice()).map_err(io("write", out))?;
            }
        }
    }
    let mut hw = b.into_inner().map_err(io("finish", out))?;
    hw.inner.flush().map_err(io("write", out))?;
    let (sha256, size) = (hw.hex_digest(), hw.len);
    drop(hw);
    super::super::publish(tmp, out)?;
    Ok(Exported { path: out.to_path_buf(), size, sha256 })
}

/// The staged `layout` as a tar at `out`, with `docker` as its `manifest.json`.
pub(super) fn oci_archive(layout: &Path, docker: Vec<u8>, out: &Path, sde: u64) -> Result<Exported, ExportError> {
    let blobs = layout.join("blobs/sha256");
    let mut names: Vec<String> = std::fs::read_dir(&blobs)
        .and_then(|rd| rd.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned())).collect())
        .map_err(io("list", &blobs))?;
    names.sort();
    let mut members = vec![Member::Dir("blobs/".into()), Member::Dir("blobs/sha256/".into())];
    members.extend(names.into_iter().map(|n| Member::File(format!("blobs/sha256/{n}"), blobs.join(&n))));
    members.push(Member::File("index.json".into(), layout.join("index.json")));
    members.push(Member::Bytes("manifest.json".into(), docker));
    members.push(Member::File("oci-layout".into(), layout.join("oci-layout")));
    write_archive(members, out, sde)
}

/// `docker save`'s layout: `manifest.json`, the config as `<hex>.json`, each layer as `<diff_id hex>/layer.tar`.
/// The layers must have been written with their raw tars.
pub(super) fn docker_archive(
    blobs: &Path,
    config: &Blob,
    layers: &[LayerBlob],
    meta: &ImageMeta,
    out: &Path,
) -> Result<Exported, ExportError> {
    let config_name = format!("{}.json", &config.digest[7..]);
    let mut members = Vec::new();
    let mut layer_names = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for l in layers {
        let id = &l.diff_id[7..];
        layer_names.push(format!("{id}/layer.tar"));
        if seen.insert(id.to_string()) {
            members.push((id.to_string(), l.raw.clone().expect("raw layers were asked for")));
        }
    }
    members.sort();
    let mut list = vec![Member::File(config_name.clone(), blobs.join(&config.digest[7..]))];
    for (id, raw) in members {
        list.push(Member::Dir(format!("{id}/")));
        list.push(Member::File(format!("{id}/layer.tar"), raw));
    }
    list.push(Member::Bytes("manifest.json".into(), docker_manifest(meta, &config_name, &layer_names)));
    write_archive(list, out, meta.source_date_epoch)
}
