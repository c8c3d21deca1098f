//! `compose audit IMAGE`: what an image holds and what in it widens the attack surface, as a report
//! (or one JSON document) on stdout, a size chart with `--chart`, and exit 15 when `--deny`ed classes
//! are found.

use std::path::PathBuf;

use clap::Args;

use compose::audit::{self, Audit, AuditError, ElfFile, chart, manifest, policy};

use super::{Failure, exit};

#[derive(Args)]
pub struct AuditArgs {
    /// A rootfs tar (out/NAME.tar), an OCI layout directory, an OCI archive (out/NAME.oci.tar) or a
    /// docker-archive.
    image: PathBuf,
    /// Which image to audit when the index (or manifest.json) lists several: a tag or a full name.
    #[arg(long)]
    tag: Option<String>,
    /// The file manifest (compose-files-v1). Default: NAME.files.json beside the image, if there.
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Print one JSON document (compose-audit-v1) instead of the report.
    #[arg(long)]
    json: bool,
    /// Write a chart of size by package: FILE.svg, or FILE.html (the chart and a table).
    #[arg(long, value_name = "FILE")]
    chart: Option<PathBuf>,
    /// Exit 15 if the image has any of these (comma-separated): dynamic, setuid, setgid, world-writable,
    /// shell, network, unowned.
    #[arg(long, value_name = "CLASSES")]
    deny: Option<String>,
}

fn failure(e: AuditError) -> Failure {
    let choices = match &e {
        AuditError::Ambiguous { choices, .. } | AuditError::NoSuchTag { choices, .. } => Some(choices.clone()),
        _ => None,
    };
    match choices {
        Some(choices) => Failure {
            details: choices.iter().map(|c| format!("  {c}")).collect(),
            hint: Some("name one of these with --tag".into()),
            ..Failure::new(exit::USAGE, e)
        },
        None if matches!(e, AuditError::WriteChart { .. }) => Failure::new(exit::EXPORT, e),
        None => Failure::new(exit::UNPACK, e),
    }
}

pub fn run(args: AuditArgs) -> Result<(), Failure> {
    let deny = match &args.deny {
        Some(list) => policy::parse_list(list).map_err(|m| Failure::msg(exit::USAGE, format!("--deny: {m}"), None))?,
        None => Vec::new(),
    };
    if let Some(c) = &args.chart {
        let ext = c.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        if !["svg", "html", "htm"].contains(&ext.as_str()) {
            let msg = format!("--chart `{}`: the name must end in .svg or .html", c.display());
            return Err(Failure::msg(exit::USAGE, msg, None));
        }
    }
    let image = audit::open(&args.image, args.tag.as_deref()).map_err(failure)?;
    let manifest_path = args.manifest.clone().or_else(|| manifest::beside(&args.image));
    let manifest = match &manifest_path {
        Some(p) => Some(manifest::read(p).map_err(failure)?),
        None => None,
    };
    let mut report = audit::analyse(&image, manifest_path.as_deref().zip(manifest.as_ref()));
    report.violations = policy::check(&report, &deny);
    if let Some(c) = &args.chart {
        chart::write(&report, c).map_err(failure)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("an audit serialises"));
    } else {
        print!("{}", text(&report));
    }
    if report.violations.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = deny.iter().map(|c| c.as_str()).collect();
    Err(Failure {
        details: report.violations.iter().map(|v| format!("  {}: {}: {}", v.class.as_str(), v.path, v.why)).collect(),
        ..Failure::msg(
            exit::POLICY,
            format!(
                "`{}`: {} violation(s) of --deny {}",
                args.image.display(),
                report.violations.len(),
                names.join(",")
            ),
            None,
        )
    })
}

fn elf_line(e: &ElfFile) -> String {
    let Some(linking) = e.linking else {
        return format!("  {}  unreadable ELF: {}", e.path, e.error.as_deref().unwrap_or("?"));
    };
    let mut s = format!(
        "  {}  {}-bit {} {}  {}",
        e.path,
        e.class.unwrap_or(0),
        if e.endian == Some("big") { "MSB" } else { "LSB" },
        e.machine.as_deref().unwrap_or("?"),
        linking.as_str()
    );
    let found = |f: &Option<String>| f.as_ref().map_or("MISSING".to_string(), |p| format!("at {p}"));
    if let Some(i) = &e.interpreter {
        s += &format!("  interpreter {} ({})", i.name, found(&i.found));
    }
    if !e.needed.is_empty() {
        let needs: Vec<String> = e.needed.iter().map(|d| format!("{} ({})", d.name, found(&d.found))).collect();
        s += &format!("  needs {}", needs.join(", "));
    }
    s
}

