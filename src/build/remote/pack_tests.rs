use super::*;
use crate::build::artifact::hash_tree;

const SDE: u64 = 1_700_000_000;

fn tree(root: &Path) {
    let w = |p: &str, body: &str, mode: u32| {
        let f = root.join(p);
        fs::write(&f, body).unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(mode)).unwrap();
    };
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::create_dir_all(root.join("etc/private")).unwrap();
    let long = "d".repeat(90);
    fs::create_dir_all(root.join(&long)).unwrap();
    w("bin/hello", "#!/bin/sh\necho hello\n", 0o755);
    w("bin/su", "setuid", 0o4755);
    w("etc/empty", "", 0o644);
    w(&format!("{long}/{}", "f".repeat(60)), "a long path", 0o600);
    symlink("hello", root.join("bin/hi")).unwrap();
    symlink("../../bin/hello", root.join("usr/bin/hello")).unwrap();
    fs::set_permissions(root.join("etc/private"), fs::Permissions::from_mode(0o700)).unwrap();
    // A read-only directory with content: its mode must be applied after it is filled.
    w("etc/private/key", "k", 0o400);
    fs::set_permissions(root.join("etc/private"), fs::Permissions::from_mode(0o500)).unwrap();
    set_mtime(&root.join("etc/empty"), 1_000).unwrap();
}

fn packed(root: &Path) -> Vec<u8> {
    pack(root, SDE, Vec::new()).unwrap().0
}

#[test]
fn pack_then_unpack_keeps_the_tree_digest_and_packs_to_the_same_bytes() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    fs::create_dir(&a).unwrap();
    tree(&a);
    let bytes = packed(&a);
    assert_eq!(bytes, packed(&a), "deterministic");
    let layer = d.path().join("layer.tar.zst");
    fs::write(&layer, &bytes).unwrap();
    let b = d.path().join("b");
    let n = unpack(&layer, &b).unwrap();
    assert_eq!(n, ("#!/bin/sh\necho hello\n".len() + "setuid".len() + "a long path".len() + 1) as u64);
    assert_eq!(hash_tree(&a).unwrap().0, hash_tree(&b).unwrap().0);
    assert_eq!(fs::read_link(b.join("usr/bin/hello")).unwrap(), Path::new("../../bin/hello"));
    assert_eq!(fs::symlink_metadata(b.join("bin/su")).unwrap().mode() & 0o7777, 0o4755);
    // Mtimes are clamped to SOURCE_DATE_EPOCH, older ones kept: repacking gives the same bytes.
    assert_eq!(fs::symlink_metadata(b.join("etc/empty")).unwrap().mtime(), 1_000);
    assert_eq!(fs::symlink_metadata(b.join("bin/hi")).unwrap().mtime(), SDE as i64);
    assert_eq!(fs::symlink_metadata(b.join("etc")).unwrap().mtime(), SDE as i64);
    assert_eq!(packed(&b), bytes);
    fs::set_permissions(a.join("etc/private"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(b.join("etc/private"), fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn a_tree_that_would_not_unpack_is_not_packed() {
    for (link, why) in [("/etc/passwd", "absolute"), ("../..", "escapes"), ("x/../..", "after a name")] {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("bin")).unwrap();
        symlink(link, d.path().join("bin/l")).unwrap();
        let e = pack(d.path(), SDE, Vec::new()).unwrap_err();
        assert!(matches!(&e, PackError::Unshareable { reason, .. } if reason.contains(why)), "{link}: {e}");
    }
}

/// One raw entry of a hostile layer: the name is written into the header as is.
enum Raw<'a> {
    Dir(&'a str),
    File(&'a str, &'a str),
    Link(&'a str, T, &'a str),
    Other(&'a str, T),
}

fn hostile(entries: &[Raw]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_size(0);
        let (name, kind, body, target) = match e {
            Raw::Dir(n) => (*n, T::Directory, "", None),
            Raw::File(n, body) => (*n, T::Regular, *body, None),
            Raw::Link(n, kind, target) => (*n, *kind, "", Some(*target)),
            Raw::Other(n, kind) => (*n, *kind, "", None),
        };
        h.set_entry_type(kind);
        h.set_size(body.len() as u64);
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(t) = target {
            gnu.linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_cksum();
        b.append(&h, body.as_bytes()).unwrap();
    }
    zstd::encode_all(&b.into_inner().unwrap()[..], 3).unwrap()
}

#[test]
fn hostile_layers_are_refused_and_leave_nothing() {
    use Raw::*;
    let cases: Vec<(&str, Vec<Raw>, &str)> = vec![
        ("absolute path", vec![Dir("./"), File("/etc/evil", "x")], "absolute path"),
        ("dot dot", vec![Dir("./"), File("../evil", "x")], "`..`"),
        ("dot dot inside", vec![Dir("./"), Dir("a/"), File("a/../../evil", "x")], "`..`"),
        ("escaping symlink", vec![Dir("./"), Dir("a/"), Link("a/up", T::Symlink, "../..")], "escapes"),
        ("absolute symlink", vec![Dir("./"), Link("l", T::Symlink, "/etc/shadow")], "absolute"),
        ("hard link", vec![Dir("./"), File("f", "x"), Link("h", T::Link, "f")], "hard link"),
        ("char device", vec![Dir("./"), Other("null", T::Char)], "device"),
        ("block device", vec![Dir("./"), Other("sda", T::Block)], "device"),
        ("fifo", vec![Dir("./"), Other("p", T::Fifo)], "fifo"),
        (
            "write through a symlink",
            vec![Dir("./"), Dir("d/"), Link("l", T::Symlink, "d"), File("l/x", "x")],
            "not an earlier directory",
        ),
        ("no directory entry", vec![Dir("./"), File("a/b", "x")], "not an earlier directory"),
        ("twice", vec![Dir("./"), File("f", "x"), File("f", "y")], "second entry"),
        ("link then file", vec![Dir("./"), Link("f", T::Symlink, "g"), File("f", "y")], "second entry"),
    ];
    for (what, entries, why) in cases {
        let d = tempfile::tempdir().unwrap();
        let layer = d.path().join("layer");
        fs::write(&layer, hostile(&entries)).unwrap();
        let dest = d.path().join("store/tree");
        fs::create_dir(d.path().join("store")).unwrap();
        let e = unpack(&layer, &dest).unwrap_err();
        assert!(matches!(&e, UnpackError::Refused { reason, .. } if reason.contains(why)), "{what}: {e}");
        assert!(!dest.exists(), "{what}: the destination is removed");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 2, "{what}: nothing written outside");
    }
}

#[test]
fn a_layer_that_is_not_zstd_is_a_read_error() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("layer"), b"not zstd at all").unwrap();
    let e = unpack(&d.path().join("layer"), &d.path().join("t")).unwrap_err();
    assert!(matches!(e, UnpackError::Read { .. }), "{e}");
    assert!(!d.path().join("t").exists());
}
