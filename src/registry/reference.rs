//! Image references as podman and docker read them: `HOST[:PORT]/REPO[/MORE][:TAG][@sha256:HEX]`, with
//! Docker Hub's defaults (`busybox` is `docker.io/library/busybox`).

use std::fmt;

use super::{RegistryError, valid_digest};

pub const DOCKER_HUB: &str = "docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// The first component is a registry when it contains '.' or ':' or is `localhost`; else the
    /// registry is `docker.io` (and a one-component repository gets `library/`).
    pub fn parse(s: &str) -> Result<Reference, RegistryError> {
        let bad = |reason: &str| RegistryError::InvalidReference { reference: s.to_string(), reason: reason.into() };
        let (name, digest) = match s.split_once('@') {
            Some((name, digest)) if valid_digest(digest) => (name, Some(digest.to_string())),
            Some(_) => return Err(bad("the digest must be `sha256:` and 64 lowercase hex digits")),
            None => (s, None),
        };
        let (name, tag) = match name.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t.to_string())),
            _ => (name, None),
        };
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err(bad("a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'"));
        }
        let (registry, repository) = split_registry(name);
        let registry = normalize_registry(registry);
        if !valid_registry(&registry) {
            return Err(bad("the registry must be HOST or HOST:PORT"));
        }
        if repository.is_empty() {
            return Err(bad("the repository name is empty"));
        }
        let repository = match repository.contains('/') {
            false if registry == DOCKER_HUB => format!("library/{repository}"),
            _ => repository.to_string(),
        };
        if let Err(reason) = check_repository(&repository) {
            return Err(bad(reason));
        }
        Ok(Reference { registry, repository, tag, digest })
    }

    /// The digest if there is one, else the tag, else "latest".
    pub fn tag_or_digest(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// Same registry and repository, digest dropped.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { tag: Some(tag.to_string()), digest: None, ..self.clone() }
    }

    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference { digest: Some(digest.to_string()), ..self.clone() }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => (DOCKER_HUB, name),
    }
}

/// Docker Hub's other names are one registry, as podman and docker treat them.
pub fn normalize_registry(registry: &str) -> String {
    match registry {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        other => other.to_string(),
    }
}

/// The host that serves the API of `registry` (Docker Hub's is not `docker.io`).
pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB { "registry-1.docker.io" } else { registry }
}

pub(crate) fn valid_registry(registry: &str) -> bool {
    let (host, port) = match registry.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (registry, None),
    };
    let host_ok = !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok_and(|n| n > 0));
    host_ok && port_ok
}

pub(crate) fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Components of lowercase letters and digits joined by `.`, `_`, `__` or dashes (the distribution spec's
/// grammar, read leniently on separators).
fn check_repository(repository: &str) -> Result<(), &'static str> {
    if repository.is_empty() {
        return Err("the repository name is empty");
    }
    if repository.len() > 255 {
        return Err("the repository name is longer than 255 characters");
    }
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("repository names must be lowercase");
    }
    for component in repository.split('/') {
        let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let ok = alnum(component.bytes().next())
            && alnum(component.bytes().last())
            && component.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !ok {
            return Err("each part of a repository name is [a-z0-9] joined by '.', '_' or '-'");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    fn parse(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn parts(r: &Reference) -> (&str, &str, Option<&str>, Option<&str>) {
        (&r.registry, &r.repository, r.tag.as_deref(), r.digest.as_deref())
    }

    #[test]
    fn docker_hub_defaults() {
        assert_eq!(parts(&parse("busybox")), ("docker.io", "library/busybox", None, None));
        assert_eq!(parts(&parse("busybox:1.36")), ("docker.io", "library/busybox", Some("1.36"), None));
        assert_eq!(parts(&parse("user/app")), ("docker.io", "user/app", None, None));
        assert_eq!(parts(&parse("docker.io/busybox")), ("docker.io", "library/busybox", None, None));
        assert_eq!(parts(&parse("index.docker.io/library/busybox")).0, "docker.io");
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
    }

    #[test]
    fn registries_with_ports_and_localhost() {
        assert_eq!(parts(&parse("localhost:5000/a/b/c:v1")), ("localhost:5000", "a/b/c", Some("v1"), None));
        assert_eq!(parts(&parse("localhost/app")), ("localhost", "app", None, None));
        assert_eq!(parts(&parse("127.0.0.1:5000/app")), ("127.0.0.1:5000", "app", None, None));
        assert_eq!(parts(&parse("quay.io/org/app:latest")), ("quay.io", "org/app", Some("latest"), None));
        // A port-less registry with a tag: the ':' after the last '/' is the tag's.
        assert_eq!(parts(&parse("ghcr.io/o/app:1")), ("ghcr.io", "o/app", Some("1"), None));
    }

    #[test]
    fn digests_with_and_without_tags() {
        let r = parse(&format!("localhost:5000/app@{D}"));
        assert_eq!(parts(&r), ("localhost:5000", "app", None, Some(D)));
        assert_eq!(r.tag_or_digest(), D);
        let r = parse(&format!("localhost:5000/app:v2@{D}"));
        assert_eq!(parts(&r), ("localhost:5000", "app", Some("v2"), Some(D)));
        assert_eq!(r.to_string(), format!("localhost:5000/app:v2@{D}"));
        assert_eq!(r.with_tag("v3").to_string(), "localhost:5000/app:v3");
        assert_eq!(parse("localhost:5000/app").tag_or_digest(), "latest");
        assert_eq!(parse("localhost:5000/app").with_digest(D).tag_or_digest(), D);
    }

    #[test]
    fn bad_references_say_why() {
        for (s, why) in [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("localhost:5000/app@sha256:abc", "64 lowercase hex"),
            ("localhost:5000/app@md5:0123", "64 lowercase hex"),
            ("localhost:5000/app:", "a tag is"),
            ("localhost:5000/app:-x", "a tag is"),
            ("localhost:5000/app:a/b", "each part"),
            ("localhost:99999/app", "HOST:PORT"),
            ("localhost:5000/-app", "each part"),
            ("localhost:5000/a//b", "each part"),
            ("localhost:5000/", "empty"),
        ] {
            match Reference::parse(s) {
                Err(RegistryError::InvalidReference { reason, .. }) => assert!(reason.contains(why), "{s}: {reason}"),
                other => panic!("{s}: {other:?}"),
            }
        }
    }
}
