//! A real OCI registry for the `registry` tier: Debian's `docker-registry` (the CNCF distribution
//! server, 2.8 on Debian 12) started on 127.0.0.1 by each test that needs one, in its own temp dir and
//! on its own free port, in one of three set-ups:
//!
//! - `plain`: HTTP, no auth (for `--tls-verify=false`);
//! - `tls_basic`: HTTPS with a test CA (`cert_dir/ca.crt`) and htpasswd (bcrypt) basic auth;
//! - `tls_token`: HTTPS, bearer tokens from a token endpoint written here (`token.rs`).
//!
//! A constructor returns once `/v2/` answers, and panics with the server's log when it does not. Drop
//! kills the server and waits for it. Every set-up has a username and password (`plain` does not check
//! them), so a test can pass credentials to any of them.

pub mod pki;
pub mod token;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use token::TokenServer;

/// The server binary, from the Debian package `docker-registry`.
pub const BINARY: &str = "/usr/bin/docker-registry";
/// How long a server gets to answer `/v2/` after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether the registry server is installed.
pub fn available() -> bool {
    Path::new(BINARY).is_file()
}

pub struct TestRegistry {
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// A directory holding the test CA as `ca.crt` (as podman's and skopeo's `--cert-dir` read it);
    /// None for `plain`.
    pub cert_dir: Option<PathBuf>,
    pub username: String,
    pub password: String,
    storage: PathBuf,
    dir: tempfile::TempDir,
    child: Child,
    token: Option<TokenServer>,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Plain,
    Basic,
    Token,
}

/// What one instance was set up with, before its server starts.
struct Setup {
    dir: tempfile::TempDir,
    cert_dir: Option<PathBuf>,
    username: String,
    password: String,
    /// The `http.tls` and `auth` sections of the config.
    tls_yaml: String,
    auth_yaml: String,
    token: Option<TokenServer>,
}

impl TestRegistry {
    /// HTTP on 127.0.0.1, no authentication.
    pub fn plain() -> TestRegistry {
        TestRegistry::start(Mode::Plain)
    }

    /// HTTPS with a certificate from a test CA (`cert_dir`), htpasswd basic auth.
    pub fn tls_basic() -> TestRegistry {
        TestRegistry::start(Mode::Basic)
    }

    /// HTTPS with a certificate from a test CA (`cert_dir`), bearer tokens from a token endpoint on
    /// 127.0.0.1 (HTTPS, the same CA) that grants `username`/`password` every action asked for.
    pub fn tls_token() -> TestRegistry {
        TestRegistry::start(Mode::Token)
    }

    /// The registry's filesystem storage root (`docker/registry/v2/blobs/sha256/XX/HEX/data` below it).
    pub fn storage(&self) -> &Path {
        &self.storage
    }

