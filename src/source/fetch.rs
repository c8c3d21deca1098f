//! Where a source may come from, and one attempt at getting it from one URL.
//!
//! The retry loop and the choice between candidates live in `cache.rs`; this
//! file only knows how to turn a URL into verified bytes in a temp file.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::digest::Sha256;
use reqwest::blocking::Client;
use reqwest::redirect;
use tempfile::NamedTempFile;

use super::debian::debian_pool_url;
use super::{FetchError, FetchProgress, FetchSettings, SourceRequest};

/// Every URL to try, in order, without duplicates: the request's own URLs, then
/// per mirror `<mirror>/<file_name>` and the content-addressed `<mirror>/<sha256>`
/// (so a copy of another machine's cache directory works as a mirror), then the
/// Debian pool.
pub fn candidate_urls(req: &SourceRequest, settings: &FetchSettings) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |url: String| {
        if !out.contains(&url) {
            out.push(url);
        }
    };
    req.urls.iter().cloned().for_each(&mut push);
    for mirror in &settings.mirrors {
        let base = mirror_base(mirror);
        if !req.file_name.is_empty() {
            push(format!("{base}/{}", req.file_name));
        }
        push(format!("{base}/{}", req.sha256));
    }
    if let (Some(pool), Some(base)) = (&req.debian_pool, &settings.debian_base) {
        push(debian_pool_url(base, pool));
    }
    out
}

/// A plain absolute path names a local directory; `%` is escaped because
/// `file://` URLs are percent-decoded when read.
fn mirror_base(mirror: &str) -> String {
    let mirror = mirror.trim_end_matches('/');
    if mirror.starts_with('/') { format!("file://{}", mirror.replace('%', "%25")) } else { mirror.to_string() }
}

/// Anything that is not a local file counts as network, so `offline` errs on
/// the side of not connecting.
pub(crate) fn is_network(url: &str) -> bool {
    !url.starts_with("file:")
}

/// `file:///a/b%20c` -> `/a/b c` (apt also writes `file:/a`); only local
/// absolute paths are accepted.
fn file_url_path(url: &str) -> Option<PathBuf> {
    let rest = match url.strip_prefix("file://") {
        Some(rest) => rest.strip_prefix("localhost").unwrap_or(rest),
        None => url.strip_prefix("file:")?,
    };
    if !rest.starts_with('/') {
        return None;
    }
    let (bytes, mut out, mut i) = (rest.as_bytes(), Vec::with_capacity(rest.len()), 0);
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%').then(|| bytes.get(i + 1..i + 3)).flatten();
        match escaped.and_then(|h| hex::decode(h).ok()) {
            Some(b) => (out.extend(b), i += 3),
            None => (out.push(bytes[i]), i += 1),
        };
    }
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

/// Why one try at one URL failed.
#[derive(Debug)]
pub(crate) enum AttemptError {
    /// The bytes arrived in full but are not the ones asked for; kept for triage.
    Mismatch { got: String, temp: NamedTempFile },
    /// The URL did not deliver; `transient` failures are worth another try.
    Source { message: String, transient: bool },
    /// The cache itself failed (disk full...): no other URL will do better.
    Cache(FetchError),
}

fn source_error(message: impl Into<String>, transient: bool) -> AttemptError {
    AttemptError::Source { message: message.into(), transient }
}

/// One HTTP client for the whole cache: connections are reused across
/// packages and threads. Rebuilt only if a caller asks for another timeout.
#[derive(Debug, Default)]
pub(crate) struct HttpClient(Mutex<Option<(Duration, Client)>>);

impl HttpClient {
    fn get(&self, timeout: Duration) -> Result<Client, AttemptError> {
        let mut cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((t, client)) = cached.as_ref()
            && *t == timeout
        {
            return Ok(client.clone());
        }
        let client = build_client(timeout).map_err(|e| source_error(format!("cannot set up HTTP: {e}"), false))?;
        *cached = Some((timeout, client.clone()));
        Ok(client)
    }
}

