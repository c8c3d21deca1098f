//! Which installed files enter an image. By default only what runs: headers, static libraries,
//! libtool archives, pkg-config files, man, info and doc pages stay out. A recipe's `include` keeps
//! paths the default drops; its `exclude` drops more.

/// Directories dropped by default, under `/`, `/usr` or `/usr/local`.
const DROPPED_DIRS: &[&str] =
    &["include", "lib/pkgconfig", "share/pkgconfig", "share/man", "share/info", "share/doc", "man", "info", "doc"];
const DROPPED_EXT: &[&str] = &[".a", ".la"];

pub fn wanted(rel: &str, is_dir: bool, include: &[String], exclude: &[String]) -> bool {
    if exclude.iter().any(|p| matches(p, rel)) {
        return false;
    }
    if include.iter().any(|p| matches(p, rel)) {
        return true;
    }
    // A directory that an `include` pattern reaches into must stay.
    if is_dir && include.iter().any(|p| p.trim_start_matches('/').starts_with(&format!("{rel}/"))) {
        return true;
    }
    !dropped_by_default(rel, is_dir)
}

fn dropped_by_default(rel: &str, is_dir: bool) -> bool {
    if !is_dir && DROPPED_EXT.iter().any(|e| rel.ends_with(e)) {
        return true;
    }
    for base in ["", "usr/", "usr/local/"] {
        let Some(rest) = rel.strip_prefix(base) else { continue };
        if DROPPED_DIRS.iter().any(|d| rest.strip_prefix(d).is_some_and(|r| r.is_empty() || r.starts_with('/'))) {
            return true;
        }
    }
    false
}

/// `*` matches any run of characters (including `/`); a pattern also matches everything below it.
pub fn matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
    glob(pattern.as_bytes(), path.as_bytes())
        || (path.len() > pattern.len() && path.starts_with(pattern) && path.as_bytes()[pattern.len()] == b'/')
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filter_keeps_only_runtime_files() {
        let keep = |p: &str| wanted(p, false, &[], &[]);
        assert!(keep("bin/busybox"));
        assert!(keep("usr/lib/libz.so.1"));
        assert!(!keep("usr/include/zlib.h"));
        assert!(!keep("usr/lib/libz.a"));
        assert!(!keep("usr/lib/libfoo.la"));
        assert!(!keep("usr/lib/pkgconfig/zlib.pc"));
        assert!(!keep("usr/share/man/man1/jq.1"));
        assert!(!keep("usr/local/share/doc/x/README"));
        assert!(!keep("include/linux/types.h"));
    }

    #[test]
    fn recipe_rules_override() {
        let inc = vec!["usr/include/zlib.h".to_string()];
        assert!(wanted("usr/include/zlib.h", false, &inc, &[]));
        assert!(wanted("usr/include", true, &inc, &[]));
        assert!(!wanted("linuxrc", false, &[], &["linuxrc".into()]));
        assert!(!wanted("usr/share/lua/x.lua", false, &[], &["usr/share/*".into()]));
        assert!(!wanted("usr/share/lua/x.lua", false, &[], &["usr/share".into()]));
    }
}
