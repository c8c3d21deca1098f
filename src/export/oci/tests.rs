//! The index writer against fixture trees: what each platform's entry and config say, that the layout
//! is complete and closed, determinism, and that one image still gives the bytes it gave before.

use serde_json::{Value, json};

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

const SIZES: [[u64; 3]; 2] = [[12288, 20480, 2367], [8192, 11264, 1166]];

fn sha256_file(p: &Path) -> String {
    crate::digest::Sha256::hex_of(&std::fs::read(p).unwrap())
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn blob(layout: &Path, digest: &Value) -> PathBuf {
    layout.join("blobs/sha256").join(&digest.as_str().unwrap()[7..])
}

fn platform_meta(platform: &str) -> ImageMeta {
    ImageMeta { platform: Platform::parse(platform).unwrap(), ..meta() }
}

fn image<'a>(tree: &'a RootfsTree, meta: &'a ImageMeta, packages: &'a [String]) -> PlatformImage<'a> {
    PlatformImage {
        tree,
        meta,
        layering: Layering::PerPackage { max_layers: 8 },
        compression: Compression::Gzip,
        packages,
    }
}

fn packages() -> Vec<String> {
    vec!["busybox".to_string(), "data".to_string()]
}

/// The two-platform fixture: binaries differ, the `data` package is the same bytes on both.
struct TwoPlatforms {
    trees: [RootfsTree; 2],
    metas: [ImageMeta; 2],
    packages: Vec<String>,
}

impl TwoPlatforms {
    fn new() -> TwoPlatforms {
        TwoPlatforms {
            trees: [tree(b"\x7fELF amd64"), tree(b"\x7fELF aarch64")],
            metas: [platform_meta("linux/amd64"), platform_meta("linux/arm64")],
            packages: packages(),
        }
    }

    fn images(&self) -> Vec<PlatformImage<'_>> {
        self.trees.iter().zip(&self.metas).map(|(t, m)| image(t, m, &self.packages)).collect()
    }

    fn write(&self, dir: &Path) -> (WrittenIndex, IndexOutputs) {
        let outputs = IndexOutputs { layout: Some(dir.join("box.oci")), oci_archive: Some(dir.join("box.oci.tar")) };
        (write_index(&self.images(), &outputs, dir).unwrap(), outputs)
    }
}

/// Every blob `index.json` reaches (through nested indexes), checked against its name and its
/// descriptor's size; and nothing else in `blobs/sha256`. Returns each manifest reached with the
/// `platform` its index gave it (null if none), in index order.
fn check_closed(layout: &Path) -> Vec<(Value, Value)> {
    let mut reached = std::collections::BTreeSet::new();
    let mut manifests = Vec::new();
    let index = read_json(&layout.join("index.json"));
    let mut pending: Vec<Value> = index["manifests"].as_array().unwrap().iter().rev().cloned().collect();
    while let Some(d) = pending.pop() {
        let p = blob(layout, &d["digest"]);
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(format!("sha256:{}", crate::digest::Sha256::hex_of(&bytes)), d["digest"].as_str().unwrap());
        assert_eq!(bytes.len() as u64, d["size"].as_u64().unwrap(), "{}", p.display());
        reached.insert(p.file_name().unwrap().to_string_lossy().into_owned());
        let doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        match d["mediaType"].as_str().unwrap() {
            INDEX_TYPE => pending.extend(doc["manifests"].as_array().unwrap().iter().rev().cloned()),
            MANIFEST_TYPE => {
                assert_eq!(doc["mediaType"], MANIFEST_TYPE);
                pending.push(doc["config"].clone());
                pending.extend(doc["layers"].as_array().unwrap().iter().rev().cloned());
                manifests.push((d.get("platform").cloned().unwrap_or(Value::Null), doc));
            }
            _ => {}
        }
    }
    let mut present: Vec<String> = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    assert_eq!(present, reached.into_iter().collect::<Vec<_>>(), "blobs/sha256 holds exactly what is referenced");
    manifests
}

