use super::*;
use crate::audit::elf::Elf;
use crate::audit::manifest::ManifestFile;
use crate::audit::policy::{self, Class};
use crate::audit::tree::{Change, FileFacts};

fn node(kind: NodeKind, mode: u32) -> Change {
    Change::Add(Node { kind, mode, uid: 0, gid: 0 })
}
fn dir() -> Change {
    node(NodeKind::Dir, 0o755)
}
fn file(sha: &str, size: u64, mode: u32) -> Change {
    node(NodeKind::File(FileFacts { size, sha256: sha.into(), elf: None }), mode)
}
fn link(t: &str) -> Change {
    node(NodeKind::Symlink(t.into()), 0o777)
}
fn elf(interp: Option<&str>, needed: &[&str], runpath: &[&str]) -> Change {
    let e = Elf {
        class: 64,
        big_endian: false,
        machine: "x86-64".into(),
        linking: if interp.is_some() { Linking::Dynamic } else { Linking::Static },
        interpreter: interp.map(str::to_string),
        needed: needed.iter().map(|s| s.to_string()).collect(),
        runpath: runpath.iter().map(|s| s.to_string()).collect(),
    };
    node(NodeKind::File(FileFacts { size: 1000, sha256: "e".into(), elf: Some(Ok(e)) }), 0o755)
}

fn image(entries: Vec<(&str, Change)>) -> Image {
    let mut tree = Tree::default();
    tree.apply(entries.into_iter().map(|(p, c)| (p.to_string(), c)).collect(), true);
    Image {
        path: "img.tar".into(),
        kind: ImageKind::RootfsTar,
        reference: None,
        layers: 1,
        tree,
        tar_sha256: Some("ab".into()),
        platform: None,
        platforms: Vec::new(),
    }
}

fn mf(path: &str, kind: &str, mode: &str, sha: Option<(&str, u64)>, target: Option<&str>, owner: &str) -> ManifestFile {
    ManifestFile {
        path: path.into(),
        kind: kind.into(),
        mode: Some(mode.into()),
        size: sha.map(|s| s.1),
        sha256: sha.map(|s| s.0.to_string()),
        target: target.map(str::to_string),
        owner: owner.into(),
    }
}

#[test]
fn libraries_are_looked_up_where_the_loader_would() {
    let img = image(vec![
        ("/lib", dir()),
        ("/lib/x86_64-linux-gnu", dir()),
        ("/lib/x86_64-linux-gnu/libc.so.6", file("c", 3, 0o755)),
        ("/lib64", dir()),
        ("/lib64/ld-linux-x86-64.so.2", link("/lib/x86_64-linux-gnu/ld.so")),
        ("/lib/x86_64-linux-gnu/ld.so", file("l", 3, 0o755)),
        ("/opt", dir()),
        ("/opt/app", dir()),
        ("/opt/app/bin", dir()),
        ("/opt/app/lib", dir()),
        ("/opt/app/lib/libapp.so", file("a", 3, 0o644)),
        (
            "/opt/app/bin/app",
            elf(Some("/lib64/ld-linux-x86-64.so.2"), &["libapp.so", "libc.so.6", "libz.so.1"], &["$ORIGIN/../lib"]),
        ),
        ("/bin", dir()),
        ("/bin/static", elf(None, &[], &[])),
    ]);
    let a = analyse(&img, None);
    assert_eq!(a.elf.len(), 2);
    let app = a.elf.iter().find(|e| e.path == "/opt/app/bin/app").unwrap();
    assert_eq!(app.linking, Some(Linking::Dynamic));
    assert_eq!(app.interpreter.as_ref().unwrap().found.as_deref(), Some("/lib/x86_64-linux-gnu/ld.so"));
    let found: Vec<Option<&str>> = app.needed.iter().map(|d| d.found.as_deref()).collect();
    assert_eq!(found, [Some("/opt/app/lib/libapp.so"), Some("/lib/x86_64-linux-gnu/libc.so.6"), None]);
    assert_eq!(a.elf.iter().find(|e| e.path == "/bin/static").unwrap().linking, Some(Linking::Static));
    assert_eq!((a.ownership, a.sizes.by), ("unknown", "top-directory"));
    assert!(a.unowned.is_none());
}

