//! `compose sign FILE --key KEY [--payload-type TYPE] [--output OUT]`: FILE's DSSE envelope.

use std::path::PathBuf;

use clap::Args;

use compose::sign::{self, PAYLOAD_TYPE_IN_TOTO, SigningKey};

use super::Failure;
use super::keygen::sign_failure;

#[derive(Args)]
pub struct SignArgs {
    /// The file to sign (its bytes are the payload), e.g. out/busybox.provenance.json.
    file: PathBuf,
    /// The private key: PKCS#8 PEM (ECDSA P-256 or Ed25519) or SEC1 PEM (P-256), unencrypted.
    #[arg(long)]
    key: PathBuf,
    /// The DSSE payload type.
    #[arg(long, default_value = PAYLOAD_TYPE_IN_TOTO)]
    payload_type: String,
    /// The envelope to write. Default: FILE with `.json` replaced by `.dsse.json`.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn run(args: SignArgs) -> Result<(), Failure> {
    let key = SigningKey::load(&args.key).map_err(sign_failure)?;
    let output = args.output.unwrap_or_else(|| sign::default_output(&args.file));
    sign::sign_file(&key, &args.payload_type, &args.file, &output).map_err(sign_failure)?;
    println!("{}", output.display());
    eprintln!("signed {} with key {} ({})", args.file.display(), key.key_id(), key.kind().name());
    Ok(())
}
