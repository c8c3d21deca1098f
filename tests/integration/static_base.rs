//! The distroless-style `static` base, for real: `compose build` of `static`, `static-nonroot` and
//! `static-debug` from one empty cache (ca-certificates and tzdata are built once), then:
//! - the CA bundle holds exactly the certificates of Debian's binary package of the same version
//!   (`ca-certificates_20230311+deb12u1_all.deb`, fetched from the Debian archive of the host's apt
//!   sources, only to compare), and is byte for byte the bundle a fresh Debian install makes of them;
//! - the zone files give the same transitions as the host's /usr/share/zoneinfo for zones whose rules
//!   did not change between the host's tzdata and ours (host `zdump`);
//! - the rootfs tars: accounts, /tmp, /home/nonroot, no binaries in `static` and `static-nonroot`;
//!   `compose audit --deny shell,setuid,dynamic` passes on both; their records pass the validators;
//! - the OCI config of `static-nonroot` runs as 65532 in /home/nonroot (skopeo);
//! - `static-debug` in podman: busybox `date` in Asia/Kathmandu is +0545 (since 1986; +0530 at the
//!   epoch), and the nonroot user can write its home.
//!
//! The sizes of the three images are printed (`--nocapture`). Tier `e2e` (docs/testing.md): needs the
//! Debian archive, podman, runc, skopeo, umoci, the SBOM validators, dpkg-deb and zdump.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use base64::Engine;

use crate::engines::{Podman, require, tool};
use crate::harness::{sha256_bytes, started_packages};

/// Debian's binary package of the same ca-certificates version, pinned: the comparison is against
/// these bytes, not whatever the archive serves.
const DEBIAN_DEB: &str = "ca-certificates_20230311+deb12u1_all.deb";
const DEBIAN_DEB_SHA256: &str = "0d5f444f594e48c1e16a41d8fc628a09b24c658916a1274025c2330f2a802bed";
/// 140 server-auth trust anchors of certdata.txt (blacklist.txt drops none of them) + 2 extra/ roots.
const CERTIFICATES: usize = 142;

const IMAGES: [&str; 3] = ["static", "static-nonroot", "static-debug"];

#[test]
#[ignore = "tier: e2e"]
fn e2e_static_base_images_certificates_and_time_zones() {
    crate::e2e::require_e2e_tools();
    require("dpkg-deb", "dpkg");
    require("zdump", "libc-bin");
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let out = work.path().join("out");

    let mut built: Vec<String> = Vec::new();
    for name in IMAGES {
        let t = Instant::now();
        let o = crate::e2e::compose_formats(name, "tar,oci-archive", &cache, &out);
        let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "compose build recipes/{name}.toml failed:\n{stderr}\n{stdout}");
        let started = started_packages(&stdout);
        for pkg in &started {
            assert!(!built.contains(pkg), "{pkg} was built twice (for {name}):\n{stderr}");
        }
        eprintln!("static: {name}: built {started:?} in {:.1}s", t.elapsed().as_secs_f64());
        for l in stderr.lines().filter(|l| l.contains("built in")) {
            eprintln!("  {l}");
        }
        built.extend(started);
    }
    for pkg in ["musl", "linux-headers", "ca-certificates", "tzdata", "busybox"] {
        assert!(built.iter().any(|p| p == pkg), "{pkg} was never built: {built:?}");
    }

    let entries: BTreeMap<&str, Vec<Entry>> =
        IMAGES.iter().map(|n| (*n, entries(&out.join(format!("{n}.tar"))))).collect();
    for name in IMAGES {
        check_base(name, &entries[name]);
    }
    for name in ["static", "static-nonroot"] {
        no_programs(name, &entries[name]);
        let image = out.join(format!("{name}.oci.tar"));
        let o = Command::new(env!("CARGO_BIN_EXE_compose"))
            .args(["audit", image.to_str().unwrap(), "--deny", "shell,setuid,dynamic"])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "compose audit --deny shell,setuid,dynamic {name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        crate::records::validate_records(&out, name);
    }
    // static and static-nonroot differ only in their config.
    assert_eq!(
        crate::harness::sha256_file(&out.join("static.tar")),
        crate::harness::sha256_file(&out.join("static-nonroot.tar"))
    );

    let bundle = file(&entries["static"], "etc/ssl/certs/ca-certificates.crt");
    certificates_match_debian(bundle, work.path());
    zones_match_host(&entries["static"], work.path());
    nonroot_config(&out);
    static_debug_runs(&out);

    // The sizes, for the docs and the closing note.
    for name in IMAGES {
        let tar = std::fs::metadata(out.join(format!("{name}.tar"))).unwrap().len();
        let archive = std::fs::metadata(out.join(format!("{name}.oci.tar"))).unwrap().len();
        let layers = layer_sizes(&out.join(format!("{name}.oci.tar")));
        eprintln!(
            "static: size of {name}: rootfs tar {tar} bytes ({:.2} MiB), compressed layer(s) {layers:?} bytes, OCI archive {archive} bytes",
            tar as f64 / 1048576.0
        );
    }
}

