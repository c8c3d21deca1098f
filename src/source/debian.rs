//! The Debian archive as a source mirror.
//!
//! Debian keeps the upstream release tarball of most packages byte-identical as
//! `<pkg>_<version>.orig.tar.*` in its pool, so a recipe can name that file as a
//! fallback. Which archive to use is read at run time from the machine's apt
//! configuration: it is the one mirror known to be reachable on hosts where
//! upstream sites are not, and hard-coding a host would break everywhere else.

use std::path::Path;

/// Overrides the apt configuration (tests, and hosts whose apt mirror is not
/// the one to use for sources).
const MIRROR_ENV: &str = "COMPOSE_DEBIAN_MIRROR";

const DEB822_PATH: &str = "/etc/apt/sources.list.d/debian.sources";
const SOURCES_LIST_PATH: &str = "/etc/apt/sources.list";

/// The Debian archive base URI (no trailing `/`), from `$COMPOSE_DEBIAN_MIRROR`,
/// else the first stanza of the deb822 `debian.sources`, else the first `deb`
/// line of `sources.list`. `None` when none of them names one.
pub fn debian_base_from_apt() -> Option<String> {
    let read = |p: &str| std::fs::read_to_string(Path::new(p)).ok();
    choose_base(std::env::var(MIRROR_ENV).ok(), read(DEB822_PATH).as_deref(), read(SOURCES_LIST_PATH).as_deref())
}

/// The precedence of [`debian_base_from_apt`], kept free of I/O so it can be tested.
fn choose_base(env: Option<String>, deb822: Option<&str>, list: Option<&str>) -> Option<String> {
    env.map(|v| v.trim().trim_end_matches('/').to_string())
        .filter(|v| !v.is_empty())
        .or_else(|| deb822.and_then(parse_deb822_base))
        .or_else(|| list.and_then(parse_sources_list_base))
}

