//! OCI images: layers, config, manifest and index as content-addressed blobs, written as an OCI image
//! layout directory, an OCI archive (the layout as a tar, plus Docker's `manifest.json` so that
//! `docker load` takes it too) and a docker-archive (`docker save`'s format, uncompressed layers).
//!
//! Every JSON document is canonical and every time comes from SOURCE_DATE_EPOCH, so the same rootfs and
//! metadata give the same digests on every run.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::json::{canonical, rfc3339};
use super::layers::{self, Compression, LayerBlob, Layering};
use super::reference::Reference;
use super::{ExportError, Exported};
use crate::recipe::ImageConfig;
use crate::rootfs::RootfsTree;

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
    /// GOARCH-style: `amd64`, `arm64`.
    pub architecture: String,
    /// For `history`: how the image was made.
    pub created_by: String,
    pub source_date_epoch: u64,
}

/// Where to write each requested form (`None`: not requested).
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub layout: Option<PathBuf>,
    pub oci_archive: Option<PathBuf>,
    pub docker_archive: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct WrittenImage {
    pub index_digest: String,
    pub manifest_digest: String,
    pub config_digest: String,
    pub layers: Vec<LayerBlob>,
    pub files: Vec<Exported>,
}

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

pub fn write(req: &ImageRequest) -> Result<WrittenImage, ExportError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { op, path, source }
    };
    std::fs::create_dir_all(req.staging_parent).map_err(io("create", req.staging_parent))?;
    let staging = tempfile::Builder::new()
        .prefix(&super::temp_prefix())
        .tempdir_in(req.staging_parent)
        .map_err(io("create a staging directory in", req.staging_parent))?;
    let layout = staging.path().join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(io("create", &blobs))?;
    let raw_dir = staging.path().join("raw");
    let want_raw = req.outputs.docker_archive.is_some();
    if want_raw {
        std::fs::create_dir_all(&raw_dir).map_err(io("create", &raw_dir))?;
    }

    let plans = layers::plan(req.tree, req.layering, req.packages);
    let meta = req.meta;
    let blobs_written = layers::write_all(
        req.tree,
        &plans,
        req.compression,
        &blobs,
        want_raw.then_some(raw_dir.as_path()),
        meta.source_date_epoch,
    )?;

    let config = config_json(meta, &blobs_written);
    let (config_digest, config_size) = put_blob(&blobs, &config)?;
    let layer_descs: Vec<Value> = blobs_written
        .iter()
        .map(|l| json!({"mediaType": req.compression.media_type(), "digest": l.digest, "size": l.size}))
        .collect();
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": config_size},
        "layers": layer_descs,
    });
    if !meta.annotations.is_empty() {
        manifest["annotations"] = json!(meta.annotations);
    }
    let (manifest_digest, manifest_size) = put_blob(&blobs, &manifest)?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [{
            "mediaType": MANIFEST_TYPE,
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": {
                "io.containerd.image.name": meta.reference.qualified(),
                "org.opencontainers.image.ref.name": meta.reference.tag,
            },
        }],
    });
    let index_bytes = canonical(&index);
    let index_digest = format!("sha256:{}", crate::digest::Sha256::hex_of(&index_bytes));
    write_file(&layout.join("index.json"), &index_bytes)?;
    write_file(&layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;

    let mut files = Vec::new();
    if let Some(out) = &req.outputs.oci_archive {
        let layer_paths: Vec<String> =
            blobs_written.iter().map(|l| format!("blobs/sha256/{}", &l.digest[7..])).collect();
        let docker = docker_manifest(meta, &format!("blobs/sha256/{}", &config_digest[7..]), &layer_paths);
        files.push(oci_archive(&layout, &docker, out, meta.source_date_epoch)?);
    }
    if let Some(out) = &req.outputs.docker_archive {
        files.push(docker_archive(&blobs, &config_digest, &blobs_written, meta, out)?);
    }
    if let Some(out) = &req.outputs.layout {
        replace_dir(&layout, out)?;
        let size = blobs_written.iter().map(|l| l.size).sum::<u64>() + config_size + manifest_size;
        files.push(Exported { path: out.clone(), size, sha256: index_digest[7..].to_string() });
    }
    Ok(WrittenImage { index_digest, manifest_digest, config_digest, layers: blobs_written, files })
}

/// The image config. Env always carries PATH: neither `docker import` nor an OCI runtime sets one.
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
    json!({
        "created": created,
        "architecture": meta.architecture,
        "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        "history": history,
    })
}

