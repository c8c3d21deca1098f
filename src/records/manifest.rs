//! The file manifest (`compose-files-v1`): every path in the image with its type, mode, owner,
//! size, sha256 and the package (or `skeleton` / `accounts`) that put it there.

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
    let files = doc.list("files", || inv.files.iter().map(entry));
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

fn entry(f: &FileFacts) -> Value {
    let mut v = json!({
        "path": f.path,
        "mode": format!("{:04o}", f.mode),
        "uid": f.uid,
        "gid": f.gid,
        "owner": f.owner,
    });
    match &f.kind {
        FileKind::Dir => v["type"] = json!("dir"),
        FileKind::File { size, sha256, .. } => {
            v["type"] = json!("file");
            v["size"] = json!(size);
            v["sha256"] = json!(sha256);
        }
        FileKind::Symlink { target } => {
            v["type"] = json!("symlink");
            v["target"] = json!(target);
        }
    }
    v
}
