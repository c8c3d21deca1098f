//! End-to-end behaviour of `SourceCache::fetch`, offline: sources are local
//! files or a canned HTTP server on loopback. Helpers private to one file are
//! tested in that file.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::*;

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn request(sha256: &str, urls: Vec<String>) -> SourceRequest {
    let (package, file_name) = ("pkg".to_string(), "pkg-1.0.tar.gz".to_string());
    SourceRequest { package, file_name, sha256: sha256.to_string(), urls, debian_pool: None, local: None }
}

/// A source file `pkg-1.0.tar.gz` in a temp dir, and an empty cache beside it.
struct Fixture {
    dir: tempfile::TempDir,
    cache: SourceCache,
}

impl Fixture {
    fn new(data: &[u8]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("pkg-1.0.tar.gz"), data).unwrap();
        let cache = SourceCache::open(&dir.path().join("cache")).unwrap();
        Self { dir, cache }
    }

    fn src(&self) -> PathBuf {
        self.dir.path().join("pkg-1.0.tar.gz")
    }

    fn url(&self, name: &str) -> String {
        format!("file://{}", self.dir.path().join(name).display())
    }

    /// Everything in `sources-v1/`: sources, but also any lock or temp file.
    fn entries(&self) -> Vec<String> {
        let dir = self.dir.path().join("cache/sources-v1");
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
    }

    fn fetch(&self, req: &SourceRequest, settings: &FetchSettings) -> Result<PathBuf, FetchError> {
        self.cache.fetch(req, settings, &NoProgress)
    }
}

/// Counts callbacks, to tell how many downloads actually happened.
#[derive(Default)]
struct Counting {
    starts: AtomicUsize,
    bytes: AtomicU64,
    dones: AtomicUsize,
}

impl Counting {
    fn counts(&self) -> (usize, u64, usize) {
        (self.starts.load(SeqCst), self.bytes.load(SeqCst), self.dones.load(SeqCst))
    }
}

impl FetchProgress for Counting {
    fn on_start(&self, _: &str, _: &str, _: Option<u64>) {
        self.starts.fetch_add(1, SeqCst);
    }
    fn on_bytes(&self, _: &str, n: u64) {
        self.bytes.fetch_add(n, SeqCst);
    }
    fn on_done(&self, _: &str) {
        self.dones.fetch_add(1, SeqCst);
    }
}

#[test]
fn fetches_file_url_then_hits_cache_without_the_source() {
    let data = b"hello source".repeat(1000);
    let fx = Fixture::new(&data);
    let req = request(&sha(&data), vec![fx.url("pkg-1.0.tar.gz")]);
    let progress = Counting::default();
    let path = fx.cache.fetch(&req, &FetchSettings::default(), &progress).unwrap();
    assert_eq!(path, fx.cache.path(&req.sha256));
    assert_eq!(fs::read(&path).unwrap(), data);
    assert_eq!(progress.counts(), (1, data.len() as u64, 1));
    assert!(fx.cache.verify(&req.sha256).unwrap());
    assert_eq!(fx.entries(), [req.sha256.as_str()], "no lock or temp file left");

    fs::remove_file(fx.src()).unwrap();
    let again = Counting::default();
    assert_eq!(fx.cache.fetch(&req, &FetchSettings::default(), &again).unwrap(), path);
    assert_eq!(again.counts(), (0, 0, 0));
}

#[test]
fn mismatch_leaves_nothing_and_names_both_hashes() {
    let fx = Fixture::new(b"actual bytes");
    let req = request(&sha(b"expected bytes"), vec![fx.url("pkg-1.0.tar.gz")]);
    let err = fx.fetch(&req, &FetchSettings::default()).unwrap_err();
    let FetchError::HashMismatch { expected, got, .. } = &err else { panic!("{err:?}") };
    assert_eq!((expected, got), (&sha(b"expected bytes"), &sha(b"actual bytes")));
    let msg = err.to_string();
    assert!(msg.contains(expected.as_str()) && msg.contains(got.as_str()), "{msg}");
    assert!(fx.entries().is_empty(), "left behind: {:?}", fx.entries());
}