    /// Writes a podman/docker auth file with this registry's credentials:
    /// `{"auths": {"127.0.0.1:PORT": {"auth": base64("user:pass")}}}`.
    pub fn write_auth_file(&self, path: &Path) {
        let auth = STANDARD.encode(format!("{}:{}", self.username, self.password));
        let doc = serde_json::json!({"auths": {self.addr.as_str(): {"auth": auth}}});
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        }
        std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap())
            .unwrap_or_else(|e| panic!("write the auth file {}: {e}", path.display()));
    }

    /// How many tokens the token endpoint issued (`tls_token`; 0 for the others).
    pub fn token_requests(&self) -> usize {
        self.token.as_ref().map_or(0, TokenServer::issued)
    }

    /// What the server printed so far (its access log included): for failure messages.
    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }

    fn start(mode: Mode) -> TestRegistry {
        assert!(available(), "{BINARY} is missing: install the Debian package `docker-registry`");
        let mut setup = Setup::new(mode);
        // The port is free when chosen but may be taken before the server binds it: try again then.
        for _ in 0..3 {
            let addr = free_addr();
            write_config(&setup, &addr);
            if let Some(child) = spawn_and_wait(&setup, &addr) {
                let cert_dir = setup.cert_dir.take();
                let Setup { dir, username, password, token, .. } = setup;
                let storage = dir.path().join("storage");
                return TestRegistry { addr, cert_dir, username, password, storage, dir, child, token };
            }
        }
        panic!("docker-registry could not bind a free port in three tries:\n{}", read_log(setup.dir.path()));
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Setup {
    fn new(mode: Mode) -> Setup {
        let dir = tempfile::Builder::new().prefix("compose-registry-").tempdir().expect("registry temp dir");
        std::fs::create_dir(dir.path().join("storage")).expect("registry storage dir");
        let mut password = [0u8; 12];
        aws_lc_rs::rand::fill(&mut password).expect("random password");
        let mut s = Setup {
            dir,
            cert_dir: None,
            username: "compose-test".to_string(),
            password: hex::encode(password),
            tls_yaml: String::new(),
            auth_yaml: String::new(),
            token: None,
        };
        if mode == Mode::Plain {
            return s;
        }
        let pki = pki::server();
        let certs = s.dir.path().join("certs");
        write(&certs.join("ca.crt"), &pki.ca_pem);
        let (cert, key) = (s.dir.path().join("server.crt"), s.dir.path().join("server.key"));
        write(&cert, &pki.cert_pem);
        write(&key, &pki.key_pem);
        s.tls_yaml = format!("  tls:\n    certificate: {}\n    key: {}\n", cert.display(), key.display());
        s.cert_dir = Some(certs);
        s.auth_yaml = if mode == Mode::Basic { s.htpasswd() } else { s.token_auth(&pki) };
        s
    }

    fn htpasswd(&self) -> String {
        // bcrypt's lowest cost: the server checks it on every request.
        let hash = bcrypt::hash_with_result(&self.password, 4).expect("bcrypt the test password");
        let path = self.dir.path().join("htpasswd");
        write(&path, &format!("{}:{}\n", self.username, hash.format_for_version(bcrypt::Version::TwoY)));
        format!("auth:\n  htpasswd:\n    realm: compose-test-registry\n    path: {}\n", path.display())
    }

    fn token_auth(&mut self, pki: &pki::ServerPki) -> String {
        let signer = pki::Signer::generate();
        let bundle = self.dir.path().join("token-signer.crt");
        write(&bundle, &signer.cert_pem);
        let server = TokenServer::start(pki, signer, &self.username, &self.password);
        let yaml = format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            server.realm,
            token::SERVICE,
            token::ISSUER,
            bundle.display()
        );
        self.token = Some(server);
        yaml
    }

    fn scheme(&self) -> &'static str {
        if self.cert_dir.is_some() { "https" } else { "http" }
    }
}

fn write_config(setup: &Setup, addr: &str) {
    let storage = setup.dir.path().join("storage");
    let config = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: {addr}\n{}{}",
        storage.display(),
        setup.tls_yaml,
        setup.auth_yaml
    );
    write(&setup.dir.path().join("config.yml"), &config);
}

/// Starts the server and waits until `/v2/` answers (200 or 401). None when the port was taken.
fn spawn_and_wait(setup: &Setup, addr: &str) -> Option<Child> {
    let dir = setup.dir.path();
    let log = std::fs::File::create(dir.join("registry.log")).expect("create registry.log");
    let mut cmd = Command::new(BINARY);
    cmd.arg("serve").arg(dir.join("config.yml")).stdin(Stdio::null());
    cmd.stdout(log.try_clone().expect("registry.log handle")).stderr(log);
    // REGISTRY_* variables override the config (REGISTRY_AUTH_FILE, which podman reads, would
    // become `auth.file`): the server sees none of them.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {BINARY}: {e}"));
    let client = probe_client(setup);
    let url = format!("{}://{addr}/v2/", setup.scheme());
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = read_log(dir);
            if log.contains("address already in use") {
                return None;
            }
            panic!("docker-registry exited ({status}) before {url} answered; its log:\n{log}");
        }
        if let Ok(r) = client.get(&url).send()
            && (r.status() == 200 || r.status() == 401)
        {
            return Some(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{url} did not answer within {READY_TIMEOUT:?}; docker-registry's log:\n{}", read_log(dir));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn probe_client(setup: &Setup) -> reqwest::blocking::Client {
    let mut b = reqwest::blocking::Client::builder().timeout(Duration::from_secs(2));
    if let Some(certs) = &setup.cert_dir {
        let pem = std::fs::read(certs.join("ca.crt")).expect("read the test CA");
        b = b.tls_certs_merge([reqwest::Certificate::from_pem(&pem).expect("parse the test CA")]);
    }
    b.build().expect("build the readiness probe's HTTP client")
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").to_string()
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("registry.log")).unwrap_or_else(|e| format!("(no log: {e})"))
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
