//! Credentials and challenges: where podman and docker users keep their logins, how a registry says
//! which authentication it wants (`WWW-Authenticate`), and writing the file `compose login` leaves.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::RegistryError;
use super::reference::normalize_registry;

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<hidden>").finish()
    }
}

impl Credentials {
    /// The `Authorization` value of HTTP Basic, also what auth files keep (without `Basic `).
    pub fn basic(&self) -> String {
        STANDARD.encode(format!("{}:{}", self.username, self.password))
    }
}

/// One challenge of a `WWW-Authenticate` header: the scheme (lowercased) and its parameters (names
/// lowercased, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Every challenge of a `WWW-Authenticate` value (RFC 9110 §11.6.1): `Bearer realm="a,b",service=x,
/// Basic realm="r"` is two. Quoted strings may hold commas and `\"`.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut rest = header;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.is_empty() {
            return out;
        }
        let end = rest.find(|c: char| c.is_whitespace() || c == ',' || c == '=').unwrap_or(rest.len());
        let (token, after) = rest.split_at(end);
        let after_ws = after.trim_start();
        match (after_ws.strip_prefix('='), out.last_mut()) {
            (Some(value), Some(current)) => {
                let (value, remaining) = parse_value(value.trim_start());
                current.params.insert(token.to_ascii_lowercase(), value);
                rest = remaining;
            }
            _ => {
                out.push(Challenge { scheme: token.to_ascii_lowercase(), params: BTreeMap::new() });
                rest = after;
            }
        }
    }
}

/// A quoted string (unescaped) or a token, and what follows it.
fn parse_value(s: &str) -> (String, &str) {
    let Some(quoted) = s.strip_prefix('"') else {
        let end = s.find(|c: char| c.is_whitespace() || c == ',').unwrap_or(s.len());
        return (s[..end].to_string(), &s[end..]);
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &quoted[i + 1..]),
            '\\' => value.extend(chars.next().map(|(_, c)| c)),
            c => value.push(c),
        }
    }
    (value, "") // unterminated: take the rest
}

/// The one to answer: Bearer when offered, else Basic.
pub fn choose(challenges: &[Challenge]) -> Option<&Challenge> {
    let by = |s: &str| challenges.iter().find(|c| c.scheme == s);
    by("bearer").or_else(|| by("basic"))
}

/// The token a token endpoint answered: `token`, or OAuth2's `access_token`.
pub fn parse_token(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
    }
    let a: Answer = serde_json::from_slice(body).ok()?;
    a.token.or(a.access_token).filter(|t| !t.is_empty())
}

/// Where credentials may be, from the environment (a value, so the tests need not change it).
#[derive(Debug, Clone, Default)]
pub struct AuthEnv {
    pub registry_auth_file: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl AuthEnv {
    pub fn from_process() -> AuthEnv {
        let var = |k| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        AuthEnv {
            registry_auth_file: var("REGISTRY_AUTH_FILE"),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            home: var("HOME"),
        }
    }

    /// The files to look in, in order: an explicit one alone, else podman's and docker's places.
    pub fn lookup_files(&self, explicit: Option<&Path>) -> Vec<PathBuf> {
        if let Some(p) = explicit {
            return vec![p.to_path_buf()];
        }
        let mut out: Vec<PathBuf> = self.registry_auth_file.iter().cloned().collect();
        out.extend(self.xdg_runtime_dir.iter().map(|d| d.join("containers/auth.json")));
        if let Some(home) = &self.home {
            out.push(home.join(".config/containers/auth.json"));
            out.push(home.join(".docker/config.json"));
        }
        out
    }

    /// Where `compose login` writes: explicit, $REGISTRY_AUTH_FILE, the runtime dir, ~/.config.
    pub fn login_file(&self, explicit: Option<&Path>) -> Option<PathBuf> {
        explicit
            .map(Path::to_path_buf)
            .or_else(|| self.registry_auth_file.clone())
            .or_else(|| self.xdg_runtime_dir.as_ref().map(|d| d.join("containers/auth.json")))
            .or_else(|| self.home.as_ref().map(|h| h.join(".config/containers/auth.json")))
    }
}

/// The credentials for `registry` (and `repository`, for podman's per-namespace entries) in the first
/// of `files` that has an entry; missing files are skipped.
pub fn lookup(registry: &str, repository: &str, files: &[PathBuf]) -> Result<Option<Credentials>, RegistryError> {
    for path in files {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(RegistryError::AuthFile { path: path.clone(), op: "cannot read auth file", source });
            }
        };
        if let Some(found) = lookup_in(registry, repository, &text, path)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

#[derive(serde::Deserialize, Default)]
struct AuthFileJson {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
    #[serde(rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(rename = "credHelpers", default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(serde::Deserialize, Default)]
struct Entry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

fn lookup_in(registry: &str, repository: &str, text: &[u8], path: &Path) -> Result<Option<Credentials>, RegistryError> {
    let format = |reason: String| RegistryError::AuthFileFormat { path: path.to_path_buf(), reason };
    let file: AuthFileJson = serde_json::from_slice(text).map_err(|e| format(format!("not valid JSON: {e}")))?;
    let helper = |helper: &str| RegistryError::CredentialHelper {
        registry: registry.to_string(),
        helper: helper.to_string(),
        path: path.to_path_buf(),
    };
    if let Some((_, h)) = file.cred_helpers.iter().find(|(k, _)| entry_matches(k, registry, repository).is_some()) {
        return Err(helper(h));
    }
    let best = file
        .auths
        .iter()
        .filter_map(|(k, e)| entry_matches(k, registry, repository).map(|len| (len, k, e)))
        .max_by_key(|(len, _, _)| *len);
    let Some((_, key, entry)) = best else { return Ok(None) };
    if let (Some(user), Some(pass)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials { username: user.clone(), password: pass.clone() }));
    }
    match (&entry.auth, &file.creds_store) {
        (Some(auth), _) if !auth.is_empty() => decode_auth(auth).map(Some).map_err(|r| format(format!("`{key}`: {r}"))),
        (_, Some(store)) => Err(helper(store)),
        _ => Ok(None),
    }
}