/// `index.json` tags one image index (so `oci:DIR:TAG` resolves to the list, and a tool picks its
/// platform there), which lists each platform's manifest; each config names its platform.
#[test]
fn an_index_lists_each_platform_with_its_config() {
    let d = tempfile::tempdir().unwrap();
    let fx = TwoPlatforms::new();
    let (w, outputs) = fx.write(d.path());
    let layout = outputs.layout.unwrap();
    let top = read_json(&layout.join("index.json"));
    assert_eq!(top["mediaType"], INDEX_TYPE);
    let tagged = top["manifests"].as_array().unwrap();
    assert_eq!(tagged.len(), 1, "one tagged entry: {top}");
    assert_eq!(tagged[0]["mediaType"], INDEX_TYPE);
    assert_eq!(tagged[0]["digest"], w.image_digest.as_str());
    assert_eq!(tagged[0]["annotations"]["org.opencontainers.image.ref.name"], "1.0");
    assert_eq!(tagged[0]["annotations"]["io.containerd.image.name"], "docker.io/library/box:1.0");
    let list = read_json(&blob(&layout, &tagged[0]["digest"]));
    assert_eq!((list["schemaVersion"].as_u64(), list["mediaType"].as_str()), (Some(2), Some(INDEX_TYPE)));
    let entries = list["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let want_platforms = [
        json!({"architecture": "amd64", "os": "linux"}),
        json!({"architecture": "arm64", "os": "linux", "variant": "v8"}),
    ];
    let want_configs = [("amd64", None), ("arm64", Some("v8"))];
    for (n, e) in entries.iter().enumerate() {
        assert_eq!(e["platform"], want_platforms[n], "entry {n}");
        assert_eq!(e["mediaType"], MANIFEST_TYPE);
        let written = &w.manifests[n];
        assert_eq!(e["digest"], written.manifest_digest.as_str());
        assert_eq!(written.platform, fx.metas[n].platform);
        let manifest = read_json(&blob(&layout, &e["digest"]));
        assert_eq!(manifest["config"]["digest"], written.config_digest.as_str());
        let config = read_json(&blob(&layout, &manifest["config"]["digest"]));
        let (arch, variant) = want_configs[n];
        assert_eq!(config["os"], "linux");
        assert_eq!(config["architecture"], arch);
        assert_eq!(
            config.get("variant").and_then(Value::as_str),
            variant,
            "entry {n}: variant, only when there is one"
        );
        let layers: Vec<&str> =
            manifest["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap()).collect();
        assert_eq!(layers, written.layers.iter().map(|l| l.digest.as_str()).collect::<Vec<_>>());
    }
    assert_eq!(w.index_digest, format!("sha256:{}", sha256_file(&layout.join("index.json"))));
    assert_eq!(w.files.iter().map(|f| f.path.clone()).collect::<Vec<_>>(), [outputs.oci_archive.unwrap(), layout]);
}

#[test]
fn an_index_layout_and_archive_hold_exactly_the_referenced_blobs() {
    let d = tempfile::tempdir().unwrap();
    let fx = TwoPlatforms::new();
    let (w, outputs) = fx.write(d.path());
    let layout = outputs.layout.unwrap();
    let platforms: Vec<Value> = check_closed(&layout).into_iter().map(|(p, _)| p["architecture"].clone()).collect();
    assert_eq!(platforms, [json!("amd64"), json!("arm64")]);
    // The archive, unpacked, is the same closed layout plus Docker's manifest.json.
    let unpacked = d.path().join("unpacked");
    tar::Archive::new(std::fs::File::open(outputs.oci_archive.as_ref().unwrap()).unwrap()).unpack(&unpacked).unwrap();
    check_closed(&unpacked);
    assert_eq!(std::fs::read(unpacked.join("index.json")).unwrap(), std::fs::read(layout.join("index.json")).unwrap());
    // manifest.json names one image: the host's if the index has it, else the first.
    let host = Platform::host();
    let chosen = fx.metas.iter().position(|m| m.platform == host).unwrap_or(0);
    let docker = read_json(&unpacked.join("manifest.json"));
    assert_eq!(docker.as_array().unwrap().len(), 1);
    assert_eq!(docker[0]["RepoTags"], json!(["box:1.0"]));
    assert_eq!(docker[0]["Config"], format!("blobs/sha256/{}", &w.manifests[chosen].config_digest[7..]));
    for l in docker[0]["Layers"].as_array().unwrap() {
        assert!(unpacked.join(l.as_str().unwrap()).is_file(), "{l}");
    }
    let size: u64 = walk_sizes(&layout.join("blobs/sha256"));
    assert_eq!(w.files[1].size, size, "the layout's size counts each blob once");
}

fn walk_sizes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

#[test]
fn a_layer_two_platforms_share_is_stored_once() {
    let d = tempfile::tempdir().unwrap();
    let (w, outputs) = TwoPlatforms::new().write(d.path());
    let labels = |n: usize| {
        w.manifests[n].layers.iter().map(|l| (l.label.clone(), l.digest.clone())).collect::<BTreeMap<_, _>>()
    };
    let (amd, arm) = (labels(0), labels(1));
    assert_eq!(amd["data"], arm["data"], "the data package's layer is the same bytes");
    assert_eq!(amd["skeleton"], arm["skeleton"]);
    assert_ne!(amd["busybox"], arm["busybox"]);
    let distinct: std::collections::BTreeSet<&String> = amd.values().chain(arm.values()).collect();
    // Each distinct layer, two configs, two manifests and the index of them.
    let blobs = std::fs::read_dir(outputs.layout.unwrap().join("blobs/sha256")).unwrap().count();
    assert_eq!(blobs, distinct.len() + 5);
    let archive = outputs.oci_archive.unwrap();
    let mut names: Vec<String> = tar::Archive::new(std::fs::File::open(&archive).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    let all = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), all, "no member twice in the OCI archive");
}