#[test]
fn shells_and_network_tools_resolve_links_inside_the_image() {
    let img = image(vec![
        ("/bin", dir()),
        ("/bin/busybox", file("b", 3, 0o755)),
        ("/bin/sh", link("busybox")),
        ("/bin/ash", link("/bin/busybox")),
        ("/usr", dir()),
        ("/usr/bin", dir()),
        ("/usr/bin/wget", link("../../bin/busybox")),
        ("/usr/bin/nc", link("/nowhere")),
        ("/usr/bin/bash", file("x", 3, 0o644)),
        ("/usr/bin/curl", file("c", 3, 0o755)),
    ]);
    let a = analyse(&img, None);
    let shells: Vec<(&str, &str)> = a.shells.iter().map(|p| (p.path.as_str(), p.resolves_to.as_str())).collect();
    assert_eq!(shells, [("/bin/ash", "/bin/busybox"), ("/bin/sh", "/bin/busybox")], "bash is not executable");
    let net: Vec<&str> = a.network.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(net, ["/usr/bin/curl", "/usr/bin/wget"], "a dangling nc runs nothing");
}

#[test]
fn special_modes_and_world_writable_paths() {
    let img = image(vec![
        ("/tmp", node(NodeKind::Dir, 0o1777)),
        ("/drop", node(NodeKind::Dir, 0o777)),
        ("/srv", node(NodeKind::Dir, 0o2775)),
        ("/su", file("s", 3, 0o4755)),
        ("/sg", file("g", 3, 0o2755)),
        ("/open", file("o", 3, 0o666)),
        ("/l", link("su")),
    ]);
    let a = analyse(&img, None);
    assert_eq!(a.setuid.iter().map(|s| (s.path.as_str(), s.mode.as_str())).collect::<Vec<_>>(), [("/su", "4755")]);
    assert_eq!(a.setgid.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(), ["/sg"], "setgid dirs are not listed");
    let ww: Vec<(&str, bool)> = a.world_writable.iter().map(|w| (w.path.as_str(), w.sticky)).collect();
    assert_eq!(ww, [("/drop", false), ("/open", false), ("/tmp", true)]);
    let v = policy::check(&a, &[Class::WorldWritable, Class::Setuid, Class::Unowned]);
    let got: Vec<(Class, &str)> = v.iter().map(|v| (v.class, v.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (Class::WorldWritable, "/drop"),
            (Class::WorldWritable, "/open"),
            (Class::Setuid, "/su"),
            (Class::Unowned, "img.tar")
        ],
        "sticky /tmp passes; no manifest means unknown ownership"
    );
}

#[test]
fn manifest_attributes_sizes_and_flags_unowned_modified_and_missing() {
    let img = image(vec![
        ("/bin", dir()),
        ("/bin/app", file("aaa", 300, 0o4755)),
        ("/bin/tool", file("ttt", 3, 0o755)),
        ("/bin/t", link("tool")),
        ("/bin/extra", file("xxx", 50, 0o755)),
    ]);
    let m = FileManifest {
        format: "compose-files-v1".into(),
        image: Some(crate::audit::manifest::ManifestImage {
            name: "x".into(),
            version: None,
            tar_sha256: Some("AB".into()),
        }),
        packages: Vec::new(),
        files: vec![
            mf("/bin", "dir", "0755", None, None, "skeleton"),
            mf("/bin/app", "file", "0755", Some(("aaa", 300)), None, "app"),
            mf("/bin/gone", "file", "0644", Some(("ggg", 3)), None, "app"),
            mf("/bin/t", "symlink", "0777", None, Some("other"), "tools"),
            mf("/bin/tool", "file", "0755", Some(("changed", 3)), None, "tools"),
        ],
    };
    let a = analyse(&img, Some((Path::new("x.files.json"), &m)));
    assert_eq!(a.ownership, "manifest");
    assert_eq!(a.manifest.as_ref().unwrap().tar_sha256_matches, Some(true));
    let groups: Vec<(&str, usize, u64)> = a.sizes.groups.iter().map(|g| (g.name.as_str(), g.files, g.bytes)).collect();
    assert_eq!(groups, [("app", 1, 300), ("(unowned)", 1, 50), ("tools", 1, 3), ("skeleton", 0, 0)]);
    assert_eq!(a.unowned.as_deref(), Some(&["/bin/extra".to_string()][..]));
    assert_eq!(a.missing, ["/bin/gone"]);
    let mm: Vec<(&str, &str)> = a.mismatched.iter().map(|m| (m.path.as_str(), m.why.as_str())).collect();
    assert_eq!(mm.len(), 3, "{mm:?}");
    assert_eq!(mm[0], ("/bin/app", "mode 0755 in the manifest, 4755 in the image"));
    assert_eq!(mm[1], ("/bin/t", "links to `other` in the manifest, to `tool` in the image"));
    assert!(mm[2].1.starts_with("content differs: sha256 changed in the manifest, ttt in the image"), "{mm:?}");
    assert_eq!(a.setuid[0].owner.as_deref(), Some("app"));
    let v = policy::check(&a, &[Class::Unowned]);
    assert_eq!((v.len(), v[0].path.as_str()), (1, "/bin/extra"));
}

