//! Offline vulnerability matching: packages (name, upstream version, CPE, OSV ecosystem/name) against
//! feeds the user carries like sources — NVD CVE API 2.0 JSON and OSV records.
//!
//! `load_feeds` reads every feed once into compact advisories (only the fields matching needs) and
//! records each feed's sha256, so a report says exactly what it checked against. `match_packages` is
//! pure: the same packages and feeds give the same findings in the same order (by id, then package).
//!
//! What the matching does not catch (documented for users in docs/vulns.md):
//! - NVD AND-nodes (a vulnerable CPE "running on" a platform CPE) are simplified: a node matches when any
//!   of its `vulnerable: true` cpeMatch entries matches; platform conditions are not checked. Negated
//!   nodes (and negated configurations) are skipped entirely: their entries never give a finding.
//! - A criteria version `-` (not applicable) matches only through a version range bound (the range
//!   decides); without one it never matches a versioned package. `*` matches any version.
//! - A CPE's vendor, product, version and `update` are compared (a criteria naming an update, such as
//!   `1.36.0:rc1`, matches only a package CPE with that update); the parts after `update` are not.
//! - Versions compare as upstream strings (see `version`): a feed whose versions use another scheme
//!   (dates against releases, renamed tags) gives a well-defined but possibly meaningless order.
//! - OSV `GIT` ranges are ignored (compose knows release versions, not commits).
//! - Withdrawn OSV records (`withdrawn` set) and NVD CVEs with `vulnStatus: "Rejected"` are skipped.
//! - `null` lists in OSV records (`aliases`, `severity`, `affected`, `versions`, `ranges`, `events`, as the
//!   schema allows) read as empty.
//!
//! Findings sort by id — CVE ids by year then number (CVE-2024-9999 before CVE-2024-10000), other ids
//! as strings — then package, then feed.
//!
//! Decompression is capped against "decompression bombs" (see `feed`): 16 MiB per zip member (one OSV
//! record), 4 GiB for all the members of a zip, 2 GiB for a gzip'd NVD feed (the largest yearly NVD
//! 2.0 feed is a few hundred MB of JSON). A feed beyond a cap is refused as corrupt, naming the cap.

mod cpe;
mod feed;
mod matcher;
mod nvd;
mod osv;
pub mod report;
pub mod target;
mod verdict;
pub mod version;

use std::path::PathBuf;

pub use feed::load_feeds;
pub use matcher::match_packages;
pub use osv::cvss31_base_score;

/// A CVSS v3 qualitative rating. Ordered: `None < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Parses a rating case-insensitively: `none`, `low`, `medium` (or GitHub's `moderate`), `high`,
    /// `critical`.
    pub fn parse(s: &str) -> Option<Severity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Severity::None),
            "low" => Some(Severity::Low),
            "medium" | "moderate" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    /// The rating CVSS v3.x gives a base score (0.0 None, 0.1-3.9 Low, 4.0-6.9 Medium, 7.0-8.9 High,
    /// 9.0-10.0 Critical).
    pub fn from_score(score: f64) -> Severity {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            s if s > 0.0 => Severity::Low,
            _ => Severity::None,
        }
    }

    /// Lowercase name, as CycloneDX ratings and `--deny` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which schema a feed is in (detected from its content, never its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedKind {
    Nvd,
    Osv,
}

impl FeedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Nvd => "nvd",
            FeedKind::Osv => "osv",
        }
    }
}

/// One feed as given on the command line.
#[derive(Debug, Clone)]
pub struct FeedInfo {
    pub path: PathBuf,
    /// sha256 of the file's bytes (a gzip or zip as stored). For a directory: sha256 over the lines
    /// `<sha256 of file>  <path relative to the directory>\n` of its `*.json` files sorted by that
    /// path (the output of `sha256sum` over the sorted list), so it changes when any record does.
    pub sha256: String,
    pub kind: FeedKind,
    /// CVEs in an NVD feed, records in an OSV feed (rejected CVEs and withdrawn records not counted).
    pub records: usize,
}

