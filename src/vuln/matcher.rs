//! Which advisories hold which packages. NVD: a `vulnerable` cpeMatch whose vendor:product is the
//! package's CPE's, with either a concrete criteria version equal to the package version or a `*`
//! version and the package version inside versionStart/End{In,Ex}cluding (a missing bound is open).
//! A `-` (not applicable) version matches only through a range bound (then the range decides); with
//! no bound it matches only a package without a version (`""` or `-`), never a versioned one.
//! OSV: an `affected[]` entry with the package's (ecosystem, name), through its `versions[]` list or an
//! ECOSYSTEM/SEMVER range evaluated as the OSV schema's pseudo-code does. One finding per advisory and
//! package, however many entries match; the first matching entry gives `matched` and `fixed`.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::cpe::Cpe;
use super::nvd::{Bound, CpeRule};
use super::osv::{Affected, Event, Range};
use super::version::{compare, same};
use super::{Advisory, Feeds, Finding, Package, Rules};

/// Matches every package against every advisory; sorted by id (see `cmp_ids`), then package, then feed.
pub fn match_packages(packages: &[Package], feeds: &Feeds) -> Vec<Finding> {
    let cpes: Vec<Option<Cpe>> = packages.iter().map(|p| p.cpe.as_deref().and_then(Cpe::parse)).collect();
    // vendor:product -> packages, so a 50,000-CVE feed is one pass with a hash lookup per rule.
    let mut by_product: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, cpe) in cpes.iter().enumerate() {
        if let Some(c) = cpe {
            by_product.entry((c.vendor.as_str(), c.product.as_str())).or_default().push(i);
        }
    }
    let mut findings = Vec::new();
    for adv in &feeds.advisories {
        let mut hits: Vec<(usize, String, Option<String>)> = Vec::new();
        match &adv.rules {
            Rules::Nvd(rules) => {
                for rule in rules {
                    let Some(candidates) = by_product.get(&(rule.cpe.vendor.as_str(), rule.cpe.product.as_str()))
                    else {
                        continue;
                    };
                    for &i in candidates {
                        let update = cpes[i].as_ref().and_then(|c| c.update.as_ref());
                        if !hits.iter().any(|h| h.0 == i)
                            && (rule.cpe.update.is_none() || rule.cpe.update.as_ref() == update)
                            && nvd_holds(rule, &packages[i].version)
                        {
                            hits.push((i, nvd_words(rule), nvd_fixed(rule)));
                        }
                    }
                }
            }
            Rules::Osv(affected) => {
                for (i, p) in packages.iter().enumerate() {
                    let Some((eco, name)) = &p.osv else { continue };
                    let hit = affected
                        .iter()
                        .filter(|a| a.ecosystem.eq_ignore_ascii_case(eco) && a.name == *name)
                        .find_map(|a| osv_holds(a, &p.version));
                    if let Some((words, fixed)) = hit {
                        hits.push((i, words, fixed));
                    }
                }
            }
        }
        findings.extend(hits.into_iter().map(|(i, matched, fixed)| finding(adv, &packages[i], matched, fixed)));
    }
    findings.sort_by(|a, b| cmp_ids(&a.id, &b.id).then_with(|| a.package.cmp(&b.package)).then(a.feed.cmp(&b.feed)));
    findings
}

/// CVE ids by year, then number (CVE-2024-9999 before CVE-2024-10000) when both are `CVE-YYYY-N`;
/// otherwise (and between equal numbers spelled differently) plain string order.
pub(crate) fn cmp_ids(a: &str, b: &str) -> Ordering {
    fn parts(id: &str) -> Option<(u64, u64)> {
        let (year, number) = id.strip_prefix("CVE-")?.split_once('-')?;
        let digits = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|c| c.is_ascii_digit());
        if !(digits(year) && digits(number)) {
            return None;
        }
        Some((year.parse().ok()?, number.parse().ok()?))
    }
    match (parts(a), parts(b)) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}

fn finding(adv: &Advisory, p: &Package, matched: String, fixed: Option<String>) -> Finding {
    Finding {
        id: adv.id.clone(),
        aliases: adv.aliases.clone(),
        package: p.name.clone(),
        feed: adv.feed,
        score: adv.score,
        severity: adv.severity,
        vector: adv.vector.clone(),
        matched,
        fixed,
        description: adv.description.clone(),
    }
}

