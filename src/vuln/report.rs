//! What `compose vulns` writes: a text report for people, one JSON document (compose-vulns-v1), a
//! CycloneDX 1.6 VEX document and an OpenVEX 0.2.0 document, each a pure function of the findings, the
//! feeds and the target's packages (the same inputs give the same bytes). Every output names each feed
//! by path and sha256, so a report says exactly what it was checked against.
//!
//! A finding's status is decided in one place, `assess`, from the version match and the evidence the
//! package carries: a patch the build applied that declares the CVE fixed, or a `not_affected`
//! statement kept with the recipe, checked against the configuration the build used.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::target::{Target, TargetKind};
pub use super::verdict::{Status, Verdict, assess, denied};
use super::{FeedKind, Feeds, Finding, Package, Severity};

/// Everything a report says.
pub struct Report<'a> {
    pub target: &'a Target,
    pub feeds: &'a Feeds,
    pub verdicts: &'a [Verdict<'a>],
    /// RFC 3339: SOURCE_DATE_EPOCH when set, else the image's build time.
    pub timestamp: String,
    pub compose_version: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    Text,
    Json,
    CycloneDx,
    OpenVex,
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => pretty(&json_document(report)),
        Format::CycloneDx => pretty(&cyclonedx(report)),
        Format::OpenVex => pretty(&openvex(report)),
    }
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("a report serialises");
    s.push('\n');
    s
}

/// The lines naming each feed (`feed sha256:… PATH (nvd, N records)`): first in the text report's
/// stderr, and in every document.
pub fn feed_lines(feeds: &Feeds) -> Vec<String> {
    feeds
        .info
        .iter()
        .map(|f| format!("feed sha256:{} {} ({}, {} records)", f.sha256, f.path.display(), f.kind.as_str(), f.records))
        .collect()
}

fn package<'a>(report: &'a Report, name: &str) -> Option<&'a Package> {
    report.target.packages.iter().find(|p| p.name == name)
}

fn feed_path(report: &Report, f: &Finding) -> String {
    report.feeds.info.get(f.feed).map(|i| i.path.display().to_string()).unwrap_or_default()
}

/// The report for people (stdout); the feed lines go to stderr from the command.
pub fn text(report: &Report) -> String {
    // Every field comes from a feed, a recipe or an SBOM: control characters are shown escaped, so none
    // can forge a line or drive the terminal.
    let esc = crate::scaffold::write::printable;
    let mut out = String::new();
    let t = report.target;
    let n = report.verdicts.len();
    let _ = writeln!(out, "{} ({} package(s) checked, {} finding(s))", esc(&t.name), t.packages.len(), n);
    for v in report.verdicts {
        let f = v.finding;
        let version = package(report, &f.package).map(|p| p.version.as_str()).unwrap_or("?");
        let rating = match (&f.severity, f.score) {
            (Some(s), Some(x)) => format!("{} {x:.1}", s.as_str().to_uppercase()),
            (Some(s), None) => s.as_str().to_uppercase(),
            (None, Some(x)) => format!("{x:.1}"),
            (None, None) => "unrated".into(),
        };
        let _ =
            writeln!(out, "\n{}  {} {}  {}  {}", esc(&f.id), esc(&f.package), esc(version), rating, v.status.name());
        if let Some(p) = package(report, &f.package).filter(|p| !p.linked_into.is_empty()) {
            let _ = writeln!(out, "  linked statically into: {}", esc(&p.linked_into.join(", ")));
        }
        let _ = writeln!(out, "  matched: {}", esc(&f.matched));
        if let Some(e) = v.status.evidence() {
            let _ = writeln!(out, "  evidence: {}", esc(&e));
        }
        if let Some(fixed) = &f.fixed {
            let _ = writeln!(out, "  fixed in: {}", esc(fixed));
        }
        if !f.aliases.is_empty() {
            let _ = writeln!(out, "  aliases: {}", esc(&f.aliases.join(", ")));
        }
        if let Some(vector) = &f.vector {
            let _ = writeln!(out, "  vector: {}", esc(vector));
        }
        let _ = writeln!(out, "  feed: {}", esc(&feed_path(report, f)));
        if let Some(d) = &f.description {
            let line = d.split_whitespace().collect::<Vec<_>>().join(" ");
            let short: String = line.chars().take(200).collect();
            let more = if short.len() < line.len() { "…" } else { "" };
            let _ = writeln!(out, "  {}{more}", esc(&short));
        }
    }
    if n == 0 {
        let _ = writeln!(out, "no known vulnerabilities in the feeds match these packages");
    }
    out
}

