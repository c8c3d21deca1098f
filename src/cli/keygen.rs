//! `compose keygen [--type ecdsa-p256|ed25519] [--output PREFIX]`: a signing key pair, PREFIX.key and
//! PREFIX.pub.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use compose::sign::{self, KeyKind, SignError};

use super::{Failure, exit};

#[derive(Args)]
pub struct KeygenArgs {
    /// The kind of key.
    #[arg(long = "type", value_enum, default_value_t = KeyType::EcdsaP256)]
    kind: KeyType,
    /// Writes PREFIX.key (private, PKCS#8 PEM, mode 0600) and PREFIX.pub (public, SPKI PEM).
    #[arg(short, long, value_name = "PREFIX", default_value = "compose")]
    output: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyType {
    /// ECDSA on P-256 with SHA-256 (cosign's and securesystemslib's default).
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    Ed25519,
}

pub fn run(args: KeygenArgs) -> Result<(), Failure> {
    let kind = match args.kind {
        KeyType::EcdsaP256 => KeyKind::EcdsaP256,
        KeyType::Ed25519 => KeyKind::Ed25519,
    };
    let with = |ext: &str| {
        let mut p = args.output.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    let (private, public) = (with(".key"), with(".pub"));
    sign::generate(kind, &private, &public).map_err(sign_failure)?;
    let key_id = sign::PublicKey::load(&public).map_err(sign_failure)?.key_id();
    println!("key id   {key_id}  ({})", kind.name());
    println!("private  {}", private.display());
    println!("public   {}", public.display());
    eprintln!("keep {} secret; give {} to whoever verifies", private.display(), public.display());
    Ok(())
}

/// A `SignError` as a failure: key files exit 20 (`KEY`), with a hint where there is a fix; the file
/// to sign unreadable 1, the envelope unwritable 10 (`EXPORT`), a failed check 19 (`SIGNATURE`).
pub fn sign_failure(e: SignError) -> Failure {
    let hint = match &e {
        SignError::Exists { .. } => Some("choose another `--output PREFIX`, or move the old key away first".into()),
        SignError::UnsupportedKey { what, path } if what.contains("encrypted") => Some(format!(
            "compose reads unencrypted keys only: `openssl pkey -in {} -out PLAIN.key` (keep it mode 0600)",
            path.display()
        )),
        SignError::UnsupportedKey { .. } => Some("make a supported key with `compose keygen [--type ed25519]`".into()),
        _ => None,
    };
    let code = match &e {
        SignError::ReadPayload { .. } => exit::FAILURE,
        SignError::WriteEnvelope { .. } => exit::EXPORT,
        SignError::Verify { .. } => exit::SIGNATURE,
        _ => exit::KEY,
    };
    Failure { code, error: Box::new(e), hint, details: Vec::new() }
}
