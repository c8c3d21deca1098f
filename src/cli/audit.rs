//! `compose audit IMAGE`: what an image holds and what in it widens the attack surface, as a report
//! (or one JSON document) on stdout, a size chart with `--chart`, and exit 15 when `--deny`ed classes
//! are found.

use std::path::PathBuf;

use clap::Args;

use compose::audit::{self, AuditError, AuditRequest, chart, policy};

use super::{Failure, exit, one_platform};

#[derive(Args)]
pub struct AuditArgs {
    /// A rootfs tar (out/NAME.tar), an OCI layout directory, an OCI archive (out/NAME.oci.tar) or a
    /// docker-archive.
    image: PathBuf,
    /// Which image to audit when the index (or manifest.json) lists several: a tag or a full name.
    #[arg(long)]
    tag: Option<String>,
    /// Which platform's image to audit when the index lists several (`linux/arm64`, `linux/arm/v7`),
    /// after --tag. Default: this machine's. Ignored for a rootfs tar or a docker-archive.
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<String>,
    /// The file manifest (compose-files-v1). Default: NAME.files.json beside the image, if there
    /// (NAME-ARCH.files.json first, for a platform of a multi-platform image).
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
    let (choices, flag) = match &e {
        AuditError::Ambiguous { choices, by, .. } => (Some(choices), *by),
        AuditError::NoSuchTag { choices, .. } => (Some(choices), "--tag"),
        AuditError::NoSuchPlatform { choices, .. } => (Some(choices), "--platform"),
        _ => (None, ""),
    };
    match choices.cloned() {
        Some(choices) => Failure {
            details: choices.iter().map(|c| format!("  {c}")).collect(),
            hint: Some(format!("name one of these with {flag}")),
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
    let platform = args.platform.as_deref().map(|p| one_platform(p, "audit")).transpose()?;
    let request = AuditRequest { image: args.image.clone(), tag: args.tag, platform, manifest: args.manifest, deny };
    let report = audit::audit(&request).map_err(failure)?;
    if let Some(c) = &args.chart {
        chart::write(&report, c).map_err(failure)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("an audit serialises"));
    } else {
        print!("{}", audit::text(&report));
    }
    if report.violations.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = request.deny.iter().map(|c| c.as_str()).collect();
    let (image, n) = (args.image.display(), report.violations.len());
    Err(Failure {
        details: report.violations.iter().map(|v| format!("  {}: {}: {}", v.class.as_str(), v.path, v.why)).collect(),
        ..Failure::msg(exit::POLICY, format!("`{image}`: {n} violation(s) of --deny {}", names.join(",")), None)
    })
}
