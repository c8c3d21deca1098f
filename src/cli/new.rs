//! `compose new NAME URL` and `compose new NAME --path DIR`: write a first recipe. stdout gets the
//! recipe's path; stderr what was found (sha256, the Debian twin, the build system) and what to run next.
//! Those lines name what the tarball and the file system said, so each is shown with its control
//! characters escaped: a name with a line break or an escape sequence cannot forge a line.

use std::path::PathBuf;

use clap::Args;

use compose::build::FetchBridge;
use compose::scaffold::write::printable;
use compose::scaffold::{self, BuildSystem, DebianCheck, Found, NewRequest, Origin, Outcome, ScaffoldError};

use super::reporter::CliReporter;
use super::settings::CommonArgs;
use super::{Failure, exit, sources};

#[derive(Args)]
pub struct NewArgs {
    /// The package name; the recipe is DIR/NAME.toml.
    name: String,
    /// The release tarball (https://, http:// or file://): fetched into the source cache and pinned.
    #[arg(required_unless_present = "path", conflicts_with = "path")]
    url: Option<String>,
    /// Build from this directory of the project instead (inside the recipe directory's tree).
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
    /// The directory the recipe is written into (created if missing).
    #[arg(long, value_name = "DIR", default_value = "recipes")]
    dir: PathBuf,
    /// Exit 21 instead of writing a `custom` recipe when no build system is found.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    common: CommonArgs,
    /// Print only the recipe's path (and errors).
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: NewArgs) -> Result<(), Failure> {
    let common = sources::common(&args.common)?;
    let origin = match (&args.url, &args.path) {
        (Some(url), None) => Origin::Url(url.clone()),
        (None, Some(path)) => Origin::Path(path.clone()),
        _ => unreachable!("clap requires exactly one of URL and --path"),
    };
    let shown = match &origin {
        Origin::Url(url) => url.clone(),
        Origin::Path(p) => format!("--path {}", p.display()),
    };
    let request = NewRequest {
        name: args.name.clone(),
        origin,
        dir: args.dir.clone(),
        strict: args.strict,
        fetch: common.fetch(),
        cache_root: common.cache_dir.clone(),
        command: format!("compose new {} {shown}", args.name),
    };
    let reporter = CliReporter::new(args.quiet, false);
    let outcome = scaffold::scaffold(&request, &FetchBridge(&reporter)).map_err(failure)?;
    println!("{}", outcome.recipe.display());
    if !args.quiet {
        for line in lines(&outcome) {
            eprintln!("{}", printable(&line));
        }
    }
    Ok(())
}

/// What was found, for people.
fn lines(o: &Outcome) -> Vec<String> {
    let mut out = Vec::new();
    match &o.found {
        Found::Upstream { sha256, size, from, debian } => {
            out.push(format!("sha256 {sha256}  ({}, {size} bytes)", from));
            out.push(match debian {
                DebianCheck::Same(file) => format!("found in the Debian archive as {file} (same bytes)"),
                DebianCheck::Absent { other_bytes } if other_bytes.is_empty() => "not in the Debian archive".into(),
                DebianCheck::Absent { other_bytes } => format!(
                    "not in the Debian archive with the same bytes (it has {}: a repack or another compression)",
                    other_bytes.join(", ")
                ),
                DebianCheck::Unchecked(why) => format!("Debian archive not checked: {why}"),
            });
        }
        Found::DebianOnly { sha256, file, upstream } => {
            for (url, what) in upstream {
                out.push(format!("warning: upstream could not be fetched: {url}: {what}"));
            }
            out.push(format!("found in the Debian archive as {file}; its sha256 is pinned:"));
            out.push(format!("sha256 {sha256}"));
            out.push("warning: check it against upstream's published checksum (the recipe says so in a TODO)".into());
        }
        Found::Local { path } => out.push(format!("source: the directory `{path}` (relative to the recipe)")),
    }
    let d = &o.detected;
    let also = if d.also.is_empty() { String::new() } else { format!("; also there: {}", d.also.join(", ")) };
    out.push(match d.system {
        BuildSystem::Unknown => "build system: none found: style `custom`, write its install script".into(),
        BuildSystem::Autoreconf => {
            format!("build system: autotools ({}, no configure: autoreconf -fi first{also})", d.file)
        }
        _ => format!("build system: {} ({}{also})", d.system.style(), d.file),
    });
    match &o.version {
        Some(v) => out.push(format!("version: {v}")),
        None => out.push("version: not in the file name: fill it in".into()),
    }
    let found: Vec<String> =
        o.license.files.iter().map(|(f, id)| format!("{f}: {}", id.unwrap_or("not recognised"))).collect();
    out.push(match found.is_empty() {
        true => "license: NOASSERTION (no LICENSE or COPYING file): fill it in".into(),
        false => format!("license: {} ({})", o.license.expression(), found.join(", ")),
    });
    out.push(format!("next: compose build {}", o.recipe.display()));
    out
}

fn failure(e: ScaffoldError) -> Failure {
    let hint = e.hint();
    let code = match &e {
        ScaffoldError::InvalidName { .. }
        | ScaffoldError::InvalidUrl { .. }
        | ScaffoldError::NotADirectory { .. }
        | ScaffoldError::Outside { .. }
        | ScaffoldError::IsRecipeDir { .. }
        | ScaffoldError::UnsafePath { .. } => exit::USAGE,
        ScaffoldError::ReadDir { source, .. } if source.kind() == std::io::ErrorKind::NotFound => exit::USAGE,
        ScaffoldError::ReadDir { .. }
        | ScaffoldError::Exists { .. }
        | ScaffoldError::CreateDir { .. }
        | ScaffoldError::Write { .. }
        | ScaffoldError::NoBuildSystem { .. } => exit::NEW,
        ScaffoldError::Fetch { offline: true, .. } => exit::OFFLINE,
        ScaffoldError::Fetch { .. } | ScaffoldError::Cache(_) => exit::FETCH,
        ScaffoldError::List { .. } => exit::UNPACK,
    };
    Failure { code, error: Box::new(e), hint, details: Vec::new() }
}
