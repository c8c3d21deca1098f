//! A client for the OCI distribution API: what `compose push`, the attachments and the remote artifact
//! cache use to talk to a registry.
//!
//! Guarantees:
//! - TLS is verified unless `Options::tls_verify` is false, and even then only for the registry named:
//!   redirects and token realms on any other host go through the verified client and must be https.
//! - Every blob is hashed on the way (uploads before they start, downloads as they stream) and refused
//!   when its digest differs from the one asked for.
//! - Credentials are sent only to the registry itself (and Basic credentials to its token realm), never
//!   to a storage host a blob download is redirected to.
//! - Transient failures (connect errors, 429, 5xx) are retried with backoff.

pub mod auth;
mod blobs;
mod client;
mod error;
mod http;
mod manifests;
pub mod reference;
mod session;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fake;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use auth::Credentials;
pub use client::{Client, login};
pub use error::RegistryError;
pub use manifests::referrers_tag;
pub use reference::Reference;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The config media type of artifacts that have no config: the blob is `{}`.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_DIGEST: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

#[derive(Debug, Clone)]
pub struct Options {
    /// false: the registry named (only it) may be plain HTTP or present an unverified certificate
    /// (podman's --tls-verify=false). Redirects and token realms on other hosts are still verified https.
    pub tls_verify: bool,
    /// CA certificates (`*.crt`, PEM) trusted in addition to the system store, as podman's --cert-dir.
    /// None: `/etc/containers/certs.d/HOST[:PORT]/` and `/etc/docker/certs.d/HOST[:PORT]/` when present.
    pub cert_dir: Option<PathBuf>,
    /// An explicit auth file (--authfile); None: $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json,
    /// ~/.config/containers/auth.json, ~/.docker/config.json, first that has an entry for the registry.
    pub auth_file: Option<PathBuf>,
    /// Explicit credentials (--creds USER:PASS) win over any file.
    pub credentials: Option<Credentials>,
    /// Blobs larger than this upload in PATCH chunks of this size (default 8 MiB;
    /// env COMPOSE_REGISTRY_CHUNK_SIZE read by the CLI, not the library).
    pub chunk_size: u64,
    /// Transient failures (connect errors, 429, 5xx) are retried this many times with backoff.
    pub retries: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tls_verify: true,
            cert_dir: None,
            auth_file: None,
            credentials: None,
            chunk_size: 8 << 20,
            retries: 3,
        }
    }
}

/// An OCI descriptor (OCI JSON field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(rename = "artifactType", skip_serializing_if = "Option::is_none", default)]
    pub artifact_type: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub platform: Option<serde_json::Value>,
}

/// Where the bytes of a blob to push are. A file is read chunk by chunk, never whole.
#[derive(Debug, Clone, Copy)]
pub enum BlobSource<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    /// The repository already had it: nothing was sent.
    Exists,
    /// Mounted from another repository of the registry: nothing was sent.
    Mounted,
    /// Sent in `chunks` requests: 1 for a monolithic PUT, else the number of PATCHes.
    Uploaded { chunks: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub media_type: String,
    pub digest: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPut {
    pub digest: String,
    /// The registry answered with an `OCI-Subject` header (it indexes the `subject` for the referrers API).
    pub subject_accepted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrersVia {
    /// `GET /v2/<repo>/referrers/<digest>`.
    Api,
    /// The `sha256-<hex>` tag of the distribution spec's fallback.
    TagSchema,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrers {
    pub descriptors: Vec<Descriptor>,
    pub via: ReferrersVia,
}

/// `sha256:<64 lowercase hex>`: the only digests this client accepts.
pub(crate) fn valid_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", crate::digest::Sha256::hex_of(bytes))
}

/// A writer that takes at most `limit` bytes: a blob is read into one with its descriptor's `size`
/// as the limit, so a registry that serves more (a hostile or broken one) is cut off at once rather
/// than filling memory or disk before the digest check fails.
pub struct AtMost<W> {
    pub inner: W,
    left: u64,
}

impl<W> AtMost<W> {
    pub fn new(inner: W, limit: u64) -> Self {
        AtMost { inner, left: limit }
    }
}

impl<W: std::io::Write> std::io::Write for AtMost<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(std::io::Error::other("the registry sent more bytes than the descriptor's size"));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
