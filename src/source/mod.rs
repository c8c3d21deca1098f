//! Pinned source tarballs: where they can come from (`fetch`, `debian`) and the
//! content-addressed cache they land in (`cache`).
//!
//! A source is identified by its sha256 alone; URLs are only hints about where
//! bytes with that hash might be found. That is why the cache is keyed by hash,
//! why every candidate URL is tried before giving up, and why nothing reaches
//! the cache without being hashed on the way in.
//!
//! The types shared by the three files are defined here.

pub mod bundle;
mod cache;
mod debian;
mod fetch;
#[cfg(test)]
mod tests;
pub mod tree;
pub mod triage;
pub mod unpack;
mod verified;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

pub use cache::SourceCache;
pub use debian::{debian_base_from_apt, debian_pool_url, parse_deb822_base, parse_sources_list_base};
pub use fetch::{candidate_urls, sha256_of, sha256_sha1_of};
pub use verified::{FetchVerifiedError, Fetched, fetch_verified};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRequest {
    /// For messages and progress only.
    pub package: String,
    /// Upstream basename, looked up under each mirror.
    pub file_name: String,
    /// Lowercase hex; the identity of the source.
    pub sha256: String,
    /// The recipe's URL first, then the recipe's own mirrors.
    pub urls: Vec<String>,
    /// Name of the identical file in the Debian pool, if there is one.
    pub debian_pool: Option<String>,
    /// A local source's directory: "fetched" by packing it (`tree::pack`), never from a URL.
    pub local: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSettings {
    /// Extra places to look: `http(s)://` or `file://` URLs, or absolute directory paths.
    pub mirrors: Vec<String>,
    /// Never open a network connection; only local candidates are tried.
    pub offline: bool,
    /// Debian archive base URI (see `debian_base_from_apt`).
    pub debian_base: Option<String>,
    /// Extra tries after a transient failure (timeout, refused connection, 5xx).
    pub retries: u32,
    /// For connecting, for the response head, and for each read of the body
    /// (a stall limit, not a limit on the whole download).
    pub timeout: Duration,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self { mirrors: Vec::new(), offline: false, debian_base: None, retries: 2, timeout: Duration::from_secs(30) }
    }
}

/// Download progress. One observer is shared by the threads that fetch
/// different sources at once, hence `Sync`. Every attempt at a URL gets one
/// `on_start`, its `on_bytes`, and one `on_done`, whether it succeeded or not
/// (a retry or the next candidate starts afresh); a cache hit gets no calls.
pub trait FetchProgress: Sync {
    fn on_start(&self, package: &str, url: &str, total: Option<u64>);
    fn on_bytes(&self, package: &str, n: u64);
    fn on_done(&self, package: &str);
    /// A cached source no longer hashes to its name (bit rot): it is removed and fetched again.
    fn on_corrupted(&self, _request: &SourceRequest) {}
}

/// For callers that do not show progress.
pub struct NoProgress;

impl FetchProgress for NoProgress {
    fn on_start(&self, _: &str, _: &str, _: Option<u64>) {}
    fn on_bytes(&self, _: &str, _: u64) {}
    fn on_done(&self, _: &str) {}
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot create the source cache `{}`", path.display())]
    CacheCreate { path: PathBuf, source: std::io::Error },
    #[error("cannot read the cached source `{}`", path.display())]
    CacheRead { path: PathBuf, source: std::io::Error },
    #[error("cannot write to the source cache at `{}`", path.display())]
    CacheWrite { path: PathBuf, source: std::io::Error },
    #[error("cannot lock `{}`", path.display())]
    Lock { path: PathBuf, source: std::io::Error },
    #[error("`{package}`: sha256 `{sha256}` is not 64 lowercase hex digits")]
    InvalidSha256 { package: String, sha256: String },
    #[error("`{package}`: sha256 mismatch for `{url}`: expected {expected}, got {got}{}", kept_note(kept))]
    HashMismatch { package: String, url: String, expected: String, got: String, kept: Option<PathBuf> },
    #[error("`{package}`: cannot pack the local source `{}`", dir.display())]
    Tree { package: String, dir: PathBuf, source: tree::TreeError },
    #[error(
        "`{package}`: the local source `{}` changed during the build: its tree digest was {expected} when the \
         recipe was loaded, {got} when it was packed", dir.display()
    )]
    TreeChanged { package: String, dir: PathBuf, expected: String, got: String },
    #[error("`{package}`: cannot fetch `{file}` (sha256 {sha256}){}", list_attempts(attempts))]
    NotFound { package: String, file: String, sha256: String, attempts: Vec<(String, String)> },
    /// A URL whose sha256 is not known yet (`compose new`) did not deliver; `offline`: it was not tried.
    #[error("cannot download `{url}`: {message}")]
    Download { url: String, message: String, offline: bool },
}

/// What [`SourceCache::probe`] found at a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The server (or the file system) says there is no such file.
    Missing,
    /// There is a file; its size, when the answer gives one.
    Present { size: Option<u64> },
}

fn kept_note(kept: &Option<PathBuf>) -> String {
    kept.as_ref().map(|p| format!(" (the download is kept at `{}`)", p.display())).unwrap_or_default()
}

/// Every URL tried, one per line, so the user can see which mirror said what.
fn list_attempts(attempts: &[(String, String)]) -> String {
    if attempts.is_empty() {
        return ": no URL to try".to_string();
    }
    let mut out = String::from(", tried:");
    for (url, error) in attempts {
        let _ = write!(out, "\n  {url}: {error}");
    }
    out
}

/// A sha256 is used as a file name in the cache, so anything else (`../x`,
/// upper case that would create a second entry for the same hash) is refused.
pub(crate) fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Fetches every request at once, one thread each: this is waiting on the network and the disk, not
/// CPU work, so it does not belong on rayon. Results come back in request order.
pub fn fetch_all(
    cache: &SourceCache,
    requests: &[SourceRequest],
    settings: &FetchSettings,
    progress: &dyn FetchProgress,
) -> Vec<Result<PathBuf, FetchError>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            requests.iter().map(|r| scope.spawn(move || cache.fetch(r, settings, progress))).collect();
        handles.into_iter().map(|h| h.join().expect("fetch thread panicked")).collect()
    })
}
