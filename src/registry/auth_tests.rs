use std::os::unix::fs::PermissionsExt;

use super::*;

fn ch(scheme: &str, params: &[(&str, &str)]) -> Challenge {
    Challenge { scheme: scheme.into(), params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
}

#[test]
fn bearer_challenge_with_several_params() {
    let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#;
    let expected = ch(
        "bearer",
        &[
            ("realm", "https://auth.docker.io/token"),
            ("service", "registry.docker.io"),
            ("scope", "repository:library/busybox:pull"),
        ],
    );
    assert_eq!(parse_challenges(h), vec![expected]);
}

#[test]
fn quoted_commas_escapes_spaces_and_case() {
    let h = r#"BEARER Realm = "https://a/t?x=1,2" , scope="repository:a:pull,push", note="say \"hi\"""#;
    let c = &parse_challenges(h)[0];
    assert_eq!(c.scheme, "bearer");
    assert_eq!(c.param("realm"), Some("https://a/t?x=1,2"));
    assert_eq!(c.param("scope"), Some("repository:a:pull,push"));
    assert_eq!(c.param("note"), Some(r#"say "hi""#));
}

#[test]
fn several_challenges_and_tokens_unquoted() {
    let h = r#"Basic realm="Registry Realm", Bearer realm=https://t/token,service=reg"#;
    let all = parse_challenges(h);
    assert_eq!(
        all,
        vec![
            ch("basic", &[("realm", "Registry Realm")]),
            ch("bearer", &[("realm", "https://t/token"), ("service", "reg")])
        ]
    );
    assert_eq!(choose(&all).unwrap().scheme, "bearer");
    assert_eq!(choose(&parse_challenges("basic realm=\"x\"")).unwrap().scheme, "basic");
    assert_eq!(choose(&parse_challenges("Negotiate")), None);
    assert!(parse_challenges("").is_empty());
    assert_eq!(parse_challenges(r#"Basic realm="unterminated"#)[0].param("realm"), Some("unterminated"));
}

#[test]
fn token_or_access_token() {
    assert_eq!(parse_token(br#"{"token":"a","expires_in":300}"#).as_deref(), Some("a"));
    assert_eq!(parse_token(br#"{"access_token":"b"}"#).as_deref(), Some("b"));
    assert_eq!(parse_token(br#"{"token":""}"#), None);
    assert_eq!(parse_token(b"nope"), None);
}

fn creds(u: &str, p: &str) -> Credentials {
    Credentials { username: u.into(), password: p.into() }
}

fn auth_json(entries: &[(&str, &str, &str)]) -> String {
    let auths: serde_json::Map<String, serde_json::Value> =
        entries.iter().map(|(k, u, p)| (k.to_string(), serde_json::json!({ "auth": creds(u, p).basic() }))).collect();
    serde_json::json!({ "auths": auths }).to_string()
}

#[test]
fn lookup_order_first_file_with_an_entry_wins() {
    let dir = tempfile::tempdir().unwrap();
    let env = AuthEnv {
        registry_auth_file: Some(dir.path().join("env.json")),
        xdg_runtime_dir: Some(dir.path().join("run")),
        home: Some(dir.path().join("home")),
    };
    let files = env.lookup_files(None);
    assert_eq!(
        files,
        vec![
            dir.path().join("env.json"),
            dir.path().join("run/containers/auth.json"),
            dir.path().join("home/.config/containers/auth.json"),
            dir.path().join("home/.docker/config.json"),
        ]
    );
    assert_eq!(env.lookup_files(Some(Path::new("/x.json"))), vec![PathBuf::from("/x.json")]);
    assert_eq!(lookup("r:5000", "a", &files).unwrap(), None, "no file at all");
    std::fs::create_dir_all(dir.path().join("home/.docker")).unwrap();
    std::fs::write(&files[3], auth_json(&[("r:5000", "docker", "d")])).unwrap();
    std::fs::create_dir_all(dir.path().join("run/containers")).unwrap();
    std::fs::write(&files[1], auth_json(&[("other:5000", "x", "y")])).unwrap();
    assert_eq!(lookup("r:5000", "a", &files).unwrap(), Some(creds("docker", "d")), "skips files without an entry");
    std::fs::write(&files[0], auth_json(&[("r:5000", "env", "e:with:colons")])).unwrap();
    assert_eq!(lookup("r:5000", "a", &files).unwrap(), Some(creds("env", "e:with:colons")));
}

#[test]
fn entry_key_forms() {
    let p = Path::new("auth.json");
    let find =
        |key: &str, reg: &str, repo: &str| lookup_in(reg, repo, auth_json(&[(key, "u", "p")]).as_bytes(), p).unwrap();
    assert!(find("https://index.docker.io/v1/", "docker.io", "library/busybox").is_some());
    assert!(find("docker.io", "docker.io", "library/busybox").is_some());
    assert!(find("https://r.example:5000", "r.example:5000", "a").is_some());
    assert!(find("r.example:5000/", "r.example:5000", "a").is_some());
    assert!(find("r.example", "r.example:5000", "a").is_none(), "the port is part of the key");
    assert!(find("r.example/team", "r.example", "team/app").is_some());
    assert!(find("r.example/team", "r.example", "teamx/app").is_none());
    // The most specific namespace wins.
    let two = r#"{"auths":{"q.io":{"auth":"YTpi"},"q.io/org":{"auth":"Yzpk"}}}"#;
    assert_eq!(lookup_in("q.io", "org/app", two.as_bytes(), p).unwrap(), Some(creds("c", "d")));
    assert_eq!(lookup_in("q.io", "else/app", two.as_bytes(), p).unwrap(), Some(creds("a", "b")));
}

#[test]
fn credential_helpers_are_a_clear_error() {
    let p = Path::new("config.json");
    let helpers = r#"{"credHelpers":{"r.io":"ecr-login"}}"#;
    let e = lookup_in("r.io", "a", helpers.as_bytes(), p).unwrap_err();
    assert!(matches!(&e, RegistryError::CredentialHelper { helper, .. } if helper == "ecr-login"), "{e:?}");
    assert!(e.hint().unwrap().contains("compose login r.io"));
    let store = r#"{"auths":{"r.io":{}},"credsStore":"desktop"}"#;
    assert!(matches!(lookup_in("r.io", "a", store.as_bytes(), p), Err(RegistryError::CredentialHelper { .. })));
    // A store that holds nothing for this registry is no reason to fail.
    assert_eq!(lookup_in("other.io", "a", store.as_bytes(), p).unwrap(), None);
    let bad = r#"{"auths":{"r.io":{"auth":"!!!"}}}"#;
    assert!(matches!(lookup_in("r.io", "a", bad.as_bytes(), p), Err(RegistryError::AuthFileFormat { .. })));
}

#[test]
fn login_file_choice() {
    let env =
        AuthEnv { registry_auth_file: None, xdg_runtime_dir: Some("/run/user/1".into()), home: Some("/h".into()) };
    assert_eq!(env.login_file(None), Some(PathBuf::from("/run/user/1/containers/auth.json")));
    let env = AuthEnv { xdg_runtime_dir: None, ..env };
    assert_eq!(env.login_file(None), Some(PathBuf::from("/h/.config/containers/auth.json")));
    assert_eq!(env.login_file(Some(Path::new("/a.json"))), Some(PathBuf::from("/a.json")));
}

#[test]
fn writing_a_login_keeps_other_entries_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/auth.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, r#"{"auths":{"other.io":{"auth":"eDp5"}},"credHelpers":{"z.io":"h"}}"#).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    write_login(&path, "r:5000", &creds("u", "p")).unwrap();
    write_login(&path, "r:5000", &creds("u", "p2")).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(doc["auths"]["other.io"]["auth"], "eDp5");
    assert_eq!(doc["credHelpers"]["z.io"], "h");
    assert_eq!(doc["auths"]["r:5000"]["auth"], creds("u", "p2").basic());
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(lookup("r:5000", "a", std::slice::from_ref(&path)).unwrap(), Some(creds("u", "p2")));
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temp file left behind");
    // A new file in a new directory.
    let fresh = dir.path().join("new/dir/auth.json");
    write_login(&fresh, "r", &creds("a", "b")).unwrap();
    assert_eq!(std::fs::metadata(fresh.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    // A damaged file is not overwritten.
    std::fs::write(&path, "{not json").unwrap();
    assert!(matches!(write_login(&path, "r", &creds("a", "b")), Err(RegistryError::AuthFileFormat { .. })));
}
