//! HTTP for one registry: the verified and (with --tls-verify=false) the insecure client, which URL may use
//! which, redirects followed by hand, and retries of transient failures.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::blocking::{Body, Client as Http, RequestBuilder, Response};
use reqwest::header::{AUTHORIZATION, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url, redirect};

use super::error::{chain_text, summarize_body};
use super::{Options, RegistryError};

const MAX_REDIRECTS: usize = 5;
/// Retry-After values up to this are waited out; longer ones get the usual backoff.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// Requests without a large body; blob transfers have no overall limit.
pub(crate) const SMALL_TIMEOUT: Duration = Duration::from_secs(60);

/// What a request carries. A file range is opened again for every attempt, so nothing is held in memory.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
    File { path: &'a Path, offset: u64, len: u64 },
}

impl Payload<'_> {
    fn body(&self) -> Result<Body, RegistryError> {
        match *self {
            Payload::Empty => Ok(Body::from(Vec::new())),
            Payload::Bytes(b) => Ok(Body::from(b.to_vec())),
            Payload::File { path, offset, len } => {
                let err = |source| RegistryError::ReadBlob { path: path.to_path_buf(), source };
                let mut file = std::fs::File::open(path).map_err(err)?;
                file.seek(SeekFrom::Start(offset)).map_err(err)?;
                Ok(Body::sized(file.take(len), len))
            }
        }
    }
}

/// One request, before authentication; `scopes` are the token scopes it needs.
pub(crate) struct Req<'a> {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(&'static str, String)>,
    pub body: Payload<'a>,
    pub scopes: Vec<String>,
    pub timeout: Option<Duration>,
    /// None: the transport's `Options::retries`.
    pub retries: Option<u32>,
}

impl<'a> Req<'a> {
    pub fn new(method: Method, url: Url, scopes: Vec<String>) -> Req<'a> {
        Req {
            method,
            url,
            headers: Vec::new(),
            body: Payload::Empty,
            scopes,
            timeout: Some(SMALL_TIMEOUT),
            retries: None,
        }
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn body(mut self, body: Payload<'a>) -> Self {
        self.body = body;
        self
    }
    /// Blob transfers: as long as they take.
    pub fn long(mut self) -> Self {
        self.timeout = None;
        self
    }
}

pub(crate) struct HttpClients {
    /// The registry's own `scheme://host[:port]/`.
    pub base: Url,
    verified: Http,
    insecure: Option<Http>,
    retries: u32,
}

impl HttpClients {
    pub fn new(base: Url, registry: &str, options: &Options) -> Result<HttpClients, RegistryError> {
        let certs = load_certs(registry, options.cert_dir.as_deref())?;
        let verified = build(certs, false)?;
        let insecure = if options.tls_verify { None } else { Some(build(Vec::new(), true)?) };
        Ok(HttpClients { base, verified, insecure, retries: options.retries })
    }

    /// Whether `url` is on the registry named (host and port), the only place credentials go.
    pub fn is_registry(&self, url: &Url) -> bool {
        url.host_str() == self.base.host_str() && url.port() == self.base.port()
    }

    /// The verified client for anything but the registry named; plain http only for it, and only when
    /// TLS verification is off.
    fn client_for(&self, url: &Url) -> Result<&Http, RegistryError> {
        let ours = self.is_registry(url);
        match (url.scheme(), &self.insecure) {
            ("https", Some(insecure)) if ours => Ok(insecure),
            ("https", _) => Ok(&self.verified),
            ("http", Some(insecure)) if ours => Ok(insecure),
            _ => Err(RegistryError::PlainHttpRefused { url: url.to_string() }),
        }
    }

    /// Sends `req` with `auth` (only ever to the registry itself), following up to 5 redirects and
    /// retrying transient failures. Any status comes back as a response.
    pub fn send(&self, op: &str, req: &Req<'_>, auth: Option<&str>) -> Result<Response, RegistryError> {
        self.dispatch(op, req, auth, &|url| self.is_registry(url))
    }

    /// A token request: `auth` goes to the realm's host (and port), whichever it is.
    pub fn send_to_realm(&self, op: &str, req: &Req<'_>, auth: Option<String>) -> Result<Response, RegistryError> {
        let realm = &req.url;
        let same = |url: &Url| url.host_str() == realm.host_str() && url.port() == realm.port();
        self.dispatch(op, req, auth.as_deref(), &same)
    }

    fn dispatch(
        &self,
        op: &str,
        req: &Req<'_>,
        auth: Option<&str>,
        auth_to: &dyn Fn(&Url) -> bool,
    ) -> Result<Response, RegistryError> {
        let (mut url, mut method, mut body) = (req.url.clone(), req.method.clone(), req.body);
        for _ in 0..=MAX_REDIRECTS {
            let http = self.client_for(&url)?;
            let auth = auth.filter(|_| auth_to(&url));
            let build = || -> Result<RequestBuilder, RegistryError> {
                let mut b = http.request(method.clone(), url.clone());
                if let Some(t) = req.timeout {
                    b = b.timeout(t);
                }
                for (k, v) in &req.headers {
                    b = b.header(*k, v);
                }
                if let Some(a) = auth {
                    b = b.header(AUTHORIZATION, a);
                }
                if method != Method::GET && method != Method::HEAD {
                    b = b.body(body.body()?);
                }
                Ok(b)
            };
            let resp = self.with_retries(op, &url, req.retries.unwrap_or(self.retries), build)?;
            if !resp.status().is_redirection() || resp.status() == StatusCode::NOT_MODIFIED {
                return Ok(resp);
            }
            let next = location(&resp).ok_or_else(|| protocol(op, &url, "a redirect without a Location"))?;
            if resp.status() == StatusCode::SEE_OTHER {
                (method, body) = (Method::GET, Payload::Empty);
            }
            url = next;
        }
        Err(protocol(op, &req.url, "more than 5 redirects"))
    }

