//! Every source of a closure in the cache, trusted: what is cached is rehashed first (bit rot is
//! removed and fetched again), the rest is fetched, and every failure is reported at once rather than
//! the first. `compose fetch`, `sources export`, `sources bundle`, `lock` and `verify` start here.

use std::path::PathBuf;

use rayon::prelude::*;

use super::{FetchError, FetchProgress, FetchSettings, SourceCache, SourceRequest, fetch_all};

/// Each request's path in the cache, in request order, and how many were already cached (and verified).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub paths: Vec<PathBuf>,
    pub cached: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchVerifiedError {
    /// A corrupted cache entry could not be removed.
    #[error(transparent)]
    Remove(FetchError),
    /// Every source that could not be fetched, in request order.
    #[error("{} of {total} source(s) could not be fetched", failures.len())]
    Fetch { failures: Vec<FetchError>, total: usize },
}

/// Verifies what is cached (rehashing it on rayon: CPU work), fetches the rest, and returns each
/// request's cached path, or every failure at once. `progress.on_corrupted` hears of each rotten entry
/// before it is removed.
pub fn fetch_verified(
    cache: &SourceCache,
    requests: &[SourceRequest],
    settings: &FetchSettings,
    progress: &dyn FetchProgress,
) -> Result<Fetched, FetchVerifiedError> {
    let rotten: Vec<&SourceRequest> = requests
        .par_iter()
        .filter(|r| cache.lookup(&r.sha256).is_some() && !cache.verify(&r.sha256).unwrap_or(false))
        .collect();
    for r in rotten {
        progress.on_corrupted(r);
        cache.remove(&r.sha256).map_err(FetchVerifiedError::Remove)?;
    }
    let cached = requests.iter().filter(|r| cache.lookup(&r.sha256).is_some()).count();
    let mut paths = Vec::new();
    let mut failures = Vec::new();
    for r in fetch_all(cache, requests, settings, progress) {
        match r {
            Ok(p) => paths.push(p),
            Err(e) => failures.push(e),
        }
    }
    if !failures.is_empty() {
        return Err(FetchVerifiedError::Fetch { failures, total: requests.len() });
    }
    Ok(Fetched { paths, cached })
}
