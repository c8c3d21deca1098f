//! The index writer against fixture trees: what each platform's entry and config say, that the layout
//! is complete and closed, determinism, and that one image still gives the bytes it gave before.

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
        platform: Platform::parse("linux/amd64").unwrap(),
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
    let forms = [(Layering::PerPackage { max_layers: 8 }, Compression::Gzip), (Layering::Single, Compression::Zstd)];
    for (n, ((name, want), (layering, compression))) in BEFORE.iter().zip(forms).enumerate() {
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
