//! A recipe's `[[source]]` tables, checked: a tarball (`url` + `sha256`, mirrors, a Debian pool name) or a
//! directory of the project (`path`), whose tree digest is taken here (`source::tree`) and becomes
//! its sha256.

use std::path::{Path, PathBuf};

use super::{LOCAL_SCHEME, RecipeError, Source, invalid, is_relative_inside, raw};

pub(super) fn resolve_source(path: &Path, dir: &Path, i: usize, s: raw::RawSource) -> Result<Source, RecipeError> {
    let field = |f: &str| format!("source[{i}].{f}");
    let dest = s.dest.unwrap_or_default();
    let dest = dest.trim_start_matches("./").trim_end_matches('/').to_string();
    let dest = if dest == "." { String::new() } else { dest };
    if !is_relative_inside(&dest) {
        return Err(invalid(path, &field("dest"), format!("`{dest}` must be a relative path without `..`"), ""));
    }
    if let Some(local) = &s.path {
        let excluded = [
            ("url", s.url.is_some()),
            ("sha256", s.sha256.is_some()),
            ("mirrors", s.mirrors.is_some()),
            ("debian", s.debian.is_some()),
        ];
        if let Some((key, _)) = excluded.iter().find(|(_, set)| *set) {
            return Err(invalid(
                path,
                &field("path"),
                format!("`path` excludes `{key}`"),
                "a local source is identified by its tree digest: remove `url`, `sha256`, `mirrors` and `debian`, \
                 or remove `path`",
            ));
        }
        let (url, sha256, dir) = local_source(path, dir, &field("path"), local)?;
        return Ok(Source {
            url,
            sha256,
            path: Some(dir),
            mirrors: Vec::new(),
            debian: None,
            dest,
            // A project directory has no `name-version/` wrapper to strip.
            strip_components: Some(s.strip_components.unwrap_or(0)),
            extract: s.extract,
        });
    }
    let (Some(url), Some(sha256)) = (s.url, s.sha256) else {
        return Err(invalid(
            path,
            &format!("source[{i}]"),
            "needs `url` and `sha256` (a download), or `path` (a directory of the project)",
            "e.g. `url = \"https://…/pkg-1.0.tar.gz\"` with `sha256 = \"…\"`, or `path = \"src\"`",
        ));
    };
    let sha = sha256.to_ascii_lowercase();
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(
            path,
            &field("sha256"),
            format!("`{sha256}` is not a sha256 (64 hex digits)"),
            "compute it with `sha256sum FILE`",
        ));
    }
    if !url.contains("://") {
        return Err(invalid(path, &field("url"), format!("`{url}` is not a URL"), "use https://, http:// or file://"));
    }
    if let Some(d) = &s.debian
        && (d.contains('/') || !d.contains('_'))
    {
        return Err(invalid(
            path,
            &field("debian"),
            format!("`{d}` is not a pool file name"),
            "give the file name only, e.g. `busybox_1.37.0.orig.tar.bz2`",
        ));
    }
    Ok(Source {
        url,
        sha256: sha,
        path: None,
        mirrors: s.mirrors.unwrap_or_default(),
        debian: s.debian,
        dest,
        strip_components: s.strip_components,
        extract: s.extract,
    })
}

/// A `path = "DIR"` source: DIR relative to the recipe's directory, without `..`, a directory that is
/// still inside the recipe's directory once symlinks are resolved. Returns its locator (`path:DIR`),
/// its tree digest and its canonical path.
fn local_source(path: &Path, dir: &Path, field: &str, local: &str) -> Result<(String, String, PathBuf), RecipeError> {
    let rel = local.trim_start_matches("./").trim_end_matches('/');
    let rel = if rel.is_empty() && !local.is_empty() { "." } else { rel };
    let bad = |why: String| {
        invalid(path, field, why, "give a directory relative to the recipe's directory, e.g. `path = \"src\"`")
    };
    if local.is_empty() {
        return Err(bad("must not be empty".into()));
    }
    if local.starts_with('/') {
        return Err(bad(format!("`{local}` is absolute")));
    }
    if !is_relative_inside(rel) {
        return Err(bad(format!(
            "`{local}` has a `..` component: a local source must be inside the recipe's directory"
        )));
    }
    let base = std::fs::canonicalize(dir).map_err(|source| RecipeError::MissingFile {
        path: path.to_path_buf(),
        field: field.to_string(),
        file: dir.to_path_buf(),
        source,
    })?;
    let joined = dir.join(rel);
    let canonical = match std::fs::canonicalize(&joined) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad(format!("`{}` does not exist", joined.display())));
        }
        Err(source) => {
            return Err(RecipeError::MissingFile {
                path: path.to_path_buf(),
                field: field.into(),
                file: joined,
                source,
            });
        }
    };
    if !canonical.starts_with(&base) {
        return Err(bad(format!(
            "`{local}` resolves to `{}`, outside the recipe's directory `{}` (through a symlink)",
            canonical.display(),
            base.display()
        )));
    }
    if !canonical.is_dir() {
        return Err(bad(format!("`{}` is not a directory", joined.display())));
    }
    let digest = crate::source::tree::digest(&canonical).map_err(|e| {
        let hint = e.hint().unwrap_or("").to_string();
        let mut message = e.to_string();
        if let Some(cause) = std::error::Error::source(&e) {
            message = format!("{message}: {cause}");
        }
        invalid(path, field, message, hint)
    })?;
    Ok((format!("{LOCAL_SCHEME}{rel}"), digest, canonical))
}