/// The report people read.
pub fn text(a: &Audit) -> String {
    let mut out = Vec::new();
    let i = &a.image;
    let name = i.reference.as_ref().map(|r| format!(", {r}")).unwrap_or_default();
    out.push(format!(
        "image: {} ({}{name}, {} layer(s)): {} entries, {} files, {}",
        i.path.display(),
        i.kind.as_str(),
        i.layers,
        i.entries,
        i.files,
        chart::human(i.bytes)
    ));
    match &a.manifest {
        Some(m) => {
            let tar = match m.tar_sha256_matches {
                Some(true) => " (its tar_sha256 is this tar's)",
                Some(false) => " (WARNING: its tar_sha256 is not this tar's: it describes another build)",
                None => "",
            };
            out.push(format!("manifest: {}{tar}", m.path.display()));
        }
        None => out.push("manifest: none: ownership unknown (give one with --manifest)".into()),
    }
    out.push(String::new());
    let by = if a.sizes.by == "package" { "package" } else { "directory" };
    let w = a.sizes.groups.iter().map(|g| g.name.len()).max().unwrap_or(0).max(by.len());
    out.push(format!("{by:<w$}  {:>7}  {:>10}  {:>10}  {:>6}", "files", "bytes", "size", "share"));
    for g in &a.sizes.groups {
        let share = g.bytes as f64 * 100.0 / i.bytes.max(1) as f64;
        out.push(format!(
            "{:<w$}  {:>7}  {:>10}  {:>10}  {share:>5.1}%",
            g.name,
            g.files,
            g.bytes,
            chart::human(g.bytes)
        ));
    }
    let section = |out: &mut Vec<String>, title: &str, lines: Vec<String>| {
        out.push(String::new());
        out.push(format!("{title}: {}", if lines.is_empty() { "none".into() } else { lines.len().to_string() }));
        out.extend(lines);
    };
    section(&mut out, "ELF files", a.elf.iter().map(elf_line).collect());
    let special = |v: &[audit::Special]| -> Vec<String> {
        v.iter()
            .map(|s| {
                format!("  {}  {}{}", s.path, s.mode, s.owner.as_ref().map(|o| format!("  ({o})")).unwrap_or_default())
            })
            .collect()
    };
    section(&mut out, "setuid", special(&a.setuid));
    section(&mut out, "setgid", special(&a.setgid));
    section(
        &mut out,
        "world-writable",
        a.world_writable
            .iter()
            .map(|w| {
                format!(
                    "  {}  {} {}{}",
                    w.path,
                    w.kind,
                    w.mode,
                    if w.sticky { "  (sticky: only owners delete)" } else { "" }
                )
            })
            .collect(),
    );
    let programs = |v: &[audit::Program]| -> Vec<String> {
        v.iter()
            .map(|p| {
                if p.path == p.resolves_to {
                    format!("  {}", p.path)
                } else {
                    format!("  {} -> {}", p.path, p.resolves_to)
                }
            })
            .collect()
    };
    section(&mut out, "shells", programs(&a.shells));
    section(&mut out, "network tools", programs(&a.network));
    match &a.unowned {
        Some(u) => section(&mut out, "owned by no package", u.iter().map(|p| format!("  {p}")).collect()),
        None => {
            out.push(String::new());
            out.push("owned by no package: unknown (no file manifest)".into());
        }
    }
    if a.manifest.is_some() {
        section(
            &mut out,
            "differ from the manifest",
            a.mismatched.iter().map(|m| format!("  {}: {}", m.path, m.why)).collect(),
        );
        section(&mut out, "in the manifest, not in the image", a.missing.iter().map(|p| format!("  {p}")).collect());
    }
    out.join("\n") + "\n"
}