fn docker_manifest(meta: &ImageMeta, config: &str, layers: &[String]) -> Vec<u8> {
    canonical(&json!([{"Config": config, "RepoTags": [meta.reference.familiar()], "Layers": layers}]))
}

fn put_blob(blobs: &Path, v: &Value) -> Result<(String, u64), ExportError> {
    let bytes = canonical(v);
    let hex = crate::digest::Sha256::hex_of(&bytes);
    write_file(&blobs.join(&hex), &bytes)?;
    Ok((format!("sha256:{hex}"), bytes.len() as u64))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    std::fs::write(path, bytes).map_err(|source| ExportError::Io { op: "write", path: path.to_path_buf(), source })
}

/// One entry of an archive: a name and either a directory or a file to copy.
enum Member {
    Dir(String),
    File(String, PathBuf),
    Bytes(String, Vec<u8>),
}

/// Writes `members` (already in order) as a deterministic tar at `out`, via a temp file and a rename.
fn write_archive(members: Vec<Member>, out: &Path, source_date_epoch: u64) -> Result<Exported, ExportError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { op, path, source }
    };
    let tmp = super::temp_beside(out)?;
    let hw = super::tar::HashingWriter::new(BufWriter::with_capacity(
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
    super::publish(tmp, out)?;
    Ok(Exported { path: out.to_path_buf(), size, sha256 })
}

fn oci_archive(layout: &Path, docker: &[u8], out: &Path, sde: u64) -> Result<Exported, ExportError> {
    let blobs = layout.join("blobs/sha256");
    let mut names: Vec<String> = std::fs::read_dir(&blobs)
        .and_then(|rd| rd.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned())).collect())
        .map_err(|source| ExportError::Io { op: "list", path: blobs.clone(), source })?;
    names.sort();
    let mut members = vec![Member::Dir("blobs/".into()), Member::Dir("blobs/sha256/".into())];
    members.extend(names.into_iter().map(|n| Member::File(format!("blobs/sha256/{n}"), blobs.join(&n))));
    members.push(Member::File("index.json".into(), layout.join("index.json")));
    members.push(Member::Bytes("manifest.json".into(), docker.to_vec()));
    members.push(Member::File("oci-layout".into(), layout.join("oci-layout")));
    write_archive(members, out, sde)
}

/// `docker save`'s layout: `manifest.json`, the config as `<hex>.json`, each layer as `<diff_id hex>/layer.tar`.
fn docker_archive(
    blobs: &Path,
    config_digest: &str,
    layers: &[LayerBlob],
    meta: &ImageMeta,
    out: &Path,
) -> Result<Exported, ExportError> {
    let config_name = format!("{}.json", &config_digest[7..]);
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
    let mut list = vec![Member::File(config_name.clone(), blobs.join(&config_digest[7..]))];
    for (id, raw) in members {
        list.push(Member::Dir(format!("{id}/")));
        list.push(Member::File(format!("{id}/layer.tar"), raw));
    }
    list.push(Member::Bytes("manifest.json".into(), docker_manifest(meta, &config_name, &layer_names)));
    write_archive(list, out, meta.source_date_epoch)
}