/// Every feed's description and its advisories, ready for `match_packages`.
#[derive(Debug, Default)]
pub struct Feeds {
    pub info: Vec<FeedInfo>,
    pub(crate) advisories: Vec<Advisory>,
}

/// A package to check: what a recipe or an image's SBOM says about it.
#[derive(Debug, Clone, Default)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub cpe: Option<String>,
    /// (ecosystem, name) in OSV's terms.
    pub osv: Option<(String, String)>,
    pub bom_ref: Option<String>,
    /// Vulnerability ids the patches its build applied fix, each with the patch (`recipe::vex`).
    pub fixed: Vec<(String, String)>,
    /// Its recipe's `not_affected` statements, checked against the configuration its build used.
    pub statements: Vec<CheckedStatement>,
    /// A build-time package linked statically into the image's programs: those packages. Empty for a
    /// package in the image itself.
    pub linked_into: Vec<String>,
}

/// A `not_affected` statement and whether it holds in this build.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedStatement {
    pub id: String,
    pub justification: crate::recipe::vex::Justification,
    pub detail: String,
    /// Its conditions, as written (`CONFIG_X=n`).
    pub when: Vec<String>,
    pub check: crate::recipe::vex::Check,
}

/// A known vulnerability whose affected range holds a package's version.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// CVE-YYYY-NNNN or the OSV id.
    pub id: String,
    pub aliases: Vec<String>,
    /// `Package::name`.
    pub package: String,
    /// Index into `Feeds::info`.
    pub feed: usize,
    /// CVSS v3.x base score (3.1 preferred over 3.0).
    pub score: Option<f64>,
    pub severity: Option<Severity>,
    pub vector: Option<String>,
    /// The range that matched, in words: ">= 1.30.0, < 1.36.1", "= 1.2.3", "introduced 1.0, fixed 1.5".
    pub matched: String,
    /// A fixed version when the feed names one (NVD versionEndExcluding, OSV fixed).
    pub fixed: Option<String>,
    pub description: Option<String>,
}

/// A feed that cannot be used. Every variant names the file (for a zip member: `feed.zip/member`).
#[derive(Debug, thiserror::Error)]
pub enum VulnError {
    #[error("cannot read feed `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("feed `{path}` is corrupt: {what}")]
    Corrupt { path: PathBuf, what: String },
    #[error("feed `{path}` is neither NVD CVE API 2.0 nor OSV JSON: {what}")]
    UnknownFormat { path: PathBuf, what: String },
}

impl VulnError {
    pub fn path(&self) -> &std::path::Path {
        match self {
            VulnError::Read { path, .. } | VulnError::Corrupt { path, .. } | VulnError::UnknownFormat { path, .. } => {
                path
            }
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            VulnError::Read { .. } => "check that the feed path exists and is readable",
            VulnError::Corrupt { .. } => {
                "fetch the feed again on the connected machine and compare its sha256 before carrying it across"
            }
            VulnError::UnknownFormat { .. } => {
                "a feed is NVD CVE API 2.0 JSON (an object with `vulnerabilities`, plain or gzip) or OSV JSON \
                 (a record with `id`, a directory of such `.json` files, or a zip of them)"
            }
        }
    }
}

/// One vulnerability from one feed, reduced to what matching and reports need.
#[derive(Debug, Clone)]
pub(crate) struct Advisory {
    pub feed: usize,
    pub id: String,
    pub aliases: Vec<String>,
    pub description: Option<String>,
    pub score: Option<f64>,
    pub severity: Option<Severity>,
    pub vector: Option<String>,
    pub rules: Rules,
}

#[derive(Debug, Clone)]
pub(crate) enum Rules {
    Nvd(Vec<nvd::CpeRule>),
    Osv(Vec<osv::Affected>),
}
