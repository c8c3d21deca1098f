//! Image references (`name:tag`), checked against the grammar docker and podman accept, and the
//! forms each tool reads: Docker's `RepoTags`, containerd's fully qualified `io.containerd.image.name`,
//! and the OCI `org.opencontainers.image.ref.name` (the tag).

/// A checked `[domain/]path[:tag]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host, if the name has one (`localhost`, `registry.example:5000`).
    pub domain: Option<String>,
    /// Slash-separated path components, e.g. `busybox` or `team/app`.
    pub path: String,
    pub tag: String,
}

impl Reference {
    /// Parses `s`; `default_tag` applies when `s` has none.
    pub fn parse(s: &str, default_tag: &str) -> Result<Reference, String> {
        if s.contains('@') {
            return Err(format!("`{s}`: digests cannot be set, only `name:tag`"));
        }
        if s.len() > 255 {
            return Err(format!("`{s}` is longer than 255 characters"));
        }
        // The tag is after the last `:` that follows the last `/` (a `:` before it is a port).
        let last_slash = s.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match s[last_slash..].rfind(':') {
            Some(i) => (&s[..last_slash + i], &s[last_slash + i + 1..]),
            None => (s, default_tag),
        };
        if !tag_ok(tag) {
            return Err(format!("`{s}`: tag `{tag}` must be 1-128 of [A-Za-z0-9_.-], not starting with `.` or `-`"));
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        let domain = if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
            let d = parts.remove(0);
            if !domain_ok(d) {
                return Err(format!("`{s}`: `{d}` is not a registry host[:port]"));
            }
            Some(d.to_string())
        } else {
            None
        };
        for p in &parts {
            if !component_ok(p) {
                return Err(format!(
                    "`{s}`: name component `{p}` must be lowercase letters and digits, separated by `.`, `_`, `__` or `-`"
                ));
            }
        }
        Ok(Reference { domain, path: parts.join("/"), tag: tag.to_string() })
    }

    /// `busybox:1.37.0`, as Docker's `RepoTags` and `docker images` show it.
    pub fn familiar(&self) -> String {
        match &self.domain {
            Some(d) => format!("{d}/{}:{}", self.path, self.tag),
            None => format!("{}:{}", self.path, self.tag),
        }
    }

    /// `docker.io/library/busybox:1.37.0`, as containerd and podman read `io.containerd.image.name`.
    pub fn qualified(&self) -> String {
        match &self.domain {
            Some(_) => self.familiar(),
            None if self.path.contains('/') => format!("docker.io/{}:{}", self.path, self.tag),
            None => format!("docker.io/library/{}:{}", self.path, self.tag),
        }
    }
}

fn tag_ok(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && !t.starts_with(['.', '-'])
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn domain_ok(d: &str) -> bool {
    let (host, port) = d.split_once(':').unwrap_or((d, "0"));
    port.parse::<u16>().is_ok()
        && !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn component_ok(p: &str) -> bool {
    let b = p.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &p[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-')) {
            return false;
        }
    }
    true
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_qualifies() {
        let r = Reference::parse("busybox", "1.37.0").unwrap();
        assert_eq!((r.familiar(), r.qualified()), ("busybox:1.37.0".into(), "docker.io/library/busybox:1.37.0".into()));
        let r = Reference::parse("team/app:v2", "latest").unwrap();
        assert_eq!(r.qualified(), "docker.io/team/app:v2");
        let r = Reference::parse("localhost:5000/a/b_c:x", "latest").unwrap();
        assert_eq!((r.domain.as_deref(), r.path.as_str(), r.tag.as_str()), (Some("localhost:5000"), "a/b_c", "x"));
        assert_eq!(r.qualified(), "localhost:5000/a/b_c:x");
    }

    #[test]
    fn rejects_what_docker_rejects() {
        for bad in ["Busybox:1", "a:", "a:-x", "a@sha256:00", "a//b", "a/-b", "a:b:c", "a..b", "_a", "a_", "bad host/x"]
        {
            assert!(Reference::parse(bad, "latest").is_err(), "{bad} accepted");
        }
        for good in ["a.b-c__d", "a---b", "x:1.0_rc-1", "r.example.com/x"] {
            assert!(Reference::parse(good, "latest").is_ok(), "{good} rejected");
        }
    }
}
