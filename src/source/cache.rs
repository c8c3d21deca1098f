//! The content-addressed source cache: `<root>/sources-v1/<sha256>`.
//!
//! A file appears under its final name only by an atomic rename after its hash
//! was checked, so the name can be trusted: a present file is a complete,
//! verified one. Concurrent fetchers of the same hash (threads or processes)
//! serialize on a per-hash lock file, so each source is downloaded once.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tempfile::NamedTempFile;

use super::fetch::{self, AttemptError, HttpClient};
use super::{FetchError, FetchProgress, FetchSettings, Probe, SourceRequest, candidate_urls, is_sha256, tree};

/// Bump when the layout changes, so old and new versions never share entries.
const LAYOUT: &str = "sources-v1";

/// A temp file untouched this long belongs to a process that died mid-download:
/// a live download writes to it (updating its mtime) at least once per timeout.
const STALE_PARTIAL: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug)]
pub struct SourceCache {
    dir: PathBuf,
    http: HttpClient,
}

impl SourceCache {
    /// Opens (creating it if needed) the cache under `root`.
    pub fn open(root: &Path) -> Result<Self, FetchError> {
        let dir = root.join(LAYOUT);
        fs::create_dir_all(&dir).map_err(|source| FetchError::CacheCreate { path: dir.clone(), source })?;
        let cache = Self { dir, http: HttpClient::default() };
        cache.sweep_stale_partials();
        Ok(cache)
    }

    /// Where the source with this hash is (or would be) stored.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    /// Where the cache under `root` stores the source with this hash, without opening (or creating)
    /// the cache: for readers that must not write.
    pub fn entry_path(root: &Path, sha256: &str) -> PathBuf {
        root.join(LAYOUT).join(sha256)
    }

    /// The cached file, if present. Not rehashed: only verified files are ever
    /// renamed into place (use [`SourceCache::verify`] to check for bit rot).
    pub fn lookup(&self, sha256: &str) -> Option<PathBuf> {
        let path = self.path(sha256);
        (is_sha256(sha256) && path.is_file()).then_some(path)
    }