fn build_client(timeout: Duration) -> reqwest::Result<Client> {
    let policy = redirect::Policy::custom(|attempt| match refuse_redirect(attempt.url(), attempt.previous()) {
        Some(reason) => attempt.error(reason),
        None => attempt.follow(),
    });
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(policy)
        .user_agent(concat!("compose/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A few redirects are normal (mirrors redirect to a nearby host); a long
/// chain is a loop. The hash check makes a downgrade to http harmless for
/// integrity, but it would still leak what we fetch, and it is never what a
/// recipe author meant by writing https.
fn refuse_redirect(next: &reqwest::Url, previous: &[reqwest::Url]) -> Option<&'static str> {
    if previous.len() > 5 {
        Some("too many redirects")
    } else if next.scheme() == "http" && previous.iter().any(|u| u.scheme() == "https") {
        Some("refusing a redirect from https to http")
    } else {
        None
    }
}

/// A readable source, its size if known, and whether read errors are worth a retry.
type Opened = (Box<dyn Read>, Option<u64>, bool);

fn open(http: &HttpClient, timeout: Duration, url: &str) -> Result<Opened, AttemptError> {
    if let Some(path) = file_url_path(url) {
        let file = File::open(&path).map_err(|e| source_error(e.to_string(), false))?;
        let len = file.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
        return Ok((Box::new(file), len, false));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(source_error("unsupported URL scheme", false));
    }
    let response = http.get(timeout)?.get(url).send().map_err(http_error)?;
    let status = response.status();
    if !status.is_success() {
        // 404 and friends are answers, not accidents: asking again won't help.
        let transient = status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429;
        return Err(source_error(format!("HTTP {status}"), transient));
    }
    let len = response.content_length();
    Ok((Box::new(response), len, true))
}

fn http_error(e: reqwest::Error) -> AttemptError {
    // A name that does not resolve will not resolve 200 ms later either; that
    // is the usual state of upstream hosts on a sandboxed build machine.
    let transient = !e.is_dns() && (e.is_timeout() || e.is_connect() || e.is_request() || e.is_body());
    // reqwest's own text ("error sending request") says little; the root cause
    // ("Connection refused") says what went wrong, the kind says where.
    let (mut root, mut depth): (&dyn std::error::Error, _) = (&e, 0);
    while let Some(cause) = root.source() {
        (root, depth) = (cause, depth + 1);
    }
    let root = root.to_string();
    let message = if e.is_dns() {
        format!("cannot resolve the host: {root}")
    } else if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        format!("cannot connect: {root}")
    } else if depth > 0 {
        format!("{}: {root}", e.without_url()) // the URL is printed next to the message anyway
    } else {
        e.without_url().to_string()
    };
    source_error(message, transient)
}

/// Streams `url` into a temp file in `dir` (the cache directory, so the final
/// rename stays on one filesystem), hashing on the way. Returns the temp file
/// only if its content has the requested hash; on any error it is deleted.
pub(crate) fn download(
    http: &HttpClient,
    timeout: Duration,
    url: &str,
    req: &SourceRequest,
    dir: &Path,
    progress: &dyn FetchProgress,
) -> Result<NamedTempFile, AttemptError> {
    let (temp, got) = download_hashed(http, timeout, url, &req.package, dir, progress)?;
    if got != req.sha256 {
        return Err(AttemptError::Mismatch { got, temp });
    }
    Ok(temp)
}

/// Streams `url` into a temp file in `dir`, hashing on the way: the temp file and its sha256,
/// whatever it is (`download` compares it with the one asked for; `compose new` learns it).
pub(crate) fn download_hashed(
    http: &HttpClient,
    timeout: Duration,
    url: &str,
    package: &str,
    dir: &Path,
    progress: &dyn FetchProgress,
) -> Result<(NamedTempFile, String), AttemptError> {
    let (mut reader, total, retry_reads) = open(http, timeout, url)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .map_err(|source| AttemptError::Cache(FetchError::CacheWrite { path: dir.to_path_buf(), source }))?;
    progress.on_start(package, url, total);
    let mut sink = HashingWriter::new(temp.as_file_mut(), |n| progress.on_bytes(package, n));
    let copied = io::copy(&mut reader, &mut sink);
    let (got, written, write_failed) = sink.finish();
    progress.on_done(package);
    match copied {
        Err(source) if write_failed => {
            let path = temp.path().to_path_buf();
            Err(AttemptError::Cache(FetchError::CacheWrite { path, source }))
        }
        Err(e) => Err(source_error(format!("read failed after {written} bytes: {e}"), retry_reads)),
        Ok(_) => Ok((temp, got)),
    }
}

/// Whether `url` has a file, without reading it: `HEAD` over HTTP, `stat` for `file:`. `None` for
/// an answer that says it is not there (404, 410, no such file); else its size when known.
pub(crate) fn probe(http: &HttpClient, timeout: Duration, url: &str) -> Result<Option<Option<u64>>, AttemptError> {
    if let Some(path) = file_url_path(url) {
        return match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(Some(m.len()))),
            Ok(_) => Err(source_error("not a file", false)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(source_error(e.to_string(), false)),
        };
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(source_error("unsupported URL scheme", false));
    }
    let response = http.get(timeout)?.head(url).send().map_err(http_error)?;
    let status = response.status();
    if status.as_u16() == 404 || status.as_u16() == 410 {
        return Ok(None);
    }
    if !status.is_success() {
        let transient = status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429;
        return Err(source_error(format!("HTTP {status}"), transient));
    }
    // The header itself: a HEAD response has no body, so the body's size hint says nothing.
    let len = response.headers().get(reqwest::header::CONTENT_LENGTH);
    Ok(Some(len.and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())))
}

