use std::path::Path;

use super::*;

fn reference(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

#[test]
fn a_push_without_a_tag_takes_the_layouts_then_latest() {
    let r = reference("127.0.0.1:5000/team/busybox");
    assert_eq!(with_tag(&r, Some("docker.io/library/busybox:1.37.0")).tag.as_deref(), Some("1.37.0"));
    assert_eq!(with_tag(&r, Some("1.0")).tag.as_deref(), Some("1.0"), "a layout's ref name is a tag");
    assert_eq!(with_tag(&r, None).tag.as_deref(), Some("latest"));
    assert_eq!(with_tag(&r, Some("localhost:5000/busybox")).tag.as_deref(), Some("latest"), "a port is not a tag");
    let tagged = reference("127.0.0.1:5000/team/busybox:mine");
    assert_eq!(with_tag(&tagged, Some("x:1")).tag.as_deref(), Some("mine"));
}

/// A layout of one manifest (config `{}`, one layer), its files written by hand.
fn layout(dir: &Path) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let hex = crate::digest::Sha256::hex_of(bytes);
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (config, config_size) = put(b"{}");
    let (layer, layer_size) = put(b"layer bytes");
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": layout::MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}],
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let (digest, size) = put(&bytes);
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": layout::MANIFEST_TYPE,
        "digest": digest, "size": size, "annotations": {"org.opencontainers.image.ref.name": "1.0"}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    digest
}

#[test]
fn a_layout_reads_back_with_its_blobs_and_a_changed_manifest_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("hello.oci");
    let digest = layout(&dir);
    let l = Layout::open(&dir).unwrap();
    assert_eq!((l.top.descriptor.digest.as_str(), l.ref_name.as_deref()), (digest.as_str(), Some("1.0")));
    assert_eq!(l.top.blobs.len(), 2, "config and layer");
    assert_eq!(l.top.manifests().len(), 1);
    std::fs::write(l.blob_path(&digest), b"{\"schemaVersion\":2}").unwrap();
    let err = Layout::open(&dir).err().expect("a manifest that does not match its digest");
    assert!(err.to_string().contains("does not match its digest"), "{err}");
}

#[test]
fn an_archive_with_a_link_where_a_blob_should_be_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let archive = d.path().join("hello.oci.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&archive).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "index.json", "/etc/passwd").unwrap();
    b.into_inner().unwrap();
    let err = Layout::open(&archive).err().expect("a link is not a layout member");
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[test]
fn records_are_found_beside_the_image_by_its_name() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("hello.oci");
    layout(&dir);
    for f in ["hello.spdx.json", "hello.provenance.json"] {
        std::fs::write(d.path().join(f), b"{}").unwrap();
    }
    let l = Layout::open(&dir).unwrap();
    let (found, missing) = attachments_beside(&dir, &l);
    let kinds: Vec<Kind> = found.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [Kind::Spdx, Kind::Provenance]);
    assert_eq!(missing, [d.path().join("hello.cdx.json")]);
    assert_eq!(found[0].subject.as_deref(), Some(l.top.descriptor.digest.as_str()));
    assert_eq!(found[1].subject, None, "the provenance describes what the tag names");
}
