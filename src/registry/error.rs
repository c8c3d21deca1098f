//! What can go wrong talking to a registry; each variant names the operation and the URL or path, and
//! `hint()` says what a person can do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid image reference `{reference}`: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("{op}: cannot connect to `{url}`")]
    Connect {
        op: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{op}: `{url}` answered HTTP {status}{}", detail(body))]
    Status { op: String, url: String, status: u16, body: String },
    #[error("{op}: `{registry}` refused {} (HTTP {status} from `{url}`){}", who(*with_credentials), detail(body))]
    Unauthorized { registry: String, op: String, url: String, status: u16, body: String, with_credentials: bool },
    #[error("refusing plain HTTP to `{url}`: only the registry named, with --tls-verify=false, may use http")]
    PlainHttpRefused { url: String },
    #[error("blob `{digest}` has the digest `{actual}`")]
    DigestMismatch { digest: String, actual: String },
    #[error("blob `{digest}` has {actual} bytes, not {expected}")]
    SizeMismatch { digest: String, expected: u64, actual: u64 },
    #[error("{op} `{path}`")]
    AuthFile {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("auth file `{path}`: {reason}")]
    AuthFileFormat { path: PathBuf, reason: String },
    #[error(
        "credentials for `{registry}` are kept by the credential helper `{helper}` (named in `{path}`), which compose does not support"
    )]
    CredentialHelper { registry: String, helper: String, path: PathBuf },
    #[error("cannot read the CA certificates in `{path}`")]
    CertDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a PEM certificate")]
    Certificate {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot set up the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    #[error("cannot read `{path}` to upload it")]
    ReadBlob {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{op}: reading the answer from `{url}` failed")]
    Transfer {
        op: String,
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write blob `{digest}`")]
    WriteBlob {
        digest: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{op}: `{url}`: {reason}")]
    Protocol { op: String, url: String, reason: String },
}

fn who(with_credentials: bool) -> &'static str {
    if with_credentials { "the credentials" } else { "anonymous access" }
}

fn detail(body: &str) -> String {
    if body.is_empty() { String::new() } else { format!(": {body}") }
}

impl RegistryError {
    /// What a person can do about it, where there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            RegistryError::Unauthorized { registry, .. } | RegistryError::CredentialHelper { registry, .. } => {
                Some(format!("run `compose login {registry}`, or pass --creds USER:PASS"))
            }
            RegistryError::PlainHttpRefused { .. } => {
                Some("--tls-verify=false allows plain HTTP for the registry named (only)".into())
            }
            RegistryError::Connect { source, .. } => connect_hint(source),
            RegistryError::InvalidReference { .. } => Some(
                "a reference reads `HOST[:PORT]/REPO[:TAG][@sha256:HEX]`, e.g. `localhost:5000/busybox:1.36`".into(),
            ),
            _ => None,
        }
    }
}

/// The root cause of a failed connection, read for the two fixes people need most.
fn connect_hint(e: &reqwest::Error) -> Option<String> {
    let chain = chain_text(e).to_lowercase();
    if chain.contains("unknownissuer") || chain.contains("unknown issuer") || chain.contains("self-signed") {
        Some("pass --cert-dir DIR with the registry's CA (`*.crt`), or add the CA to the system store".into())
    } else if chain.contains("invalidcontenttype")
        || chain.contains("corrupt message")
        || chain.contains("wrong version")
    {
        Some("the registry seems to speak plain HTTP: --tls-verify=false allows that for it".into())
    } else {
        None
    }
}

pub(crate) fn chain_text(e: &dyn std::error::Error) -> String {
    let mut out = format!("{e:?}");
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(&format!(" / {c} / {c:?}"));
        cur = c.source();
    }
    out
}

/// The OCI error codes and messages of a registry's JSON error body, shortened; other bodies cut short.
pub(crate) fn summarize_body(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(parsed) = serde_json::from_slice::<Errors>(body) {
        let items: Vec<String> = parsed
            .errors
            .iter()
            .map(|i| if i.message.is_empty() { i.code.clone() } else { format!("{} ({})", i.code, i.message) })
            .collect();
        return items.join(", ");
    }
    let text = String::from_utf8_lossy(body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_error_bodies_are_shortened_to_their_codes() {
        let body = br#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":{"x":1}},{"code":"NAME_UNKNOWN"}]}"#;
        assert_eq!(summarize_body(body), "MANIFEST_INVALID (manifest invalid), NAME_UNKNOWN");
        assert_eq!(summarize_body(b"  <html>\n oops </html>"), "<html> oops </html>");
        assert_eq!(summarize_body(&[b'x'; 300]).chars().count(), 201);
    }

    #[test]
    fn unauthorized_hints_at_login() {
        let e = RegistryError::Unauthorized {
            registry: "localhost:5000".into(),
            op: "push".into(),
            url: "http://localhost:5000/v2/".into(),
            status: 401,
            body: String::new(),
            with_credentials: false,
        };
        assert_eq!(e.hint().unwrap(), "run `compose login localhost:5000`, or pass --creds USER:PASS");
        assert!(e.to_string().contains("refused anonymous access (HTTP 401"), "{e}");
    }
}