fn feeds_json(feeds: &Feeds) -> Value {
    feeds
        .info
        .iter()
        .map(|f| {
            json!({"path": f.path.display().to_string(), "sha256": f.sha256, "kind": f.kind.as_str(), "records": f.records})
        })
        .collect()
}

/// compose-vulns-v1: the target, the feeds, every package checked and every finding.
pub fn json_document(report: &Report) -> Value {
    let t = report.target;
    let packages: Vec<Value> = t
        .packages
        .iter()
        .map(|p| {
            json!({
                "name": p.name, "version": p.version, "cpe": p.cpe, "bom_ref": p.bom_ref, "purl": t.purls.get(&p.name),
                "osv": p.osv.as_ref().map(|(e, n)| json!({"ecosystem": e, "name": n})),
                "linked_into": p.linked_into,
            })
        })
        .collect();
    let findings: Vec<Value> = report
        .verdicts
        .iter()
        .map(|v| {
            let f = v.finding;
            json!({
                "id": f.id,
                "aliases": f.aliases,
                "package": f.package,
                "version": package(report, &f.package).map(|p| &p.version),
                "status": v.status.name(),
                "evidence": v.status.evidence(),
                "justification": match &v.status { Status::NotAffected { justification, .. } => Some(justification.as_str()), _ => None },
                "patch": match &v.status { Status::Fixed { patch } => Some(patch), _ => None },
                "score": f.score,
                "severity": f.severity.map(Severity::as_str),
                "vector": f.vector,
                "matched": f.matched,
                "fixed": f.fixed,
                "description": f.description,
                "feed": feed_path(report, f),
                "feeds": v.feeds.iter().filter_map(|&i| report.feeds.info.get(i)).map(|i| i.path.display().to_string()).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "format": "compose-vulns-v1",
        "target": {"name": t.name, "kind": match t.kind { TargetKind::Recipe => "recipe", TargetKind::Image => "image" }, "from": t.from.display().to_string()},
        "timestamp": report.timestamp,
        "feeds": feeds_json(report.feeds),
        "packages": packages,
        "findings": findings,
    })
}

/// A seed naming what a document is about: the target, every feed's digest and every finding (with the
/// package's version and the status), so a
/// VEX document's serial number or `@id` changes exactly when its content does.
fn seed(report: &Report, kind: &str) -> String {
    let mut s = format!("{kind}:{}", report.target.name);
    for f in &report.feeds.info {
        s.push_str(&format!(":{}", f.sha256));
    }
    for v in report.verdicts {
        let version = package(report, &v.finding.package).map(|p| p.version.as_str()).unwrap_or("");
        s.push_str(&format!(":{}/{}@{version}/{}", v.finding.id, v.finding.package, v.status.name()));
        if let Some(e) = v.status.evidence() {
            s.push_str(&format!("/{e}"));
        }
    }
    s
}

fn source(report: &Report, f: &Finding) -> Value {
    match report.feeds.info.get(f.feed).map(|i| &i.kind) {
        Some(FeedKind::Osv) => json!({"name": "OSV", "url": format!("https://osv.dev/vulnerability/{}", f.id)}),
        _ => json!({"name": "NVD", "url": format!("https://nvd.nist.gov/vuln/detail/{}", f.id)}),
    }
}

/// `CVSSv31`, `CVSSv3`, `CVSSv4` from the vector's prefix, `CVSSv2` for a v2 vector (no prefix, `Au:`);
/// `other` without one.
fn cvss_method(vector: Option<&str>) -> &'static str {
    match vector {
        Some(v) if v.starts_with("CVSS:3.1/") => "CVSSv31",
        Some(v) if v.starts_with("CVSS:3.0/") => "CVSSv3",
        Some(v) if v.starts_with("CVSS:4.0/") => "CVSSv4",
        Some(v) if v.starts_with("AV:") && v.contains("/Au:") => "CVSSv2",
        _ => "other",
    }
}

/// The range that matched and the feed, then the evidence: what `analysis.detail` and `status_notes` say.
fn notes(report: &Report, v: &Verdict) -> String {
    let f = v.finding;
    let mut s = format!("version in the affected range {} (feed {})", f.matched, feed_path(report, f));
    if let Some(p) = package(report, &f.package).filter(|p| !p.linked_into.is_empty()) {
        s.push_str(&format!("; linked statically into {}", p.linked_into.join(", ")));
    }
    if let Some(e) = v.status.evidence() {
        s.push_str(&format!("; {e}"));
    }
    s
}

fn action(f: &Finding) -> String {
    match &f.fixed {
        Some(v) => format!("Update {} to {v} or later, or apply the upstream fix as a patch in its recipe.", f.package),
        None => format!(
            "The feed names no fixed version: apply the upstream fix as a patch in {}'s recipe, or remove the package.",
            f.package
        ),
    }
}

/// One `vulnerabilities[]` entry: the advisory, what it affects (the bom-ref), the analysis with the
/// evidence, the rating and, for an affected finding, what to do.
fn cyclonedx_vulnerability(report: &Report, v: &Verdict) -> Value {
    let f = v.finding;
    let p = package(report, &f.package);
    let mut x = json!({
        "bom-ref": format!("vulnerability:{}:{}", f.id, f.package),
        "id": f.id,
        "source": source(report, f),
        "affects": [{
            "ref": p.map(bom_ref).unwrap_or_else(|| crate::records::bom_ref(&f.package)),
            "versions": [{
                "version": p.map(|p| p.version.as_str()).unwrap_or(""),
                "status": if v.status.is_affected() { "affected" } else { "unaffected" },
            }],
        }],
        "analysis": {
            "state": v.status.cyclonedx_state(),
            "detail": notes(report, v),
        },
    });
    if let Status::NotAffected { justification, when, .. } = &v.status {
        x["analysis"]["justification"] = json!(justification.cyclonedx(!when.is_empty()));
    }
    if v.status.is_affected() {
        x["recommendation"] = json!(action(f));
    }
    if f.score.is_some() || f.severity.is_some() {
        let mut r = json!({"source": source(report, f), "method": cvss_method(f.vector.as_deref())});
        if let Some(s) = f.score {
            r["score"] = json!(s);
        }
        if let Some(s) = &f.severity {
            r["severity"] = json!(s.as_str());
        }
        if let Some(vector) = &f.vector {
            r["vector"] = json!(vector);
        }
        x["ratings"] = json!([r]);
    }
    if let Some(d) = &f.description {
        x["description"] = json!(d);
    }
    if !f.aliases.is_empty() {
        x["references"] = f.aliases.iter().map(|a| json!({"id": a, "source": advisory_source(a)})).collect();
    }
    x
}

/// A CycloneDX 1.6 VEX document: the image as `metadata.component`, the packages checked as
/// `components` with the bom-refs of the image's SBOM, and one `vulnerabilities` entry per finding whose
/// `affects[].ref` names that bom-ref.
pub fn cyclonedx(report: &Report) -> Value {
    let t = report.target;
    let components: Vec<Value> = t
        .packages
        .iter()
        .map(|p| {
            let mut c = json!({"type": "library", "bom-ref": bom_ref(p), "name": p.name, "version": p.version});
            if let Some(cpe) = &p.cpe {
                c["cpe"] = json!(cpe);
            }
            if let Some(purl) = t.purls.get(&p.name) {
                c["purl"] = json!(purl);
            }
            c
        })
        .collect();
    let vulnerabilities: Vec<Value> = report.verdicts.iter().map(|v| cyclonedx_vulnerability(report, v)).collect();
    let properties: Vec<Value> = report
        .feeds
        .info
        .iter()
        .map(|f| json!({"name": "compose:feed", "value": format!("{} {}", f.sha256, f.path.display())}))
        .collect();
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", crate::records::uuid_from(&seed(report, "cyclonedx-vex"))),
        "version": 1,
        "metadata": {
            "timestamp": report.timestamp,
            "tools": {"components": [{"type": "application", "name": "compose", "version": report.compose_version}]},
            "component": {"type": "container", "bom-ref": "image", "name": t.name},
            "properties": properties,
        },
        "components": components,
        "vulnerabilities": vulnerabilities,
    })
}

