//! `Client`: one repository of one registry. The blob and manifest operations are in `blobs.rs` and
//! `manifests.rs`; `login` checks credentials and writes them where podman and docker read them.

use std::path::PathBuf;

use reqwest::{Method, StatusCode, Url};

use super::auth::{self, AuthEnv, Credentials};
use super::http::{Req, status_error};
use super::reference::{normalize_registry, valid_registry};
use super::session::Session;
use super::{Options, Reference, RegistryError};

/// One registry and repository, authenticated as needed (anonymous, Basic, or the Bearer token flow
/// from `WWW-Authenticate`, tokens cached per scope). Blocking; Send + Sync.
pub struct Client {
    pub(crate) session: Session,
    pub(crate) repository: String,
    pub(crate) options: Options,
}

impl Client {
    /// Pings `/v2/`, chooses https (or http when tls_verify is false and https fails), prepares auth.
    pub fn connect(reference: &Reference, options: &Options) -> Result<Client, RegistryError> {
        let session = Session::open(&reference.registry, &reference.repository, options)?;
        Ok(Client { session, repository: reference.repository.clone(), options: options.clone() })
    }

    pub fn registry(&self) -> &str {
        &self.session.registry
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// `https://HOST/v2/<repo>/<tail>` (or http, see `connect`).
    pub(crate) fn repo_url(&self, tail: &str) -> Url {
        self.session.url(&format!("v2/{}/{tail}", self.repository))
    }
}

/// `compose login`: checks the credentials against `GET /v2/` (Basic or token flow), then writes them
/// (podman/docker format `{"auths": {"HOST[:PORT]": {"auth": base64("user:pass")}}}`, other entries kept,
/// mode 0600, temp+rename) to `options.auth_file` or else $REGISTRY_AUTH_FILE, else
/// ${XDG_RUNTIME_DIR}/containers/auth.json, else ~/.config/containers/auth.json. Returns the file written.
pub fn login(registry: &str, credentials: &Credentials, options: &Options) -> Result<PathBuf, RegistryError> {
    let registry = registry_name(registry)?;
    let options = Options { credentials: Some(credentials.clone()), ..options.clone() };
    let session = Session::open(&registry, "", &options)?;
    let op = format!("log in to `{registry}`");
    let resp = session.send(&op, &Req::new(Method::GET, session.url("v2/"), Vec::new()))?;
    if resp.status() != StatusCode::OK {
        return Err(status_error(&op, resp));
    }
    let env = AuthEnv::from_process();
    let path = env.login_file(options.auth_file.as_deref()).ok_or_else(|| RegistryError::AuthFileFormat {
        path: PathBuf::from("~/.config/containers/auth.json"),
        reason: "neither REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR nor HOME is set; pass --authfile".into(),
    })?;
    auth::write_login(&path, &registry, credentials)?;
    Ok(path)
}

/// A registry as people type it for `login`: `HOST[:PORT]`, maybe with a scheme or a trailing path.
fn registry_name(s: &str) -> Result<String, RegistryError> {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let host = rest.split('/').next().unwrap_or_default();
    let host = normalize_registry(host);
    if !valid_registry(&host) {
        return Err(RegistryError::InvalidReference {
            reference: s.to_string(),
            reason: "a registry is HOST or HOST:PORT".into(),
        });
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Client>();
    }

    #[test]
    fn registry_names_for_login() {
        assert_eq!(registry_name("localhost:5000").unwrap(), "localhost:5000");
        assert_eq!(registry_name("https://index.docker.io/v1/").unwrap(), "docker.io");
        assert_eq!(registry_name("quay.io").unwrap(), "quay.io");
        assert_eq!(registry_name("myregistry").unwrap(), "myregistry");
        assert!(registry_name("").is_err());
        assert!(registry_name("UPPER_case!").is_err());
    }
}
