//! Feed loading: detection by content, gzip, zip, directories, digests, and corrupt feeds named with
//! their problem.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;
use crate::digest::Sha256;
use crate::vuln::matcher::tests::{cpe_match, nvd};
use crate::vuln::{FeedKind, Severity, VulnError};

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

#[test]
fn osv_null_lists_are_read_as_empty() {
    let d = tempfile::tempdir().expect("tempdir");
    let rec = r#"{"id":"OSV-N","aliases":null,"severity":null,"affected":[
        {"package":{"ecosystem":"Alpine","name":"busybox"},"versions":null,"ranges":[{"type":"ECOSYSTEM","events":null}]},
        {"package":{"ecosystem":"Alpine","name":"busybox"},"versions":["1.0"],"ranges":null}]}"#;
    let nulls = write(d.path(), "nulls.json", rec.as_bytes());
    let none = write(d.path(), "none.json", br#"{"id":"OSV-0","affected":null,"aliases":null}"#);
    let feeds = load_feeds(&[nulls, none]).expect("nulls are allowed by the OSV schema");
    let ids: Vec<&str> = feeds.advisories.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["OSV-N", "OSV-0"]);
    assert!(feeds.advisories.iter().all(|a| a.aliases.is_empty() && a.vector.is_none()));
}

#[test]
fn withdrawn_osv_and_rejected_nvd_give_no_advisories() {
    let d = tempfile::tempdir().expect("tempdir");
    let withdrawn = OSV.replace(r#""id":"OSV-1","#, r#""id":"OSV-W","withdrawn":"2024-05-01T00:00:00Z","#);
    let single = write(d.path(), "w.json", withdrawn.as_bytes());
    let dir = d.path().join("dir");
    std::fs::create_dir(&dir).expect("mkdir");
    write(&dir, "a.json", withdrawn.as_bytes());
    write(&dir, "b.json", OSV.as_bytes());
    let zip_path = d.path().join("all.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).expect("create"));
    for (name, body) in [("a.json", withdrawn.as_str()), ("b.json", OSV)] {
        zip.start_file(name, zip::write::SimpleFileOptions::default()).expect("start");
        zip.write_all(body.as_bytes()).expect("write");
    }
    zip.finish().expect("finish");
    let two = format!(
        r#"{{"vulnerabilities":[{},{}]}}"#,
        nvd_item(&nvd("CVE-2024-0001", &[&cpe_match("cpe:2.3:a:busybox:busybox:*:*:*:*:*:*:*:*", "")])),
        nvd_item(
            &nvd("CVE-2024-0002", &[&cpe_match("cpe:2.3:a:busybox:busybox:*:*:*:*:*:*:*:*", "")])
                .replace(r#""vulnStatus":"Analyzed""#, r#""vulnStatus":"Rejected""#)
        )
    );
    let nvd_feed = write(d.path(), "nvd.json", two.as_bytes());
    let feeds = load_feeds(&[single, dir, zip_path, nvd_feed]).expect("load");
    let got: Vec<(&str, usize)> = feeds.advisories.iter().map(|a| (a.id.as_str(), a.feed)).collect();
    assert_eq!(got, [("OSV-1", 1), ("OSV-1", 2), ("CVE-2024-0001", 3)]);
    let records: Vec<usize> = feeds.info.iter().map(|i| i.records).collect();
    assert_eq!(records, [0, 1, 1, 1]);
    assert_eq!(feeds.info[0].kind, FeedKind::Osv);
}

/// The one `{"cve": ...}` element of an `nvd()` document.
fn nvd_item(doc: &str) -> String {
    let start = doc.find(r#"{"cve""#).expect("an item");
    let end = doc.rfind(']').expect("array end");
    doc[start..end].to_string()
}

fn zip_of(path: &Path, members: &[(&str, &[u8])]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("create"));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in members {
        zip.start_file(*name, opts).expect("start");
        zip.write_all(body).expect("write");
    }
    zip.finish().expect("finish");
}

fn corrupt_limited(path: &Path, limits: Limits) -> (PathBuf, String) {
    match load_feeds_limited(&[path.to_path_buf()], limits) {
        Err(VulnError::Corrupt { path, what }) => (path, what),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

const SMALL: Limits = Limits { member: 1 << 20, zip_total: 4 << 20, gzip: 1 << 20 };

#[test]
fn zip_member_beyond_the_cap_is_refused() {
    let d = tempfile::tempdir().expect("tempdir");
    let path = d.path().join("bomb.zip");
    let mut big = OSV.as_bytes().to_vec();
    big.resize(2 << 20, b' ');
    zip_of(&path, &[("a.json", OSV.as_bytes()), ("big.json", &big)]);
    assert!(std::fs::metadata(&path).expect("stat").len() < 64 << 10, "compresses well");
    let (p, what) = corrupt_limited(&path, SMALL);
    assert_eq!((p, what.as_str()), (path.join("big.json"), "zip member `big.json` expands beyond 1 MiB"));
    // Exactly at the cap is fine.
    big.truncate(1 << 20);
    zip_of(&path, &[("big.json", &big)]);
    assert_eq!(load_feeds_limited(std::slice::from_ref(&path), SMALL).expect("at the cap").advisories.len(), 1);
}

#[test]
fn zip_member_with_a_lying_size_is_cut_at_the_cap() {
    let d = tempfile::tempdir().expect("tempdir");
    let path = d.path().join("liar.zip");
    let mut big = OSV.as_bytes().to_vec();
    big.resize(2 << 20, b' ');
    zip_of(&path, &[("big.json", &big)]);
    // Declare 100 bytes uncompressed in the local and central headers; the data still inflates to 2 MiB.
    // The zip crate refuses to read past the declared size; `take(cap + 1)` would stop it otherwise.
    let mut bytes = std::fs::read(&path).expect("read");
    let patch = |bytes: &mut Vec<u8>, sig: &[u8], offset: usize| {
        let at = bytes.windows(4).position(|w| w == sig).expect("header") + offset;
        bytes[at..at + 4].copy_from_slice(&100u32.to_le_bytes());
    };
    patch(&mut bytes, b"PK\x03\x04", 22);
    patch(&mut bytes, b"PK\x01\x02", 24);
    std::fs::write(&path, &bytes).expect("write");
    let (p, what) = corrupt_limited(&path, SMALL);
    assert_eq!(p, path.join("big.json"));
    assert!(what.contains("expands beyond 1 MiB") || what.contains("cannot decompress"), "{what}");
}

#[test]
fn zip_members_beyond_the_total_cap_are_refused() {
    let d = tempfile::tempdir().expect("tempdir");
    let path = d.path().join("many.zip");
    let mut rec = OSV.as_bytes().to_vec();
    rec.resize(1000, b' ');
    zip_of(&path, &[("a.json", &rec), ("b.json", &rec), ("c.json", &rec)]);
    let limits = Limits { member: 1000, zip_total: 2500, gzip: 1 << 20 };
    let (p, what) = corrupt_limited(&path, limits);
    assert_eq!((p, what.as_str()), (path.clone(), "the zip's members expand beyond 2500 bytes in total"));
    let limits = Limits { zip_total: 3000, ..limits };
    assert_eq!(load_feeds_limited(std::slice::from_ref(&path), limits).expect("at the cap").advisories.len(), 3);
}

#[test]
fn gzip_feed_beyond_the_cap_is_refused() {
    let d = tempfile::tempdir().expect("tempdir");
    let mut doc = nvd_doc().into_bytes();
    doc.resize(3 << 20, b'\n');
    let path = write(d.path(), "bomb.json.gz", &gzip(&doc));
    let (p, what) = corrupt_limited(&path, SMALL);
    assert_eq!((p, what.as_str()), (path.clone(), "the gzip stream expands beyond 1 MiB"));
    doc.truncate(1 << 20);
    let path = write(d.path(), "fits.json.gz", &gzip(&doc));
    assert_eq!(load_feeds_limited(&[path], SMALL).expect("at the cap").advisories.len(), 1);
}

#[test]
fn default_caps_fit_the_real_feeds() {
    let l = Limits::DEFAULT;
    assert_eq!((l.member, l.zip_total, l.gzip), (16 << 20, 4 << 30, 2 << 30));
}

/// A CVE rated only in CVSS v4.0 (a CNA's), or only in v2 (an old CVE), has that rating; v3.1 wins over both.
#[test]
fn nvd_ratings_fall_back_to_cvss_v4_then_v2() {
    let item = |metrics: &str| {
        format!(
            r#"{{"format":"NVD_CVE","version":"2.0","vulnerabilities":[{{"cve":{{"id":"CVE-2024-0001","metrics":{metrics},"configurations":[]}}}}]}}"#
        )
    };
    let v4 = r#"{"source":"cna@example.org","type":"Secondary","cvssData":{"version":"4.0","vectorString":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N","baseScore":9.3,"baseSeverity":"CRITICAL"}}"#;
    let v2 = r#"{"source":"nvd@nist.gov","type":"Primary","cvssData":{"version":"2.0","vectorString":"AV:N/AC:L/Au:N/C:P/I:P/A:P","baseScore":7.5},"baseSeverity":"HIGH"}"#;
    let v31 = r#"{"source":"nvd@nist.gov","type":"Primary","cvssData":{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N","baseScore":5.3,"baseSeverity":"MEDIUM"}}"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let rated = |metrics: String| {
        let f = write(dir.path(), "nvd.json", item(&metrics).as_bytes());
        let a = load_feeds(&[f]).expect("loads").advisories.remove(0);
        (a.score, a.severity, a.vector)
    };
    let (score, severity, vector) = rated(format!(r#"{{"cvssMetricV40":[{v4}]}}"#));
    assert_eq!((score, severity), (Some(9.3), Some(Severity::Critical)));
    assert!(vector.expect("vector").starts_with("CVSS:4.0/"));
    assert_eq!(
        rated(format!(r#"{{"cvssMetricV2":[{v2}]}}"#)).1,
        Some(Severity::High),
        "v2's own rating, not the v3 bands"
    );
    let both = rated(format!(r#"{{"cvssMetricV40":[{v4}],"cvssMetricV2":[{v2}],"cvssMetricV31":[{v31}]}}"#));
    assert_eq!((both.0, both.1), (Some(5.3), Some(Severity::Medium)));
}
