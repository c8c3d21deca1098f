//! OSV schema 1.x records (https://ossf.github.io/osv-schema/): id, aliases, summary/details, severity,
//! and the `affected` packages with their version lists and ECOSYSTEM/SEMVER ranges. GIT ranges are
//! dropped here: compose knows release versions, not commits.
//!
//! Severity: the CVSS_V3 vector in `severity[]` is scored with the CVSS 3.1 base formula (OSV carries
//! vectors, not scores); without one, `database_specific.severity` (GitHub's LOW/MODERATE/HIGH/
//! CRITICAL) gives the rating and there is no score.
//!
//! The OSV schema lets `aliases`, `severity`, `affected`, `versions`, `ranges` and `events` be `null`:
//! they read as empty lists. A record with `withdrawn` set is read but gives no advisory.

use serde::{Deserialize, Deserializer};

use super::{Advisory, Rules, Severity};

/// The OSV fields of a JSON document (feed detection reads NVD's `vulnerabilities` beside them).
#[derive(Deserialize, Default)]
pub(crate) struct Record {
    pub id: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    aliases: Vec<String>,
    summary: Option<String>,
    details: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    severity: Vec<SeverityEntry>,
    #[serde(default, deserialize_with = "null_as_empty")]
    affected: Vec<RawAffected>,
    database_specific: Option<DatabaseSpecific>,
    /// When the record was withdrawn (RFC 3339); a withdrawn record is not reported.
    withdrawn: Option<String>,
}

