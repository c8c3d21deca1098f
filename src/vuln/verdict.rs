//! A finding's verdict: its status decided from the version match and the evidence the package
//! carries (`assess`), and which verdicts `--deny` refuses (`denied`). Pure: the writers in `report`
//! only render what is decided here.

use super::{Finding, Package, Severity};
use crate::recipe::vex::{Check, Justification};

/// What is known about one finding beyond its version match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The package's version is in an affected range and no evidence says otherwise. `note` says why
    /// a statement the recipe keeps for it does not count (its condition is false in this build, or it
    /// could not be checked).
    Affected { note: Option<String> },
    /// A patch the build applied declares the fix (`CVE:` header line or `[[vex]] status = "fixed"`).
    Fixed { patch: String },
    /// A statement kept with the recipe holds in this build.
    NotAffected { justification: Justification, detail: String, when: Vec<String> },
}

impl Status {
    /// OpenVEX's `status` and the compose-vulns-v1 `status`.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Affected { .. } => "affected",
            Status::Fixed { .. } => "fixed",
            Status::NotAffected { .. } => "not_affected",
        }
    }

    /// CycloneDX `analysis.state`: `exploitable` is the state CISA's VEX mapping (and OpenVEX) pair with
    /// `affected`; `resolved` a fix in this build; `not_affected` a statement that holds.
    pub(super) fn cyclonedx_state(&self) -> &'static str {
        match self {
            Status::Affected { .. } => "exploitable",
            Status::Fixed { .. } => "resolved",
            Status::NotAffected { .. } => "not_affected",
        }
    }

    /// Whether the finding counts for `--deny`.
    pub fn is_affected(&self) -> bool {
        matches!(self, Status::Affected { .. })
    }

    /// The evidence in words (empty for a plain version match).
    pub fn evidence(&self) -> Option<String> {
        match self {
            Status::Affected { note } => note.clone(),
            Status::Fixed { patch } => Some(format!("fixed by the patch `{patch}`, which the build applied")),
            Status::NotAffected { justification, detail, when } if when.is_empty() => {
                Some(format!("{}: {detail}", justification.as_str()))
            }
            Status::NotAffected { justification, detail, when } => {
                Some(format!("{}: {detail} (holds in this build: {})", justification.as_str(), when.join(", ")))
            }
        }
    }
}

/// A finding with its status.
#[derive(Debug)]
pub struct Verdict<'a> {
    pub finding: &'a Finding,
    pub status: Status,
    /// Every feed that names this advisory for this package (indexes into `Feeds::info`, in the order
    /// given); `finding` is the last one's.
    pub feeds: Vec<usize>,
}

/// Decides each finding's status, one verdict per advisory and package. An advisory that several feeds
/// name (NVD's yearly feed and its `modified` feed) is one verdict with the last feed's data: give the
/// newest feed last. The evidence is the package's (`packages`, by name): a patch the build applied
/// that fixes the advisory (by its id or an alias) makes it `Fixed`; else a statement that holds makes
/// it `NotAffected`; a statement that does not hold (or could not be checked) leaves it `Affected`
/// with a note saying why.
pub fn assess<'a>(findings: &'a [Finding], packages: &[Package]) -> Vec<Verdict<'a>> {
    let mut out: Vec<Verdict> = Vec::new();
    for finding in findings {
        match out.last_mut() {
            // `match_packages` sorts by id, package, then feed: duplicates are neighbours.
            Some(v) if v.finding.id == finding.id && v.finding.package == finding.package => {
                v.feeds.push(finding.feed);
                v.finding = finding;
            }
            _ => out.push(Verdict { finding, status: Status::Affected { note: None }, feeds: vec![finding.feed] }),
        }
    }
    for v in &mut out {
        if let Some(p) = packages.iter().find(|p| p.name == v.finding.package) {
            v.status = status(v.finding, p);
        }
    }
    out
}