#[test]
fn mismatch_is_reported_over_later_misses() {
    let fx = Fixture::new(b"wrong");
    let req = request(&sha(b"right"), vec![fx.url("pkg-1.0.tar.gz"), fx.url("missing")]);
    match fx.fetch(&req, &FetchSettings::default()) {
        Err(FetchError::HashMismatch { url, .. }) => assert_eq!(url, fx.url("pkg-1.0.tar.gz")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn falls_back_to_the_next_candidate() {
    let fx = Fixture::new(b"data");
    let req = request(&sha(b"data"), vec![fx.url("missing"), fx.url("pkg-1.0.tar.gz")]);
    let progress = Counting::default();
    fx.cache.fetch(&req, &FetchSettings::default(), &progress).unwrap();
    assert_eq!(progress.counts(), (1, 4, 1), "the missing file never started");
}

#[test]
fn directory_mirror_by_name_or_by_hash() {
    let fx = Fixture::new(b"data");
    let settings = FetchSettings { mirrors: vec![fx.dir.path().display().to_string()], ..Default::default() };
    fx.fetch(&request(&sha(b"data"), vec![]), &settings).unwrap();
    fs::write(fx.dir.path().join(sha(b"other")), b"other").unwrap();
    fx.fetch(&request(&sha(b"other"), vec![]), &settings).unwrap();
}

#[test]
fn offline_skips_network_candidates() {
    let fx = Fixture::new(b"data");
    let settings = FetchSettings { offline: true, ..FetchSettings::default() };
    let remote = "https://upstream.invalid/pkg-1.0.tar.gz".to_string();
    fx.fetch(&request(&sha(b"data"), vec![remote.clone(), fx.url("pkg-1.0.tar.gz")]), &settings).unwrap();

    let err = fx.fetch(&request(&sha(b"nope"), vec![remote.clone(), fx.url("missing")]), &settings).unwrap_err();
    let FetchError::NotFound { attempts, .. } = &err else { panic!("{err:?}") };
    assert_eq!(attempts[0], (remote.clone(), "skipped: offline".to_string()));
    // A header naming package and file, then one line per URL tried.
    let msg = err.to_string();
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(lines.len(), 3, "{msg}");
    assert!(lines[0].starts_with("`pkg`: cannot fetch `pkg-1.0.tar.gz`"), "{msg}");
    assert_eq!(lines[1], format!("  {remote}: skipped: offline"));
    assert!(lines[2].starts_with(&format!("  {}: ", fx.url("missing"))), "{msg}");
}

#[test]
fn concurrent_fetches_download_once() {
    let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
    let fx = Fixture::new(&data);
    let req = request(&sha(&data), vec![fx.url("pkg-1.0.tar.gz")]);
    let (progress, barrier) = (Counting::default(), std::sync::Barrier::new(2));
    let paths: Vec<PathBuf> = std::thread::scope(|s| {
        let fetch = || {
            barrier.wait(); // both past the first cache check before either stores
            fx.cache.fetch(&req, &FetchSettings::default(), &progress).unwrap()
        };
        [s.spawn(fetch), s.spawn(fetch)].map(|h| h.join().unwrap()).to_vec()
    });
    assert_eq!(paths[0], paths[1]);
    assert_eq!(progress.counts(), (1, data.len() as u64, 1), "downloaded more than once");
    assert!(fx.cache.verify(&req.sha256).unwrap());
    assert_eq!(fx.entries(), [req.sha256.as_str()]);
}

/// Serves one canned response per connection on loopback, then stops.
fn serve(responses: Vec<(&'static str, Vec<u8>)>) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/pkg-1.0.tar.gz", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        for (status, body) in responses {
            let (mut conn, _) = listener.accept().unwrap();
            let (mut request, mut buf) = (Vec::new(), [0u8; 1024]);
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "client hung up mid-request");
                request.extend_from_slice(&buf[..n]);
            }
            let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            conn.write_all(head.as_bytes()).and_then(|()| conn.write_all(&body)).unwrap();
        }
    });
    (url, server)
}

#[test]
fn http_retries_5xx_but_not_404() {
    let fx = Fixture::new(b"");
    let settings = FetchSettings { timeout: Duration::from_secs(5), ..FetchSettings::default() };
    let (url, server) = serve(vec![("503 Service Unavailable", vec![]), ("200 OK", b"data".to_vec())]);
    let progress = Counting::default();
    fx.cache.fetch(&request(&sha(b"data"), vec![url]), &settings, &progress).unwrap();
    server.join().unwrap();
    assert_eq!(progress.counts(), (1, 4, 1));

    // Had it been retried, the retry would hit a closed port and the message
    // would read "cannot connect: Connection refused ... (after 3 tries)".
    let (url, server) = serve(vec![("404 Not Found", b"no".to_vec())]);
    let err = fx.fetch(&request(&sha(b"gone"), vec![url.clone()]), &settings).unwrap_err();
    server.join().unwrap();
    let FetchError::NotFound { attempts, .. } = err else { panic!("{err:?}") };
    assert_eq!(attempts, [(url, "HTTP 404 Not Found".to_string())]);
}

