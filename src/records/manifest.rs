//! The file manifest (`compose-files-v1`): every path in the image with its type, mode, owner,
//! size, sha256 and the package (or `skeleton` / `accounts`) that put it there.

use serde::Serialize;
use serde_json::{Value, json};

use super::stream::Doc;
use super::{FileFacts, FileKind, Inventory, Role};

pub const FORMAT: &str = "compose-files-v1";

pub fn document(inv: &Inventory) -> Doc<'_> {
    let mut doc = Doc::new();
    let packages: Vec<Value> = inv
        .packages
        .iter()
        .filter(|p| p.role == Role::Runtime)
        .map(|p| json!({"name": p.name, "version": p.version, "license": p.license}))
        .collect();
    let files = doc.list("files", |w| inv.files.iter().try_for_each(|f| w.push(&entry(f))));
    let mut image = json!({
        "name": inv.image.name,
        "version": inv.image.version,
        "tar_sha256": inv.image.rootfs_sha256,
    });
    if let Some(o) = &inv.image.oci {
        image["index_digest"] = json!(o.index);
        image["manifest_digest"] = json!(o.manifest);
        image["config_digest"] = json!(o.config);
    }
    doc.value = json!({"format": FORMAT, "image": image, "packages": packages, "files": files});
    doc
}

/// One line of the manifest; fields in the sorted order the whole document uses.
#[derive(Serialize)]
struct Entry<'a> {
    gid: u32,
    mode: String,
    owner: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
    uid: u32,
}

fn entry(f: &FileFacts) -> Entry<'_> {
    let (kind, size, sha256, target) = match &f.kind {
        FileKind::Dir => ("dir", None, None, None),
        FileKind::File { size, sha256, .. } => ("file", Some(*size), Some(sha256.as_str()), None),
        FileKind::Symlink { target } => ("symlink", None, None, Some(target.as_str())),
    };
    Entry {
        gid: f.gid,
        mode: format!("{:04o}", f.mode),
        owner: &f.owner,
        path: &f.path,
        sha256,
        size,
        target,
        kind,
        uid: f.uid,
    }
}
