//! An image as `compose build` wrote it, read back for a push: an OCI layout directory (`NAME.oci`) or
//! an OCI archive (`NAME.oci.tar`, unpacked into a temporary directory first). `index.json` must tag
//! exactly one image: a manifest, or an image index of one manifest per platform. Every manifest and
//! index read is checked against its digest; blobs are checked by the client as they upload.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::PublishError;
use crate::registry::Descriptor;
use crate::toolchain::Platform;

pub use crate::registry::{OCI_INDEX as INDEX_TYPE, OCI_MANIFEST as MANIFEST_TYPE};

/// A manifest or index of the layout, with its bytes.
#[derive(Debug, Clone)]
pub struct Node {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
    /// An index's manifests (empty for a manifest).
    pub children: Vec<Node>,
    /// A manifest's config and layers (empty for an index).
    pub blobs: Vec<Descriptor>,
    /// As the index states it, for an index's manifests.
    pub platform: Option<Platform>,
}

impl Node {
    /// The image manifests: the children of an index, or the node itself.
    pub fn manifests(&self) -> Vec<&Node> {
        if self.children.is_empty() { vec![self] } else { self.children.iter().collect() }
    }
}

pub struct Layout {
    root: PathBuf,
    /// The tag `index.json` names (`org.opencontainers.image.ref.name`), if any.
    pub ref_name: Option<String>,
    pub top: Node,
    _unpacked: Option<tempfile::TempDir>,
}

fn bad(path: &Path, reason: impl Into<String>) -> PublishError {
    PublishError::Layout { path: path.to_path_buf(), reason: reason.into() }
}

impl Layout {
    /// Reads the layout directory or OCI archive at `path`.
    pub fn open(path: &Path) -> Result<Layout, PublishError> {
        let meta = std::fs::metadata(path).map_err(|e| bad(path, format!("cannot read it: {e}")))?;
        let (root, unpacked) = if meta.is_dir() {
            (path.to_path_buf(), None)
        } else {
            let dir = unpack_archive(path)?;
            (dir.path().to_path_buf(), Some(dir))
        };
        let index: Value = read_json(&root.join("index.json"), path)?;
        let entries = index["manifests"].as_array().cloned().unwrap_or_default();
        let [entry] = entries.as_slice() else {
            return Err(bad(
                path,
                format!("`index.json` tags {} images; compose pushes a layout of one", entries.len()),
            ));
        };
        let descriptor: Descriptor =
            serde_json::from_value(entry.clone()).map_err(|e| bad(path, format!("`index.json`: {e}")))?;
        let ref_name = descriptor.annotations.get("org.opencontainers.image.ref.name").cloned();
        let layout = Layout { root, ref_name, top: placeholder(), _unpacked: unpacked };
        let top = layout.node(descriptor, None, path)?;
        Ok(Layout { top, ..layout })
    }

    /// Where the blob `digest` is.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.join("blobs/sha256").join(hex)
    }

    fn node(&self, descriptor: Descriptor, platform: Option<Platform>, origin: &Path) -> Result<Node, PublishError> {
        let hex =
            hex_of(&descriptor.digest).ok_or_else(|| bad(origin, format!("bad digest `{}`", descriptor.digest)))?;
        let path = self.blob_path(&descriptor.digest);
        let bytes = std::fs::read(&path).map_err(|e| bad(origin, format!("blob {}: {e}", descriptor.digest)))?;
        if crate::digest::Sha256::hex_of(&bytes) != hex {
            return Err(bad(origin, format!("blob {} does not match its digest", descriptor.digest)));
        }
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(origin, format!("{}: {e}", descriptor.digest)))?;
        let mut node = Node { descriptor, bytes, children: Vec::new(), blobs: Vec::new(), platform };
        match node.descriptor.media_type.as_str() {
            INDEX_TYPE => {
                for m in v["manifests"].as_array().into_iter().flatten() {
                    let d: Descriptor = serde_json::from_value(m.clone()).map_err(|e| bad(origin, e.to_string()))?;
                    let platform = d.platform.as_ref().map(|p| {
                        Platform::stated(
                            p["os"].as_str().unwrap_or("linux"),
                            p["architecture"].as_str().unwrap_or(""),
                            p["variant"].as_str(),
                        )
                    });
                    node.children.push(self.node(d, platform, origin)?);
                }
            }
            MANIFEST_TYPE => {
                let config = v.get("config").cloned().into_iter();
                let layers = v["layers"].as_array().cloned().unwrap_or_default();
                for b in config.chain(layers) {
                    let d: Descriptor = serde_json::from_value(b).map_err(|e| bad(origin, e.to_string()))?;
                    node.blobs.push(d);
                }
            }
            other => return Err(bad(origin, format!("unsupported media type `{other}`"))),
        }
        Ok(node)
    }
}

fn placeholder() -> Node {
    let descriptor = Descriptor {
        media_type: String::new(),
        digest: String::new(),
        size: 0,
        artifact_type: None,
        annotations: Default::default(),
        platform: None,
    };
    Node { descriptor, bytes: Vec::new(), children: Vec::new(), blobs: Vec::new(), platform: None }
}

/// The hex of a `sha256:<64 hex>` digest.
pub fn hex_of(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))).then_some(hex)
}

fn read_json(path: &Path, origin: &Path) -> Result<Value, PublishError> {
    let bytes = std::fs::read(path).map_err(|e| bad(origin, format!("`index.json`: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| bad(origin, format!("`index.json`: {e}")))
}

/// Unpacks the layout members of an OCI archive (`oci-layout`, `index.json`, `blobs/sha256/<hex>`) into
/// a temporary directory. Anything else (Docker's `manifest.json`, directories) is skipped;
/// links and special files are refused: an archive is input from elsewhere.
fn unpack_archive(path: &Path) -> Result<tempfile::TempDir, PublishError> {
    // In the system's temporary directory, not beside the archive: `out/` may be read-only, and a push
    // killed here must not leave a copy of the image among the outputs.
    let dir = tempfile::Builder::new()
        .prefix("compose-push-")
        .tempdir()
        .map_err(|e| bad(path, format!("cannot create a temporary directory to unpack it: {e}")))?;
    std::fs::create_dir_all(dir.path().join("blobs/sha256")).map_err(|e| bad(path, e.to_string()))?;
    let file = std::fs::File::open(path).map_err(|e| bad(path, e.to_string()))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    for entry in archive.entries().map_err(|e| bad(path, e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(path, e.to_string()))?;
        let name = entry.path().map_err(|e| bad(path, e.to_string()))?.to_string_lossy().into_owned();
        let name = name.trim_start_matches("./").to_string();
        let wanted = name == "index.json"
            || name == "oci-layout"
            || name.strip_prefix("blobs/sha256/").is_some_and(|h| hex_of(&format!("sha256:{h}")).is_some());
        if !wanted {
            continue;
        }
        if !entry.header().entry_type().is_file() {
            return Err(bad(path, format!("member `{name}` is not a regular file")));
        }
        let mut out = std::fs::File::create(dir.path().join(&name)).map_err(|e| bad(path, e.to_string()))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| bad(path, format!("member `{name}`: {e}")))?;
    }
    Ok(dir)
}
