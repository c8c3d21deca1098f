//! Against the real thing: Debian's `docker-registry` (the CNCF distribution server), started per test
//! on 127.0.0.1 over plain HTTP (so `tls_verify: false`), with or without htpasswd basic auth.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// The integration tests' certificate maker, shared rather than written twice.
#[allow(dead_code)]
#[path = "../../tests/integration/registry_server/pki.rs"]
mod pki;

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
const USER: &str = "alice";
const PASS: &str = "s3cret:with colon";

struct Server {
    addr: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl Server {
    fn plain() -> Server {
        Server::start(false, false)
    }

    fn basic() -> Server {
        Server::start(true, false)
    }

    /// https with a certificate from a test CA (`cert_dir()` holds `ca.crt`), and basic auth.
    fn tls_basic() -> Server {
        Server::start(true, true)
    }

    fn cert_dir(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    fn start(auth: bool, tls: bool) -> Server {
        assert!(Path::new(REGISTRY_BIN).exists(), "{REGISTRY_BIN} is missing: apt-get install docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.path().join("storage").display()
        );
        if tls {
            let (cert, key) = test_ca(dir.path());
            config.push_str(&format!("  tls:\n    certificate: {}\n    key: {}\n", cert.display(), key.display()));
        }
        if auth {
            // bcrypt's lowest cost, as the integration tests' registry: no `htpasswd` (apache2-utils) needed.
            let hash = bcrypt::hash_with_result(PASS, 4).expect("bcrypt the test password");
            let path = dir.path().join("htpasswd");
            std::fs::write(&path, format!("{USER}:{}\n", hash.format_for_version(bcrypt::Version::TwoY))).unwrap();
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: r\n    path: {}\n", path.display()));
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server { addr, dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&server.addr).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start: {}", server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn reference(&self, repo: &str) -> Reference {
        Reference::parse(&format!("{}/{repo}:latest", self.addr)).unwrap()
    }

    fn client(&self, repo: &str, options: &Options) -> Client {
        Client::connect(&self.reference(repo), options).unwrap_or_else(|e| panic!("connect: {e}: {:?}", e.hint()))
    }

    /// Where the registry keeps a blob's bytes (to tamper with them).
    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir.path().join(format!("storage/docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]))
    }
}

/// A CA in `dir/certs/ca.crt` and a certificate it signed for 127.0.0.1 (returned with its key): the
/// integration tests' test PKI (rcgen, in-process), so no `openssl` is needed.
fn test_ca(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir(dir.join("certs")).unwrap();
    let pki = pki::server();
    std::fs::write(dir.join("certs/ca.crt"), &pki.ca_pem).unwrap();
    std::fs::write(dir.join("server.crt"), &pki.cert_pem).unwrap();
    std::fs::write(dir.join("server.key"), &pki.key_pem).unwrap();
    (dir.join("server.crt"), dir.join("server.key"))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn plain_http() -> Options {
    Options { tls_verify: false, retries: 1, ..Options::default() }
}

fn blob(data: &[u8]) -> (String, u64) {
    (sha256_digest(data), data.len() as u64)
}

/// A config and a layer blob pushed, and an OCI image manifest naming them.
fn push_image(client: &Client, seed: &str) -> (Vec<u8>, Descriptor) {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#).into_bytes();
    let layer = format!("layer of {seed}").into_bytes();
    for data in [&config, &layer] {
        let (digest, size) = blob(data);
        client.push_blob(&digest, size, BlobSource::Bytes(data), None).unwrap();
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(&config).0, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": blob(&layer).0, "size": layer.len()}],
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let descriptor = Descriptor {
        media_type: OCI_MANIFEST.into(),
        digest: sha256_digest(&bytes),
        size: bytes.len() as u64,
        artifact_type: None,
        annotations: Default::default(),
        platform: None,
    };
    (bytes, descriptor)
}

#[test]
#[ignore = "tier: registry"]
fn registry_blobs_monolithic_chunked_skipped_and_streamed_back() {
    let server = Server::plain();
    let options = Options { chunk_size: 1000, ..plain_http() };
    let client = server.client("blobs/test", &options);
    let small = b"small blob".to_vec();
    let (digest, size) = blob(&small);
    assert!(!client.has_blob(&digest).unwrap());
    assert_eq!(
        client.push_blob(&digest, size, BlobSource::Bytes(&small), None).unwrap(),
        BlobPush::Uploaded { chunks: 1 }
    );
    assert!(client.has_blob(&digest).unwrap());
    assert_eq!(client.push_blob(&digest, size, BlobSource::Bytes(&small), None).unwrap(), BlobPush::Exists);

    let big: Vec<u8> = (0..3500u32).map(|i| (i * 31 % 251) as u8).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big");
    std::fs::write(&file, &big).unwrap();
    let (digest, size) = blob(&big);
    assert_eq!(
        client.push_blob(&digest, size, BlobSource::File(&file), None).unwrap(),
        BlobPush::Uploaded { chunks: 4 }
    );
    let mut back = Vec::new();
    assert_eq!(client.get_blob(&digest, &mut back).unwrap(), 3500);
    assert_eq!(back, big);
    // Chunked from memory too, exactly two chunks.
    let two: Vec<u8> = vec![7; 2000];
    let (digest, size) = blob(&two);
    assert_eq!(
        client.push_blob(&digest, size, BlobSource::Bytes(&two), None).unwrap(),
        BlobPush::Uploaded { chunks: 2 }
    );
    assert_eq!(
        client.push_blob(&digest, size, BlobSource::File(&file), None).unwrap_err().to_string(),
        format!("blob `{digest}` has 3500 bytes, not 2000")
    );
}

#[test]
#[ignore = "tier: registry"]
fn registry_download_refuses_a_tampered_blob() {
    let server = Server::plain();
    let client = server.client("tamper", &plain_http());
    let data = b"the real bytes".to_vec();
    let (digest, size) = blob(&data);
    client.push_blob(&digest, size, BlobSource::Bytes(&data), None).unwrap();
    std::fs::write(server.blob_path(&digest), b"the fake bytes").unwrap();
    let mut out = Vec::new();
    match client.get_blob(&digest, &mut out) {
        Err(RegistryError::DigestMismatch { digest: d, actual }) => {
            assert_eq!(d, digest);
            assert_eq!(actual, sha256_digest(b"the fake bytes"));
        }
        other => panic!("{other:?}"),
    }
    let missing = sha256_digest(b"never pushed");
    match client.get_blob(&missing, &mut out) {
        Err(e @ RegistryError::Status { status: 404, .. }) => assert!(e.to_string().contains("BLOB_UNKNOWN"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
#[ignore = "tier: registry"]
fn registry_mount_across_repositories() {
    let server = Server::plain();
    let a = server.client("team/a", &plain_http());
    let b = server.client("team/b", &plain_http());
    let data = b"shared layer".to_vec();
    let (digest, size) = blob(&data);
    a.push_blob(&digest, size, BlobSource::Bytes(&data), None).unwrap();
    assert!(!b.has_blob(&digest).unwrap());
    assert_eq!(b.push_blob(&digest, size, BlobSource::Bytes(&data), Some("team/a")).unwrap(), BlobPush::Mounted);
    assert!(b.has_blob(&digest).unwrap());
    // A mount from a repository without the blob: the registry starts an upload instead (202).
    let other = b"only here".to_vec();
    let (digest, size) = blob(&other);
    let c = server.client("team/c", &plain_http());
    assert_eq!(
        c.push_blob(&digest, size, BlobSource::Bytes(&other), Some("team/a")).unwrap(),
        BlobPush::Uploaded { chunks: 1 }
    );
}

#[test]
#[ignore = "tier: registry"]
fn registry_manifests_by_tag_and_digest() {
    let server = Server::plain();
    let client = server.client("app", &plain_http());
    let (bytes, descriptor) = push_image(&client, "one");
    let put = client.put_manifest("v1", OCI_MANIFEST, &bytes).unwrap();
    assert_eq!(put.digest, descriptor.digest);
    let by_tag = client.get_manifest("v1").unwrap().unwrap();
    assert_eq!(
        (by_tag.media_type.as_str(), by_tag.digest.as_str(), &by_tag.bytes),
        (OCI_MANIFEST, descriptor.digest.as_str(), &bytes)
    );
    let by_digest = client.get_manifest(&descriptor.digest).unwrap().unwrap();
    assert_eq!(by_digest, by_tag);
    assert_eq!(client.get_manifest("nope").unwrap(), None);
    assert_eq!(client.get_manifest(&sha256_digest(b"x")).unwrap(), None);
    // By digest: the digest must be the bytes'.
    let wrong = sha256_digest(b"other");
    assert!(matches!(client.put_manifest(&wrong, OCI_MANIFEST, &bytes), Err(RegistryError::DigestMismatch { .. })));
    assert_eq!(client.put_manifest(&descriptor.digest, OCI_MANIFEST, &bytes).unwrap().digest, descriptor.digest);
    // An index of it.
    let index =
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}))
            .unwrap();
    client.put_manifest("multi", OCI_INDEX, &index).unwrap();
    assert_eq!(client.get_manifest("multi").unwrap().unwrap().media_type, OCI_INDEX);
    // A manifest naming a blob the repository lacks is refused, with the registry's code in the message.
    let (broken, _) = push_image(&server.client("elsewhere", &plain_http()), "two");
    let e = client.put_manifest("broken", OCI_MANIFEST, &broken).unwrap_err();
    assert!(e.to_string().contains("MANIFEST_BLOB_UNKNOWN"), "{e}");
}

#[path = "tests_referrers.rs"]
mod referrers;
#[path = "tests_auth.rs"]
mod with_auth;
