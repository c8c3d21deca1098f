//! Finding a tarball's twin in the Debian archive's pool.
//!
//! Debian keeps most upstream release tarballs byte-identical as `SRC_VERSION.orig.tar.EXT`, so a
//! recipe can name that file as a second place to fetch from (`debian = "FILE"`). Which pool file it
//! might be is guessed from the tarball's file name; whether it is the same file is decided by its
//! sha256 alone. A repack (`+dfsg`, `+ds`) or a recompression has other bytes, so it never matches.

use std::path::PathBuf;

use crate::source::{FetchError, FetchProgress, FetchSettings, Probe, SourceCache, debian_pool_url};

use super::detect::FileName;

/// Compressions an orig tarball may have in the pool.
const POOL_COMPRESSIONS: &[&str] = &["gz", "xz", "bz2"];

/// Pool file names that could hold the tarball `file` of package `package`, the likeliest first: for
/// each compression (the tarball's own first, since another one cannot be the same bytes anyway), the
/// file's project name, the package name, then each with `lib` in front (`zstd` is Debian's `libzstd`).
/// Empty when the file name has no version.
pub fn candidates(package: &str, file: &FileName) -> Vec<String> {
    let Some(version) = &file.version else { return Vec::new() };
    // Debian source package names: lower case letters, digits, `+`, `-`, `.`.
    let debianize = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    let mut sources: Vec<String> = Vec::new();
    for s in file.project.iter().map(String::as_str).chain([package]).map(debianize) {
        let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if ok && !sources.contains(&s) {
            sources.push(s);
        }
    }
    let with_lib: Vec<String> = sources.iter().filter(|s| !s.starts_with("lib")).map(|s| format!("lib{s}")).collect();
    for s in with_lib {
        if !sources.contains(&s) {
            sources.push(s);
        }
    }
    let own = file.compression.filter(|c| POOL_COMPRESSIONS.contains(c));
    let compressions = own.into_iter().chain(POOL_COMPRESSIONS.iter().copied().filter(|c| Some(*c) != own));
    compressions.flat_map(|c| sources.iter().map(move |s| format!("{s}_{version}.orig.tar.{c}"))).collect()
}

/// What the pool has for a tarball whose bytes are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebianCheck {
    /// This pool file has the same sha256.
    Same(String),
    /// No candidate has the same bytes; these pool files exist with other bytes (repacks,
    /// another compression).
    Absent { other_bytes: Vec<String> },
    /// Not looked at, and why (no archive in the apt sources, offline, no version in the file name).
    Unchecked(String),
}

/// A pool file found for a tarball whose upstream could not be reached, stored in the source cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolFile {
    pub file: String,
    pub sha256: String,
    pub path: PathBuf,
}

/// Where and how to look.
pub struct Pool<'a> {
    pub cache: &'a SourceCache,
    pub settings: &'a FetchSettings,
    pub progress: &'a dyn FetchProgress,
    /// Shown with download progress.
    pub package: &'a str,
}