    /// Rehashes the cached file; `false` if it is missing or its content changed.
    pub fn verify(&self, sha256: &str) -> Result<bool, FetchError> {
        if !is_sha256(sha256) {
            return Ok(false);
        }
        let path = self.path(sha256);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(source) => return Err(FetchError::CacheRead { path, source }),
        };
        let got = fetch::sha256_of(file).map_err(|source| FetchError::CacheRead { path, source })?;
        Ok(got == sha256)
    }

    /// Returns the cached path of `req`, downloading it first if needed. Every
    /// candidate URL is tried in order; a hash mismatch does not stop the search
    /// (another mirror may be right) but is the error reported if all fail.
    pub fn fetch(
        &self,
        req: &SourceRequest,
        settings: &FetchSettings,
        progress: &dyn FetchProgress,
    ) -> Result<PathBuf, FetchError> {
        if !is_sha256(&req.sha256) {
            return Err(FetchError::InvalidSha256 { package: req.package.clone(), sha256: req.sha256.clone() });
        }
        if let Some(path) = self.lookup(&req.sha256) {
            return Ok(path);
        }
        let _lock = LockGuard::acquire(self.dir.join(format!("{}.lock", req.sha256)))?;
        // Whoever held the lock before us may just have stored it.
        if let Some(path) = self.lookup(&req.sha256) {
            return Ok(path);
        }
        if let Some(dir) = &req.local {
            return self.pack_tree(req, dir);
        }
        let mut attempts = Vec::new();
        let mut mismatch = None;
        for url in candidate_urls(req, settings) {
            if settings.offline && fetch::is_network(&url) {
                attempts.push((url, "skipped: offline".to_string()));
                continue;
            }
            match self.try_url(&url, req, settings, progress) {
                Ok(path) => return Ok(path),
                Err(AttemptError::Cache(e)) => return Err(e),
                Err(AttemptError::Source { message, .. }) => attempts.push((url, message)),
                Err(AttemptError::Mismatch { got, temp }) => {
                    attempts.push((url.clone(), format!("sha256 mismatch, got {got}")));
                    if mismatch.is_none() {
                        let kept = self.quarantine(temp, &got);
                        mismatch = Some(FetchError::HashMismatch {
                            package: req.package.clone(),
                            url,
                            expected: req.sha256.clone(),
                            got,
                            kept,
                        });
                    }
                }
            }
        }
        Err(mismatch.unwrap_or_else(|| FetchError::NotFound {
            package: req.package.clone(),
            file: req.file_name.clone(),
            sha256: req.sha256.clone(),
            attempts,
        }))
    }

    /// A local source: its directory packed into a temp file, hashed on the way, and stored under the
    /// tree digest taken when the recipe was loaded, only if the bytes still hash to it.
    fn pack_tree(&self, req: &SourceRequest, dir: &Path) -> Result<PathBuf, FetchError> {
        let tree_err = |source| FetchError::Tree { package: req.package.clone(), dir: dir.to_path_buf(), source };
        use std::io::Write as _;
        let mut temp = self.temp_file()?;
        let temp_path = temp.path().to_path_buf();
        let ignore = tree::Ignore::load(dir).map_err(tree_err)?;
        let sink = tree::HashWriter::new(io::BufWriter::with_capacity(1 << 20, temp.as_file_mut()));
        let (got, mut buffered) = tree::pack(dir, &ignore, sink).map_err(tree_err)?.finish();
        buffered.flush().map_err(write_err(&temp_path))?;
        drop(buffered);
        if got != req.sha256 {
            return Err(FetchError::TreeChanged {
                package: req.package.clone(),
                dir: dir.to_path_buf(),
                expected: req.sha256.clone(),
                got,
            });
        }
        self.store(temp, &req.sha256)
    }

    /// One URL, retried with backoff while its failures look transient.
    fn try_url(
        &self,
        url: &str,
        req: &SourceRequest,
        settings: &FetchSettings,
        progress: &dyn FetchProgress,
    ) -> Result<PathBuf, AttemptError> {
        let temp = retrying(settings, || fetch::download(&self.http, settings.timeout, url, req, &self.dir, progress))?;
        self.store(temp, &req.sha256).map_err(AttemptError::Cache)
    }

    /// Downloads `url`, whose sha256 is not known yet (`compose new`), and stores it under the hash it
    /// turns out to have: the sha256 and the cached path. The client, retries, timeouts and redirect
    /// policy are `fetch`'s; offline, a network URL is refused without connecting.
    pub fn fetch_unpinned(
        &self,
        package: &str,
        url: &str,
        settings: &FetchSettings,
        progress: &dyn FetchProgress,
    ) -> Result<(String, PathBuf), FetchError> {
        let (temp, sha256) = self.download_unpinned(package, url, settings, progress)?;
        if let Some(path) = self.lookup(&sha256) {
            return Ok((sha256, path)); // the temp file goes away
        }
        let path = self.store(temp, &sha256)?;
        Ok((sha256, path))
    }

    /// The sha256 of what `url` serves, read through a temp file in the cache that is then deleted
    /// (a file compared with another, not one a recipe pins).
    pub fn hash_url(
        &self,
        package: &str,
        url: &str,
        settings: &FetchSettings,
        progress: &dyn FetchProgress,
    ) -> Result<String, FetchError> {
        self.download_unpinned(package, url, settings, progress).map(|(_, sha256)| sha256)
    }

    /// Whether `url` has a file, without downloading it (`HEAD`, or `stat` for `file:`), with
    /// `fetch`'s retries; offline, a network URL is refused without connecting.
    pub fn probe(&self, url: &str, settings: &FetchSettings) -> Result<Probe, FetchError> {
        refuse_offline(url, settings)?;
        match retrying(settings, || fetch::probe(&self.http, settings.timeout, url)) {
            Ok(None) => Ok(Probe::Missing),
            Ok(Some(size)) => Ok(Probe::Present { size }),
            Err(e) => Err(unpinned_error(url, e)),
        }
    }

    fn download_unpinned(
        &self,
        package: &str,
        url: &str,
        settings: &FetchSettings,
        progress: &dyn FetchProgress,
    ) -> Result<(NamedTempFile, String), FetchError> {
        refuse_offline(url, settings)?;
        retrying(settings, || fetch::download_hashed(&self.http, settings.timeout, url, package, &self.dir, progress))
            .map_err(|e| unpinned_error(url, e))
    }

    /// Keeps a download whose hash did not match under `<root>/mismatch/<sha256>`, outside the
    /// trusted `sources-v1`, so it can be compared with what was expected. Best effort.
    fn quarantine(&self, temp: NamedTempFile, got: &str) -> Option<PathBuf> {
        let dir = self.dir.parent()?.join("mismatch");
        fs::create_dir_all(&dir).ok()?;
        let dest = dir.join(got);
        temp.persist(&dest).ok()?;
        Some(dest)
    }

    /// Removes a cached source (one that failed verification).
    pub fn remove(&self, sha256: &str) -> Result<(), FetchError> {
        if !is_sha256(sha256) {
            return Ok(());
        }
        match fs::remove_file(self.path(sha256)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(write_err(&self.path(sha256))(e)),
            _ => Ok(()),
        }
    }

    /// Stores a file whose content was already hashed by the caller to `sha256` (bundle import).
    /// The temp file must be in this cache's directory (see [`SourceCache::temp_file`]).
    pub fn store_verified(&self, temp: NamedTempFile, sha256: &str) -> Result<PathBuf, FetchError> {
        self.store(temp, sha256)
    }

    /// Puts `from`, a file already verified to hash to `sha256` (another cache's entry), under that
    /// name here: a hard link where both are on one filesystem, else a copy through a temp file in
    /// this cache, synced and renamed like a download. An entry already present is kept as it is.
    pub fn place_verified(&self, sha256: &str, from: &Path) -> Result<PathBuf, FetchError> {
        if !is_sha256(sha256) {
            return Err(FetchError::InvalidSha256 { package: from.display().to_string(), sha256: sha256.into() });
        }
        let dest = self.path(sha256);
        // A link publishes a complete inode under the name in one step, like the rename.
        match fs::hard_link(from, &dest) {
            Ok(()) => Ok(dest),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(dest),
            Err(_) => self.copy_verified(sha256, from),
        }
    }

    /// The copy half of [`SourceCache::place_verified`].
    pub(super) fn copy_verified(&self, sha256: &str, from: &Path) -> Result<PathBuf, FetchError> {
        let mut temp = self.temp_file()?;
        let mut src = File::open(from).map_err(|source| FetchError::CacheRead { path: from.into(), source })?;
        io::copy(&mut src, temp.as_file_mut()).map_err(write_err(temp.path()))?;
        self.store(temp, sha256)
    }

    /// A temp file in the cache directory, for `store_verified`.
    pub fn temp_file(&self) -> Result<NamedTempFile, FetchError> {
        tempfile::Builder::new().prefix(".partial-").tempfile_in(&self.dir).map_err(write_err(&self.dir))
    }

    /// The directory holding `<sha256>` files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves a verified temp file to its final name.
    fn store(&self, temp: NamedTempFile, sha256: &str) -> Result<PathBuf, FetchError> {
        let dest = self.path(sha256);
        // Temp files are created 0600; the cache may be shared with other users.
        let file = temp.as_file();
        file.set_permissions(fs::Permissions::from_mode(0o644)).map_err(write_err(temp.path()))?;
        // Data must be on disk before the rename publishes it, or a crash could
        // leave a truncated file under a trusted name.
        file.sync_all().map_err(write_err(temp.path()))?;
        temp.persist(&dest).map_err(|e| write_err(&dest)(e.error))?;
        // And the rename itself must survive a crash.
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(write_err(&self.dir))?;
        Ok(dest)
    }

    /// A killed process cannot clean up its temp file; remove old ones.
    fn sweep_stale_partials(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| SystemTime::now().duration_since(t).ok());
            if entry.file_name().to_string_lossy().starts_with(".partial-") && stale > Some(STALE_PARTIAL) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// An exclusive `flock` on `<sha256>.lock`, removed again when dropped so the
