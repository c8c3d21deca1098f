//! htpasswd basic auth over plain HTTP (`tls_verify: false`), `login`, and what happens without either.

use super::*;

fn creds() -> Credentials {
    Credentials { username: USER.into(), password: PASS.into() }
}

#[test]
#[ignore = "tier: registry"]
fn registry_basic_auth_over_plain_http() {
    let server = Server::basic();
    let options = Options { credentials: Some(creds()), ..plain_http() };
    let client = server.client("private/app", &options);
    let (bytes, desc) = push_image(&client, "private");
    client.put_manifest("v1", OCI_MANIFEST, &bytes).unwrap();
    assert_eq!(client.get_manifest("v1").unwrap().unwrap().digest, desc.digest);

    // No credentials anywhere: the connect succeeds (the ping's 401 is expected), the first request fails.
    let dir = tempfile::tempdir().unwrap();
    let nobody = Options { auth_file: Some(dir.path().join("none.json")), ..plain_http() };
    let anonymous = server.client("private/app", &nobody);
    match anonymous.get_manifest("v1") {
        Err(e @ RegistryError::Unauthorized { status: 401, with_credentials: false, .. }) => {
            assert_eq!(e.hint().unwrap(), format!("run `compose login {}`, or pass --creds USER:PASS", server.addr));
        }
        other => panic!("{other:?}"),
    }
    let wrong =
        Options { credentials: Some(Credentials { username: USER.into(), password: "nope".into() }), ..plain_http() };
    let e = server.client("private/app", &wrong).get_manifest("v1").unwrap_err();
    assert!(matches!(e, RegistryError::Unauthorized { with_credentials: true, .. }), "{e:?}");
    assert!(e.to_string().contains("refused the credentials"), "{e}");
}

#[test]
#[ignore = "tier: registry"]
fn registry_login_writes_the_file_the_client_then_reads() {
    let server = Server::basic();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth.json");
    std::fs::write(&file, r#"{"auths":{"other.example":{"auth":"eDp5"}}}"#).unwrap();
    let options = Options { auth_file: Some(file.clone()), ..plain_http() };
    let bad = Credentials { username: USER.into(), password: "wrong".into() };
    assert!(matches!(login(&server.addr, &bad, &options), Err(RegistryError::Unauthorized { .. })));
    assert!(!std::fs::read_to_string(&file).unwrap().contains(&server.addr), "nothing written on failure");
    assert_eq!(login(&server.addr, &creds(), &options).unwrap(), file);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(doc["auths"]["other.example"]["auth"], "eDp5");
    assert_eq!(doc["auths"][&server.addr]["auth"], creds().basic());
    // The client reads the entry login wrote.
    let client = server.client("private/app", &options);
    let data = b"through the auth file".to_vec();
    let (digest, size) = blob(&data);
    assert_eq!(
        client.push_blob(&digest, size, BlobSource::Bytes(&data), None).unwrap(),
        BlobPush::Uploaded { chunks: 1 }
    );
}

#[test]
#[ignore = "tier: registry"]
fn registry_plain_http_needs_tls_verify_false() {
    let server = Server::plain();
    let e = Client::connect(&server.reference("app"), &Options { retries: 0, ..Options::default() }).err().unwrap();
    assert!(matches!(e, RegistryError::Connect { .. }), "{e:?}");
    assert!(e.to_string().starts_with(&format!("ping registry `{}`", server.addr)), "{e}");
    eprintln!("tls_verify true against plain HTTP: {e}: {:?}", super::super::error::chain_text(&e));
    assert!(e.hint().unwrap().contains("--tls-verify=false"), "{:?}", e.hint());
}

#[test]
#[ignore = "tier: registry"]
fn registry_tls_with_a_private_ca() {
    let server = Server::tls_basic();
    let with_creds = Options { credentials: Some(creds()), retries: 0, ..Options::default() };
    let e = Client::connect(&server.reference("app"), &with_creds).err().unwrap();
    assert!(matches!(e, RegistryError::Connect { .. }), "{e:?}");
    assert_eq!(
        e.hint().unwrap(),
        "pass --cert-dir DIR with the registry's CA (`*.crt`), or add the CA to the system store"
    );

    let trusted = Options { cert_dir: Some(server.cert_dir()), ..with_creds.clone() };
    let client = server.client("app", &trusted);
    let data = b"over verified TLS".to_vec();
    let (digest, size) = blob(&data);
    assert_eq!(
        client.push_blob(&digest, size, BlobSource::Bytes(&data), None).unwrap(),
        BlobPush::Uploaded { chunks: 1 }
    );

    // --tls-verify=false: the unverified certificate of the registry named is accepted (still https:
    // this server answers plain HTTP with 400, so a fall back to http could not have worked).
    let unverified = Options { tls_verify: false, ..with_creds };
    assert!(server.client("app", &unverified).has_blob(&digest).unwrap());
    let e = Client::connect(
        &server.reference("app"),
        &Options { cert_dir: Some(server.dir.path().join("none")), ..trusted },
    )
    .err()
    .unwrap();
    assert!(matches!(e, RegistryError::CertDir { .. }), "{e:?}");
}