fn nvd_holds(rule: &CpeRule, version: &str) -> bool {
    if let Some(v) = &rule.cpe.version {
        return same(v, version);
    }
    if rule.not_applicable && rule.start.is_none() && rule.end.is_none() {
        return matches!(version.trim(), "" | "-");
    }
    let above = |b: &Bound| match compare(version, &b.version) {
        Ordering::Greater => true,
        Ordering::Equal => b.inclusive,
        Ordering::Less => false,
    };
    let below = |b: &Bound| match compare(version, &b.version) {
        Ordering::Less => true,
        Ordering::Equal => b.inclusive,
        Ordering::Greater => false,
    };
    rule.start.as_ref().is_none_or(above) && rule.end.as_ref().is_none_or(below)
}

fn nvd_words(rule: &CpeRule) -> String {
    if let Some(v) = &rule.cpe.version {
        return format!("= {v}");
    }
    let start = rule.start.as_ref().map(|b| format!("{} {}", if b.inclusive { ">=" } else { ">" }, b.version));
    let end = rule.end.as_ref().map(|b| format!("{} {}", if b.inclusive { "<=" } else { "<" }, b.version));
    match [start, end].into_iter().flatten().collect::<Vec<_>>() {
        v if v.is_empty() && rule.not_applicable => "version not applicable (-)".to_string(),
        v if v.is_empty() => "all versions".to_string(),
        v => v.join(", "),
    }
}

fn nvd_fixed(rule: &CpeRule) -> Option<String> {
    rule.end.as_ref().filter(|b| !b.inclusive).map(|b| b.version.clone())
}

/// `Some((matched, fixed))` when the version is listed or inside a range.
fn osv_holds(a: &Affected, version: &str) -> Option<(String, Option<String>)> {
    if let Some(v) = a.versions.iter().find(|v| same(v, version)) {
        return Some((format!("version {v} listed"), None));
    }
    a.ranges.iter().find(|r| in_range(r, version)).map(|r| (range_words(r), range_fixed(r, version)))
}

/// Versions of a SEMVER range: `-pre` sorts before the release (as `~` does) and `+build` is dropped.
fn key(semver: bool, v: &str) -> String {
    match semver {
        true => v.split('+').next().unwrap_or(v).replacen('-', "~", 1),
        false => v.to_string(),
    }
}

/// The OSV schema's evaluation: events in version order; introduced opens, fixed and last_affected
/// close, and a version at or above a `limit` is outside.
fn in_range(r: &Range, version: &str) -> bool {
    let v = key(r.semver, version);
    let cmp = |x: &str| if x == "0" { Ordering::Greater } else { compare(&v, &key(r.semver, x)) };
    if r.events.iter().any(|e| matches!(e, Event::Limit(x) if cmp(x) != Ordering::Less)) {
        return false;
    }
    let mut events: Vec<&Event> = r.events.iter().filter(|e| !matches!(e, Event::Limit(_))).collect();
    events.sort_by(|a, b| match (at(a), at(b)) {
        ("0", "0") => Ordering::Equal,
        ("0", _) => Ordering::Less,
        (_, "0") => Ordering::Greater,
        (x, y) => compare(&key(r.semver, x), &key(r.semver, y)),
    });
    let mut affected = false;
    for e in events {
        match e {
            Event::Introduced(x) if cmp(x) != Ordering::Less => affected = true,
            Event::Fixed(x) if cmp(x) != Ordering::Less => affected = false,
            Event::LastAffected(x) if cmp(x) == Ordering::Greater => affected = false,
            _ => {}
        }
    }
    affected
}

fn at(e: &Event) -> &str {
    match e {
        Event::Introduced(x) | Event::Fixed(x) | Event::LastAffected(x) | Event::Limit(x) => x,
    }
}

fn range_words(r: &Range) -> String {
    let words: Vec<String> = r
        .events
        .iter()
        .map(|e| match e {
            Event::Introduced(x) => format!("introduced {x}"),
            Event::Fixed(x) => format!("fixed {x}"),
            Event::LastAffected(x) => format!("last affected {x}"),
            Event::Limit(x) => format!("limit {x}"),
        })
        .collect();
    words.join(", ")
}

/// The lowest fixed version above the package's.
fn range_fixed(r: &Range, version: &str) -> Option<String> {
    let v = key(r.semver, version);
    r.events
        .iter()
        .filter_map(|e| match e {
            Event::Fixed(x) if compare(&key(r.semver, x), &v) == Ordering::Greater => Some(x),
            _ => None,
        })
        .min_by(|a, b| compare(&key(r.semver, a), &key(r.semver, b)))
        .cloned()
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
pub(crate) mod tests;
