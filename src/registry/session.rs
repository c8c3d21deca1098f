//! One registry, authenticated as it asks: the first request goes out anonymous; a 401 names the
//! scheme (`WWW-Authenticate`), and from then on every request carries Basic credentials or a Bearer
//! token for its scopes (tokens cached per scope set, fetched before a request that needs a new one).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use reqwest::blocking::Response;
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{Method, StatusCode, Url};

use super::auth::{self, AuthEnv, Challenge, Credentials};
use super::error::summarize_body;
use super::http::{HttpClients, Req, protocol, read_body, status_error};
use super::reference::api_host;
use super::{Options, RegistryError};

pub(crate) struct Session {
    pub registry: String,
    repository: String,
    pub http: HttpClients,
    auth_files: Vec<PathBuf>,
    state: Mutex<AuthState>,
}

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    /// Scope set (sorted, space-joined) -> token.
    tokens: HashMap<String, String>,
    /// None: not looked up yet.
    credentials: Option<Option<Credentials>>,
}

impl Session {
    /// Pings `/v2/` over https; with TLS verification off, falls back to http when https fails.
    pub fn open(registry: &str, repository: &str, options: &Options) -> Result<Session, RegistryError> {
        let host = api_host(registry);
        let url = |scheme: &str| {
            Url::parse(&format!("{scheme}://{host}/")).map_err(|e| RegistryError::InvalidReference {
                reference: registry.to_string(),
                reason: format!("not a host name: {e}"),
            })
        };
        let mut session = Session {
            registry: registry.to_string(),
            repository: repository.to_string(),
            http: HttpClients::new(url("https")?, registry, options)?,
            auth_files: AuthEnv::from_process().lookup_files(options.auth_file.as_deref()),
            state: Mutex::new(AuthState { credentials: options.credentials.clone().map(Some), ..Default::default() }),
        };
        let op = format!("ping registry `{registry}`");
        match session.ping(&op, (!options.tls_verify).then_some(0)) {
            Err(RegistryError::Connect { .. }) if !options.tls_verify => {
                session.http.base = url("http")?;
                session.ping(&op, None)?;
            }
            other => other?,
        }
        Ok(session)
    }

    /// `GET /v2/`: 200, or 401 with the challenge to answer from now on.
    fn ping(&self, op: &str, retries: Option<u32>) -> Result<(), RegistryError> {
        let mut req = Req::new(Method::GET, self.url("v2/"), Vec::new());
        req.retries = retries;
        let resp = self.http.send(op, &req, None)?;
        match resp.status() {
            StatusCode::OK => Ok(()),
            StatusCode::UNAUTHORIZED => {
                self.state().challenge = challenge_of(&resp);
                Ok(())
            }
            _ => Err(status_error(op, resp)),
        }
    }

    pub fn url(&self, path: &str) -> Url {
        self.http.base.join(path).expect("a path joins onto the registry's base URL")
    }

    fn state(&self) -> MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `req` with the authentication the registry asked for; a 401 is answered once (a new token,
    /// or credentials looked up now), a second one, or a 403, is `Unauthorized`.
    pub fn send(&self, op: &str, req: &Req<'_>) -> Result<Response, RegistryError> {
        let mut answered = false;
        loop {
            let authorization = self.authorization(op, &req.scopes)?;
            let resp = self.http.send(op, req, authorization.as_deref())?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !answered {
                let challenge = challenge_of(&resp).ok_or_else(|| self.unauthorized(op, resp, false))?;
                let mut state = self.state();
                state.tokens.remove(&scope_key(&req.scopes));
                state.challenge = Some(challenge);
                answered = true;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                let with_credentials = matches!(self.state().credentials, Some(Some(_)));
                return Err(self.unauthorized(op, resp, with_credentials));
            }
            return Ok(resp);
        }
    }

    fn unauthorized(&self, op: &str, resp: Response, with_credentials: bool) -> RegistryError {
        let (url, status) = (resp.url().to_string(), resp.status().as_u16());
        let body = read_body(op, resp, 64 << 10).map(|b| summarize_body(&b)).unwrap_or_default();
        RegistryError::Unauthorized {
            registry: self.registry.clone(),
            op: op.to_string(),
            url,
            status,
            body,
            with_credentials,
        }
    }

    /// The `Authorization` value for a request needing `scopes`, fetching a token when none is cached.
    fn authorization(&self, op: &str, scopes: &[String]) -> Result<Option<String>, RegistryError> {
        let (challenge, token) = {
            let state = self.state();
            (state.challenge.clone(), state.tokens.get(&scope_key(scopes)).cloned())
        };
        let Some(challenge) = challenge else { return Ok(None) };
        match challenge.scheme.as_str() {
            "basic" => Ok(self.credentials()?.map(|c| format!("Basic {}", c.basic()))),
            "bearer" => {
                let token = match token {
                    Some(t) => t,
                    None => self.fetch_token(op, &challenge, scopes)?,
                };
                Ok(Some(format!("Bearer {token}")))
            }
            _ => Ok(None),
        }
    }

    fn credentials(&self) -> Result<Option<Credentials>, RegistryError> {
        if let Some(known) = &self.state().credentials {
            return Ok(known.clone());
        }
        let found = auth::lookup(&self.registry, &self.repository, &self.auth_files)?;
        self.state().credentials = Some(found.clone());
        Ok(found)
    }

    /// `GET realm?service=S&scope=...`, with Basic credentials when there are any.
    fn fetch_token(&self, op: &str, challenge: &Challenge, scopes: &[String]) -> Result<String, RegistryError> {
        let op = format!("{op}: get a token");
        let realm = challenge
            .param("realm")
            .ok_or_else(|| protocol(&op, &self.http.base, "a Bearer challenge without a realm"))?;
        let mut url = Url::parse(realm).map_err(|e| protocol(&op, &self.http.base, format!("realm `{realm}`: {e}")))?;
        let mut all: Vec<String> = scopes.to_vec();
        all.extend(challenge.param("scope").into_iter().flat_map(|s| s.split(' ')).map(str::to_string));
        all.sort();
        all.dedup();
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(service) = challenge.param("service") {
                pairs.append_pair("service", service);
            }
            for scope in all.iter().filter(|s| !s.is_empty()) {
                pairs.append_pair("scope", scope);
            }
        }
        let credentials = self.credentials()?;
        let req = Req::new(Method::GET, url.clone(), Vec::new());
        // The realm may be another host: the credentials go there explicitly, over verified https.
        let resp = self.http.send_to_realm(&op, &req, credentials.as_ref().map(|c| format!("Basic {}", c.basic())))?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(self.unauthorized(&op, resp, credentials.is_some()));
            }
            _ => return Err(status_error(&op, resp)),
        }
        let body = read_body(&op, resp, 1 << 20)?;
        let token = auth::parse_token(&body).ok_or_else(|| protocol(&op, &url, "the answer holds no `token`"))?;
        self.state().tokens.insert(scope_key(scopes), token.clone());
        Ok(token)
    }
}

fn challenge_of(resp: &Response) -> Option<Challenge> {
    let all: Vec<Challenge> = resp
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(auth::parse_challenges)
        .collect();
    auth::choose(&all).cloned()
}

fn scope_key(scopes: &[String]) -> String {
    let mut s: Vec<&str> = scopes.iter().map(String::as_str).collect();
    s.sort();
    s.join(" ")
}

/// `repository:NAME:pull` or `:pull,push`.
pub(crate) fn scope(repository: &str, push: bool) -> String {
    format!("repository:{repository}:{}", if push { "pull,push" } else { "pull" })
}