fn decode_auth(auth: &str) -> Result<Credentials, String> {
    let bytes = STANDARD.decode(auth.trim()).map_err(|e| format!("`auth` is not base64: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "`auth` is not UTF-8".to_string())?;
    let (user, pass) = text.split_once(':').ok_or("`auth` is not `user:password`")?;
    Ok(Credentials { username: user.to_string(), password: pass.to_string() })
}

/// Whether an auth file key names `registry` (and a namespace holding `repository`): `HOST[:PORT]`,
/// `https://HOST[:PORT]`, docker's `https://index.docker.io/v1/`, podman's `HOST/NAMESPACE`. Returns the
/// length of the namespace matched, so the most specific entry wins.
fn entry_matches(key: &str, registry: &str, repository: &str) -> Option<usize> {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let key = key.trim_end_matches('/');
    let key = key.strip_suffix("/v1").or_else(|| key.strip_suffix("/v2")).unwrap_or(key);
    let (host, namespace) = key.split_once('/').unwrap_or((key, ""));
    if normalize_registry(host) != registry {
        return None;
    }
    let inside = namespace.is_empty()
        || repository == namespace
        || repository.strip_prefix(namespace).is_some_and(|r| r.starts_with('/'));
    inside.then_some(namespace.len())
}

/// Adds (or replaces) `registry`'s entry in the auth file at `path`, keeping everything else in it; the
/// file is written whole beside itself (mode 0600) and renamed over the old one.
pub fn write_login(path: &Path, registry: &str, credentials: &Credentials) -> Result<(), RegistryError> {
    let err = |op, source| RegistryError::AuthFile { path: path.to_path_buf(), op, source };
    let mut doc = match std::fs::read(path) {
        Ok(text) => serde_json::from_slice::<serde_json::Value>(&text).map_err(|e| RegistryError::AuthFileFormat {
            path: path.to_path_buf(),
            reason: format!("not valid JSON, not overwriting it: {e}"),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(err("cannot read auth file", e)),
    };
    let not_object =
        || RegistryError::AuthFileFormat { path: path.to_path_buf(), reason: "`auths` is not an object".into() };
    let root = doc.as_object_mut().ok_or_else(not_object)?;
    let auths = root.entry("auths").or_insert_with(|| serde_json::json!({}));
    let auths = auths.as_object_mut().ok_or_else(not_object)?;
    auths.insert(registry.to_string(), serde_json::json!({ "auth": credentials.basic() }));
    let mut text = serde_json::to_vec_pretty(&doc).expect("a JSON value serializes");
    text.push(b'\n');
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(|e| err("cannot create the directory of auth file", e))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".auth.json.")
        .tempfile_in(dir)
        .map_err(|e| err("cannot create a temp file beside auth file", e))?;
    temp.write_all(&text).and_then(|_| temp.as_file().sync_all()).map_err(|e| err("cannot write auth file", e))?;
    temp.persist(path).map_err(|e| err("cannot rename into auth file", e.error))?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
