//! `compose vulns TARGET --feed FILE...`: which known vulnerabilities an image (or a recipe's closure)
//! carries, checked offline against NVD and OSV feed files; a report on stdout (or `-o FILE`) as text,
//! JSON, CycloneDX VEX or OpenVEX; exit 22 when `--deny`ed findings remain, 23 when a feed is unusable.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use compose::vuln::report::{self, Format, Report};
use compose::vuln::target::{self, TargetError};
use compose::vuln::{self, Severity, VulnError};

use super::settings::CommonArgs;
use super::{Failure, exit, load, settings};

#[derive(Args)]
pub struct VulnsArgs {
    /// An image `compose build` wrote (`out/NAME.oci.tar`, `out/NAME.tar`, the layout directory
    /// `out/NAME`), read through the CycloneDX SBOM beside it (`out/NAME.cdx.json`); or a package or
    /// image recipe (`recipes/NAME.toml`), its runtime closure.
    target: PathBuf,
    /// A feed: NVD CVE API 2.0 JSON (plain or gzip), or OSV JSON (one record, a directory of them, or a
    /// zip). Repeat the flag or list several after it.
    #[arg(long = "feed", value_name = "FILE", required = true, num_args = 1..)]
    feeds: Vec<PathBuf>,
    /// What to write: a report for people, compose-vulns-v1 JSON, a CycloneDX 1.6 VEX document or an
    /// OpenVEX 0.2.0 document.
    #[arg(long, value_enum, default_value = "text")]
    format: FormatArg,
    /// Write the report to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Exit 22 when an affected finding rated SEVERITY or higher remains: none, low, medium, high,
    /// critical.
    #[arg(long, value_name = "SEVERITY")]
    deny: Option<String>,
    /// The toolchain a recipe TARGET is loaded with (its graph only; nothing is built).
    #[arg(long, default_value = "musl")]
    toolchain: String,
    /// For a recipe TARGET: the builds' keys as without the sandbox (it is part of every key), to find
    /// their configurations in the cache.
    #[arg(long)]
    no_sandbox: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Cyclonedx,
    Openvex,
}

impl FormatArg {
    fn format(self) -> Format {
        match self {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Cyclonedx => Format::CycloneDx,
            FormatArg::Openvex => Format::OpenVex,
        }
    }
}

fn feed_failure(e: VulnError) -> Failure {
    Failure { hint: Some(e.hint().to_string()), ..Failure::new(exit::FEED, e) }
}

fn target_failure(e: TargetError) -> Failure {
    let hint = e.hint();
    match e {
        TargetError::Load(l) => load::load_failure(*l),
        TargetError::Missing { .. } => Failure { hint, ..Failure::new(exit::USAGE, e) },
        _ => Failure { hint, ..Failure::new(exit::UNPACK, e) },
    }
}

/// SOURCE_DATE_EPOCH when set, else the image's build time, else compose's default epoch.
fn timestamp(image: Option<&str>) -> Result<String, Failure> {
    let set = std::env::var_os("SOURCE_DATE_EPOCH").is_some_and(|v| !v.is_empty());
    if !set && let Some(t) = image {
        return Ok(t.to_string());
    }
    let epoch = settings::source_date_epoch().map_err(|m| Failure::msg(exit::USAGE, m, None))?;
    Ok(compose::export::rfc3339(epoch))
}

pub fn run(args: VulnsArgs) -> Result<(), Failure> {
    let deny = match &args.deny {
        Some(s) => Some(Severity::parse(s).ok_or_else(|| {
            let hint = Some("one of none, low, medium, high, critical".to_string());
            Failure::msg(exit::USAGE, format!("--deny: `{s}` is not a severity"), hint)
        })?),
        None => None,
    };
    // As given: reports name the feeds the way the user did, so the same feeds give the same bytes from
    // another directory or machine.
    let paths: Vec<PathBuf> = args.feeds.clone();
    let feeds = vuln::load_feeds(&paths).map_err(feed_failure)?;
    for line in report::feed_lines(&feeds) {
        eprintln!("{line}");
    }
    let common = settings::common(&args.common, None).map_err(|m| Failure::msg(exit::USAGE, m, None))?;
    let cache = common.build(!args.no_sandbox, false);
    let target = target::inspect(&args.target, &args.toolchain, Some(&cache)).map_err(target_failure)?;
    let findings = vuln::match_packages(&target.packages, &feeds);
    let verdicts = report::assess(&findings, &target.packages);
    let report = Report {
        target: &target,
        feeds: &feeds,
        verdicts: &verdicts,
        timestamp: timestamp(target.timestamp.as_deref())?,
        compose_version: env!("CARGO_PKG_VERSION"),
    };
    if matches!(args.format, FormatArg::Openvex) && verdicts.is_empty() {
        // OpenVEX 0.2.0 requires at least one statement: a clean result has no valid document.
        eprintln!("no findings: an OpenVEX document needs at least one statement, so none is written");
        return Ok(());
    }
    let text = report::render(&report, args.format.format());
    match &args.output {
        Some(out) => {
            report::write(out, &text)
                .map_err(|e| Failure::msg(exit::EXPORT, format!("cannot write `{}`: {e}", out.display()), None))?;
            eprintln!("wrote {} ({} finding(s))", out.display(), verdicts.len());
        }
        None => print!("{text}"),
    }
    let Some(deny) = deny else { return Ok(()) };
    let denied = report::denied(&verdicts, deny);
    if denied.is_empty() {
        return Ok(());
    }
    let details = denied
        .iter()
        .map(|v| {
            let f = v.finding;
            let rating = f.severity.map(|s| s.as_str()).unwrap_or("unrated");
            let score = f.score.map(|s| format!(" {s:.1}")).unwrap_or_default();
            let esc = compose::scaffold::write::printable;
            format!("  {} {}: {rating}{score} ({})", esc(&f.id), esc(&f.package), esc(&f.matched))
        })
        .collect();
    let msg = format!(
        "`{}`: {} affected finding(s) rated {deny} or higher, or unrated (--deny {deny})",
        args.target.display(),
        denied.len()
    );
    let hint = "update the packages, or patch them in their recipes".to_string();
    Err(Failure { details, ..Failure::msg(exit::VULNERABLE, msg, Some(hint)) })
}
