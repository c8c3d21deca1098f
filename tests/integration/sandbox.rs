//! The sandbox shows a build only what it needs (issue 16): a minimal `/etc` with compose's own
//! accounts, no home directory, nothing of the host writable, and, where the host allows it, root
//! inside is not host root.

use std::path::{Path, PathBuf};

use crate::harness::{E, Test, recipe};

/// Removes the planted host paths when the test ends, even when it fails.
struct Planted(Vec<PathBuf>);

impl Drop for Planted {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("compose-test-decoy-{}-{nanos}", std::process::id())
}

/// Issue 16: `head -c 40 /etc/shadow > "$DESTDIR/x"` put the host's password hashes into the image.
#[test]
fn a_build_reads_no_host_secret_and_writes_nothing_of_the_host() {
    let name = unique();
    // A decoy secret in the host's /etc, which every build used to see whole.
    let decoy = PathBuf::from(format!("/etc/{name}"));
    let _planted = Planted(vec![decoy.clone()]);
    std::fs::write(&decoy, "decoy-secret\n").unwrap();
    let secrets = [
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/ssh",
        "/etc/docker",
        "/etc/containers",
        "/etc/apt",
        "/etc/ssl/private",
        "/root",
        "/home",
        "/root/.docker/config.json",
        decoy.to_str().unwrap(),
    ];
    // Record into $DESTDIR whatever could be read, and try to write where the host would see it.
    let script = format!(
        r#"mkdir -p "$DESTDIR/read"
for p in {secrets}; do
  if [ -e "$p" ]; then echo "$p" >> "$DESTDIR/read/exists"; fi
  if [ -d "$p" ]; then ls -A "$p" >> "$DESTDIR/read/listed" 2>/dev/null || true
  else cat "$p" >> "$DESTDIR/read/content" 2>/dev/null || true; fi
done
for d in / /etc /usr /var /tmp; do touch "$d/{name}-written" 2>/dev/null && echo "$d" >> "$DESTDIR/read/wrote" || true; done
cp /etc/passwd "$DESTDIR/read/passwd-inside"; ls /etc > "$DESTDIR/read/etc-inside"
cat /proc/self/uid_map > "$DESTDIR/read/uid-map"
perl -e 1; cc --version; make --version; echo a | awk '{{print}}'; echo s | sed s/s/t/; ld --version
printf 'int main(void){{return 0;}}\n' > t.c && cc t.c -o t && ./t
if command -v tclsh; then echo exit | tclsh; fi"#,
        secrets = secrets.join(" "),
    );
    let t = Test::new()
        .tarball("s.tar.gz", &[E::File("s/x", "x", 0o644)])
        .recipe("s", &recipe("s", "s.tar.gz", &[], &[], &script))
        .build("s", &[]);
    t.run().success();
    let tree = find_tree(&t, "s");
    let read = |f: &str| std::fs::read_to_string(tree.join("read").join(f)).unwrap_or_default();
    for f in ["exists", "listed", "content"] {
        assert_eq!(read(f), "", "the build could see host paths ({f})");
    }
    // /tmp inside is the build's own tmpfs; the rest is read-only.
    assert_eq!(read("wrote"), "/tmp\n", "the build could write these");
    for d in ["/", "/etc", "/usr", "/var", "/tmp"] {
        let written = Path::new(d).join(format!("{name}-written"));
        assert!(!written.exists(), "the build wrote {} on the host", written.display());
    }
    assert_eq!(
        read("passwd-inside"),
        "root:x:0:0:root:/build/home:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    );
    let etc: Vec<String> = read("etc-inside").lines().map(String::from).collect();
    let allowed =
        ["alternatives", "group", "hosts", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "nsswitch.conf", "passwd"];
    assert!(etc.iter().all(|e| allowed.contains(&e.as_str())), "/etc inside holds {etc:?}");
    assert!(etc.contains(&"passwd".to_string()) && etc.contains(&"alternatives".to_string()), "{etc:?}");
    assert_eq!(read("uid-map").split_whitespace().collect::<Vec<_>>(), ["0", &expected_host_root(), "1"]);
}

/// Host uid of root inside: the first id of root's subordinate range when compose runs as root and
/// has one, else the invoking user.
fn expected_host_root() -> String {
    let uid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap();
    if uid != 0 {
        return uid.to_string();
    }
    let range = |f: &str| {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        text.lines().find_map(|l| {
            let v: Vec<&str> = l.trim().split(':').collect();
            let ok = v.len() == 3 && (v[0] == "root" || v[0] == "0") && v[2].parse::<u32>().is_ok_and(|c| c >= 1);
            (ok && v[1].parse::<u32>().is_ok_and(|s| s != 0)).then(|| v[1].to_string())
        })
    };
    match (range("/etc/subuid"), range("/etc/subgid")) {
        (Some(u), Some(_)) => u,
        _ => "0".into(),
    }
}

/// The committed tree of package `name` in the fixture's artifact store.
fn find_tree(t: &Test, name: &str) -> PathBuf {
    let store = t.path("cache/artifacts-v1");
    let entry = std::fs::read_dir(&store)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&format!("{name}-")))
        .unwrap_or_else(|| panic!("no artifact of {name} in {}", store.display()));
    entry.path().join("tree")
}

#[test]
fn doctor_says_who_root_inside_the_sandbox_is() {
    let t = Test::new()
        .tarball("s.tar.gz", &[E::File("s/x", "x", 0o644)])
        .recipe("s", &recipe("s", "s.tar.gz", &[], &[], "true"))
        .args(&["doctor", "recipes/s.toml", "--toolchain", "stub"]);
    let r = t.run();
    let line = r.stdout.lines().find(|l| l.starts_with("sandbox uid")).unwrap_or_else(|| panic!("{}", r.stdout));
    let want = expected_host_root();
    if want == "0" {
        assert!(line.contains("host root") && line.contains("usermod --add-subuids"), "{line}");
    } else {
        assert!(line.contains(&format!("host uid {want}")), "{line}");
    }
}