#[test]
fn index_writes_are_deterministic_and_replace_the_old_layout() {
    let d = tempfile::tempdir().unwrap();
    let fx = TwoPlatforms::new();
    let (a, out_a) = fx.write(&d.path().join("a"));
    let (b, out_b) = fx.write(&d.path().join("b"));
    assert_eq!((&a.index_digest, &a.image_digest), (&b.index_digest, &b.image_digest));
    let index = |o: &IndexOutputs| std::fs::read(o.layout.as_ref().unwrap().join("index.json")).unwrap();
    assert_eq!(index(&out_a), index(&out_b));
    assert_eq!(a.files[0].sha256, b.files[0].sha256, "the OCI archives are the same bytes");
    assert_eq!(a.files[0].sha256, sha256_file(out_a.oci_archive.as_ref().unwrap()));
    // Over a single-platform layout: the index replaces it whole (no blob of the old one stays).
    let outputs = IndexOutputs { layout: out_a.layout.clone(), oci_archive: None };
    let tree = tree(b"\x7fELF riscv64");
    let riscv = platform_meta("linux/riscv64");
    let pk = packages();
    write_index(&[image(&tree, &riscv, &pk)], &outputs, &d.path().join("a")).unwrap();
    assert_eq!(check_closed(out_a.layout.as_ref().unwrap()).len(), 1);
    let again = fx.write(&d.path().join("a")).0;
    assert_eq!(again.index_digest, a.index_digest);
    check_closed(out_a.layout.as_ref().unwrap());
    let left: Vec<_> = std::fs::read_dir(d.path().join("a")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "only the layout and the archive, no staging left: {left:?}");
}

#[test]
fn docker_manifest_names_the_host_platform_else_the_first() {
    let p = |s: &str| Platform::parse(s).unwrap();
    let list = [p("linux/riscv64"), p("linux/arm64"), p("linux/amd64")];
    assert_eq!(index::docker_choice(&list, &p("linux/amd64")), 2);
    assert_eq!(index::docker_choice(&list, &p("linux/arm64/v8")), 1);
    assert_eq!(index::docker_choice(&list[..2], &p("linux/amd64")), 0);
}

