//! A scripted HTTP server on 127.0.0.1 for what the real registry cannot show: the Bearer token flow,
//! realms and redirects on other hosts, retries. Offline and fast, so in the default tier.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::*;

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    authorization: Option<String>,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
    let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Reply { status, headers, body: body.as_bytes().to_vec() }
}

type Handler = dyn Fn(&Request, &str) -> Reply + Send + Sync;

/// Serves `handler(request, own address)` on a fresh port; remembers every request.
struct Fake {
    addr: String,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Fake {
    fn start(handler: impl Fn(&Request, &str) -> Reply + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (handler, log, own) = (Arc::new(handler) as Arc<Handler>, seen.clone(), addr.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (handler, log, own) = (handler.clone(), log.clone(), own.clone());
                std::thread::spawn(move || serve(stream, &*handler, &log, &own));
            }
        });
        Fake { addr, seen }
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self, path_prefix: &str) -> usize {
        self.requests().iter().filter(|r| r.path.starts_with(path_prefix)).count()
    }
}

fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Request>>, own: &str) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) =
            (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
        let (mut length, mut authorization) = (0usize, None);
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            match k.to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse().unwrap(),
                "authorization" => authorization = Some(v.trim().to_string()),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let request = Request { method, path, authorization };
        log.lock().unwrap().push(request.clone());
        let r = handler(&request, own);
        let mut head = format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\n", r.status, r.body.len());
        for (k, v) in &r.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if out.write_all(head.as_bytes()).and_then(|_| out.write_all(&r.body)).is_err() {
            return;
        }
    }
}

fn options() -> Options {
    let credentials = Some(Credentials { username: "u".into(), password: "p".into() });
    Options { tls_verify: false, retries: 2, credentials, ..Options::default() }
}

fn connect(fake: &Fake, options: &Options) -> Result<Client, RegistryError> {
    Client::connect(&Reference::parse(&format!("{}/app:v1", fake.addr)).unwrap(), options)
}

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;

