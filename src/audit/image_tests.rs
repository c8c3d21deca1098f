//! Picking one image of an OCI layout by tag and platform, on hand-made layouts: each manifest's one
//! layer holds `/etc/<label>`, so the tree says which manifest was read.

use serde_json::{Value, json};

use super::*;
use crate::digest::Sha256;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

struct Layout {
    dir: tempfile::TempDir,
}

impl Layout {
    fn new() -> Layout {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        std::fs::write(dir.path().join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn put(&self, bytes: &[u8]) -> Value {
        let hex = Sha256::hex_of(bytes);
        std::fs::write(self.path().join("blobs/sha256").join(&hex), bytes).unwrap();
        json!({"digest": format!("sha256:{hex}"), "size": bytes.len()})
    }

    /// A manifest of one layer holding `/etc/<label>`, its config naming `arch` (OCI name); its
    /// descriptor, without platform or annotations.
    fn manifest(&self, label: &str, arch: &str) -> Value {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, "etc/", &[][..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(label.len() as u64);
        b.append_data(&mut h, format!("etc/{label}"), label.as_bytes()).unwrap();
        let mut layer = self.put(&b.into_inner().unwrap());
        layer["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar");
        let config = json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}});
        let mut config_desc = self.put(config.to_string().as_bytes());
        config_desc["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
        let m = json!({"schemaVersion": 2, "mediaType": MANIFEST, "config": config_desc, "layers": [layer]});
        let mut d = self.put(m.to_string().as_bytes());
        d["mediaType"] = json!(MANIFEST);
        d
    }

    /// `index.json` listing `descriptors`.
    fn index(&self, descriptors: Vec<Value>) {
        let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": descriptors});
        std::fs::write(self.path().join("index.json"), index.to_string()).unwrap();
    }

    fn open(&self, tag: Option<&str>, platform: Option<&str>) -> Result<Image, AuditError> {
        let platform = platform.map(|p| Platform::parse(p).unwrap());
        open(self.path(), Select { tag, platform: platform.as_ref() })
    }

    /// The label of the manifest read.
    fn picks(&self, tag: Option<&str>, platform: Option<&str>) -> String {
        let image = self.open(tag, platform).unwrap_or_else(|e| panic!("{tag:?} {platform:?}: {e}"));
        let labels: Vec<&str> = image.tree.entries.keys().filter_map(|p| p.strip_prefix("/etc/")).collect();
        assert_eq!(labels.len(), 1, "{labels:?}");
        labels[0].to_string()
    }
}

/// A descriptor with a platform object (`variant` left out when `None`) and a tag.
fn on(mut d: Value, arch: &str, variant: Option<&str>, tag: &str) -> Value {
    d["platform"] = json!({"architecture": arch, "os": "linux"});
    if let Some(v) = variant {
        d["platform"]["variant"] = json!(v);
    }
    d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    d
}

fn err(r: Result<Image, AuditError>) -> AuditError {
    r.expect_err("an error")
}

/// compose's own multi-platform index: one descriptor per platform, all with the image's tag.
fn two_platforms() -> Layout {
    let l = Layout::new();
    let (amd, arm) = (l.manifest("amd64", "amd64"), l.manifest("arm64", "arm64"));
    l.index(vec![on(amd, "amd64", None, "1.0"), on(arm, "arm64", Some("v8"), "1.0")]);
    l
}

#[test]
fn a_platform_is_picked_from_a_multi_platform_index_and_the_image_says_which() {
    let l = two_platforms();
    for (asked, label) in
        [("linux/arm64", "arm64"), ("linux/arm64/v8", "arm64"), ("linux/aarch64", "arm64"), ("linux/amd64", "amd64")]
    {
        assert_eq!(l.picks(None, Some(asked)), label, "{asked}");
    }
    let image = l.open(None, Some("linux/arm64")).unwrap();
    assert_eq!(image.platform.as_ref().map(Platform::to_string).as_deref(), Some("linux/arm64/v8"));
    let listed: Vec<String> = image.platforms.iter().map(Platform::to_string).collect();
    assert_eq!(listed, ["linux/amd64", "linux/arm64/v8"]);
    assert_eq!(image.reference.as_deref(), Some("1.0"));
    // Without --platform: this machine's, which the index may not have.
    match Platform::host().arch() {
        "amd64" | "arm64" => assert_eq!(l.picks(None, None), Platform::host().arch()),
        _ => assert!(matches!(err(l.open(None, None)), AuditError::NoSuchPlatform { host: true, .. })),
    }
}

#[test]
fn no_matching_platform_is_an_error_listing_the_platforms_there_are() {
    let l = two_platforms();
    let e = err(l.open(None, Some("linux/riscv64")));
    let path = l.path().display();
    assert_eq!(e.to_string(), format!("`{path}`: index.json has no image for linux/riscv64"));
    match e {
        AuditError::NoSuchPlatform { choices, host: false, .. } => {
            assert_eq!(choices, ["linux/amd64", "linux/arm64/v8"])
        }
        e => panic!("{e:?}"),
    }
    let e = err(l.open(None, Some("linux/arm64/v9")));
    assert_eq!(e.to_string(), format!("`{path}`: index.json has no image for linux/arm64/v9"), "variants differ");

    // Neither platform is this machine's and none was asked for: the error says so.
    let l = Layout::new();
    let (a, b) = (l.manifest("s390x", "s390x"), l.manifest("ppc64le", "ppc64le"));
    l.index(vec![on(a, "s390x", None, "1.0"), on(b, "ppc64le", None, "1.0")]);
    let e = err(l.open(None, None));
    let host = Platform::host();
    let path = l.path().display();
    assert_eq!(e.to_string(), format!("`{path}`: index.json has no image for this machine's platform {host}"));
    assert!(matches!(&e, AuditError::NoSuchPlatform { choices, .. } if choices == &["linux/s390x", "linux/ppc64le"]));
    // One image for another platform, none asked for: that one (what else could be meant).
    let l = Layout::new();
    l.index(vec![on(l.manifest("s390x", "s390x"), "s390x", None, "1.0")]);
    assert_eq!(l.picks(None, None), "s390x");
    assert!(matches!(err(l.open(None, Some("linux/amd64"))), AuditError::NoSuchPlatform { host: false, .. }));
}

#[test]
fn a_missing_variant_matches_any_and_an_exact_one_wins() {
    let l = Layout::new();
    let descriptors = vec![
        on(l.manifest("arm64", "arm64"), "arm64", None, "1.0"),
        on(l.manifest("armv6", "arm"), "arm", Some("v6"), "1.0"),
        on(l.manifest("armv7", "arm"), "arm", Some("v7"), "1.0"),
        on(l.manifest("arm", "arm"), "arm", None, "1.0"),
    ];
    l.index(descriptors);
    // The index's plain `arm64` is any arm64: v8 (the default) included.
    assert_eq!(l.picks(None, Some("linux/arm64")), "arm64");
    assert_eq!(l.picks(None, Some("linux/arm64/v8")), "arm64");
    // `arm/v7` matches `arm/v7` and the plain `arm`: the exact one wins; so does the plain one for `arm`.
    assert_eq!(l.picks(None, Some("linux/arm/v7")), "armv7");
    assert_eq!(l.picks(None, Some("linux/arm/v6")), "armv6");
    assert_eq!(l.picks(None, Some("linux/arm")), "arm");

    // Without the plain `arm`, `linux/arm` matches two variants: a variant must pick.
    let l = Layout::new();
    l.index(vec![
        on(l.manifest("armv6", "arm"), "arm", Some("v6"), "1.0"),
        on(l.manifest("armv7", "arm"), "arm", Some("v7"), "1.0"),
    ]);
    let e = err(l.open(None, Some("linux/arm")));
    assert!(e.to_string().ends_with("index.json has 2 platforms matching linux/arm; pick one with --platform"), "{e}");
    assert!(matches!(&e, AuditError::Ambiguous { by: "--platform", choices, .. }
        if choices == &["linux/arm/v6", "linux/arm/v7"]));
}

#[test]
fn tag_filters_first_then_platform() {
    let l = Layout::new();
    l.index(vec![
        on(l.manifest("stable-amd64", "amd64"), "amd64", None, "stable"),
        on(l.manifest("stable-arm64", "arm64"), "arm64", Some("v8"), "stable"),
        on(l.manifest("edge-amd64", "amd64"), "amd64", None, "edge"),
        on(l.manifest("edge-arm64", "arm64"), "arm64", Some("v8"), "edge"),
        on(l.manifest("edge-riscv64", "riscv64"), "riscv64", None, "edge"),
    ]);
    assert_eq!(l.picks(Some("edge"), Some("linux/arm64")), "edge-arm64");
    assert_eq!(l.picks(Some("stable"), Some("linux/amd64")), "stable-amd64");
    assert_eq!(l.picks(Some("edge"), Some("linux/riscv64")), "edge-riscv64");
    let image = l.open(Some("stable"), Some("linux/arm64")).unwrap();
    assert_eq!(image.platforms.len(), 2, "the platforms of the tag, not of the index");
    // riscv64 is only `edge`.
    let e = err(l.open(Some("stable"), Some("linux/riscv64")));
    assert!(matches!(&e, AuditError::NoSuchPlatform { choices, .. } if choices == &["linux/amd64", "linux/arm64/v8"]));
    assert!(matches!(err(l.open(Some("nightly"), Some("linux/arm64"))), AuditError::NoSuchTag { .. }));
    // A platform alone matches one image per tag: the tag must pick.
    let e = err(l.open(None, Some("linux/arm64")));
    assert!(e.to_string().ends_with("index.json lists 2 images for linux/arm64/v8; pick one with --tag"), "{e}");
    assert!(matches!(&e, AuditError::Ambiguous { by: "--tag", choices, .. }
        if choices == &["stable (linux/arm64/v8)", "edge (linux/arm64/v8)"]));
    assert_eq!(l.picks(None, Some("linux/riscv64")), "edge-riscv64", "one image for riscv64: no tag needed");
}

#[test]
fn a_nested_index_is_picked_by_tag_then_by_platform_inside() {
    let l = Layout::new();
    let (amd, arm) = (l.manifest("amd64", "amd64"), l.manifest("arm64", "arm64"));
    let nested = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": MANIFEST, "digest": amd["digest"], "size": amd["size"],
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": MANIFEST, "digest": arm["digest"], "size": arm["size"],
         "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
    ]});
    let mut d = l.put(nested.to_string().as_bytes());
    d["mediaType"] = json!(INDEX);
    d["annotations"] = json!({"org.opencontainers.image.ref.name": "1.0"});
    let other = l.manifest("other", "amd64");
    l.index(vec![
        d,
        json!({"mediaType": MANIFEST, "digest": other["digest"], "size": other["size"],
        "annotations": {"org.opencontainers.image.ref.name": "other"}}),
    ]);
    assert_eq!(l.picks(Some("1.0"), Some("linux/arm64")), "arm64");
    assert_eq!(l.picks(Some("1.0"), Some("linux/amd64")), "amd64");
    let image = l.open(Some("1.0"), Some("linux/arm64")).unwrap();
    assert_eq!((image.platforms.len(), image.reference.as_deref()), (2, Some("1.0")));
    let e = err(l.open(Some("1.0"), Some("linux/riscv64")));
    assert!(e.to_string().contains(": the image index sha256:"), "{e}");
    assert!(e.to_string().ends_with("has no image for linux/riscv64"), "{e}");
    // An image of one platform without a platform field: --platform does not apply; its config says.
    let image = l.open(Some("other"), Some("linux/arm64")).unwrap();
    assert_eq!(image.platform.as_ref().map(Platform::to_string).as_deref(), Some("linux/amd64"));
    assert!(image.platforms.is_empty());
}

#[test]
fn a_single_platform_index_is_unchanged_and_its_config_names_the_platform() {
    let l = Layout::new();
    let mut d = l.manifest("only", "arm64");
    d["annotations"] = json!({"org.opencontainers.image.ref.name": "1.0"});
    l.index(vec![d]);
    for platform in [None, Some("linux/amd64"), Some("linux/arm64")] {
        assert_eq!(l.picks(None, platform), "only", "{platform:?}");
    }
    let image = l.open(None, None).unwrap();
    assert_eq!(image.platform.as_ref().map(Platform::to_string).as_deref(), Some("linux/arm64"));
    assert!(image.platforms.is_empty());
}