#[test]
fn an_index_refuses_no_image_a_platform_twice_and_two_tags() {
    let d = tempfile::tempdir().unwrap();
    let outputs = IndexOutputs { layout: Some(d.path().join("box.oci")), oci_archive: None };
    let err = write_index(&[], &outputs, d.path()).unwrap_err();
    assert!(err.to_string().contains("box.oci") && err.to_string().contains("no image"), "{err}");
    let fx = TwoPlatforms::new();
    let twice = ImageMeta { platform: Platform::parse("linux/aarch64/v8").unwrap(), ..meta() };
    let images = [fx.images()[1], image(&fx.trees[0], &twice, &fx.packages)];
    let err = write_index(&images, &outputs, d.path()).unwrap_err();
    assert!(err.to_string().contains("`linux/arm64/v8` is given twice"), "{err}");
    let other =
        ImageMeta { reference: Reference::parse("box:2.0", "latest").unwrap(), ..platform_meta("linux/riscv64") };
    let images = [fx.images()[0], image(&fx.trees[0], &other, &fx.packages)];
    let err = write_index(&images, &outputs, d.path()).unwrap_err();
    assert!(err.to_string().contains("tagged both `box:1.0` and `box:2.0`"), "{err}");
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0, "nothing was written");
}

/// A pinned single-image export, `write_index` of that one image and `write_docker_archive` all give
/// the bytes `write` gave before indexes existed.
#[test]
fn single_image_output_is_byte_identical_to_before_indexes() {
    let d = tempfile::tempdir().unwrap();
    let t = tree(b"\x7fELF amd64");
    let m = meta();
    let packages = packages();
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
        let sizes: Vec<u64> = w.files.iter().map(|f| f.size).collect();
        assert_eq!(sizes, SIZES[n], "{name}: the archives' sizes, then the layout's blobs'");
        let layout = outputs.layout.as_ref().unwrap();
        assert_eq!(sha256_file(&layout.join("index.json")), want[0]);
        assert!(read_json(&layout.join("index.json"))["manifests"][0].get("platform").is_none());

        let one = IndexOutputs {
            layout: Some(d.path().join(format!("{name}-index.oci"))),
            oci_archive: Some(d.path().join(format!("{name}-index.oci.tar"))),
        };
        let i = write_index(&[req.image()], &one, d.path()).unwrap();
        assert_eq!((&i.index_digest[7..], i.files[0].sha256.as_str()), (want[0], want[3]), "{name}: write_index");
        assert_eq!(i.image_digest, w.manifest_digest, "{name}: one image: the tag names its manifest");
        assert_eq!(i.files[1].size, SIZES[n][2]);
        let docker = write_docker_archive(&req.image(), &d.path().join(format!("{name}-alone.docker.tar"))).unwrap();
        assert_eq!((docker.sha256.as_str(), docker.size), (want[4], SIZES[n][1]), "{name}: write_docker_archive");
    }
    let mut left: Vec<String> =
        std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.retain(|n| n.starts_with(".compose-"));
    assert!(left.is_empty(), "staging left behind: {left:?}");
}

fn run(cmd: &str, args: &[&str]) -> String {
    let o = std::process::Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("`{cmd}` is required: {e}"));
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{cmd} {args:?} failed: {err}");
    out.into_owned()
}

