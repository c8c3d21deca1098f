//! Feed loading: detection by content, gzip, zip, directories, digests, and corrupt feeds named with
//! their problem.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;
use crate::digest::Sha256;
use crate::vuln::matcher::tests::{cpe_match, nvd};
use crate::vuln::{FeedKind, VulnError};

const OSV: &str =
    r#"{"id":"OSV-1","affected":[{"package":{"ecosystem":"Alpine","name":"busybox"},"versions":["1.0"]}]}"#;

fn nvd_doc() -> String {
    nvd("CVE-2024-0001", &[&cpe_match("cpe:2.3:a:busybox:busybox:*:*:*:*:*:*:*:*", "")])
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("gzip")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn corrupt_what(path: &Path) -> String {
    match load_feeds(&[path.to_path_buf()]) {
        Err(VulnError::Corrupt { path: p, what }) => {
            assert_eq!(p, path);
            what
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn detects_kind_by_content_and_hashes_file_bytes() {
    let d = tempfile::tempdir().expect("tempdir");
    let gz = gzip(nvd_doc().as_bytes());
    // Names that lie: detection must not trust them.
    let paths = [write(d.path(), "a.json", &gz), write(d.path(), "b.json.gz", OSV.as_bytes())];
    let feeds = load_feeds(&paths).expect("load");
    let info: Vec<_> = feeds.info.iter().map(|i| (i.kind, i.records, i.sha256.clone())).collect();
    assert_eq!(info, [(FeedKind::Nvd, 1, Sha256::hex_of(&gz)), (FeedKind::Osv, 1, Sha256::hex_of(OSV.as_bytes()))]);
    assert_eq!(feeds.advisories[1].feed, 1);
}

#[test]
fn osv_directory_is_sorted_and_hashed_as_a_listing() {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(d.path().join("sub")).expect("mkdir");
    write(d.path(), "b.json", OSV.replace("OSV-1", "OSV-2").as_bytes());
    write(&d.path().join("sub"), "a.json", OSV.as_bytes());
    write(d.path(), "README.md", b"not a record");
    let feeds = load_feeds(&[d.path().to_path_buf()]).expect("load");
    let ids: Vec<&str> = feeds.advisories.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["OSV-2", "OSV-1"]);
    let listing = format!(
        "{}  b.json\n{}  sub/a.json\n",
        Sha256::hex_of(OSV.replace("OSV-1", "OSV-2").as_bytes()),
        Sha256::hex_of(OSV.as_bytes())
    );
    assert_eq!(feeds.info[0].sha256, Sha256::hex_of(listing.as_bytes()));
    assert_eq!((feeds.info[0].kind, feeds.info[0].records), (FeedKind::Osv, 2));
}

#[test]
fn osv_zip_members_are_read_in_name_order() {
    let d = tempfile::tempdir().expect("tempdir");
    let path = d.path().join("all.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, id) in [("Z.json", "OSV-Z"), ("A.json", "OSV-A")] {
        zip.start_file(name, opts).expect("start");
        zip.write_all(OSV.replace("OSV-1", id).as_bytes()).expect("write");
    }
    zip.finish().expect("finish");
    let feeds = load_feeds(std::slice::from_ref(&path)).expect("load");
    let ids: Vec<&str> = feeds.advisories.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["OSV-A", "OSV-Z"]);
    assert_eq!(feeds.info[0].sha256, Sha256::hex_of(&std::fs::read(&path).expect("read")));
}

#[test]
fn corrupt_feeds_name_the_file_and_the_problem() {
    let d = tempfile::tempdir().expect("tempdir");
    let bad = write(d.path(), "bad.json", b"{\"vulnerabilities\": [\n  {\"cve\": }\n]}");
    assert!(corrupt_what(&bad).contains("line 2 column 11"), "{}", corrupt_what(&bad));
    let gz = gzip(nvd_doc().as_bytes());
    let truncated = write(d.path(), "cut.json.gz", &gz[..gz.len() / 2]);
    assert!(corrupt_what(&truncated).contains("gzip"), "{}", corrupt_what(&truncated));
    let short = write(d.path(), "short.json", &nvd_doc().as_bytes()[..100]);
    assert!(corrupt_what(&short).contains("truncated"), "{}", corrupt_what(&short));
    let missing = write(d.path(), "missing.json", br#"{"vulnerabilities":[{"cve":{"descriptions":[]}}]}"#);
    assert!(corrupt_what(&missing).contains("missing field `id`"), "{}", corrupt_what(&missing));
    let neither = write(d.path(), "neither.json", br#"{"hello":1}"#);
    let err = load_feeds(&[neither]).expect_err("neither");
    assert!(matches!(err, VulnError::UnknownFormat { .. }), "{err:?}");
    let err = load_feeds(&[d.path().join("absent.json")]).expect_err("absent");
    assert!(matches!(err, VulnError::Read { .. }) && !err.hint().is_empty());
}
