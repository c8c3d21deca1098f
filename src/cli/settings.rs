//! Flags, environment and defaults merged into plain settings. Nothing past the command layer reads a
//! raw flag or an environment variable.

use std::path::PathBuf;

/// Default SOURCE_DATE_EPOCH when neither the environment nor a flag sets one: 2023-11-14T22:13:20Z.
pub const DEFAULT_SOURCE_DATE_EPOCH: u64 = 1_700_000_000;

pub struct Common {
    pub cache_dir: PathBuf,
    pub jobs: usize,
    pub source_date_epoch: u64,
}

pub fn cache_dir(flag: Option<PathBuf>) -> PathBuf {
    if let Some(p) = flag {
        return p;
    }
    if let Some(p) = std::env::var_os("COMPOSE_CACHE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(p).join("compose");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache").join("compose")
}

pub fn jobs(flag: Option<usize>) -> usize {
    flag.or_else(|| std::env::var("COMPOSE_JOBS").ok().and_then(|v| v.parse().ok()))
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1)
}

pub fn source_date_epoch() -> Result<u64, String> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => {
            v.trim().parse().map_err(|_| format!("SOURCE_DATE_EPOCH=`{v}` is not a number of seconds"))
        }
        _ => Ok(DEFAULT_SOURCE_DATE_EPOCH),
    }
}

pub fn common(cache: Option<PathBuf>, jobs_flag: Option<usize>) -> Result<Common, String> {
    let cache_dir = cache_dir(cache);
    let cache_dir = std::path::absolute(&cache_dir).unwrap_or(cache_dir);
    Ok(Common { cache_dir, jobs: jobs(jobs_flag), source_date_epoch: source_date_epoch()? })
}
