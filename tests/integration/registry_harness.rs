//! The test registry itself (`registry_server`), proven with a plain HTTP client before compose's own
//! client relies on it: each set-up answers `/v2/` as a registry does, refuses what it must refuse and
//! accepts exactly the credentials and tokens it should.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};

use crate::harness::sha256_bytes;
use crate::registry_server::{TestRegistry, available, pki, token};

/// An HTTP client trusting the test CA in `cert_dir` when there is one (besides the system store).
fn client(cert_dir: Option<&Path>) -> Client {
    let mut b = Client::builder().timeout(Duration::from_secs(20));
    if let Some(dir) = cert_dir {
        let pem = std::fs::read(dir.join("ca.crt")).expect("read ca.crt from cert_dir");
        b = b.tls_certs_merge([reqwest::Certificate::from_pem(&pem).expect("parse ca.crt")]);
    }
    b.build().unwrap()
}

fn header(r: &Response, name: &str) -> String {
    let v = r.headers().get(name).unwrap_or_else(|| panic!("no {name} header: {r:?}"));
    v.to_str().unwrap().to_string()
}

/// The whole error chain, for matching on a cause.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

#[test]
#[ignore = "tier: registry"]
fn registry_plain_answers_v2_over_http_and_stops_on_drop() {
    assert!(available(), "install the Debian package docker-registry");
    let reg = TestRegistry::plain();
    assert!(reg.addr.starts_with("127.0.0.1:"), "{}", reg.addr);
    assert!(reg.cert_dir.is_none());
    assert!(reg.storage().is_dir(), "{}", reg.storage().display());
    let r = client(None).get(format!("http://{}/v2/", reg.addr)).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", reg.log());
    assert_eq!(header(&r, "docker-distribution-api-version"), "registry/2.0");
    assert_eq!(reg.token_requests(), 0);

    let addr = reg.addr.clone();
    drop(reg);
    assert!(std::net::TcpStream::connect(&addr).is_err(), "the registry on {addr} still answers after drop");
}

#[test]
#[ignore = "tier: registry"]
fn registry_tls_basic_challenges_then_accepts_the_auth_file_credentials() {
    let reg = TestRegistry::tls_basic();
    let url = format!("https://{}/v2/", reg.addr);
    let http = client(reg.cert_dir.as_deref());

    let r = http.get(&url).send().unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&r, "www-authenticate").starts_with("Basic realm="), "{r:?}");
    let r = http.get(&url).basic_auth(&reg.username, Some("not-the-password")).send().unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The credentials as podman and compose would read them from the auth file.
    let file = tempfile::tempdir().unwrap();
    let auth_json = file.path().join("containers/auth.json");
    reg.write_auth_file(&auth_json);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&auth_json).unwrap()).unwrap();
    let auth = doc["auths"][&reg.addr]["auth"].as_str().unwrap_or_else(|| panic!("no entry for {}: {doc}", reg.addr));
    let pair = String::from_utf8(STANDARD.decode(auth).unwrap()).unwrap();
    let (user, pass) = pair.split_once(':').unwrap();
    let r = http.get(&url).basic_auth(user, Some(pass)).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", reg.log());

    let e = client(None).get(&url).send().expect_err("a client without the test CA must refuse the server");
    assert!(chain(&e).contains("certificate"), "not a certificate error: {}", chain(&e));
}

/// (realm, service) of a `Bearer realm="..",service=".."` challenge.
fn bearer(r: &Response) -> (String, String) {
    let c = header(r, "www-authenticate");
    let params = c.strip_prefix("Bearer ").unwrap_or_else(|| panic!("not a Bearer challenge: {c}"));
    let get = |k: &str| {
        let start = params.find(&format!("{k}=\"")).unwrap_or_else(|| panic!("no {k} in {c}")) + k.len() + 2;
        params[start..].split('"').next().unwrap().to_string()
    };
    (get("realm"), get("service"))
}

/// GET realm?service=..&scope=.. with optional Basic credentials: the token, or the status and body
/// of the failed answer.
fn fetch_token(
    http: &Client,
    realm: &str,
    service: &str,
    scope: &str,
    creds: Option<(&str, &str)>,
) -> Result<String, (StatusCode, String)> {
    let mut url = reqwest::Url::parse(realm).unwrap();
    url.query_pairs_mut().append_pair("service", service).append_pair("scope", scope);
    let mut req = http.get(url);
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    let r = req.send().unwrap();
    if r.status() != StatusCode::OK {
        return Err((r.status(), r.text().unwrap()));
    }
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().unwrap()).unwrap();
    assert_eq!(body["token"], body["access_token"], "{body}");
    assert_eq!(body["expires_in"], 300, "{body}");
    assert!(body["issued_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{body}");
    Ok(body["token"].as_str().unwrap().to_string())
}