/// `compose verify` seeds each fresh cache from the user's: linked where it can be, else copied
/// through a temp file and renamed, never written under the final name directly.
#[test]
fn a_verified_file_is_placed_by_link_or_by_copy_and_rename() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let fx = Fixture::new(b"seeded");
    let hash = sha(b"seeded");
    let other = SourceCache::open(&fx.dir.path().join("other")).unwrap();

    let linked = other.place_verified(&hash, &fx.src()).unwrap();
    assert_eq!(linked, other.path(&hash));
    assert_eq!(fs::metadata(&linked).unwrap().ino(), fs::metadata(fx.src()).unwrap().ino(), "hard-linked");
    // Already there: kept, not an error.
    assert_eq!(other.place_verified(&hash, &fx.src()).unwrap(), linked);
    assert!(other.verify(&hash).unwrap());

    // The copy (what happens across filesystems): a new inode, the cache's mode, no temp file left.
    let copied = fx.cache.copy_verified(&hash, &fx.src()).unwrap();
    assert_ne!(fs::metadata(&copied).unwrap().ino(), fs::metadata(fx.src()).unwrap().ino());
    assert_eq!(fs::metadata(&copied).unwrap().permissions().mode() & 0o777, 0o644);
    assert_eq!(fx.entries(), [hash.as_str()]);
    assert!(fx.cache.verify(&hash).unwrap());

    let err = fx.cache.place_verified("../escape", &fx.src()).unwrap_err();
    assert!(matches!(err, FetchError::InvalidSha256 { .. }), "{err:?}");
}

/// Records which requests `fetch_verified` reported as corrupted.
#[derive(Default)]
struct Corrupted(std::sync::Mutex<Vec<String>>);

impl FetchProgress for Corrupted {
    fn on_start(&self, _: &str, _: &str, _: Option<u64>) {}
    fn on_bytes(&self, _: &str, _: u64) {}
    fn on_done(&self, _: &str) {}
    fn on_corrupted(&self, r: &SourceRequest) {
        self.0.lock().unwrap().push(r.sha256.clone());
    }
}

#[test]
fn fetch_verified_replaces_a_rotten_cache_entry_and_reports_it() {
    let f = Fixture::new(b"good bytes");
    let req = request(&sha(b"good bytes"), vec![f.url("pkg-1.0.tar.gz")]);
    let path = f.fetch(&req, &FetchSettings::default()).unwrap();
    fs::write(&path, b"bit rot").unwrap();
    let progress = Corrupted::default();
    let fetched = fetch_verified(&f.cache, std::slice::from_ref(&req), &FetchSettings::default(), &progress).unwrap();
    assert_eq!(*progress.0.lock().unwrap(), vec![req.sha256.clone()]);
    assert_eq!(fetched.cached, 0, "the rotten entry is not counted as cached");
    assert_eq!(fs::read(&fetched.paths[0]).unwrap(), b"good bytes");
}

#[test]
fn fetch_verified_reports_every_failure_not_the_first() {
    let f = Fixture::new(b"good bytes");
    let good = request(&sha(b"good bytes"), vec![f.url("pkg-1.0.tar.gz")]);
    let missing = [request(&sha(b"a"), vec![f.url("a.tar.gz")]), request(&sha(b"b"), vec![f.url("b.tar.gz")])];
    let all = [missing[0].clone(), good, missing[1].clone()];
    match fetch_verified(&f.cache, &all, &FetchSettings::default(), &NoProgress) {
        Err(FetchVerifiedError::Fetch { failures, total }) => {
            assert_eq!((failures.len(), total), (2, 3));
            assert!(failures.iter().all(|e| matches!(e, FetchError::NotFound { .. })));
        }
        other => panic!("expected both failures, got {other:?}"),
    }
}

/// A local source is packed into the cache under the tree digest taken before; a tree that changed
/// since is refused, naming the directory, and leaves nothing in the cache.
#[test]
fn local_trees_are_packed_under_their_digest_and_a_changed_tree_is_refused() {
    let fx = Fixture::new(b"unused");
    let tree = fx.dir.path().join("app");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("main.c"), "int main;\n").unwrap();
    let digest = super::tree::digest(&tree).unwrap();
    let mut req = request(&digest, Vec::new());
    req.local = Some(tree.clone());
    let offline = FetchSettings { offline: true, ..FetchSettings::default() };
    let path = fx.fetch(&req, &offline).unwrap();
    assert_eq!(sha(&fs::read(&path).unwrap()), digest);
    assert_eq!(fx.entries(), std::slice::from_ref(&digest));

    fs::write(tree.join("main.c"), "int main2;\n").unwrap();
    let mut changed = request(&sha(b"some digest taken earlier"), Vec::new());
    changed.local = Some(tree.clone());
    let e = fx.fetch(&changed, &offline).unwrap_err();
    assert!(matches!(&e, FetchError::TreeChanged { dir, .. } if *dir == tree), "{e:?}");
    assert!(e.to_string().contains("changed during the build"), "{e}");
    assert_eq!(fx.entries(), [digest], "no temp or lock file left");
}