fn elf_for(machine: &str) -> Change {
    let e = Elf {
        class: 64,
        big_endian: false,
        machine: machine.into(),
        linking: Linking::Static,
        interpreter: None,
        needed: Vec::new(),
        runpath: Vec::new(),
    };
    node(NodeKind::File(FileFacts { size: 10, sha256: machine.into(), elf: Some(Ok(e)) }), 0o755)
}

fn header_lines(a: &Audit) -> Vec<String> {
    crate::audit::text(a).lines().take_while(|l| !l.is_empty()).map(str::to_string).collect()
}

#[test]
fn machines_are_counted_and_named_in_the_report_with_the_platform() {
    let broken =
        node(NodeKind::File(FileFacts { size: 3, sha256: "b".into(), elf: Some(Err("truncated".into())) }), 0o755);
    let mut img = image(vec![
        ("/bin", dir()),
        ("/bin/a", elf_for("aarch64")),
        ("/bin/b", elf_for("aarch64")),
        ("/bin/c", elf_for("aarch64")),
        ("/bin/broken", broken),
        ("/bin/script", file("s", 3, 0o755)),
    ]);
    img.platform = Some(crate::toolchain::Platform::parse("linux/arm64").unwrap());
    let a = analyse(&img, None);
    assert_eq!(a.machines, BTreeMap::from([("aarch64".to_string(), 3)]), "the unreadable one has no machine");
    assert_eq!(a.image.platform.as_deref(), Some("linux/arm64/v8"));
    let head = header_lines(&a);
    assert_eq!(head[1..3], ["platform: linux/arm64/v8", "machine: aarch64 (3 ELF files)"]);
    assert!(!head.iter().any(|l| l.starts_with("WARNING")), "{head:?}");
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["machines"], serde_json::json!({"aarch64": 3}));
    assert_eq!(
        (&json["image"]["platform"], &json["image"]["platforms"]),
        (&"linux/arm64/v8".into(), &serde_json::json!([]))
    );

    // One file for the build machine slipped in: both warnings.
    let mut img = image(vec![
        ("/bin", dir()),
        ("/bin/a", elf_for("aarch64")),
        ("/bin/b", elf_for("aarch64")),
        ("/bin/x", elf_for("x86-64")),
    ]);
    img.platform = Some(crate::toolchain::Platform::parse("linux/arm64").unwrap());
    img.platforms = ["linux/amd64", "linux/arm64"].map(|p| crate::toolchain::Platform::parse(p).unwrap()).to_vec();
    let a = analyse(&img, None);
    assert_eq!(a.machines, BTreeMap::from([("aarch64".to_string(), 2), ("x86-64".to_string(), 1)]));
    let head = header_lines(&a);
    assert_eq!(
        head[1..6],
        [
            "platform: linux/arm64/v8 (the image has linux/amd64, linux/arm64/v8)",
            "machine: aarch64 (2 ELF files), x86-64 (1 ELF file)",
            "WARNING: ELF files for 2 machines: a host runs only one of them natively",
            "WARNING: the image is for linux/arm64/v8 (aarch64), but 1 ELF file is for x86-64",
            "manifest: none: ownership unknown (give one with --manifest)",
        ]
    );

    // No platform (a rootfs tar), one machine: no warning; no ELF at all: said so.
    let a = analyse(&image(vec![("/x", elf_for("riscv")), ("/y", elf_for("riscv"))]), None);
    assert_eq!(header_lines(&a)[1], "machine: riscv (2 ELF files)");
    assert!(!header_lines(&a).iter().any(|l| l.starts_with("platform") || l.starts_with("WARNING")));
    let a = analyse(&image(vec![("/etc", dir())]), None);
    assert_eq!(header_lines(&a)[1], "machine: none (no ELF files)");
    assert!(a.machines.is_empty());
}