/// cache holds nothing but sources.
struct LockGuard {
    path: PathBuf,
    _file: File,
}

impl LockGuard {
    fn acquire(path: PathBuf) -> Result<Self, FetchError> {
        loop {
            let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path);
            let file = file.map_err(lock_err(&path))?;
            file.lock().map_err(lock_err(&path))?;
            // The previous holder unlinks the file before unlocking, so we may
            // now hold a lock on a name-less inode while a newcomer locks a
            // fresh file under the same name. Only the file at `path` counts.
            let held = file.metadata().map_err(lock_err(&path))?;
            match fs::metadata(&path) {
                Ok(now) if (now.dev(), now.ino()) == (held.dev(), held.ino()) => {
                    return Ok(Self { path, _file: file });
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(FetchError::Lock { path, source }),
            }
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Unlink while still locked (`_file` is closed after this runs); see `acquire`.
        let _ = fs::remove_file(&self.path);
    }
}

/// Runs `attempt` again, with backoff, while its failures look transient.
fn retrying<T>(
    settings: &FetchSettings,
    mut attempt: impl FnMut() -> Result<T, AttemptError>,
) -> Result<T, AttemptError> {
    let mut tries = 0;
    loop {
        match attempt() {
            Ok(done) => return Ok(done),
            Err(AttemptError::Source { transient: true, .. }) if tries < settings.retries => {
                // 200 ms, 800 ms, then 3.2 s: long enough for a restarting
                // server, short enough not to stall a build.
                std::thread::sleep(Duration::from_millis(200 << (2 * tries.min(2))));
                tries += 1;
            }
            Err(AttemptError::Source { message, transient }) if tries > 0 => {
                return Err(AttemptError::Source {
                    message: format!("{message} (after {} tries)", tries + 1),
                    transient,
                });
            }
            Err(e) => return Err(e),
        }
    }
}

fn refuse_offline(url: &str, settings: &FetchSettings) -> Result<(), FetchError> {
    if settings.offline && fetch::is_network(url) {
        return Err(FetchError::Download { url: url.to_string(), message: "skipped: offline".into(), offline: true });
    }
    Ok(())
}

/// A failure at a URL whose hash is not known: there is no mismatch to report, only what went wrong.
fn unpinned_error(url: &str, e: AttemptError) -> FetchError {
    match e {
        AttemptError::Cache(e) => e,
        AttemptError::Source { message, .. } => FetchError::Download { url: url.to_string(), message, offline: false },
        AttemptError::Mismatch { got, .. } => {
            FetchError::Download { url: url.to_string(), message: format!("unexpected sha256 {got}"), offline: false }
        }
    }
}

fn write_err(path: &Path) -> impl FnOnce(io::Error) -> FetchError + use<> {
    let path = path.to_path_buf();
    move |source| FetchError::CacheWrite { path, source }
}

fn lock_err(path: &Path) -> impl FnOnce(io::Error) -> FetchError + use<> {
    let path = path.to_path_buf();
    move |source| FetchError::Lock { path, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::NoProgress;

    const SHA: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; // "hello"

    fn cache() -> (tempfile::TempDir, SourceCache) {
        let root = tempfile::tempdir().unwrap();
        let cache = SourceCache::open(root.path()).unwrap();
        (root, cache)
    }

    #[test]
    fn layout_lookup_and_verify() {
        let (root, cache) = cache();
        assert_eq!(cache.path(SHA), root.path().join("sources-v1").join(SHA));
        assert_eq!(cache.lookup(SHA), None);
        assert!(!cache.verify(SHA).unwrap());
        fs::write(cache.path(SHA), b"hello").unwrap();
        assert_eq!(cache.lookup(SHA), Some(cache.path(SHA)));
        assert!(cache.verify(SHA).unwrap());
        fs::write(cache.path(SHA), b"bit rot").unwrap();
        assert!(!cache.verify(SHA).unwrap(), "verify rehashes; lookup trusts the name");
    }

    #[test]
    fn refuses_names_that_are_not_hashes() {
        let (_root, cache) = cache();
        let req = SourceRequest {
            package: "pkg".into(),
            file_name: "pkg.tar.gz".into(),
            sha256: "../../etc/passwd".into(),
            urls: vec!["file:///etc/passwd".into()],
            debian_pool: None,
            local: None,
        };
        let err = cache.fetch(&req, &FetchSettings::default(), &NoProgress).unwrap_err();
        assert!(matches!(err, FetchError::InvalidSha256 { .. }), "{err:?}");
        assert_eq!(cache.lookup("../sources-v1"), None);
        assert_eq!(cache.lookup(&SHA.to_uppercase()), None);
        let file = tempfile::NamedTempFile::new().unwrap();
        let err = SourceCache::open(file.path()).unwrap_err();
        assert!(matches!(err, FetchError::CacheCreate { .. }), "{err:?}");
    }

    #[test]
    fn lock_file_is_removed_and_reacquirable() {
        let (_root, cache) = cache();
        let path = cache.dir.join(format!("{SHA}.lock"));
        drop(LockGuard::acquire(path.clone()).unwrap());
        assert!(!path.exists());
        let _again = LockGuard::acquire(path.clone()).unwrap();
        assert!(path.exists());
    }

    #[test]
    fn open_sweeps_only_stale_partials() {
        let (root, cache) = cache();
        let (old, new) = (cache.dir.join(".partial-old"), cache.dir.join(".partial-new"));
        let two_days_ago = SystemTime::now() - 2 * STALE_PARTIAL;
        File::create(&old).unwrap().set_modified(two_days_ago).unwrap();
        File::create(&new).unwrap();
        SourceCache::open(root.path()).unwrap();
        assert!(!old.exists() && new.exists());
    }
}