/// A registry wanting Bearer tokens from its own `/token`, which wants Basic `u:p`.
fn bearer_registry(realm: Option<String>) -> Fake {
    Fake::start(move |r, own| {
        let realm = realm.clone().unwrap_or(format!("http://{own}/token"));
        let challenge = format!(r#"Bearer realm="{realm}",service="fake,svc""#);
        let path = r.path.as_str();
        let auth = r.authorization.as_deref().unwrap_or_default();
        if path.starts_with("/token") {
            if auth != format!("Basic {}", options().credentials.unwrap().basic()) {
                return reply(401, &[], "");
            }
            let push = path.contains("pull%2Cpush");
            return reply(200, &[], if push { r#"{"access_token":"tok-push"}"# } else { r#"{"token":"tok-pull"}"# });
        }
        let wanted = if r.method == "PUT" { "Bearer tok-push" } else { "Bearer tok-pull" };
        if auth != wanted {
            return reply(401, &[("WWW-Authenticate", &challenge)], r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#);
        }
        match (r.method.as_str(), path) {
            ("GET", "/v2/") => reply(200, &[], "{}"),
            ("GET", "/v2/app/manifests/v1") => {
                reply(200, &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")], MANIFEST)
            }
            ("PUT", "/v2/app/manifests/v2") => reply(201, &[("OCI-Subject", "sha256:x")], ""),
            _ => reply(404, &[], ""),
        }
    })
}

#[test]
fn bearer_tokens_are_fetched_per_scope_and_cached() {
    let fake = bearer_registry(None);
    let client = connect(&fake, &options()).unwrap();
    assert_eq!(client.get_manifest("v1").unwrap().unwrap().bytes, MANIFEST.as_bytes());
    assert_eq!(client.get_manifest("v1").unwrap().unwrap().media_type, OCI_MANIFEST);
    assert_eq!(fake.count("/token"), 1, "{:?}", fake.requests());
    let put = client.put_manifest("v2", OCI_MANIFEST, MANIFEST.as_bytes()).unwrap();
    assert!(put.subject_accepted);
    let tokens: Vec<String> =
        fake.requests().into_iter().filter(|r| r.path.starts_with("/token")).map(|r| r.path).collect();
    assert_eq!(
        tokens,
        vec![
            "/token?service=fake%2Csvc&scope=repository%3Aapp%3Apull",
            "/token?service=fake%2Csvc&scope=repository%3Aapp%3Apull%2Cpush",
        ]
    );
    // Known to want a token: requests after the first carry one and get no 401.
    let unauthorized =
        fake.requests().iter().filter(|r| r.path.starts_with("/v2/app") && r.authorization.is_none()).count();
    assert_eq!(unauthorized, 0, "{:?}", fake.requests());
}

#[test]
fn a_token_endpoint_refusing_the_credentials_is_unauthorized() {
    let fake = bearer_registry(None);
    let wrong = Options { credentials: Some(Credentials { username: "u".into(), password: "x".into() }), ..options() };
    let e = connect(&fake, &wrong).unwrap().get_manifest("v1").unwrap_err();
    assert!(matches!(e, RegistryError::Unauthorized { with_credentials: true, status: 401, .. }), "{e:?}");
}

#[test]
fn a_realm_on_another_host_must_be_https() {
    let other = Fake::start(|_, _| reply(200, &[], r#"{"token":"t"}"#));
    let fake = bearer_registry(Some(format!("http://{}/token", other.addr)));
    let e = connect(&fake, &options()).unwrap().get_manifest("v1").unwrap_err();
    assert!(matches!(&e, RegistryError::PlainHttpRefused { url } if url.contains(&other.addr)), "{e:?}");
    assert_eq!(other.requests().len(), 0, "the credentials never left");
}

#[test]
fn redirects_are_followed_on_the_registry_and_refused_to_plain_http_elsewhere() {
    let other = Fake::start(|_, _| reply(200, &[], "elsewhere"));
    let other_addr = other.addr.clone();
    let data_digest = sha256_digest(b"blob bytes");
    let fake = Fake::start(move |r, _| match r.path.as_str() {
        "/v2/" => reply(200, &[], ""),
        "/v2/app/blobs/uploads/" => reply(307, &[("Location", "/moved/uploads/")], ""),
        "/moved/uploads/" => reply(202, &[("Location", "../upload/1?_state=x")], ""),
        p if p.starts_with("/moved/upload/1?_state=x&digest=") => reply(201, &[], ""),
        p if p.starts_with("/v2/app/blobs/") && r.method == "HEAD" => reply(404, &[], ""),
        p if p.starts_with("/v2/app/blobs/") => reply(302, &[("Location", &format!("http://{other_addr}/data"))], ""),
        "/loop" => reply(302, &[("Location", "/loop")], ""),
        "/v2/app/manifests/loop" => reply(302, &[("Location", "/loop")], ""),
        _ => reply(404, &[], ""),
    });
    let client = connect(&fake, &options()).unwrap();
    let pushed = client.push_blob(&data_digest, 10, BlobSource::Bytes(b"blob bytes"), None);
    let pushed = pushed.unwrap_or_else(|e| panic!("{e:?} {:?}", fake.requests()));
    assert_eq!(pushed, BlobPush::Uploaded { chunks: 1 });
    // Regression: the 202's relative Location is resolved against the URL that answered (after the 307),
    // not the one asked; the first version resolved it against `/v2/app/blobs/uploads/`.
    let put = fake.requests().into_iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(put.path, format!("/moved/upload/1?_state=x&digest={}", data_digest.replace(':', "%3A")));
    let e = client.get_blob(&data_digest, &mut Vec::new()).unwrap_err();
    assert!(matches!(e, RegistryError::PlainHttpRefused { .. }), "{e:?}");
    assert_eq!(other.requests().len(), 0);
    let e = client.get_manifest("loop").unwrap_err();
    assert!(e.to_string().contains("more than 5 redirects"), "{e}");
}

#[test]
fn transient_failures_are_retried_and_then_reported() {
    let calls = Arc::new(Mutex::new(0));
    let counter = calls.clone();
    let fake = Fake::start(move |r, _| match r.path.as_str() {
        "/v2/" => reply(200, &[], ""),
        "/v2/app/manifests/flaky" => {
            let mut n = counter.lock().unwrap();
            *n += 1;
            match *n {
                1 => reply(503, &[], "busy"),
                2 => reply(429, &[("Retry-After", "0")], ""),
                _ => reply(200, &[("Content-Type", OCI_MANIFEST)], MANIFEST),
            }
        }
        _ => reply(500, &[], r#"{"errors":[{"code":"UNKNOWN","message":"boom"}]}"#),
    });
    let client = connect(&fake, &options()).unwrap();
    assert!(client.get_manifest("flaky").unwrap().is_some());
    assert_eq!(*calls.lock().unwrap(), 3);
    let e = client.get_manifest("broken").unwrap_err();
    assert!(matches!(e, RegistryError::Status { status: 500, .. }), "{e:?}");
    assert!(e.to_string().ends_with("answered HTTP 500: UNKNOWN (boom)"), "{e}");
    assert_eq!(fake.count("/v2/app/manifests/broken"), 3, "one try and two retries");
}

#[test]
fn the_referrers_api_when_the_registry_has_it() {
    let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":5,"artifactType":"application/spdx+json"}]}"#;
    let fake = Fake::start(move |r, _| match r.path.as_str() {
        "/v2/" => reply(200, &[], ""),
        p if p.starts_with("/v2/app/referrers/sha256:") => reply(200, &[("Content-Type", OCI_INDEX)], index),
        _ => reply(404, &[], ""),
    });
    let found = connect(&fake, &options()).unwrap().referrers(EMPTY_DIGEST).unwrap();
    assert_eq!(found.via, ReferrersVia::Api);
    assert_eq!(found.descriptors.len(), 1);
    assert_eq!(found.descriptors[0].artifact_type.as_deref(), Some("application/spdx+json"));
    assert_eq!(fake.count("/v2/app/manifests/"), 0, "no tag-schema lookup");
}

#[test]
fn a_refused_chunk_range_is_a_clear_error() {
    let fake = Fake::start(|r, _| match (r.method.as_str(), r.path.as_str()) {
        (_, "/v2/") => reply(200, &[], ""),
        ("HEAD", _) => reply(404, &[], ""),
        ("POST", "/v2/app/blobs/uploads/") => reply(202, &[("Location", "/up/1")], ""),
        ("PATCH", "/up/1") => reply(202, &[("Location", "/up/2"), ("Range", "0-3")], ""),
        ("PATCH", "/up/2") => reply(416, &[("Range", "0-2")], ""),
        _ => reply(404, &[], ""),
    });
    let client = connect(&fake, &Options { chunk_size: 4, ..options() }).unwrap();
    let data = b"0123456789";
    let e = client.push_blob(&sha256_digest(data), 10, BlobSource::Bytes(data), None).unwrap_err();
    assert!(e.to_string().ends_with("the registry refused bytes 4-7 (HTTP 416; it holds `0-2`)"), "{e}");
}

#[test]
fn login_through_the_token_flow_writes_the_file() {
    let fake = bearer_registry(None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth.json");
    let options = Options { auth_file: Some(file.clone()), ..options() };
    let credentials = options.credentials.clone().unwrap();
    assert_eq!(login(&fake.addr, &credentials, &options).unwrap(), file);
    assert_eq!(auth::lookup(&fake.addr, "app", &[file]).unwrap(), Some(credentials));
    // As for `docker login`: a token for no scope.
    assert_eq!(fake.requests().iter().filter(|r| r.path == "/token?service=fake%2Csvc").count(), 1);
    let wrong = Credentials { username: "u".into(), password: "x".into() };
    let e =
        login(&fake.addr, &wrong, &Options { auth_file: Some(dir.path().join("other.json")), ..options }).unwrap_err();
    assert!(matches!(e, RegistryError::Unauthorized { with_credentials: true, .. }), "{e:?}");
    assert!(!dir.path().join("other.json").exists(), "nothing written on a refusal");
}
