//! The command layer: parses flags, merges settings, calls the library, renders errors and decides
//! the exit code. The only module that sees every stage.

mod audit;
mod build;
mod cache;
mod doctor;
mod explain;
mod image;
mod keygen;
mod legal;
mod load;
mod login;
mod messages;
mod new;
mod push;
mod registry_args;
mod reporter;
mod settings;
mod sign;
mod sources;
mod verify;
mod verify_image;
mod vulns;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes, one per class of failure (documented in docs/cli.md).
pub mod exit {
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const RECIPE: u8 = 3;
    pub const GRAPH: u8 = 4;
    pub const FETCH: u8 = 5;
    pub const UNPACK: u8 = 6;
    pub const BUILD: u8 = 7;
    pub const SANDBOX: u8 = 8;
    pub const ROOTFS: u8 = 9;
    pub const EXPORT: u8 = 10;
    pub const OFFLINE: u8 = 11;
    pub const LOCKED: u8 = 12;
    pub const BUNDLE: u8 = 13;
    pub const HOST: u8 = 14;
    pub const POLICY: u8 = 15;
    pub const UNREPRODUCIBLE: u8 = 16;
    pub const CACHE: u8 = 17;
    pub const REGISTRY: u8 = 18;
    pub const SIGNATURE: u8 = 19;
    pub const KEY: u8 = 20;
    pub const NEW: u8 = 21;
    pub const VULNERABLE: u8 = 22;
    pub const FEED: u8 = 23;
}

#[derive(Parser)]
#[command(
    name = "compose",
    version,
    about = "Build minimal container root filesystems from source, statically against musl"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a recipe's package and everything it needs, and export its image.
    Build(build::BuildArgs),
    /// Fetch (or verify in the cache) every source of the recipes' closures, the toolchain's included.
    Fetch(sources::FetchArgs),
    /// Carry sources across an air gap: export a bundle, import one.
    #[command(subcommand)]
    Sources(sources::SourcesCommand),
    /// Write RECIPE.lock: every recipe, source, patch and toolchain digest of the closure.
    Lock(sources::LockArgs),
    /// List every host prerequisite of the recipes and whether this machine has it.
    Doctor(doctor::DoctorArgs),
    /// Say why each package of PKG's closure would be rebuilt: which input changed, old and new digest.
    Explain(explain::ExplainArgs),
    /// Report an image's packages, ELF files, setuid/setgid and world-writable paths, shells and network
    /// tools, and files no package owns; `--deny` turns classes of findings into exit code 15.
    Audit(audit::AuditArgs),
    /// Rebuild the image twice from empty caches, the second time perturbed, and compare every output.
    Verify(verify::VerifyArgs),
    /// Cache housekeeping: `du` (sizes by kind) and `prune` (remove what the recipes no longer need).
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// Push an image `compose build` wrote to a registry, with its SBOMs and provenance attached (and
    /// signed, with `--sign-key`); prints the pushed digest.
    Push(push::PushArgs),
    /// Check an image in a registry: its signature, that the signed provenance names it, that its SBOMs
    /// describe it; a failed check is exit code 19.
    VerifyImage(verify_image::VerifyImageArgs),
    /// Make a signing key pair: PREFIX.key (private, PKCS#8 PEM, mode 0600) and PREFIX.pub.
    Keygen(keygen::KeygenArgs),
    /// Sign a file (a provenance) as a DSSE envelope, e.g. before carrying it across an air gap.
    Sign(sign::SignArgs),
    /// Check a user name and password against a registry and keep them in the podman/docker auth file.
    Login(login::LoginArgs),
    /// Write a first recipe, DIR/NAME.toml, for a release tarball (fetched, pinned, its Debian twin
    /// found) or a project directory, with its build system detected; never replaces a file.
    New(new::NewArgs),
    /// Check an image (or a recipe's closure) offline against NVD and OSV feed files: a report, JSON,
    /// CycloneDX VEX or OpenVEX; `--deny SEVERITY` turns affected findings into exit code 22.
    Vulns(vulns::VulnsArgs),
}

/// An error ready to show: what failed, why, what to do, and the exit code.
pub struct Failure {
    pub code: u8,
    pub error: Box<dyn std::error::Error>,
    pub hint: Option<String>,
    /// Extra lines after the causes (log tails).
    pub details: Vec<String>,
}

impl Failure {
    pub fn new(code: u8, error: impl std::error::Error + 'static) -> Self {
        Failure { code, error: Box::new(error), hint: None, details: Vec::new() }
    }
    pub fn msg(code: u8, message: String, hint: Option<String>) -> Self {
        Failure { code, error: message.into(), hint, details: Vec::new() }
    }
}

pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Build(args) => build::run(args),
        Command::Fetch(args) => sources::fetch(args),
        Command::Sources(cmd) => sources::sources(cmd),
        Command::Lock(args) => sources::lock(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Cache(cmd) => cache::run(cmd),
        Command::Push(args) => push::run(args),
        Command::VerifyImage(args) => verify_image::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Login(args) => login::run(args),
        Command::New(args) => new::run(args),
        Command::Vulns(args) => vulns::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            render(&f);
            ExitCode::from(f.code)
        }
    }
}

fn render(f: &Failure) {
    eprintln!("error: {}", f.error);
    for c in causes(f.error.as_ref()) {
        eprintln!("  caused by: {c}");
    }
    for d in &f.details {
        eprintln!("{d}");
    }
    if let Some(h) = &f.hint {
        eprintln!("hint: {h}");
    }
}

/// The chain of causes below `e`, outermost first.
pub fn causes(e: &dyn std::error::Error) -> Vec<String> {
    std::iter::successors(e.source(), |c| c.source()).map(|c| c.to_string()).collect()
}

/// Paths are resolved against the current directory once, here.
pub fn absolute(p: &std::path::Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A `--platform LIST` (`build`, `lock`): none given is the empty list (the host's platform); a malformed
/// one is exit 2.
pub fn platforms(value: Option<&str>) -> Result<Vec<compose::toolchain::Platform>, Failure> {
    let Some(value) = value else { return Ok(Vec::new()) };
    compose::toolchain::platform::parse_list(value)
        .map_err(|m| Failure::msg(exit::USAGE, format!("--platform: {m}"), None))
}

/// A `--platform` that names exactly one platform (`audit` reads one image, `verify` rebuilds one):
/// a list is exit 2, saying so.
pub fn one_platform(value: &str, command: &str) -> Result<compose::toolchain::Platform, Failure> {
    let list = platforms(Some(value))?;
    match <[_; 1]>::try_from(list) {
        Ok([one]) => Ok(one),
        Err(list) => {
            let names: Vec<String> = list.iter().map(|p| format!("`{p}`")).collect();
            let hint = format!("run `compose {command}` once per platform");
            let msg = format!("--platform: {command} takes one platform, not a list ({})", names.join(", "));
            Err(Failure::msg(exit::USAGE, msg, Some(hint)))
        }
    }
}
