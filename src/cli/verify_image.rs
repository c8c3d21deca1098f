//! `compose verify-image REF --key PUB`: checks an image in a registry against its signature, its signed
//! provenance and its SBOMs (`compose::publish::verify_image`). Every check that passed is a line on
//! stdout; the first that fails is exit code 19.

use std::path::PathBuf;

use clap::Args;

use compose::publish::{self, VerifyRequest};
use compose::sign::PublicKey;

use super::registry_args::RegistryArgs;
use super::{Failure, exit};

#[derive(Args)]
pub struct VerifyImageArgs {
    /// The image: `REGISTRY/REPO:TAG` (or `@sha256:…`).
    reference: String,
    /// The public key (PEM) the image must be signed with.
    #[arg(long, value_name = "PUB")]
    key: PathBuf,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: VerifyImageArgs) -> Result<(), Failure> {
    let reference = super::push::parse_reference(&args.reference)?;
    let key = PublicKey::load(&args.key).map_err(|e| Failure {
        hint: Some("pass the `.pub` file `compose keygen` wrote beside the signing key".into()),
        ..Failure::new(exit::KEY, e)
    })?;
    let request = VerifyRequest { reference, key: &key, options: args.registry.options()? };
    let report = publish::verify_image(&request).map_err(|e| {
        let mut f = super::push::failure(e);
        if f.code == exit::SIGNATURE {
            f.hint = Some("do not run this image: it is not what the key's owner signed".into());
        }
        f
    })?;
    println!("image: {}@{}", report.reference, report.digest);
    for c in &report.checks {
        println!("{:<11} ok  {}", format!("{}:", c.what), c.detail);
    }
    println!("verified");
    Ok(())
}