fn bom_ref(p: &Package) -> String {
    p.bom_ref.clone().unwrap_or_else(|| crate::records::bom_ref(&p.name))
}

/// Where an advisory id is published: NVD for a CVE, OSV for the others.
pub fn advisory_source(id: &str) -> Value {
    if id.starts_with("CVE-") {
        json!({"name": "NVD", "url": format!("https://nvd.nist.gov/vuln/detail/{id}")})
    } else {
        json!({"name": "OSV", "url": format!("https://osv.dev/vulnerability/{id}")})
    }
}

/// An OpenVEX 0.2.0 document: one statement per finding; the product is the package's purl (its cpe
/// when there is no purl). The feeds are named in `tooling`, OpenVEX's free-text field for how the
/// document was made.
pub fn openvex(report: &Report) -> Value {
    let t = report.target;
    let statements: Vec<Value> = report
        .verdicts
        .iter()
        .map(|v| {
            let f = v.finding;
            let p = package(report, &f.package);
            let purl = t.purls.get(&f.package);
            let cpe = p.and_then(|p| p.cpe.as_ref());
            let id = purl.or(cpe).cloned().unwrap_or_else(|| format!("pkg:generic/{}", f.package));
            let mut identifiers = serde_json::Map::new();
            if let Some(purl) = purl {
                identifiers.insert("purl".into(), json!(purl));
            }
            if let Some(cpe) = cpe {
                identifiers.insert("cpe23".into(), json!(cpe));
            }
            let mut product = json!({"@id": id});
            if !identifiers.is_empty() {
                product["identifiers"] = Value::Object(identifiers);
            }
            let mut vulnerability = json!({"name": f.id});
            if !f.aliases.is_empty() {
                vulnerability["aliases"] = json!(f.aliases);
            }
            if let Some(d) = &f.description {
                vulnerability["description"] = json!(d);
            }
            let mut statement = json!({
                "vulnerability": vulnerability,
                "products": [product],
                "status": v.status.name(),
                "status_notes": notes(report, v),
            });
            match &v.status {
                Status::Affected { .. } => statement["action_statement"] = json!(action(f)),
                Status::NotAffected { justification, detail, .. } => {
                    statement["justification"] = json!(justification.openvex());
                    statement["impact_statement"] = json!(detail);
                }
                Status::Fixed { .. } => {}
            }
            statement
        })
        .collect();
    let feeds: Vec<String> =
        report.feeds.info.iter().map(|f| format!("sha256:{} {}", f.sha256, f.path.display())).collect();
    let digest = crate::digest::Sha256::hex_of(seed(report, "openvex").as_bytes());
    json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": format!("https://compose.invalid/vex/{}/{digest}", t.name),
        "author": "compose",
        "timestamp": report.timestamp,
        "version": 1,
        "tooling": format!("compose {}; feeds: {}", report.compose_version, feeds.join(", ")),
        "statements": statements,
    })
}

/// Writes `text` to `out` through a temp file in the same directory, synced and renamed into place: a
/// half-written report is never left where a user would find it.
pub fn write(out: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, out)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
