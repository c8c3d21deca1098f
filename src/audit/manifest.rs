//! Reading a file manifest (`NAME.files.json`, format `compose-files-v1`, see docs/records.md): which
//! package owns each path, and what each file should hash to. Audit keeps its own reader so that it
//! depends only on the documented format, not on the code that writes it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::AuditError;

pub const FORMAT: &str = "compose-files-v1";

#[derive(Debug, Clone, Deserialize)]
pub struct FileManifest {
    pub format: String,
    #[serde(default)]
    pub image: Option<ManifestImage>,
    #[serde(default)]
    pub packages: Vec<ManifestPackage>,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ManifestImage {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub tar_sha256: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ManifestPackage {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub license: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    pub owner: String,
}

pub fn read(path: &Path) -> Result<FileManifest, AuditError> {
    let bytes = std::fs::read(path).map_err(|source| AuditError::ReadManifest { path: path.to_path_buf(), source })?;
    let m: FileManifest = serde_json::from_slice(&bytes)
        .map_err(|source| AuditError::ParseManifest { path: path.to_path_buf(), source })?;
    if m.format != FORMAT {
        return Err(AuditError::ManifestFormat { path: path.to_path_buf(), found: m.format });
    }
    Ok(m)
}

/// The manifest `compose build` writes beside an image: `out/busybox.tar`, `out/busybox.oci.tar`,
/// `out/busybox.docker.tar` and `out/busybox.oci/` all have `out/busybox.files.json`. A build for
/// several platforms writes one OCI image and a manifest per platform: with `arch` (the platform picked
/// from such an image), `out/busybox-ARCH.files.json` comes first.
pub fn beside(image: &Path, arch: Option<&str>) -> Option<PathBuf> {
    let name = image.file_name()?.to_str()?;
    let stem = [".oci.tar", ".docker.tar", ".tar", ".oci"].iter().find_map(|s| name.strip_suffix(s))?;
    let per_platform = arch.map(|a| format!("{stem}-{a}.files.json"));
    per_platform
        .into_iter()
        .chain([format!("{stem}.files.json")])
        .map(|n| image.with_file_name(n))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_reads() {
        let text = r#"{
          "format": "compose-files-v1",
          "image": {"name": "busybox", "version": "1.37.0", "tar_sha256": "0199cd20"},
          "packages": [{"name": "busybox", "version": "1.37.0", "license": "GPL-2.0-only"}],
          "files": [
            {"path": "/bin", "type": "dir", "mode": "0755", "uid": 0, "gid": 0, "owner": "skeleton"},
            {"path": "/bin/busybox", "type": "file", "mode": "0755", "uid": 0, "gid": 0, "size": 1032112,
             "sha256": "ab", "owner": "busybox"},
            {"path": "/bin/sh", "type": "symlink", "mode": "0777", "uid": 0, "gid": 0, "target": "busybox",
             "owner": "busybox"}
          ]
        }"#;
        let m: FileManifest = serde_json::from_str(text).unwrap();
        assert_eq!(m.files.len(), 3);
        assert_eq!(m.files[1].size, Some(1032112));
        assert_eq!(m.files[2].target.as_deref(), Some("busybox"));
        assert_eq!(m.image.unwrap().tar_sha256.as_deref(), Some("0199cd20"));
    }

    #[test]
    fn found_beside_every_image_form() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("bb.files.json"), "{}").unwrap();
        for name in ["bb.tar", "bb.oci.tar", "bb.docker.tar", "bb.oci"] {
            assert_eq!(beside(&d.path().join(name), None), Some(d.path().join("bb.files.json")), "{name}");
        }
        assert_eq!(beside(&d.path().join("other.tar"), None), None);
        assert_eq!(beside(&d.path().join("bb.img"), None), None);
    }

    #[test]
    fn a_platform_picked_from_a_multi_platform_image_has_its_own_manifest_first() {
        let d = tempfile::tempdir().unwrap();
        let image = d.path().join("bb.oci.tar");
        assert_eq!(beside(&image, Some("arm64")), None);
        std::fs::write(d.path().join("bb.files.json"), "{}").unwrap();
        assert_eq!(beside(&image, Some("arm64")), Some(d.path().join("bb.files.json")), "none of its own");
        std::fs::write(d.path().join("bb-arm64.files.json"), "{}").unwrap();
        assert_eq!(beside(&image, Some("arm64")), Some(d.path().join("bb-arm64.files.json")));
        assert_eq!(beside(&d.path().join("bb.oci"), Some("arm64")), Some(d.path().join("bb-arm64.files.json")));
        assert_eq!(beside(&image, Some("riscv64")), Some(d.path().join("bb.files.json")));
        assert_eq!(beside(&image, None), Some(d.path().join("bb.files.json")));
    }
}