/// Uploads `data` to `repo` as one monolithic blob (POST, then PUT with the digest); the digest.
fn push_blob(http: &Client, base: &str, repo: &str, token: &str, data: &[u8]) -> String {
    let digest = format!("sha256:{}", sha256_bytes(data));
    let r = http.post(format!("{base}/v2/{repo}/blobs/uploads/")).bearer_auth(token).send().unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{r:?}");
    let mut url = reqwest::Url::parse(base).unwrap().join(&header(&r, "location")).unwrap();
    url.query_pairs_mut().append_pair("digest", &digest);
    let r =
        http.put(url).bearer_auth(token).header("content-type", "application/octet-stream").body(data.to_vec()).send();
    assert_eq!(r.unwrap().status(), StatusCode::CREATED);
    digest
}

#[test]
#[ignore = "tier: registry"]
fn registry_tls_token_accepts_the_endpoints_token_for_what_it_grants() {
    let reg = TestRegistry::tls_token();
    let http = client(reg.cert_dir.as_deref());
    let base = format!("https://{}", reg.addr);

    let r = http.get(format!("{base}/v2/")).send().unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (realm, service) = bearer(&r);
    assert!(realm.starts_with("https://127.0.0.1:") && realm.ends_with("/token"), "{realm}");
    let creds = Some((reg.username.as_str(), reg.password.as_str()));
    let token = fetch_token(&http, &realm, &service, "repository:harness/granted:pull,push", creds)
        .unwrap_or_else(|r| panic!("no token for the right credentials: {r:?}"));
    assert_eq!(reg.token_requests(), 1);

    let r = http.get(format!("{base}/v2/")).bearer_auth(&token).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", reg.log());
    let data = b"a blob pushed through the token flow\n";
    let digest = push_blob(&http, &base, "harness/granted", &token, data);
    let r = http.head(format!("{base}/v2/harness/granted/blobs/{digest}")).bearer_auth(&token).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", reg.log());
    assert_eq!(header(&r, "docker-content-digest"), digest);
    let hex = &digest["sha256:".len()..];
    let stored = reg.storage().join(format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]));
    assert_eq!(std::fs::read(&stored).unwrap(), data);

    // The token grants harness/granted only: another repository asks for a token of its own.
    let r = http.head(format!("{base}/v2/harness/other/blobs/{digest}")).bearer_auth(&token).send().unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&r, "www-authenticate").contains("scope=\"repository:harness/other:pull\""), "{r:?}");
}

#[test]
#[ignore = "tier: registry"]
fn registry_tls_token_refuses_wrong_credentials_anonymous_and_forged_tokens() {
    let reg = TestRegistry::tls_token();
    let http = client(reg.cert_dir.as_deref());
    let base = format!("https://{}", reg.addr);
    let (realm, service) = bearer(&http.get(format!("{base}/v2/")).send().unwrap());
    let scope = "repository:harness/granted:pull,push";
    let blob_url = format!("{base}/v2/harness/granted/blobs/sha256:{}", sha256_bytes(b""));

    let r = fetch_token(&http, &realm, &service, scope, Some((&reg.username, "wrong")))
        .expect_err("a token for a wrong password");
    assert_eq!(r.0, StatusCode::UNAUTHORIZED);
    assert_eq!(reg.token_requests(), 0);
    // Anonymous gets a token with no access: the registry lets it reach /v2/ and nothing else.
    let anonymous = fetch_token(&http, &realm, &service, scope, None).expect("an anonymous token");
    assert_eq!(reg.token_requests(), 1);
    let r = http.get(format!("{base}/v2/")).bearer_auth(&anonymous).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", reg.log());
    let r = http.head(&blob_url).bearer_auth(&anonymous).send().unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A granted token whose claims are changed no longer verifies; a token signed by an untrusted key
    // never did. The genuine token reaches the blob (404: it is not there).
    let creds = Some((reg.username.as_str(), reg.password.as_str()));
    let genuine = fetch_token(&http, &realm, &service, scope, creds).unwrap();
    let parts: Vec<&str> = genuine.split('.').collect();
    let mut claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = "someone-else".into();
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let trusted_kid = header["kid"].as_str().expect("the token names its key");
    let forger = pki::Signer::generate();
    let forged = token::jwt(&forger, &forger.kid, &claims);
    let forged_as_trusted = token::jwt(&forger, trusted_kid, &claims);
    for (what, t, want) in [
        ("genuine", &genuine, StatusCode::NOT_FOUND),
        ("tampered", &tampered, StatusCode::UNAUTHORIZED),
        ("forged", &forged, StatusCode::UNAUTHORIZED),
        ("forged with the trusted kid", &forged_as_trusted, StatusCode::UNAUTHORIZED),
    ] {
        let r = http.head(&blob_url).bearer_auth(t).send().unwrap();
        assert_eq!(r.status(), want, "{what} token\n{}", reg.log());
    }
}