/// (path, type, mode, uid, gid, content of regular files) of every entry of a rootfs tar.
struct Entry {
    path: String,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    data: Vec<u8>,
}

fn entries(tar: &Path) -> Vec<Entry> {
    let mut ar = tar::Archive::new(std::fs::File::open(tar).unwrap());
    let mut v = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let mut data = Vec::new();
        if h.entry_type() == tar::EntryType::Regular {
            e.read_to_end(&mut data).unwrap();
        }
        let path = e.path().unwrap().to_string_lossy().trim_end_matches('/').to_string();
        v.push(Entry {
            path,
            kind: h.entry_type(),
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            data,
        });
    }
    v
}

#[track_caller]
fn get<'a>(entries: &'a [Entry], path: &str) -> &'a Entry {
    entries.iter().find(|e| e.path == path).unwrap_or_else(|| panic!("{path} is not in the image"))
}

#[track_caller]
fn file<'a>(entries: &'a [Entry], path: &str) -> &'a [u8] {
    let e = get(entries, path);
    assert_eq!(e.kind, tar::EntryType::Regular, "{path} is a regular file");
    &e.data
}

/// What all three images have: the bundle, the zones, the accounts, /tmp and the nonroot home.
fn check_base(name: &str, entries: &[Entry]) {
    let bundle = String::from_utf8(file(entries, "etc/ssl/certs/ca-certificates.crt").to_vec()).unwrap();
    assert_eq!(bundle.matches("-----BEGIN CERTIFICATE-----").count(), CERTIFICATES, "{name}");
    let cert_pem = get(entries, "etc/ssl/cert.pem");
    assert_eq!(cert_pem.kind, tar::EntryType::Symlink, "{name}: /etc/ssl/cert.pem is a symlink");
    let kathmandu = file(entries, "usr/share/zoneinfo/Asia/Kathmandu");
    assert!(kathmandu.starts_with(b"TZif"), "{name}: Asia/Kathmandu is a TZif file");
    assert!(kathmandu.ends_with(b"\n<+0545>-5:45\n"), "{name}: Kathmandu's TZ string is +0545");
    for f in ["zone.tab", "zone1970.tab", "iso3166.tab", "tzdata.zi", "Factory", "Etc/UTC", "America/New_York"] {
        file(entries, &format!("usr/share/zoneinfo/{f}"));
    }
    assert_eq!(get(entries, "usr/share/zoneinfo/UTC").kind, tar::EntryType::Symlink, "{name}: links are symlinks");
    assert!(!entries.iter().any(|e| e.path == "etc/localtime"), "{name}: no /etc/localtime (UTC)");

    let passwd = String::from_utf8(file(entries, "etc/passwd").to_vec()).unwrap();
    let group = String::from_utf8(file(entries, "etc/group").to_vec()).unwrap();
    let users: Vec<&str> = passwd.lines().collect();
    assert_eq!(
        users,
        [
            "root:x:0:0:root:/root:/bin/sh",
            "nobody:x:65534:65534:nobody:/nonexistent:/bin/false",
            "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin"
        ],
        "{name}"
    );
    assert_eq!(group, "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n", "{name}");
    let tmp = get(entries, "tmp");
    assert_eq!((tmp.kind, tmp.mode & 0o7777), (tar::EntryType::Directory, 0o1777), "{name}: /tmp");
    let home = get(entries, "home/nonroot");
    assert_eq!((home.kind, home.uid, home.gid), (tar::EntryType::Directory, 65532, 65532), "{name}: /home/nonroot");
}

/// `static` and `static-nonroot`: nothing to run at all.
fn no_programs(name: &str, entries: &[Entry]) {
    for e in entries {
        for d in ["bin/", "sbin/", "usr/bin/", "usr/sbin/", "usr/local/"] {
            assert!(!e.path.starts_with(d), "{name}: {} is a program directory's entry", e.path);
        }
        assert!(!e.data.starts_with(b"\x7fELF"), "{name}: {} is an ELF file", e.path);
        if e.kind == tar::EntryType::Regular {
            assert_eq!(e.mode & 0o111, 0, "{name}: {} is executable", e.path);
        }
    }
}