/// Puts the staged directory at `out` in one step: a plain rename when nothing is there, else an atomic
/// exchange (`renameat2(RENAME_EXCHANGE)`) after which the old layout sits at the staged path and is
/// removed with the staging directory. A reader (or a process killed at any moment) sees the old
/// layout or the new one, never none and never half; concurrent writers each swap in a whole layout.
/// A filesystem without the exchange falls back to moving the old one aside first.
fn replace_dir(staged: &Path, out: &Path) -> Result<(), ExportError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { op, path, source }
    };
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    // Left by a compose that was killed mid-way through the fallback below (or by an older compose).
    let old = out.with_extension("old-compose");
    let _ = std::fs::remove_dir_all(&old);
    loop {
        if out.symlink_metadata().is_err() {
            match std::fs::rename(staged, out) {
                Ok(()) => return Ok(()),
                // Another process put one there meanwhile: exchange with it instead.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => continue,
                Err(e) => return Err(io("rename into place", out)(e)),
            }
        }
        match exchange(staged, out) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => break,
            Err(e) => return Err(io("swap into place", out)(e)),
        }
    }
    std::fs::rename(out, &old).map_err(io("move aside", out))?;
    std::fs::rename(staged, out).map_err(io("rename into place", out))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Swaps two paths atomically.
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths, relative to the working directory.
    let r = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::{Content, Entry, Kind};

    fn entry(kind: Kind, mode: u32, owner: &str) -> Entry {
        Entry { kind, mode, mtime: 1_600_000_000, uid: 0, gid: 0, owner: owner.into() }
    }

    fn file(bytes: &[u8], owner: &str) -> Entry {
        entry(Kind::File { content: Content::Bytes(bytes.to_vec()), size: bytes.len() as u64 }, 0o755, owner)
    }

    fn tree(binary: &[u8]) -> RootfsTree {
        let mut t = RootfsTree::default();
        for d in ["bin", "etc", "usr", "usr/share", "usr/share/data"] {
            t.entries.insert(d.into(), entry(Kind::Dir, 0o755, "skeleton"));
        }
        t.entries.insert("bin/busybox".into(), file(binary, "busybox"));
        t.entries.insert("bin/sh".into(), entry(Kind::Symlink { target: "busybox".into() }, 0o777, "busybox"));
        t.entries.insert("usr/share/data/words".into(), file(b"alpha\nbeta\n", "data"));
        t.entries.insert("etc/passwd".into(), file(b"root:x:0:0:root:/root:/bin/sh\n", "accounts"));
        t
    }

    fn meta() -> ImageMeta {
        let mut annotations = BTreeMap::new();
        annotations.insert("org.opencontainers.image.title".into(), "box".into());
        ImageMeta {
            reference: Reference::parse("box:1.0", "latest").unwrap(),
            config: ImageConfig { cmd: Some(vec!["/bin/sh".into()]), ..Default::default() },
            annotations,
            architecture: "amd64".into(),
            created_by: "compose test".into(),
            source_date_epoch: 1_700_000_000,
        }
    }

    /// What `write` gave before multi-platform indexes existed, measured on that code: a single-image
    /// export must keep these bytes (the golden digests of every built image depend on them).
    const BEFORE: [(&str, [&str; 5]); 2] = [
        (
            "per-package-gzip",
            [
                "22d3f8cc71367d46d6613271e75034fd77bb229f936306f6baf8bc2e5cee3d78",
                "d8623c33dbdc72d4d9369730a151d6620263ac29b2d99b34a866fb9a67d6f3ec",
                "047288465418125ea37da502a738421b7a08cf9a5b735addab30f26ca69abc25",
                "6f97615df7e78721f68dada2e14b1b19faa853060e5905ed0e7bdaedf39c474b",
                "5bb0b04573ba30231115a26fd857ce783f873546a3a5a7833dcc7c6d4ee41ab3",
            ],
        ),
        (
            "single-zstd",
            [
                "c593c013a5df45858783d3186378be722f3f552dccee5f73e22c503297341518",
                "674bb829a4448dc2b2eb11ff18beab077400965f3d67d9463d26c4a947c46e10",
                "e2b0b023e798e5c2dc767ecd44e221ddc0bd13b7d37ff713279cdbc6051ada0f",
                "68561e6f4bdfeda794beddbe1a488771500c12dc5dc7f5eaa64452bc296de6b5",
                "a7fc0dabd701d6cebcd6f8cd104356acbc779a56baacb094ebdf880828c1e278",
            ],
        ),
    ];

    #[test]
    fn single_image_output_is_byte_identical_to_before_indexes() {
        let d = tempfile::tempdir().unwrap();
        let t = tree(b"\x7fELF amd64");
        let m = meta();
        let packages = vec!["busybox".to_string(), "data".to_string()];
        let forms =
            [(Layering::PerPackage { max_layers: 8 }, Compression::Gzip), (Layering::Single, Compression::Zstd)];
        for ((name, want), (layering, compression)) in BEFORE.iter().zip(forms) {
            let outputs = Outputs {
                layout: Some(d.path().join(format!("{name}.oci"))),
                oci_archive: Some(d.path().join(format!("{name}.oci.tar"))),
                docker_archive: Some(d.path().join(format!("{name}.docker.tar"))),
            };
            let req = ImageRequest {
                tree: &t,
                meta: &m,
                layering,
                compression,
                packages: &packages,
                outputs: &outputs,
                staging_parent: d.path(),
            };
            let w = write(&req).unwrap();
            let got = [
                &w.index_digest[7..],
                &w.manifest_digest[7..],
                &w.config_digest[7..],
                &w.files[0].sha256,
                &w.files[1].sha256,
            ];
            assert_eq!(&got, want, "{name}");
            assert_eq!(w.files[2].sha256, want[0], "{name}: the layout reports the index digest");
            let index = std::fs::read(outputs.layout.as_ref().unwrap().join("index.json")).unwrap();
            assert_eq!(crate::digest::Sha256::hex_of(&index), want[0]);
        }
    }
}
