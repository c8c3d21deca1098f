//! PLACEHOLDER (uncommitted): the remote branch writes this file.
use std::path::PathBuf;
#[derive(clap::Args, Clone, Default)]
pub struct RegistryArgs {
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)] pub tls_verify: bool,
    #[arg(long, value_name = "DIR")] pub cert_dir: Option<PathBuf>,
    #[arg(long, value_name = "FILE")] pub authfile: Option<PathBuf>,
    #[arg(long, value_name = "USER:PASS")] pub creds: Option<String>,
}
impl RegistryArgs { pub fn options(&self) -> Result<compose::registry::Options, super::Failure> { todo!() } }