/// The SHA-256 fingerprints of every certificate in a PEM text.
fn fingerprints(pem: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut b64: Option<String> = None;
    for line in pem.lines().map(str::trim_end) {
        match (line, &mut b64) {
            ("-----BEGIN CERTIFICATE-----", None) => b64 = Some(String::new()),
            ("-----END CERTIFICATE-----", Some(s)) => {
                let der = base64::engine::general_purpose::STANDARD.decode(s.as_bytes()).expect("PEM base64");
                v.push(sha256_bytes(&der));
                b64 = None;
            }
            (l, Some(s)) => s.push_str(l),
            (_, None) => {}
        }
    }
    assert!(b64.is_none(), "a PEM certificate is not terminated");
    v
}

/// Debian's package, of the same version: the same set of certificates, and the same bundle bytes as
/// update-ca-certificates makes of them on a fresh install (its files in C order, each ending in a
/// newline).
fn certificates_match_debian(bundle: &[u8], work: &Path) {
    let base = compose::source::debian_base_from_apt().expect("a Debian archive in the apt sources");
    let url = compose::source::debian_pool_url(&base, DEBIAN_DEB);
    let deb = reqwest::blocking::get(&url).and_then(|r| r.error_for_status()).and_then(|r| r.bytes());
    let deb = deb.unwrap_or_else(|e| panic!("download {url}: {e}"));
    assert_eq!(sha256_bytes(&deb), DEBIAN_DEB_SHA256, "{url}: not the pinned package");
    let deb_path = work.join(DEBIAN_DEB);
    std::fs::write(&deb_path, &deb).unwrap();
    let root = work.join("debian-ca-certificates");
    let (ok, _, err) = tool("dpkg-deb", &["-x", deb_path.to_str().unwrap(), root.to_str().unwrap()]);
    assert!(ok, "dpkg-deb -x: {err}");

    let dir = root.join("usr/share/ca-certificates/mozilla");
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    let mut debian_bundle = Vec::new();
    let mut debian = BTreeSet::new();
    for n in &names {
        assert!(n.to_string_lossy().ends_with(".crt"), "{n:?}");
        let pem = std::fs::read(dir.join(n)).unwrap();
        let fp = fingerprints(std::str::from_utf8(&pem).unwrap());
        assert_eq!(fp.len(), 1, "{n:?} holds one certificate");
        debian.extend(fp);
        debian_bundle.extend_from_slice(&pem);
        if !pem.ends_with(b"\n") {
            debian_bundle.push(b'\n');
        }
    }
    let ours_list = fingerprints(std::str::from_utf8(bundle).unwrap());
    let ours: BTreeSet<String> = ours_list.iter().cloned().collect();
    assert_eq!(ours.len(), ours_list.len(), "no certificate twice in our bundle");
    let only_ours: Vec<_> = ours.difference(&debian).collect();
    let only_debian: Vec<_> = debian.difference(&ours).collect();
    assert!(
        only_ours.is_empty() && only_debian.is_empty(),
        "only in ours: {only_ours:?}\nonly in Debian's: {only_debian:?}"
    );
    assert_eq!(ours.len(), CERTIFICATES);
    assert!(
        bundle == debian_bundle.as_slice(),
        "same certificates, but not the bytes (order or PEM form) of Debian's bundle"
    );
    eprintln!("static: {} certificates, the set of Debian's {DEBIAN_DEB}; the same bundle bytes", ours.len());
}

/// Zones whose rules are the same in the host's tzdata (Debian 12: 2025b) and in ours (2026b):
/// `zdump -v` over 1900..2040 must print the same transitions for both files.
fn zones_match_host(entries: &[Entry], work: &Path) {
    let dir = work.join("zoneinfo");
    let zones =
        ["Asia/Kathmandu", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Tokyo", "America/Sao_Paulo"];
    for z in zones {
        let p = dir.join(z);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, file(entries, &format!("usr/share/zoneinfo/{z}"))).unwrap();
        let host = Path::new("/usr/share/zoneinfo").join(z);
        let dump = |f: &Path| {
            let (ok, out, err) = tool("zdump", &["-v", "-c", "1900,2040", f.to_str().unwrap()]);
            assert!(ok, "zdump {}: {err}", f.display());
            // Drop the file name, and the lines for the limits of time_t, which depend on the file form.
            let prefix = format!("{} ", f.display());
            out.lines()
                .map(|l| l.strip_prefix(&prefix).unwrap_or(l).trim_start().to_string())
                .filter(|l| !l.ends_with("= NULL"))
                .collect::<Vec<_>>()
        };
        let (ours, theirs) = (dump(&p), dump(&host));
        assert!(ours.len() > 2, "{z}: zdump printed {ours:?}");
        assert_eq!(ours, theirs, "{z}: our transitions differ from the host's");
    }
    eprintln!("static: {} zones have the host's transitions from 1900 to 2040", zones.len());
}