/// A list the OSV schema allows to be `null`: `null` (or absent, with `default`) reads as empty.
fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct SeverityEntry {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct DatabaseSpecific {
    severity: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawAffected {
    package: Option<PackageId>,
    #[serde(default, deserialize_with = "null_as_empty")]
    versions: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    ranges: Vec<RawRange>,
}

#[derive(Deserialize)]
struct PackageId {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    events: Vec<RawEvent>,
}

#[derive(Deserialize)]
struct RawEvent {
    introduced: Option<String>,
    fixed: Option<String>,
    last_affected: Option<String>,
    limit: Option<String>,
}

/// One `affected[]` entry that names a package.
#[derive(Debug, Clone)]
pub(crate) struct Affected {
    pub ecosystem: String,
    pub name: String,
    pub versions: Vec<String>,
    pub ranges: Vec<Range>,
}

#[derive(Debug, Clone)]
pub(crate) struct Range {
    /// SEMVER ranges compare pre-releases (`1.0.0-rc1`) as before the release.
    pub semver: bool,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

impl Record {
    /// Whether the record has been withdrawn (`withdrawn` set): it is OSV but gives no advisory.
    pub fn withdrawn(&self) -> bool {
        self.withdrawn.is_some()
    }

    /// `None` when the record has no `id` (then it is not OSV); callers skip `withdrawn()` records.
    pub fn into_advisory(self) -> Option<Advisory> {
        let id = self.id?;
        let vector = self.severity.into_iter().find(|s| s.kind == "CVSS_V3").map(|s| s.score);
        let score = vector.as_deref().and_then(cvss31_base_score);
        let severity = score.map(Severity::from_score).or_else(|| {
            let db = self.database_specific?.severity?;
            db.as_str().and_then(Severity::parse)
        });
        let affected = self.affected.into_iter().filter_map(RawAffected::into_affected).collect();
        Some(Advisory {
            feed: 0,
            id,
            aliases: self.aliases,
            description: self.summary.or(self.details),
            score,
            severity,
            vector,
            rules: Rules::Osv(affected),
        })
    }
}

impl RawAffected {
    fn into_affected(self) -> Option<Affected> {
        let package = self.package?;
        let ranges = self
            .ranges
            .into_iter()
            .filter(|r| r.kind == "ECOSYSTEM" || r.kind == "SEMVER")
            .map(|r| Range {
                semver: r.kind == "SEMVER",
                events: r.events.into_iter().filter_map(RawEvent::into_event).collect(),
            })
            .collect();
        Some(Affected { ecosystem: package.ecosystem, name: package.name, versions: self.versions, ranges })
    }
}

impl RawEvent {
    fn into_event(self) -> Option<Event> {
        (self.introduced.map(Event::Introduced))
            .or(self.fixed.map(Event::Fixed))
            .or(self.last_affected.map(Event::LastAffected))
            .or(self.limit.map(Event::Limit))
    }
}

/// The CVSS v3.1 base score of a vector such as `CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`
/// (the specification's §7.1 formula and Appendix A roundup). A 3.0 vector is scored with the same
/// formula. `None` when a base metric is missing or has an unknown value.
pub fn cvss31_base_score(vector: &str) -> Option<f64> {
    let metric =
        |key: &str| vector.split('/').find_map(|kv| kv.split_once(':').filter(|(k, _)| *k == key).map(|(_, v)| v));
    let changed = match metric("S")? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av = match metric("AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match metric("AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (metric("PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match metric("UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |key| match metric(key)? {
        "H" => Some(0.56),
        "L" => Some(0.22),
        "N" => Some(0.0),
        _ => None,
    };
    let iss = 1.0 - (1.0 - cia("C")?) * (1.0 - cia("I")?) * (1.0 - cia("A")?);
    let impact = if changed { 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02f64).powi(15) } else { 6.42 * iss };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Some(0.0);
    }
    let raw = if changed { 1.08 * (impact + exploitability) } else { impact + exploitability };
    Some(roundup(raw.min(10.0)))
}

/// CVSS 3.1 Appendix A: the smallest number with one decimal that is >= x, robust to float noise.
fn roundup(x: f64) -> f64 {
    let int = (x * 100_000.0).round() as i64;
    if int % 10_000 == 0 { int as f64 / 100_000.0 } else { ((int / 10_000) + 1) as f64 / 10.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss31_known_vectors() {
        let cases = [
            ("AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
        ];
        for (v, want) in cases {
            assert_eq!(cvss31_base_score(v), Some(want), "{v}");
        }
    }

    #[test]
    fn cvss31_rejects_incomplete_vectors() {
        assert_eq!(cvss31_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H"), None);
        assert_eq!(cvss31_base_score("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), None);
        assert_eq!(cvss31_base_score(""), None);
    }

    #[test]
    fn severity_from_database_specific_without_vector() {
        let r: Record =
            serde_json::from_str(r#"{"id":"GHSA-x","database_specific":{"severity":"MODERATE"},"affected":[]}"#)
                .expect("valid");
        let a = r.into_advisory().expect("has id");
        assert_eq!((a.score, a.severity), (None, Some(Severity::Medium)));
    }

    #[test]
    fn null_lists_read_as_empty() {
        let r: Record = serde_json::from_str(
            r#"{"id":"OSV-N","aliases":null,"severity":null,"withdrawn":null,"affected":[
                {"package":{"ecosystem":"npm","name":"x"},"versions":null,"ranges":null},
                {"package":{"ecosystem":"npm","name":"y"},"ranges":[{"type":"SEMVER","events":null}]}]}"#,
        )
        .expect("nulls are allowed by the OSV schema");
        assert!(!r.withdrawn());
        let a = r.into_advisory().expect("has id");
        assert!(a.aliases.is_empty() && a.vector.is_none());
        let Rules::Osv(affected) = a.rules else { panic!("OSV rules") };
        assert!(affected[0].versions.is_empty() && affected[0].ranges.is_empty());
        assert!(affected[1].ranges[0].events.is_empty());
        let r: Record = serde_json::from_str(r#"{"id":"OSV-N","affected":null}"#).expect("null affected");
        let Rules::Osv(affected) = r.into_advisory().expect("has id").rules else { panic!("OSV rules") };
        assert!(affected.is_empty());
    }
}