/// The real tools read the two-platform layout and archive as one multi-platform image: skopeo sees the
/// index and copies the platform asked for (or all of them, from the archive), podman loads the host's
/// from the archive's index and docker the host's from its `manifest.json`, and umoci lists the tag once. umoci (0.4.7 and later) cannot pick a platform
/// (`tag is ambiguous`), so it unpacks the one-platform layout skopeo copies out.
#[test]
#[ignore = "tier: engines"]
fn engines_skopeo_podman_docker_and_umoci_read_a_two_platform_index() {
    let d = tempfile::tempdir().unwrap();
    let mut fx = TwoPlatforms::new();
    // A tag no other test or user image has, for the engines' shared stores.
    let reference = Reference::parse("compose-test-index-box:1.0", "latest").unwrap();
    fx.metas.iter_mut().for_each(|m| m.reference = reference.clone());
    let (w, outputs) = fx.write(d.path());
    let (layout, archive) = (outputs.layout.unwrap(), outputs.oci_archive.unwrap());
    let image = format!("oci:{}:1.0", layout.display());
    let config_of = |m: &str| read_json(Path::new(m))["config"]["digest"].as_str().unwrap().to_string();

    assert_eq!(run("umoci", &["ls", "--layout", layout.to_str().unwrap()]), "1.0\n");
    let raw: Value = serde_json::from_str(&run("skopeo", &["inspect", "--raw", &image])).unwrap();
    assert_eq!(raw["mediaType"], INDEX_TYPE);
    let arches: Vec<&str> =
        raw["manifests"].as_array().unwrap().iter().map(|m| m["platform"]["architecture"].as_str().unwrap()).collect();
    assert_eq!(arches, ["amd64", "arm64"]);

    for (n, arch) in ["amd64", "arm64"].into_iter().enumerate() {
        let out = d.path().join(format!("copy-{arch}"));
        run("skopeo", &["copy", "--override-arch", arch, &image, &format!("dir:{}", out.display())]);
        assert_eq!(config_of(out.join("manifest.json").to_str().unwrap()), w.manifests[n].config_digest, "{arch}");
    }

    let all = d.path().join("all");
    run(
        "skopeo",
        &["copy", "--all", &format!("oci-archive:{}", archive.display()), &format!("oci:{}:1.0", all.display())],
    );
    let copied: Value =
        serde_json::from_str(&run("skopeo", &["inspect", "--raw", &format!("oci:{}:1.0", all.display())])).unwrap();
    assert_eq!(copied, raw, "the archive's index came through whole");

    // umoci: one platform at a time, copied out by skopeo.
    let one = d.path().join("one");
    run("skopeo", &["copy", "--override-arch", "arm64", &image, &format!("oci:{}:1.0", one.display())]);
    let bundle = d.path().join("bundle");
    run("umoci", &["unpack", "--rootless", "--image", &format!("{}:1.0", one.display()), bundle.to_str().unwrap()]);
    assert_eq!(std::fs::read(bundle.join("rootfs/bin/busybox")).unwrap(), b"\x7fELF aarch64");

    // podman, with a private store: the host's platform from the archive's index.
    let store = d.path().join("podman");
    let (root, runroot, tmp) = (store.join("root"), store.join("run"), store.join("tmp"));
    let podman = |args: &[&str]| {
        let mut all = vec!["--root", root.to_str().unwrap(), "--runroot", runroot.to_str().unwrap()];
        all.extend(["--tmpdir", tmp.to_str().unwrap()]);
        all.extend_from_slice(args);
        run("podman", &all)
    };
    let loaded = podman(&["load", "-i", archive.to_str().unwrap()]);
    assert!(loaded.contains("compose-test-index-box:1.0"), "{loaded}");
    let arch = podman(&["image", "inspect", "--format", "{{.Architecture}}", "compose-test-index-box:1.0"]);
    assert_eq!(arch.trim(), Platform::host().architecture);

    // docker: the one image manifest.json names, the host's.
    let loaded = run("docker", &["load", "-i", archive.to_str().unwrap()]);
    let id = run("docker", &["image", "inspect", "--format", "{{.Id}}", "compose-test-index-box:1.0"]);
    run("docker", &["rmi", "compose-test-index-box:1.0"]);
    let host = fx.metas.iter().position(|m| m.platform == Platform::host()).unwrap_or(0);
    assert_eq!(id.trim(), w.manifests[host].config_digest, "{loaded}");
}