/// static-nonroot's OCI config: user 65532:65532, workdir /home/nonroot.
fn nonroot_config(out: &Path) {
    let archive = format!("oci-archive:{}:1.0", out.join("static-nonroot.oci.tar").display());
    let (ok, config, err) = tool("skopeo", &["inspect", "--config", &archive]);
    assert!(ok, "skopeo inspect static-nonroot: {err}");
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["config"]["User"], "65532:65532", "{config}");
    assert_eq!(config["config"]["WorkingDir"], "/home/nonroot", "{config}");
    let archive = format!("oci-archive:{}:1.0", out.join("static.oci.tar").display());
    let (ok, config, err) = tool("skopeo", &["inspect", "--config", &archive]);
    assert!(ok, "skopeo inspect static: {err}");
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert!(config["config"]["User"].as_str().unwrap_or("").is_empty(), "static runs as root: {config}");
}

/// static-debug in podman: busybox's date reads the zone files through musl; nonroot owns its home.
fn static_debug_runs(out: &Path) {
    let p = Podman::new();
    let (ok, _, err) = p.run(&["load", "-i", out.join("static-debug.oci.tar").to_str().unwrap()]);
    assert!(ok, "podman load static-debug: {err}");
    let run = |args: &[&str]| {
        let mut a = vec!["run", "--rm", "--network", "none"];
        a.extend_from_slice(args);
        let (ok, out, err) = p.run(&a);
        assert!(ok, "podman run {args:?}: {err}");
        out
    };
    // 2001-09-09: Nepal has been +0545 since 1986. At the epoch it was +0530.
    let img = "static-debug:1.0";
    assert_eq!(run(&["-e", "TZ=Asia/Kathmandu", img, "date", "-d", "@1000000000", "+%z %Z"]), "+0545 +0545\n");
    assert_eq!(run(&["-e", "TZ=Asia/Kathmandu", img, "date", "-d", "@0"]), "Thu Jan  1 05:30:00 +0530 1970\n");
    assert_eq!(
        run(&["-e", "TZ=America/New_York", img, "date", "-d", "@1000000000", "+%F %T %Z"]),
        "2001-09-08 21:46:40 EDT\n"
    );
    // No TZ, no /etc/localtime: UTC.
    assert_eq!(run(&[img, "date", "-d", "@1000000000", "+%F %T %Z"]), "2001-09-09 01:46:40 UTC\n");
    let probe = "id; cd && pwd && touch f && ls -ln f | awk '{print $3\":\"$4}'; \
                 grep -c 'BEGIN CERT' /etc/ssl/certs/ca-certificates.crt";
    assert_eq!(
        run(&["--user", "65532:65532", img, "sh", "-c", probe]),
        format!(
            "uid=65532(nonroot) gid=65532(nonroot) groups=65532(nonroot)\n/home/nonroot\n65532:65532\n{CERTIFICATES}\n"
        )
    );
}

/// The sizes of the image's layers as stored (compressed), from the OCI archive's manifest.
fn layer_sizes(archive: &Path) -> Vec<u64> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut ar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        if path == "index.json" || (path.starts_with("blobs/") && e.header().size().unwrap() < 1 << 20) {
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            files.insert(path, data);
        }
    }
    let blob = |digest: &str| -> serde_json::Value {
        let path = format!("blobs/{}", digest.replace(':', "/"));
        serde_json::from_slice(files.get(&path).unwrap_or_else(|| panic!("{path} in {}", archive.display()))).unwrap()
    };
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let mut manifest = blob(index["manifests"][0]["digest"].as_str().unwrap());
    if manifest["manifests"].is_array() {
        manifest = blob(manifest["manifests"][0]["digest"].as_str().unwrap()); // an index inside the index
    }
    manifest["layers"].as_array().unwrap().iter().map(|l| l["size"].as_u64().unwrap()).collect()
}
