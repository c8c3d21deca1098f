//! NVD CVE API 2.0 JSON (the schema of NVD's feed files and of `/rest/json/cves/2.0` pages): only the
//! fields matching needs are deserialized, and each CVE becomes an `Advisory` as the array is read, so
//! a feed of 50,000 CVEs never holds its full JSON tree in memory.
//!
//! A CVE whose `vulnStatus` is `Rejected` gives no advisory. Negated nodes (and negated
//! configurations) are skipped: their cpeMatch entries describe what is *not* affected.

use std::fmt;

use serde::Deserialize;
use serde::de::{SeqAccess, Visitor};

use super::cpe::Cpe;
use super::{Advisory, Rules, Severity};

/// One vulnerable cpeMatch entry, with its range bounds.
#[derive(Debug, Clone)]
pub(crate) struct CpeRule {
    pub cpe: Cpe,
    /// The criteria's version is `-` (not applicable): only a range bound can make it match a
    /// versioned package (`cpe.version` is `None` then, as for `*`).
    pub not_applicable: bool,
    pub start: Option<Bound>,
    pub end: Option<Bound>,
}

#[derive(Debug, Clone)]
pub(crate) struct Bound {
    pub version: String,
    pub inclusive: bool,
}

/// The `vulnerabilities` array, turned into advisories element by element (feed index set later).
#[derive(Debug, Default)]
pub(crate) struct Vulnerabilities(pub Vec<Advisory>);

impl<'de> Deserialize<'de> for Vulnerabilities {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Seq;
        impl<'de> Visitor<'de> for Seq {
            type Value = Vulnerabilities;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of {\"cve\": ...} objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vulnerabilities, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(item) = seq.next_element::<Item>()? {
                    out.extend(item.cve.into_advisory());
                }
                Ok(Vulnerabilities(out))
            }
        }
        d.deserialize_seq(Seq)
    }
}

#[derive(Deserialize)]
struct Item {
    cve: Cve,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cve {
    id: String,
    vuln_status: Option<String>,
    #[serde(default)]
    descriptions: Vec<LangString>,
    #[serde(default)]
    metrics: Metrics,
    #[serde(default)]
    configurations: Vec<Configuration>,
}

#[derive(Deserialize)]
struct LangString {
    lang: String,
    value: String,
}

#[derive(Deserialize, Default)]
struct Metrics {
    #[serde(rename = "cvssMetricV31", default)]
    v31: Vec<Metric>,
    #[serde(rename = "cvssMetricV30", default)]
    v30: Vec<Metric>,
    #[serde(rename = "cvssMetricV40", default)]
    v40: Vec<Metric>,
    #[serde(rename = "cvssMetricV2", default)]
    v2: Vec<Metric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metric {
    #[serde(rename = "type")]
    kind: Option<String>,
    cvss_data: CvssData,
    /// CVSS v2 metrics carry the rating here, not in `cvssData`.
    base_severity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CvssData {
    base_score: f64,
    base_severity: Option<String>,
    vector_string: Option<String>,
}

#[derive(Deserialize)]
struct Configuration {
    #[serde(default)]
    negate: Option<bool>,
    #[serde(default)]
    nodes: Vec<Node>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    #[serde(default)]
    negate: Option<bool>,
    #[serde(default)]
    cpe_match: Vec<CpeMatch>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CpeMatch {
    vulnerable: bool,
    criteria: String,
    version_start_including: Option<String>,
    version_start_excluding: Option<String>,
    version_end_including: Option<String>,
    version_end_excluding: Option<String>,
}

impl Cve {
    /// `None` for a rejected CVE (`vulnStatus: "Rejected"`).
    fn into_advisory(self) -> Option<Advisory> {
        if self.vuln_status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("rejected")) {
            return None;
        }
        let description = self.descriptions.into_iter().find(|d| d.lang == "en").map(|d| d.value);
        // 3.1, then 3.0, then 4.0 (recent CVEs scored by a CNA only in 4.0), then 2.0 (old CVEs); within
        // one version the NVD's own ("Primary") score before a CNA's. The rating is the one the metric
        // gives (v2's three levels are its own), else the CVSS v3 bands of the score.
        let metric =
            [self.metrics.v31, self.metrics.v30, self.metrics.v40, self.metrics.v2].into_iter().find_map(|ms| {
                let primary = ms.iter().position(|m| m.kind.as_deref() == Some("Primary")).unwrap_or(0);
                ms.into_iter().nth(primary)
            });
        let (score, severity, vector) = match metric {
            Some(m) => {
                let c = m.cvss_data;
                let rated = c.base_severity.as_deref().or(m.base_severity.as_deref()).and_then(Severity::parse);
                (Some(c.base_score), Some(rated.unwrap_or(Severity::from_score(c.base_score))), c.vector_string)
            }
            None => (None, None, None),
        };
        // AND nodes (a vulnerable product running on a platform) are simplified to "any vulnerable
        // cpeMatch of the node": platform entries carry `vulnerable: false` and are skipped here.
        // A negated node (or configuration) lists what is not affected: none of it is a rule.
        let rules = self
            .configurations
            .into_iter()
            .filter(|c| c.negate != Some(true))
            .flat_map(|c| c.nodes)
            .filter(|n| n.negate != Some(true))
            .flat_map(|n| n.cpe_match)
            .filter(|m| m.vulnerable)
            .filter_map(CpeMatch::into_rule)
            .collect();
        Some(Advisory {
            feed: 0,
            id: self.id,
            aliases: Vec::new(),
            description,
            score,
            severity,
            vector,
            rules: Rules::Nvd(rules),
        })
    }
}

impl CpeMatch {
    /// `None` for a criteria string that is not a CPE 2.3 name (it could never match).
    fn into_rule(self) -> Option<CpeRule> {
        let cpe = Cpe::parse(&self.criteria)?;
        let not_applicable = cpe_part(&self.criteria, 5).is_some_and(|v| v == "-");
        let bound = |inc: Option<String>, exc: Option<String>| match (inc, exc) {
            (Some(v), _) => Some(Bound { version: v, inclusive: true }),
            (None, Some(v)) => Some(Bound { version: v, inclusive: false }),
            (None, None) => None,
        };
        Some(CpeRule {
            cpe,
            not_applicable,
            start: bound(self.version_start_including, self.version_start_excluding),
            end: bound(self.version_end_including, self.version_end_excluding),
        })
    }
}

/// The `index`th colon-separated part of a CPE 2.3 formatted string, as written (escapes kept).
fn cpe_part(s: &str, index: usize) -> Option<&str> {
    let mut start = 0;
    let mut part = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ':' => {
                if part == index {
                    return Some(&s[start..i]);
                }
                part += 1;
                start = i + 1;
            }
            _ => {}
        }
    }
    (part == index).then(|| &s[start..])
}
