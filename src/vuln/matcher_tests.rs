//! Matching edge cases, on feeds written in the real NVD 2.0 and OSV schemas and read by `load_feeds`.

use std::cmp::Ordering;
use std::path::PathBuf;

use super::*;
use crate::vuln::{FeedKind, Feeds, Severity, load_feeds};

/// An NVD 2.0 document with one CVE whose configurations hold `cpe_matches` (JSON objects).
pub(crate) fn nvd(id: &str, cpe_matches: &[&str]) -> String {
    format!(
        r#"{{"resultsPerPage":1,"startIndex":0,"totalResults":1,"format":"NVD_CVE","version":"2.0",
  "timestamp":"2026-11-30T00:00:00.000","vulnerabilities":[{{"cve":{{"id":"{id}","sourceIdentifier":"x",
  "published":"2024-01-01T00:00:00.000","vulnStatus":"Analyzed",
  "descriptions":[{{"lang":"es","value":"no"}},{{"lang":"en","value":"A flaw in {id}."}}],
  "metrics":{{"cvssMetricV31":[
    {{"source":"cna@example.org","type":"Secondary","cvssData":{{"version":"3.1","vectorString":"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H","baseScore":7.8,"baseSeverity":"HIGH"}}}},
    {{"source":"nvd@nist.gov","type":"Primary","cvssData":{{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H","baseScore":9.8,"baseSeverity":"CRITICAL"}},"exploitabilityScore":3.9,"impactScore":5.9}}]}},
  "configurations":[{{"nodes":[{{"operator":"OR","negate":false,"cpeMatch":[{}]}}]}}],
  "references":[]}}}}]}}"#,
        cpe_matches.join(",")
    )
}

pub(crate) fn cpe_match(criteria: &str, bounds: &str) -> String {
    let bounds = if bounds.is_empty() { String::new() } else { format!(",{bounds}") };
    format!(r#"{{"vulnerable":true,"criteria":"{criteria}","matchCriteriaId":"ABC"{bounds}}}"#)
}

const BB_ANY: &str = "cpe:2.3:a:busybox:busybox:*:*:*:*:*:*:*:*";

pub(crate) fn load(docs: &[String]) -> (tempfile::TempDir, Feeds) {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths: Vec<PathBuf> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let p = dir.path().join(format!("feed{i}"));
            std::fs::write(&p, d).expect("write");
            p
        })
        .collect();
    let feeds = load_feeds(&paths).expect("feeds load");
    (dir, feeds)
}

fn busybox(version: &str) -> Package {
    Package {
        name: "busybox".into(),
        version: version.into(),
        cpe: Some(format!("cpe:2.3:a:busybox:busybox:{version}:*:*:*:*:*:*:*")),
        osv: None,
        bom_ref: None,
        ..Default::default()
    }
}

fn hits(bounds: &str, version: &str) -> Vec<Finding> {
    let (_d, feeds) = load(&[nvd("CVE-2024-0001", &[&cpe_match(BB_ANY, bounds)])]);
    match_packages(&[busybox(version)], &feeds)
}

#[test]
fn nvd_start_including_and_excluding() {
    assert_eq!(hits(r#""versionStartIncluding":"1.30.0""#, "1.30.0").len(), 1);
    assert_eq!(hits(r#""versionStartIncluding":"1.30.0""#, "1.29.9").len(), 0);
    assert_eq!(hits(r#""versionStartExcluding":"1.30.0""#, "1.30.0").len(), 0);
    assert_eq!(hits(r#""versionStartExcluding":"1.30.0""#, "1.30.1").len(), 1);
}

#[test]
fn nvd_end_including_and_excluding() {
    assert_eq!(hits(r#""versionEndIncluding":"1.36.1""#, "1.36.1").len(), 1);
    assert_eq!(hits(r#""versionEndIncluding":"1.36.1""#, "1.36.2").len(), 0);
    assert_eq!(hits(r#""versionEndExcluding":"1.36.1""#, "1.36.1").len(), 0);
    let f = hits(r#""versionStartIncluding":"1.30.0","versionEndExcluding":"1.36.1""#, "1.36.0");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].matched, ">= 1.30.0, < 1.36.1");
    assert_eq!(f[0].fixed.as_deref(), Some("1.36.1"));
    assert_eq!(hits(r#""versionStartIncluding":"1.30.0","versionEndExcluding":"1.36.1""#, "1.37.0").len(), 0);
}

#[test]
fn nvd_finding_carries_primary_v31_score_and_english_description() {
    let f = hits("", "1.0");
    assert_eq!(f[0].matched, "all versions");
    assert_eq!((f[0].score, f[0].severity), (Some(9.8), Some(Severity::Critical)));
    assert_eq!(f[0].vector.as_deref(), Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"));
    assert_eq!(f[0].description.as_deref(), Some("A flaw in CVE-2024-0001."));
    assert_eq!(f[0].fixed, None);
}

#[test]
fn nvd_exact_version() {
    let exact = cpe_match("cpe:2.3:a:busybox:busybox:1.36.1:*:*:*:*:*:*:*", "");
    let (_d, feeds) = load(&[nvd("CVE-2024-0002", &[&exact])]);
    let f = match_packages(&[busybox("1.36.1")], &feeds);
    assert_eq!((f.len(), f[0].matched.as_str()), (1, "= 1.36.1"));
    assert!(match_packages(&[busybox("1.36.0")], &feeds).is_empty());
}

#[test]
fn nvd_other_vendor_and_not_vulnerable_entries_do_not_match() {
    let other = cpe_match("cpe:2.3:a:other:busybox:*:*:*:*:*:*:*:*", "");
    let platform = r#"{"vulnerable":false,"criteria":"cpe:2.3:a:busybox:busybox:*:*:*:*:*:*:*:*"}"#;
    let (_d, feeds) = load(&[nvd("CVE-2024-0003", &[&other, platform])]);
    assert!(match_packages(&[busybox("1.36.1")], &feeds).is_empty());
}

#[test]
fn nvd_several_entries_give_one_finding() {
    let a = cpe_match(BB_ANY, r#""versionEndExcluding":"1.37.0""#);
    let b = cpe_match("cpe:2.3:a:BusyBox:BusyBox:1.36.1:*:*:*:*:*:*:*", "");
    let (_d, feeds) = load(&[nvd("CVE-2024-0004", &[&a, &b])]);
    let f = match_packages(&[busybox("1.36.1")], &feeds);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].matched, "< 1.37.0");
}

fn osv(affected: &str) -> String {
    format!(
        r#"{{"schema_version":"1.6.0","id":"OSV-2024-1","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2024-9"],
  "summary":"A flaw","severity":[{{"type":"CVSS_V3","score":"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}}],
  "affected":[{affected}]}}"#
    )
}

fn osv_pkg(version: &str) -> Package {
    Package { osv: Some(("Alpine".into(), "busybox".into())), cpe: None, ..busybox(version) }
}

fn osv_hits(ranges: &str, versions: &str, version: &str) -> Vec<Finding> {
    let affected = format!(
        r#"{{"package":{{"ecosystem":"Alpine","name":"busybox"}},"ranges":[{ranges}],"versions":[{versions}]}}"#
    );
    let (_d, feeds) = load(&[osv(&affected)]);
    assert_eq!(feeds.info[0].kind, FeedKind::Osv);
    match_packages(&[osv_pkg(version)], &feeds)
}

#[test]
fn osv_introduced_fixed() {
    let r = r#"{"type":"ECOSYSTEM","events":[{"introduced":"1.0"},{"fixed":"1.5"}]}"#;
    let f = osv_hits(r, "", "1.2");
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].matched.as_str(), f[0].fixed.as_deref()), ("introduced 1.0, fixed 1.5", Some("1.5")));
    assert_eq!((f[0].score, f[0].severity), (Some(7.8), Some(Severity::High)));
    assert_eq!(f[0].aliases, ["CVE-2024-9"]);
    assert!(osv_hits(r, "", "1.5").is_empty());
    assert!(osv_hits(r, "", "0.9").is_empty());
}

#[test]
fn osv_introduced_zero_and_last_affected() {
    let r = r#"{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"last_affected":"1.4"}]}"#;
    assert_eq!(osv_hits(r, "", "0.1").len(), 1);
    assert_eq!(osv_hits(r, "", "1.4").len(), 1);
    assert!(osv_hits(r, "", "1.4.1").is_empty());
}

#[test]
fn osv_versions_list_semver_and_git_ranges() {
    assert_eq!(osv_hits("", r#""1.1","1.3""#, "1.3")[0].matched, "version 1.3 listed");
    assert!(osv_hits("", r#""1.1","1.3""#, "1.2").is_empty());
    let semver = r#"{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"fixed":"2.0.0-rc.1"}]}"#;
    assert_eq!(osv_hits(semver, "", "2.0.0-beta").len(), 1);
    assert!(osv_hits(semver, "", "2.0.0").is_empty());
    let git = r#"{"type":"GIT","repo":"https://x","events":[{"introduced":"0"}]}"#;
    assert!(osv_hits(git, "", "1.0").is_empty());
}

#[test]
fn findings_are_sorted_by_id_then_package() {
    let m = cpe_match(BB_ANY, "");
    let (_d, feeds) = load(&[nvd("CVE-2024-0009", &[&m]), nvd("CVE-2024-0001", &[&m])]);
    let other = Package { name: "aaa".into(), ..busybox("1.0") };
    let f = match_packages(&[busybox("1.0"), other], &feeds);
    let got: Vec<(&str, &str, usize)> = f.iter().map(|f| (f.id.as_str(), f.package.as_str(), f.feed)).collect();
    assert_eq!(
        got,
        [
            ("CVE-2024-0001", "aaa", 1),
            ("CVE-2024-0001", "busybox", 1),
            ("CVE-2024-0009", "aaa", 0),
            ("CVE-2024-0009", "busybox", 0)
        ]
    );
}

#[test]
fn nvd_negated_nodes_and_configurations_do_not_match() {
    let m = cpe_match(BB_ANY, "");
    let negated = nvd("CVE-2024-0010", &[&m]).replace(r#""negate":false"#, r#""negate":true"#);
    let (_d, feeds) = load(&[negated]);
    assert!(match_packages(&[busybox("1.0")], &feeds).is_empty());
    // A positive node beside a negated one still matches, through its own entries only.
    let other = cpe_match("cpe:2.3:a:busybox:busybox:1.0:*:*:*:*:*:*:*", "");
    let both = nvd("CVE-2024-0011", &[&m]).replace(
        r#"{"operator":"OR","negate":false,"cpeMatch":["#,
        &format!(r#"{{"operator":"OR","negate":true,"cpeMatch":[{m}]}},{{"operator":"OR","cpeMatch":[{other}]}},{{"operator":"OR","negate":true,"cpeMatch":["#),
    );
    let (_d, feeds) = load(&[both]);
    assert_eq!(match_packages(&[busybox("1.0")], &feeds)[0].matched, "= 1.0");
    assert!(match_packages(&[busybox("2.0")], &feeds).is_empty());
    let conf = nvd("CVE-2024-0012", &[&m]).replace(r#""configurations":[{"#, r#""configurations":[{"negate":true,"#);
    let (_d, feeds) = load(&[conf]);
    assert!(match_packages(&[busybox("1.0")], &feeds).is_empty());
}

#[test]
fn nvd_not_applicable_version_matches_only_through_a_range() {
    let na = "cpe:2.3:a:busybox:busybox:-:*:*:*:*:*:*:*";
    let (_d, feeds) = load(&[nvd("CVE-2024-0013", &[&cpe_match(na, "")])]);
    assert!(match_packages(&[busybox("1.0")], &feeds).is_empty());
    let f = match_packages(&[busybox("-")], &feeds);
    assert_eq!((f.len(), f[0].matched.as_str()), (1, "version not applicable (-)"));
    let (_d, feeds) = load(&[nvd("CVE-2024-0014", &[&cpe_match(na, r#""versionEndExcluding":"1.37.0""#)])]);
    assert_eq!(match_packages(&[busybox("1.36.1")], &feeds)[0].matched, "< 1.37.0");
    assert!(match_packages(&[busybox("1.37.0")], &feeds).is_empty());
    // `*` still means any version.
    assert_eq!(hits("", "1.37.0").len(), 1);
}

#[test]
fn findings_sort_cve_ids_by_year_then_number() {
    let m = cpe_match(BB_ANY, "");
    let ids = ["CVE-2024-10000", "CVE-2024-9999", "CVE-2023-50000", "CVE-2024-0999"];
    let docs: Vec<String> = ids.iter().map(|id| nvd(id, &[&m])).collect();
    let (_d, feeds) = load(&docs);
    let f = match_packages(&[busybox("1.0")], &feeds);
    let got: Vec<&str> = f.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(got, ["CVE-2023-50000", "CVE-2024-0999", "CVE-2024-9999", "CVE-2024-10000"]);
    assert_eq!(cmp_ids("CVE-2024-9999", "CVE-2024-10000"), Ordering::Less);
    assert_eq!(cmp_ids("CVE-2025-1000", "CVE-2024-99999"), Ordering::Greater);
    // Not both CVE-YYYY-N: plain string order.
    assert_eq!(cmp_ids("CVE-2024-10000", "GHSA-aaaa"), Ordering::Less);
    assert_eq!(cmp_ids("CVE-2024-9x", "CVE-2024-10000"), Ordering::Greater);
    assert_eq!(cmp_ids("CVE-2024-0001", "CVE-2024-1"), Ordering::Less);
}

/// A criteria naming an update (`1.36.0:rc1`) is a pre-release's: it does not match the release.
#[test]
fn nvd_criteria_update_part_must_be_the_packages() {
    let rc = "cpe:2.3:a:busybox:busybox:1.36.0:rc1:*:*:*:*:*:*";
    let (_d, feeds) = load(&[nvd("CVE-2024-0001", &[&cpe_match(rc, "")])]);
    assert!(match_packages(&[busybox("1.36.0")], &feeds).is_empty());
    let rc_pkg = Package { cpe: Some("cpe:2.3:a:busybox:busybox:1.36.0:RC1:*:*:*:*:*:*".into()), ..busybox("1.36.0") };
    assert_eq!(match_packages(&[rc_pkg], &feeds).len(), 1);
}

/// Pre-releases sort before their release and `1.36` is `1.36.0`, in ranges.
#[test]
fn nvd_ranges_order_pre_releases_and_trailing_zeros() {
    assert_eq!(hits(r#""versionEndExcluding":"1.36.0""#, "1.36.0-rc1").len(), 1);
    assert_eq!(hits(r#""versionEndIncluding":"1.36""#, "1.36.0").len(), 1);
    assert_eq!(hits(r#""versionStartExcluding":"1.36""#, "1.36.0").len(), 0);
}