impl Pool<'_> {
    /// Why the pool cannot be looked at, if it cannot.
    fn unusable(&self, candidates: &[String]) -> Option<String> {
        let Some(base) = &self.settings.debian_base else {
            return Some("no Debian archive in the apt sources (or $COMPOSE_DEBIAN_MIRROR)".into());
        };
        if candidates.is_empty() {
            return Some("no version in the file name to look for".into());
        }
        (self.settings.offline && !base.starts_with("file:")).then(|| "offline".into())
    }

    fn url(&self, file: &str) -> String {
        debian_pool_url(self.settings.debian_base.as_deref().unwrap_or_default(), file)
    }

    /// Compares the candidates with a tarball of `sha256` and `size`: a `HEAD` (or `stat`) each, and a
    /// download only of a file whose size is the same or not given. Unreachable candidates count as
    /// absent: the check is advice, never a reason to fail.
    pub fn check(&self, candidates: &[String], sha256: &str, size: u64) -> DebianCheck {
        if let Some(why) = self.unusable(candidates) {
            return DebianCheck::Unchecked(why);
        }
        let mut other_bytes = Vec::new();
        for file in candidates {
            let url = self.url(file);
            match self.cache.probe(&url, self.settings) {
                Ok(Probe::Present { size: Some(s) }) if s != size => other_bytes.push(file.clone()),
                Ok(Probe::Present { .. }) => {
                    match self.cache.hash_url(self.package, &url, self.settings, self.progress) {
                        Ok(got) if got == sha256 => return DebianCheck::Same(file.clone()),
                        Ok(_) => other_bytes.push(file.clone()),
                        Err(_) => {}
                    }
                }
                Ok(Probe::Missing) | Err(_) => {}
            }
        }
        DebianCheck::Absent { other_bytes }
    }

    /// The first candidate the pool has, downloaded into the cache (for a tarball whose upstream could
    /// not be reached). `Err` lists every URL tried and what it said.
    pub fn fetch_first(&self, candidates: &[String]) -> Result<PoolFile, Vec<(String, String)>> {
        if let Some(why) = self.unusable(candidates) {
            return Err(vec![("the Debian archive".into(), format!("not looked at: {why}"))]);
        }
        let mut attempts = Vec::new();
        for file in candidates {
            let url = self.url(file);
            let found = match self.cache.probe(&url, self.settings) {
                Ok(Probe::Missing) => Err("not in the pool".to_string()),
                Ok(Probe::Present { .. }) => {
                    self.cache.fetch_unpinned(self.package, &url, self.settings, self.progress).map_err(|e| message(&e))
                }
                Err(e) => Err(message(&e)),
            };
            match found {
                Ok((sha256, path)) => return Ok(PoolFile { file: file.clone(), sha256, path }),
                Err(m) => attempts.push((url, m)),
            }
        }
        Err(attempts)
    }
}

/// What went wrong at one URL, without repeating the URL.
pub(super) fn message(e: &FetchError) -> String {
    match e {
        FetchError::Download { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::detect::parse_file_name;
    use super::*;

    #[test]
    fn candidate_pool_names() {
        let c = candidates("zstd", &parse_file_name("zstd-1.5.5.tar.gz", "zstd"));
        assert_eq!(
            c,
            [
                "zstd_1.5.5.orig.tar.gz",
                "libzstd_1.5.5.orig.tar.gz",
                "zstd_1.5.5.orig.tar.xz",
                "libzstd_1.5.5.orig.tar.xz",
                "zstd_1.5.5.orig.tar.bz2",
                "libzstd_1.5.5.orig.tar.bz2",
            ]
        );
        // The package name is a candidate too; upper case and `_` are not Debian's.
        let c = candidates("oniguruma", &parse_file_name("Onig_Lib-6.9.9.tar.xz", "oniguruma"));
        assert_eq!(
            &c[..4],
            [
                "onig-lib_6.9.9.orig.tar.xz",
                "oniguruma_6.9.9.orig.tar.xz",
                "libonig-lib_6.9.9.orig.tar.xz",
                "liboniguruma_6.9.9.orig.tar.xz"
            ]
        );
        // Already `lib*`: no `liblib`.
        let c = candidates("libpng", &parse_file_name("libpng-1.6.43.tar.xz", "libpng"));
        assert_eq!(c, ["libpng_1.6.43.orig.tar.xz", "libpng_1.6.43.orig.tar.gz", "libpng_1.6.43.orig.tar.bz2"]);
        // A .tar.zst has no twin of its own compression in the pool; the others are still listed.
        let c = candidates("x", &parse_file_name("x-1.tar.zst", "x"));
        assert_eq!(
            c,
            [
                "x_1.orig.tar.gz",
                "libx_1.orig.tar.gz",
                "x_1.orig.tar.xz",
                "libx_1.orig.tar.xz",
                "x_1.orig.tar.bz2",
                "libx_1.orig.tar.bz2"
            ]
        );
        assert!(candidates("x", &parse_file_name("snapshot.tar.gz", "x")).is_empty(), "no version, no guess");
        assert!(!candidates("hello", &parse_file_name("hello-1.0.tar.gz", "hello")).iter().any(|c| c.contains("dfsg")));
    }
}