fn status(f: &Finding, p: &Package) -> Status {
    let names = |id: &str| f.id == id || f.aliases.iter().any(|a| a == id);
    if let Some((_, patch)) = p.fixed.iter().find(|(id, _)| names(id)) {
        return Status::Fixed { patch: patch.clone() };
    }
    let Some(s) = p.statements.iter().find(|s| names(&s.id)) else { return Status::Affected { note: None } };
    match &s.check {
        Check::Holds => {
            Status::NotAffected { justification: s.justification, detail: s.detail.clone(), when: s.when.clone() }
        }
        Check::Unmet(unmet) => Status::Affected {
            note: Some(format!(
                "the recipe's not_affected statement does not hold in this build: {}",
                unmet.join(", ")
            )),
        },
        Check::Unchecked => Status::Affected {
            note: Some(format!(
                "the recipe's not_affected statement holds only when {}; not checked: no configuration of this build is known (a recipe whose build is not in the cache: build it; or an image built before compose kept build configurations: rebuild it)",
                s.when.join(", ")
            )),
        },
    }
}

/// The verdicts `--deny SEVERITY` refuses: affected, and rated `deny` or higher or not rated at all (the
/// feed has not said it is minor: NVD has not scored it yet, an OSV record carries no rating compose
/// reads).
pub fn denied<'v, 'a>(verdicts: &'v [Verdict<'a>], deny: Severity) -> Vec<&'v Verdict<'a>> {
    verdicts.iter().filter(|v| v.status.is_affected() && v.finding.severity.is_none_or(|s| s >= deny)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vuln::CheckedStatement;

    fn finding(id: &str, aliases: &[&str], package: &str) -> Finding {
        Finding {
            id: id.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            package: package.into(),
            feed: 0,
            score: Some(7.5),
            severity: Some(Severity::High),
            vector: None,
            matched: "< 2.0".into(),
            fixed: None,
            description: None,
        }
    }

    fn statement(id: &str, check: Check) -> CheckedStatement {
        CheckedStatement {
            id: id.into(),
            justification: Justification::VulnerableCodeNotPresent,
            detail: "compiled out".into(),
            when: vec!["CONFIG_X=n".into()],
            check,
        }
    }

    #[test]
    fn evidence_decides_by_id_or_alias_and_a_fix_wins_over_a_statement() {
        let p = Package {
            name: "greet".into(),
            fixed: vec![("CVE-2099-0001".into(), "fix.patch".into())],
            statements: vec![
                statement("CVE-2099-0001", Check::Holds),
                statement("CVE-2099-0002", Check::Holds),
                statement("CVE-2099-0003", Check::Unmet(vec!["CONFIG_X=n (the build has CONFIG_X=y)".into()])),
                statement("CVE-2099-0004", Check::Unchecked),
            ],
            ..Default::default()
        };
        let findings = [
            finding("GHSA-aaaa-bbbb-cccc", &["CVE-2099-0001"], "greet"),
            finding("CVE-2099-0002", &[], "greet"),
            finding("CVE-2099-0003", &[], "greet"),
            finding("CVE-2099-0004", &[], "greet"),
            finding("CVE-2099-0002", &[], "other"),
        ];
        let v = assess(&findings, std::slice::from_ref(&p));
        assert_eq!(v[0].status, Status::Fixed { patch: "fix.patch".into() });
        assert!(matches!(v[1].status, Status::NotAffected { .. }));
        let note = |s: &Status| match s {
            Status::Affected { note } => note.clone().unwrap_or_default(),
            other => panic!("{other:?}"),
        };
        assert!(note(&v[2].status).contains("does not hold in this build: CONFIG_X=n (the build has CONFIG_X=y)"));
        assert!(note(&v[3].status).contains("not checked"));
        assert_eq!(v[4].status, Status::Affected { note: None }, "another package's statement does not count");
        let denied = denied(&v, Severity::High);
        assert_eq!(denied.len(), 3);
        assert!(denied.iter().all(|d| d.status.is_affected()));
    }
}
