//! The flags that say how to reach a registry (TLS, CA certificates, credentials), shared by every
//! command that talks to one (`build --cache`, `explain --cache`, `push`), turned into the library's
//! `registry::Options`.

use std::path::PathBuf;

use compose::registry::{Credentials, Options};

use super::{Failure, exit};

/// The environment variable with the upload chunk size (bytes, or a size such as `8M`).
pub const CHUNK_SIZE_ENV: &str = "COMPOSE_REGISTRY_CHUNK_SIZE";

#[derive(clap::Args, Clone, Default)]
pub struct RegistryArgs {
    /// Require HTTPS and verified certificates (default). `--tls-verify=false` lets the registry named, and only it, use plain HTTP or an unverified certificate.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// Trust the CA certificates (*.crt) in DIR for the registry, as podman's --cert-dir.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Credentials file (podman/docker auth.json format). Default: $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.config/containers/auth.json, ~/.docker/config.json.
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// USER:PASS for the registry (wins over any auth file).
    #[arg(long, value_name = "USER:PASS")]
    pub creds: Option<String>,
}

impl RegistryArgs {
    /// The library's options: these flags, and the chunk size from `COMPOSE_REGISTRY_CHUNK_SIZE`. A
    /// malformed `--creds` or chunk size is a usage error (exit 2) naming it.
    pub fn options(&self) -> Result<Options, Failure> {
        let usage = |m: String, hint: &str| Failure::msg(exit::USAGE, m, Some(hint.to_string()));
        let credentials = match &self.creds {
            None => None,
            Some(c) => match c.split_once(':') {
                Some((user, pass)) if !user.is_empty() => {
                    Some(Credentials { username: user.to_string(), password: pass.to_string() })
                }
                _ => {
                    return Err(usage(
                        "--creds: expected USER:PASS, with a user name before the first `:`".into(),
                        "pass `--creds USER:PASS`, or `--authfile FILE` (the podman/docker auth.json format)",
                    ));
                }
            },
        };
        let defaults = Options::default();
        let chunk_size = match std::env::var(CHUNK_SIZE_ENV).ok().filter(|v| !v.trim().is_empty()) {
            None => defaults.chunk_size,
            Some(v) => match compose::cache::parse_size(&v) {
                Ok(n) if n > 0 => n,
                Ok(_) => {
                    return Err(usage(format!("{CHUNK_SIZE_ENV}=`{v}`: the chunk size must be above 0"), "e.g. `8M`"));
                }
                Err(m) => return Err(usage(format!("{CHUNK_SIZE_ENV}: {m}"), "e.g. `8388608` or `8M`")),
            },
        };
        Ok(Options {
            tls_verify: self.tls_verify,
            cert_dir: self.cert_dir.clone(),
            auth_file: self.authfile.clone(),
            credentials,
            chunk_size,
            ..defaults
        })
    }
}