/// First usable URI of the first enabled stanza of a deb822 `.sources` file.
pub fn parse_deb822_base(text: &str) -> Option<String> {
    // Stanzas are separated by blank lines; `#` lines are comments (and real
    // files carry commented-out URLs that must not be picked up).
    let mut stanzas: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for line in text.lines() {
        if line.trim().is_empty() {
            if !stanzas.last().is_some_and(Vec::is_empty) {
                stanzas.push(Vec::new());
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let fields = stanzas.last_mut().expect("never empty");
        if line.starts_with([' ', '\t']) {
            // A continuation line extends the previous field's value.
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            fields.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    stanzas.iter().find_map(|fields| {
        let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        if get("enabled").is_some_and(|v| v.eq_ignore_ascii_case("no")) {
            return None;
        }
        get("uris")?.split_whitespace().find_map(usable_uri)
    })
}

/// URI of the first `deb` line of a one-line-style `sources.list`.
pub fn parse_sources_list_base(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("").trim();
        let rest = line.strip_prefix("deb")?;
        if !rest.starts_with([' ', '\t']) {
            return None; // `deb-src` and friends
        }
        let mut rest = rest.trim_start();
        if rest.starts_with('[') {
            // `[arch=amd64 signed-by=...]` options may contain spaces.
            rest = rest[rest.find(']')? + 1..].trim_start();
        }
        usable_uri(rest.split_whitespace().next()?)
    })
}

/// Only schemes our fetcher speaks; `cdrom:` or `mirror+http:` would just fail later.
fn usable_uri(uri: &str) -> Option<String> {
    let ok = ["http://", "https://", "file:/"].iter().any(|s| uri.starts_with(s));
    ok.then(|| uri.trim_end_matches('/').to_string())
}

/// `BASE/pool/main/<prefix>/<srcpkg>/<file>` for a pool file such as
/// `busybox_1.37.0.orig.tar.bz2`.
pub fn debian_pool_url(base: &str, pool_file: &str) -> String {
    format!("{}/pool/main/{}/{pool_file}", base.trim_end_matches('/'), pool_dir(pool_file))
}

/// `<prefix>/<srcpkg>`: the source package is the name before the first `_`;
/// the pool splits `lib*` packages one letter deeper (`libo/libonig`) because
/// there are so many of them.
fn pool_dir(pool_file: &str) -> String {
    let src = pool_file.split('_').next().unwrap_or(pool_file);
    let chars = if src.starts_with("lib") && src.len() > 3 { 4 } else { 1 };
    let end = src.char_indices().nth(chars).map_or(src.len(), |(i, _)| i);
    format!("{}/{src}", &src[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://mirror.example/debian";

    #[test]
    fn pool_paths() {
        let url = debian_pool_url(BASE, "busybox_1.37.0.orig.tar.bz2");
        assert_eq!(url, format!("{BASE}/pool/main/b/busybox/busybox_1.37.0.orig.tar.bz2"));
        let url = debian_pool_url(&format!("{BASE}/"), "libonig_6.9.9.orig.tar.gz");
        assert_eq!(url, format!("{BASE}/pool/main/libo/libonig/libonig_6.9.9.orig.tar.gz"));
        let url = debian_pool_url(BASE, "linux_6.1.135.orig.tar.xz");
        assert_eq!(url, format!("{BASE}/pool/main/l/linux/linux_6.1.135.orig.tar.xz"));
        // `lib` alone is not a `lib*` package.
        assert_eq!(pool_dir("lib_1.orig.tar.gz"), "l/lib");
    }

    #[test]
    fn deb822_first_stanza_ignoring_comments() {
        let text = "Types: deb\n\
                    # http://snapshot.example/archive/debian/20250520T000000Z\n\
                    URIs: http://mirror.example/debian/\n\
                    Suites: bookworm bookworm-updates\n\
                    Components: main\n\
                    \n\
                    Types: deb\n\
                    URIs: http://mirror.example/debian-security\n\
                    Suites: bookworm-security\n";
        assert_eq!(parse_deb822_base(text).as_deref(), Some(BASE));
    }

    #[test]
    fn deb822_skips_disabled_and_continuations() {
        let text = "Types: deb\nEnabled: no\nURIs: http://old.example/debian\n\n\n\
                    Types: deb\nURIs:\n cdrom:[Debian]/\n http://mirror.example/debian\nSuites: bookworm\n";
        assert_eq!(parse_deb822_base(text).as_deref(), Some(BASE));
        assert_eq!(parse_deb822_base("# nothing\n"), None);
    }

    #[test]
    fn sources_list_first_deb_line() {
        let text = "# deb http://commented.example/debian bookworm main\n\
                    deb-src http://src.example/debian bookworm main\n\
                    deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian bookworm main\n\
                    deb http://second.example/debian bookworm main\n";
        assert_eq!(parse_sources_list_base(text).as_deref(), Some(BASE));
        let one = "deb http://mirror.example/debian/ bookworm main contrib";
        assert_eq!(parse_sources_list_base(one).as_deref(), Some(BASE));
    }

    #[test]
    fn precedence_env_then_deb822_then_list() {
        let deb822 = "Types: deb\nURIs: http://a.example/debian\n";
        let list = "deb http://b.example/debian bookworm main\n";
        let env = Some("http://mirror.example/debian/".to_string());
        assert_eq!(choose_base(env, Some(deb822), Some(list)).as_deref(), Some(BASE));
        let a = choose_base(Some(String::new()), Some(deb822), Some(list));
        assert_eq!(a.as_deref(), Some("http://a.example/debian"));
        let b = choose_base(None, Some("# empty\n"), Some(list));
        assert_eq!(b.as_deref(), Some("http://b.example/debian"));
        assert_eq!(choose_base(None, None, None), None);
    }

    /// Real network: the Debian archive named by this machine's apt sources.
    /// The upstream URL goes first, as in the recipe; where upstream hosts do
    /// not resolve it must fail at once (no retries) and fall through.
    #[test]
    #[ignore = "tier: e2e"] // downloads 2.5 MB from the Debian archive
    fn e2e_fetches_busybox_from_the_debian_archive() {
        use crate::source::{FetchSettings, NoProgress, SourceCache, SourceRequest};
        let base = debian_base_from_apt().expect("no Debian archive in the apt sources");
        let sha = "3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4";
        let req = SourceRequest {
            package: "busybox".into(),
            file_name: "busybox-1.37.0.tar.bz2".into(),
            sha256: sha.into(),
            urls: vec!["https://busybox.net/downloads/busybox-1.37.0.tar.bz2".into()],
            debian_pool: Some("busybox_1.37.0.orig.tar.bz2".into()),
            local: None,
        };
        let settings = FetchSettings { debian_base: Some(base), ..FetchSettings::default() };
        let root = tempfile::tempdir().unwrap();
        let cache = SourceCache::open(root.path()).unwrap();
        let start = std::time::Instant::now();
        let path = cache.fetch(&req, &settings, &NoProgress).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("fetched busybox in {:?}", start.elapsed());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2_565_764);
        assert!(cache.verify(sha).unwrap());
    }
}