/// Lowercase hex sha256 of everything `reader` yields.
pub fn sha256_of(mut reader: impl Read) -> io::Result<String> {
    let mut sink = HashingWriter::new(io::sink(), |_| {});
    io::copy(&mut reader, &mut sink)?;
    Ok(sink.finish().0)
}

/// Lowercase hex sha256 and sha1 of everything `reader` yields, in one read. `size` (a hint) sizes
/// the buffer: most files are small, and zeroing 256 KiB for each would cost more than hashing it.
pub fn sha256_sha1_of(mut reader: impl Read, size: u64) -> io::Result<(String, String)> {
    let mut s256 = Sha256::new();
    let mut s1 = crate::digest::Sha1::new();
    let mut buf = vec![0u8; size.clamp(4096, 256 << 10) as usize];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        s256.update(&buf[..n]);
        s1.update(&buf[..n]);
    }
    Ok((s256.hex(), s1.hex()))
}

/// Hashes what passes through on its way to `inner`. (sha2 0.11 hashers are no
/// longer `io::Write` themselves.) Remembers whether a write failed, because
/// `io::copy` returns read and write errors alike, and only a read error is
/// the source's fault.
struct HashingWriter<W, F> {
    inner: W,
    hasher: Sha256,
    on_bytes: F,
    written: u64,
    failed: bool,
}

impl<W: Write, F: FnMut(u64)> HashingWriter<W, F> {
    fn new(inner: W, on_bytes: F) -> Self {
        Self { inner, hasher: Sha256::new(), on_bytes, written: 0, failed: false }
    }

    /// The hex digest, the byte count, and whether a write failed.
    fn finish(self) -> (String, u64, bool) {
        (self.hasher.hex(), self.written, self.failed)
    }
}

impl<W: Write, F: FnMut(u64)> Write for HashingWriter<W, F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf).inspect_err(|_| self.failed = true)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        (self.on_bytes)(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|_| self.failed = true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_in_order_without_duplicates() {
        let up = "https://upstream.example/pkg-1.0.tar.gz".to_string();
        let alt = "https://alt.example/pkg-1.0.tar.gz".to_string();
        let mut req = SourceRequest {
            package: "pkg".into(),
            file_name: "pkg-1.0.tar.gz".into(),
            sha256: "ab".repeat(32),
            urls: vec![up.clone(), alt.clone(), up.clone()],
            debian_pool: None,
            local: None,
        };
        req.debian_pool = Some("pkg_1.0.orig.tar.gz".into());
        let settings = FetchSettings {
            mirrors: vec!["http://m.example/src/".into(), "/srv/my%mirror".into()],
            debian_base: Some("http://mirror.example/debian".into()),
            ..FetchSettings::default()
        };
        let s = &req.sha256;
        let expected = [
            up,
            alt,
            "http://m.example/src/pkg-1.0.tar.gz".into(),
            format!("http://m.example/src/{s}"),
            "file:///srv/my%25mirror/pkg-1.0.tar.gz".into(),
            format!("file:///srv/my%25mirror/{s}"),
            "http://mirror.example/debian/pool/main/p/pkg/pkg_1.0.orig.tar.gz".into(),
        ];
        assert_eq!(candidate_urls(&req, &settings), expected);
        req.debian_pool = None; // a pool name without a base (or the reverse) adds nothing
        assert_eq!(candidate_urls(&req, &settings).len(), 6);
    }

    #[test]
    fn file_urls_decode_to_paths() {
        assert_eq!(file_url_path("file:///a/b%20c%25"), Some(PathBuf::from("/a/b c%")));
        assert_eq!(file_url_path("file://localhost/x"), Some(PathBuf::from("/x")));
        assert_eq!(file_url_path("file:///bad%zz"), Some(PathBuf::from("/bad%zz")));
        assert_eq!(file_url_path("file:/srv/debian"), Some(PathBuf::from("/srv/debian")));
        assert_eq!(file_url_path("file://relative"), None);
    }

    #[test]
    fn redirects_never_downgrade_to_http() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        let (https, http) = (url("https://a.example/x"), url("http://b.example/x"));
        assert_eq!(refuse_redirect(&https, &[url("http://c.example/")]), None, "upgrades are fine");
        assert_eq!(refuse_redirect(&http, &[url("http://c.example/")]), None);
        let via_https = [url("https://c.example/"), url("http://d.example/")];
        assert!(refuse_redirect(&http, &via_https).is_some(), "no downgrade, however indirect");
        assert!(refuse_redirect(&https, &vec![https.clone(); 6]).is_some());
    }
}
