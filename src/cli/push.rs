//! `compose push IMAGE REF`: an image `compose build` wrote (its OCI layout or OCI archive), with the
//! SBOMs and provenance beside it, to a registry (`compose::publish::push`). stdout gets the pushed
//! digest; people get what was uploaded on stderr. `compose build --push REF` ends with the same.

use std::path::{Path, PathBuf};

use clap::Args;

use compose::pipeline::Outcome;
use compose::publish::{self, Attachment, Kind, PublishError, PushOutcome, PushRequest};
use compose::registry::Reference;
use compose::report::Reporter;
use compose::sign::SigningKey;

use super::registry_args::RegistryArgs;
use super::reporter::CliReporter;
use super::settings::{self, CommonArgs};
use super::{Failure, exit};

#[derive(Args)]
pub struct PushArgs {
    /// The image: an OCI layout directory (`out/NAME.oci`) or OCI archive (`out/NAME.oci.tar`).
    image: PathBuf,
    /// Where to: `REGISTRY/REPO[:TAG]` (default tag: the image's own).
    reference: String,
    #[command(flatten)]
    sign: SignArgs,
    /// Push the image alone, without its SBOMs and provenance.
    #[arg(long)]
    no_attach: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Cache directory (where pushed blobs are remembered, for cross-repository mounts).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

/// `--sign-key`, shared with `compose build --push`.
#[derive(Args, Clone, Default)]
pub struct SignArgs {
    /// Sign the provenance and the image (DSSE envelopes) with this private key (PEM: ECDSA P-256 or
    /// Ed25519; `compose keygen` makes one).
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
}

impl SignArgs {
    pub fn load(&self) -> Result<Option<SigningKey>, Failure> {
        let Some(path) = &self.sign_key else { return Ok(None) };
        SigningKey::load(path).map(Some).map_err(|e| Failure {
            hint: Some("make a key pair with `compose keygen`".into()),
            ..Failure::new(exit::KEY, e)
        })
    }
}

pub fn run(args: PushArgs) -> Result<(), Failure> {
    let reference = push_reference(&args.reference)?;
    let key = args.sign.load()?;
    let layout = publish::Layout::open(&args.image).map_err(failure)?;
    let (attachments, missing) = match args.no_attach {
        true => (Vec::new(), Vec::new()),
        false => publish::attachments_beside(&args.image, &layout),
    };
    let human = CliReporter::new(false, false);
    for m in &missing {
        human.note(&format!("warning: `{}` is not there: pushed without it", m.display()));
    }
    let common = CommonArgs { cache_dir: args.cache_dir.clone(), ..Default::default() };
    let cache_dir = settings::common(&common, None).map_err(|m| Failure::msg(exit::USAGE, m, None))?.cache_dir;
    let request = PushRequest {
        image: args.image.clone(),
        reference,
        attachments,
        sign_key: key.as_ref(),
        options: args.registry.options()?,
        push_log: Some(push_log(&cache_dir)),
    };
    let outcome = publish::push(&request, &human).map_err(failure)?;
    report(&outcome);
    Ok(())
}

/// `compose build --push REF`: the image just built, with the records the build wrote.
pub fn after_build(
    outcome: &Outcome,
    reference: &str,
    sign: &SignArgs,
    registry: &RegistryArgs,
    cache_dir: &Path,
    reporter: &dyn Reporter,
) -> Result<(), Failure> {
    let reference = push_reference(reference)?;
    let key = sign.load()?;
    let Some(oci) = &outcome.oci else {
        let hint = "build with `--format oci-archive` (the default) or `--format oci`";
        return Err(Failure::msg(exit::USAGE, "--push needs an OCI image".into(), Some(hint.into())));
    };
    let image =
        oci.files.iter().map(|f| f.path.clone()).min_by_key(|p| !p.is_dir()).expect("an OCI output was written");
    let several = outcome.platforms.len() > 1;
    let mut attachments = Vec::new();
    for p in &outcome.platforms {
        let subject = several.then(|| oci.digests_for(&p.part.platform).map(|d| d.manifest)).flatten();
        for r in &p.records {
            let kind =
                [Kind::Spdx, Kind::CycloneDx].into_iter().find(|k| r.path.to_string_lossy().ends_with(k.suffix()));
            if let Some(kind) = kind {
                attachments.push(Attachment { kind, path: r.path.clone(), subject: subject.clone() });
            }
        }
    }
    if let Some(p) = outcome.records.iter().find(|r| r.path.to_string_lossy().ends_with(Kind::Provenance.suffix())) {
        attachments.push(Attachment { kind: Kind::Provenance, path: p.path.clone(), subject: None });
    }
    let request = PushRequest {
        image,
        reference,
        attachments,
        sign_key: key.as_ref(),
        options: registry.options()?,
        push_log: Some(push_log(cache_dir)),
    };
    let pushed = publish::push(&request, reporter).map_err(failure)?;
    report(&pushed);
    Ok(())
}

fn push_log(cache_dir: &Path) -> PathBuf {
    cache_dir.join("registry-pushes.tsv")
}

/// Where to push: a tag, never a digest (the registry decides nothing by digest, and the signature
/// names the tag the image was pushed as).
pub fn push_reference(s: &str) -> Result<Reference, Failure> {
    let r = parse_reference(s)?;
    if r.digest.is_some() {
        let hint = "push to REGISTRY/REPO[:TAG]; the digest is what compose prints after the push";
        return Err(Failure::msg(exit::USAGE, format!("`{s}`: a push goes to a tag, not a digest"), Some(hint.into())));
    }
    Ok(r)
}

pub fn parse_reference(s: &str) -> Result<Reference, Failure> {
    Reference::parse(s).map_err(|e| Failure {
        hint: Some("write it as REGISTRY/REPOSITORY[:TAG], e.g. `127.0.0.1:5000/busybox:1.37.0`".into()),
        ..Failure::new(exit::USAGE, e)
    })
}

/// The pushed digest on stdout; what moved on stderr.
fn report(o: &PushOutcome) {
    let b = &o.blobs;
    eprintln!("pushed {} in {:.2}s", o.reference, o.took.as_secs_f64());
    eprintln!(
        "  blobs: {} uploaded ({} bytes in {} request(s)), {} already there, {} mounted; {} manifest(s)",
        b.uploaded, b.bytes_uploaded, b.chunks, b.existed, b.mounted, o.manifests
    );
    for a in &o.attachments {
        let state = if a.pushed { format!("attached ({})", a.via) } else { "already attached".into() };
        eprintln!("  {} `{}` {state}: {} (on {})", a.kind.label(), a.title, a.manifest, short(&a.subject));
    }
    if let Some(k) = &o.signed_by {
        eprintln!("  signed with key {k}");
    }
    let new_attachments = o.attachments.iter().filter(|a| a.pushed).count();
    if b.uploaded == 0 && b.mounted == 0 && new_attachments == 0 {
        eprintln!("  nothing uploaded: the registry already had every blob and attachment");
    }
    println!("{}", o.digest);
}

/// `sha256:` and the first 12 hex digits.
fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

pub fn failure(e: PublishError) -> Failure {
    let hint = e.registry_error().and_then(|r| r.hint());
    let code = match &e {
        PublishError::Layout { .. } | PublishError::ReadRecord { .. } | PublishError::MissingProvenance { .. } => {
            exit::USAGE
        }
        PublishError::Sign { .. } => exit::KEY,
        PublishError::Verification { .. } => exit::SIGNATURE,
        PublishError::Registry { .. } | PublishError::DigestChanged { .. } | PublishError::NotFound { .. } => {
            exit::REGISTRY
        }
    };
    Failure { hint, ..Failure::new(code, e) }
}
