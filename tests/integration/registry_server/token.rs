//! A minimal token endpoint for the registry's `auth: token` (the Docker registry token protocol; the
//! registry package has no token service of its own): `GET /token?service=S&scope=..&scope=..` over
//! HTTPS on 127.0.0.1, one thread per connection, one request per connection.
//!
//! What it grants follows the token spec: the right credentials (HTTP Basic) get every action they ask
//! for; no credentials get a token with the access an anonymous user has, here none; wrong
//! credentials get 401 and no token. Tokens are ES256 JWTs whose `kid` names the signer's key in the
//! registry's `rootcertbundle`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};

use super::pki::{ServerPki, Signer};

/// The registry's `service` (the tokens' audience) and the tokens' issuer, as in its config.
pub const SERVICE: &str = "compose-test-registry";
pub const ISSUER: &str = "compose-test-token-issuer";
/// How long a token is valid, in seconds.
const LIFETIME: u64 = 300;

pub struct TokenServer {
    /// `https://127.0.0.1:PORT/token`: the registry's `realm`.
    pub realm: String,
    endpoint: Arc<Endpoint>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Endpoint {
    tls: Arc<rustls::ServerConfig>,
    signer: Signer,
    username: String,
    password: String,
    issued: AtomicUsize,
}

impl TokenServer {
    pub fn start(pki: &ServerPki, signer: Signer, username: &str, password: &str) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the token endpoint on 127.0.0.1");
        let addr = listener.local_addr().expect("token endpoint address");
        let endpoint = Arc::new(Endpoint {
            tls: tls_config(pki),
            signer,
            username: username.to_string(),
            password: password.to_string(),
            issued: AtomicUsize::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (endpoint.clone(), stop.clone());
        let thread = std::thread::spawn(move || accept(&listener, &e, &s));
        TokenServer { realm: format!("https://{addr}/token"), endpoint, addr, stop, thread: Some(thread) }
    }

    /// How many tokens were issued (200 answers, anonymous ones included).
    pub fn issued(&self) -> usize {
        self.endpoint.issued.load(Ordering::SeqCst)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so that the thread sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn tls_config(pki: &ServerPki) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key_der.clone()));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("rustls protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(pki.cert_der.clone())], key)
        .expect("the token endpoint's certificate and key");
    Arc::new(config)
}

fn accept(listener: &TcpListener, endpoint: &Arc<Endpoint>, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(tcp) = conn {
            let e = endpoint.clone();
            std::thread::spawn(move || e.serve(tcp));
        }
    }
}

struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    authorization: Option<String>,
}

impl Request {
    /// Every value of query parameter `name`, in order.
    fn param<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.query.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

struct Response {
    status: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Endpoint {
    /// One request on one TLS connection; a client that fails the handshake (one without the test CA)
    /// or sends garbage is dropped.
    fn serve(&self, tcp: TcpStream) {
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = tcp.set_write_timeout(Some(Duration::from_secs(10)));
        let Ok(conn) = rustls::ServerConnection::new(self.tls.clone()) else { return };
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let Some(request) = read_request(&mut tls) else { return };
        let r = self.answer(&request);
        let mut head = format!("HTTP/1.1 {}\r\nContent-Type: application/json\r\n", r.status);
        for (k, v) in &r.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", r.body.len()));
        let _ = tls.write_all(head.as_bytes()).and_then(|()| tls.write_all(r.body.as_bytes()));
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }

    fn answer(&self, req: &Request) -> Response {
        if req.method != "GET" || req.path != "/token" {
            // 404 also tells a docker client that tries the OAuth2 POST first to fall back to GET.
            return error("404 Not Found", "NOT_FOUND", "only GET /token is served");
        }
        if req.param("service").next() != Some(SERVICE) {
            return error("400 Bad Request", "INVALID_REQUEST", &format!("service must be {SERVICE}"));
        }
        let subject = match req.authorization.as_deref().map(basic_credentials) {
            None => None,
            Some(Some((u, p))) if u == self.username && p == self.password => Some(u),
            Some(_) => return unauthorized(),
        };
        let access = match subject {
            Some(_) => req.param("scope").flat_map(str::split_whitespace).filter_map(grant).collect(),
            None => Vec::new(),
        };
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let token = self.token(subject.as_deref().unwrap_or(""), access, n);
        let now = unix_now();
        let body = json!({"token": token, "access_token": token, "expires_in": LIFETIME, "issued_at": rfc3339(now)});
        Response { status: "200 OK", headers: Vec::new(), body: body.to_string() }
    }

    fn token(&self, subject: &str, access: Vec<Value>, serial: usize) -> String {
        let now = unix_now();
        let claims = json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + LIFETIME, "nbf": now, "iat": now,
            "jti": format!("compose-test-{}-{serial}", std::process::id()),
            "access": access,
        });
        jwt(&self.signer, &self.signer.kid, &claims)
    }
}

/// A compact ES256 JWT of `claims` whose header names `kid`.
pub fn jwt(signer: &Signer, kid: &str, claims: &Value) -> String {
    let header = json!({"typ": "JWT", "alg": "ES256", "kid": kid});
    let input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let sig = signer.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// `TYPE:NAME:ACTIONS` (a repository name has no ':', but the type's and the actions' split is made
/// from each end anyway) granted as asked.
fn grant(scope: &str) -> Option<Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let actions: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
    Some(json!({"type": kind, "name": name, "actions": actions}))
}

fn error(status: &'static str, code: &str, message: &str) -> Response {
    let body = json!({"errors": [{"code": code, "message": message}]}).to_string();
    Response { status, headers: Vec::new(), body }
}

fn unauthorized() -> Response {
    let mut r = error("401 Unauthorized", "UNAUTHORIZED", "wrong username or password");
    r.headers.push(("WWW-Authenticate", "Basic realm=\"compose test token endpoint\"".to_string()));
    r
}

/// (user, password) of an `Authorization: Basic` value; None when it is not one.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, b64) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let text = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Reads the request line and headers (a GET has no body); None on EOF, a TLS error or a head that
/// is not HTTP.
fn read_request(stream: &mut impl Read) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_string(), first.next()?);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let authorization = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim().to_string());
    let query = query.split('&').filter(|p| !p.is_empty()).map(query_pair).collect();
    Some(Request { method, path: path.to_string(), query, authorization })
}

fn query_pair(pair: &str) -> (String, String) {
    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
    (percent_decode(k), percent_decode(v))
}

/// application/x-www-form-urlencoded decoding: `+` is a space, `%XX` a byte.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs()
}

/// `YYYY-MM-DDThh:mm:ssZ` (the days-to-civil conversion of Howard Hinnant's date algorithms).
fn rfc3339(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

#[test]
fn token_endpoint_parsing_helpers() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_825_600), "2000-02-29T12:00:00Z");
    assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
    assert_eq!(percent_decode("repository%3Aa%2Fb%3Apull%2Cpush+x%zz"), "repository:a/b:pull,push x%zz");
    let g = grant("repository:a/b:pull,push").unwrap();
    assert_eq!(g, json!({"type": "repository", "name": "a/b", "actions": ["pull", "push"]}));
    assert_eq!(basic_credentials("Basic dTpwOnE="), Some(("u".into(), "p:q".into())));
    assert_eq!(basic_credentials("Bearer x"), None);
}