    fn with_retries(
        &self,
        op: &str,
        url: &Url,
        retries: u32,
        build: impl Fn() -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let mut tries = 0;
        loop {
            let result = build()?.send();
            let wait = match &result {
                Err(e) if transient(e) => Some(backoff(tries)),
                Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS || r.status().is_server_error() => {
                    Some(retry_after(r).unwrap_or(backoff(tries)))
                }
                _ => None,
            };
            match wait {
                Some(wait) if tries < retries => std::thread::sleep(wait),
                _ => {
                    return result.map_err(|source| RegistryError::Connect {
                        op: op.to_string(),
                        url: url.to_string(),
                        source,
                    });
                }
            }
            tries += 1;
        }
    }
}

/// 200 ms, 800 ms, then 3.2 s, as source fetches wait.
fn backoff(tries: u32) -> Duration {
    Duration::from_millis(200 << (2 * tries.min(2)))
}

fn retry_after(r: &Response) -> Option<Duration> {
    let secs: u64 = r.headers().get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs)).filter(|d| *d <= MAX_RETRY_AFTER)
}

/// Worth another try: the network, not the configuration. A name that does not resolve or a
/// certificate that does not verify will not change in a second.
fn transient(e: &reqwest::Error) -> bool {
    if e.is_builder() || e.is_redirect() || e.is_status() {
        return false;
    }
    let chain = chain_text(e).to_lowercase();
    let tls = ["certificate", "invalidcontenttype", "corrupt message", "handshake"].iter().any(|s| chain.contains(s));
    let dns = chain.contains("dns error") || chain.contains("failed to lookup address");
    (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()) && !tls && !dns
}

/// The `Location` of a response, resolved against the URL that answered (after any redirects: it may
/// be relative to that one).
pub(crate) fn location(resp: &Response) -> Option<Url> {
    let value = resp.headers().get(LOCATION)?.to_str().ok()?;
    resp.url().join(value).ok()
}

pub(crate) fn protocol(op: &str, url: &Url, reason: impl Into<String>) -> RegistryError {
    RegistryError::Protocol { op: op.to_string(), url: url.to_string(), reason: reason.into() }
}

/// Reads at most `limit` bytes of the body.
pub(crate) fn read_body(op: &str, resp: Response, limit: u64) -> Result<Vec<u8>, RegistryError> {
    let url = resp.url().to_string();
    let mut out = Vec::new();
    resp.take(limit).read_to_end(&mut out).map_err(|source| RegistryError::Transfer {
        op: op.to_string(),
        url,
        source,
    })?;
    Ok(out)
}

/// An unexpected status as an error, with the OCI error codes of its body.
pub(crate) fn status_error(op: &str, resp: Response) -> RegistryError {
    let (url, status) = (resp.url().to_string(), resp.status().as_u16());
    let body = read_body(op, resp, 64 << 10).map(|b| summarize_body(&b)).unwrap_or_default();
    RegistryError::Status { op: op.to_string(), url, status, body }
}

fn build(certs: Vec<reqwest::Certificate>, insecure: bool) -> Result<Http, RegistryError> {
    Http::builder()
        .timeout(None)
        .connect_timeout(Duration::from_secs(30))
        .redirect(redirect::Policy::none())
        .tls_certs_merge(certs)
        .tls_danger_accept_invalid_certs(insecure)
        .user_agent(concat!("compose/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(RegistryError::HttpClient)
}

/// The `*.crt` files of `cert_dir`, or of the registry's directories under `/etc/containers/certs.d`
/// and `/etc/docker/certs.d` when there are any.
fn load_certs(registry: &str, cert_dir: Option<&Path>) -> Result<Vec<reqwest::Certificate>, RegistryError> {
    let dirs: Vec<PathBuf> = match cert_dir {
        Some(d) => vec![d.to_path_buf()],
        None => ["/etc/containers/certs.d", "/etc/docker/certs.d"]
            .iter()
            .map(|root| Path::new(root).join(registry))
            .filter(|d| d.is_dir())
            .collect(),
    };
    let mut out = Vec::new();
    for dir in dirs {
        let err = |source| RegistryError::CertDir { path: dir.clone(), source };
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(err)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        files.retain(|p| p.extension().is_some_and(|e| e == "crt"));
        files.sort();
        for path in files {
            let pem = std::fs::read(&path).map_err(|source| RegistryError::CertDir { path: path.clone(), source })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|source| RegistryError::Certificate { path: path.clone(), source })?;
            out.extend(certs);
        }
    }
    Ok(out)
}
