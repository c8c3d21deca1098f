//! `compose new`: a first recipe for a release tarball or a project directory.
//!
//! What a person would do by hand, in order: fetch the tarball (into the source cache, so the next
//! `compose build` does not fetch it again) and pin its sha256; look for the same bytes in the Debian
//! archive's pool; read the tarball's top directory for its build system and licence file; write
//! `DIR/NAME.toml`. It never replaces a file: the recipe is published by a link that fails when the
//! name is taken, so of two runs at once exactly one writes.
//!
//! Nothing here prints: [`scaffold`] returns an [`Outcome`] that says what was found, and the command
//! layer turns it into lines.
//!
//! What the tarball and the file system say is not trusted to be text: a version is kept only when it
//! looks like one ([`detect::valid_version`]), a local source's path is refused when it has a control
//! character or a quote, and the errors show paths and URLs through [`write::printable`].

pub mod debian;
pub mod detect;
pub mod write;

use std::path::{Path, PathBuf};

use crate::source::unpack::UnpackError;
use crate::source::{FetchError, FetchProgress, FetchSettings, SourceCache};

pub use debian::DebianCheck;
pub use detect::{BuildSystem, Detected, LicenseGuess};

/// What to scaffold.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// The package name: the recipe is `dir/NAME.toml`.
    pub name: String,
    pub origin: Origin,
    /// The directory the recipe goes into (created if missing).
    pub dir: PathBuf,
    /// Refuse (instead of writing a `custom` skeleton) when no build system is found.
    pub strict: bool,
    pub fetch: FetchSettings,
    /// The cache root (`sources-v1/` lives under it).
    pub cache_root: PathBuf,
    /// The command line, for the recipe's first comment.
    pub command: String,
}

#[derive(Debug, Clone)]
pub enum Origin {
    /// A release tarball: `https://`, `http://` or `file://`.
    Url(String),
    /// A directory of the project, inside `dir`'s tree.
    Path(PathBuf),
}

/// Where the source came from and what is pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The URL (or a mirror by its file name) delivered the tarball.
    Upstream { sha256: String, size: u64, from: String, debian: DebianCheck },
    /// The URL could not be fetched, but the Debian pool had a candidate: its sha256 is pinned, and
    /// the recipe says to check it against upstream's published checksum.
    DebianOnly { sha256: String, file: String, upstream: Vec<(String, String)> },
    /// A local directory, relative to the recipe's directory.
    Local { path: String },
}

/// What `compose new` found and wrote.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub recipe: PathBuf,
    pub found: Found,
    pub detected: Detected,
    /// From the file name, or `None` (the recipe then has a placeholder with a TODO).
    pub version: Option<String>,
    pub license: LicenseGuess,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("`{name}` is not a valid package name: use letters, digits and `-_.+`, not starting with `.`")]
    InvalidName { name: String },
    #[error("`{}` is not a URL compose can fetch: {why}", write::printable(url))]
    InvalidUrl { url: String, why: String },
    #[error("`{}` exists; compose new never replaces a recipe", shown(path))]
    Exists { path: PathBuf },
    #[error("cannot create the recipe directory `{}`", shown(path))]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write the recipe `{}`", shown(path))]
    Write { path: PathBuf, source: std::io::Error },
    #[error(
        "no build system found at the top of `{}` (no configure, meson.build, CMakeLists.txt, Makefile or configure.ac)",
        write::printable(source_name)
    )]
    NoBuildSystem { source_name: String },
    #[error("cannot fetch `{}`{}", write::printable(url), crate::scaffold::attempts(tried))]
    Fetch { url: String, tried: Vec<(String, String)>, offline: bool },
    #[error("cannot use the source cache")]
    Cache(#[source] FetchError),
    #[error("cannot list the tarball `{}`", write::printable(url))]
    List { url: String, source: UnpackError },
    #[error("`{}` is not a directory", shown(path))]
    NotADirectory { path: PathBuf },
    #[error("cannot read the directory `{}`", shown(path))]
    ReadDir { path: PathBuf, source: std::io::Error },
    #[error("`{}` is not inside the recipe directory `{}`", shown(path), shown(dir))]
    Outside { path: PathBuf, dir: PathBuf },
    #[error("`{}` is the recipe directory itself", shown(path))]
    IsRecipeDir { path: PathBuf },
    /// The source directory's path from the recipe's would carry a control character or a quote (or
    /// is not UTF-8) into the recipe.
    #[error(
        "the local source `{}` is `{}` from the recipe directory: compose new does not write a path with a \
         control character, a quote or bytes that are not UTF-8 into a recipe",
        shown(path),
        write::printable(rel)
    )]
    UnsafePath { path: PathBuf, rel: String },
}

/// A path for a message: its control characters escaped (`\n`), as a name on disk may have them.
fn shown(path: &Path) -> String {
    write::printable(&path.to_string_lossy())
}

fn attempts(tried: &[(String, String)]) -> String {
    let line = |(url, what): &(String, String)| format!("\n  {}: {}", write::printable(url), write::printable(what));
    tried.iter().map(line).collect::<String>()
}

impl ScaffoldError {
    /// The fix, when there is one to give.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ScaffoldError::InvalidName { .. } => "the name is the recipe's file name: `compose new zstd URL`".into(),
            ScaffoldError::InvalidUrl { .. } => "give the release tarball's https://, http:// or file:// URL".into(),
            ScaffoldError::Exists { path } => format!(
                "edit `{0}`, or move it away first (`mv {0} {0}.old`), or write elsewhere with `--dir DIR`",
                path.display()
            ),
            ScaffoldError::CreateDir { .. } | ScaffoldError::Write { .. } => {
                "write the recipe somewhere writable with `--dir DIR`".into()
            }
            ScaffoldError::NoBuildSystem { .. } => {
                "without --strict a `custom` recipe with an install skeleton is written".into()
            }
            ScaffoldError::Fetch { offline: true, .. } => {
                "run it online, or put the tarball in a directory given with `--mirror DIR`".into()
            }
            ScaffoldError::Fetch { .. } => "check the URL; `--mirror DIR` adds a place to look by file name".into(),
            ScaffoldError::Outside { dir, .. } => format!(
                "a local source must be inside the recipe's directory tree: move it under `{}`, or write the \
                 recipe beside it with `--dir`",
                dir.display()
            ),
            ScaffoldError::IsRecipeDir { .. } => {
                "put the sources in a subdirectory of the recipe directory (`app/`), and give that".into()
            }
            ScaffoldError::UnsafePath { .. } => {
                "rename the directory (letters, digits, `-_./+`), or write the recipe by hand".into()
            }
            ScaffoldError::ReadDir { path, source } if source.kind() != std::io::ErrorKind::NotFound => {
                format!("check that `{}` is a directory you can read", shown(path))
            }
            _ => return None,
        })
    }
}

/// Runs `compose new`: fetches (or reads) the source, detects, writes the recipe.
pub fn scaffold(req: &NewRequest, progress: &dyn FetchProgress) -> Result<Outcome, ScaffoldError> {
    if !crate::recipe::is_valid_name(&req.name) {
        return Err(ScaffoldError::InvalidName { name: req.name.clone() });
    }
    let recipe = req.dir.join(format!("{}.toml", req.name));
    // Checked first so a taken name costs no download; `write_new` checks again, atomically.
    if recipe.symlink_metadata().is_ok() {
        return Err(ScaffoldError::Exists { path: recipe });
    }
    let (found, listing, file_name, homepage) = match &req.origin {
        Origin::Url(url) => from_url(req, url, progress)?,
        Origin::Path(dir) => from_dir(req, dir)?,
    };
    let mut detected = detect::detect(&listing.top);
    // Nested build files are alternatives to what the top gives (or the only build there is): the
    // recipe names them, with the `source_dir` that would select them.
    detected.also.extend(listing.nested.iter().cloned());
    if req.strict && detected.system == BuildSystem::Unknown {
        let source_name = match &req.origin {
            Origin::Url(url) => url.clone(),
            Origin::Path(p) => p.display().to_string(),
        };
        return Err(ScaffoldError::NoBuildSystem { source_name });
    }
    let version = file_name.version.clone().or_else(|| {
        // A file name without one (GitHub's `main.tar.gz`): the top directory may say (`zstd-1.5.5/`).
        let top = listing.top_dir.as_deref()?;
        detect::parse_file_name(&format!("{top}.tar"), &req.name).version
    });
    let license = LicenseGuess::of(&listing);
    let draft = draft(req, &found, &detected, version.clone(), &license, homepage);
    std::fs::create_dir_all(&req.dir).map_err(|source| ScaffoldError::CreateDir { path: req.dir.clone(), source })?;
    match write::write_new(&recipe, &write::render(&draft)) {
        Ok(true) => {}
        Ok(false) => return Err(ScaffoldError::Exists { path: recipe }),
        Err(source) => return Err(ScaffoldError::Write { path: recipe, source }),
    }
    Ok(Outcome { recipe, found, detected, version, license })
}

type Read = (Found, detect::Listing, detect::FileName, String);

fn from_url(req: &NewRequest, url: &str, progress: &dyn FetchProgress) -> Result<Read, ScaffoldError> {
    let invalid = |why: &str| ScaffoldError::InvalidUrl { url: url.to_string(), why: why.to_string() };
    // The URL parser drops line breaks and tabs, but the recipe and its first comment get `url` as given.
    if url.chars().any(char::is_control) {
        return Err(invalid("it has a control character (a line break?)"));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    if !["https", "http", "file"].contains(&parsed.scheme()) {
        return Err(invalid("the scheme must be https, http or file"));
    }
    let file = parsed.path_segments().and_then(|mut s| s.next_back()).unwrap_or("").to_string();
    if file.is_empty() {
        return Err(invalid("it names no file (it ends with `/`)"));
    }
    let file_name = detect::parse_file_name(&file, &req.name);
    let cache = SourceCache::open(&req.cache_root).map_err(ScaffoldError::Cache)?;
    let pool = debian::Pool { cache: &cache, settings: &req.fetch, progress, package: &req.name };
    let candidates = debian::candidates(&req.name, &file_name);

    // The URL, then each mirror by the file's name (by sha256 it cannot be looked up: that is unknown).
    let mut urls = vec![url.to_string()];
    for m in &req.fetch.mirrors {
        let m = m.trim_end_matches('/');
        let base = if m.starts_with('/') { format!("file://{}", m.replace('%', "%25")) } else { m.to_string() };
        urls.push(format!("{base}/{file}"));
    }
    let mut tried = Vec::new();
    let mut got = None;
    for u in &urls {
        match cache.fetch_unpinned(&req.name, u, &req.fetch, progress) {
            Ok((sha256, path)) => {
                got = Some((sha256, path, u.clone()));
                break;
            }
            Err(FetchError::Download { message, .. }) => tried.push((u.clone(), message)),
            Err(e) => return Err(ScaffoldError::Cache(e)),
        }
    }
    let (found, path) = match got {
        Some((sha256, path, from)) => {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let debian = pool.check(&candidates, &sha256, size);
            (Found::Upstream { sha256, size, from, debian }, path)
        }
        None => match pool.fetch_first(&candidates) {
            Ok(p) => (Found::DebianOnly { sha256: p.sha256, file: p.file, upstream: tried }, p.path),
            Err(more) => {
                let offline = req.fetch.offline;
                tried.extend(more);
                return Err(ScaffoldError::Fetch { url: url.to_string(), tried, offline });
            }
        },
    };
    let listing = detect::list_archive(&path).map_err(|source| ScaffoldError::List { url: url.to_string(), source })?;
    Ok((found, listing, file_name, homepage(&parsed)))
}

/// The project's home as far as the URL tells: `https://github.com/OWNER/REPO` on the common forges,
/// else the host's root; nothing for a `file://` URL.
fn homepage(url: &reqwest::Url) -> String {
    let Some(name) = url.host_str().filter(|h| !h.is_empty()) else { return String::new() };
    let host = match url.port() {
        Some(port) => format!("{name}:{port}"),
        None => name.to_string(),
    };
    let scheme = if url.scheme() == "http" { "http" } else { "https" };
    let segments: Vec<&str> = url.path_segments().map(|s| s.collect()).unwrap_or_default();
    let forge = ["github.com", "gitlab.com", "codeberg.org"].contains(&name);
    match segments.as_slice() {
        [owner, repo, _, ..] if forge => format!("{scheme}://{host}/{owner}/{repo}"),
        _ => format!("{scheme}://{host}/"),
    }
}

fn from_dir(req: &NewRequest, dir: &Path) -> Result<Read, ScaffoldError> {
    let meta = std::fs::metadata(dir).map_err(|source| ScaffoldError::ReadDir { path: dir.to_path_buf(), source })?;
    if !meta.is_dir() {
        return Err(ScaffoldError::NotADirectory { path: dir.to_path_buf() });
    }
    let canon = |p: &Path| std::fs::canonicalize(p);
    let source = canon(dir).map_err(|source| ScaffoldError::ReadDir { path: dir.to_path_buf(), source })?;
    let outside = || ScaffoldError::Outside { path: dir.to_path_buf(), dir: req.dir.clone() };
    // A recipe directory that does not exist yet cannot hold the sources.
    let recipes = canon(&req.dir).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => outside(),
        _ => ScaffoldError::ReadDir { path: req.dir.clone(), source },
    })?;
    let rel = source.strip_prefix(&recipes).map_err(|_| outside())?;
    if rel.as_os_str().is_empty() {
        return Err(ScaffoldError::IsRecipeDir { path: dir.to_path_buf() });
    }
    // Written quoted, but a name with a line break or a quote is no name for a source directory, and
    // every later message would carry it.
    let unsafe_path = || ScaffoldError::UnsafePath { path: dir.to_path_buf(), rel: rel.to_string_lossy().into_owned() };
    let rel = rel.to_str().ok_or_else(unsafe_path)?;
    if rel.chars().any(|c| c.is_control() || c == '"' || c == '\'') {
        return Err(unsafe_path());
    }
    let rel = rel.to_string();
    let listing =
        detect::list_dir(&source).map_err(|source| ScaffoldError::ReadDir { path: dir.to_path_buf(), source })?;
    Ok((Found::Local { path: rel }, listing, detect::FileName::default(), String::new()))
}

fn draft(
    req: &NewRequest,
    found: &Found,
    detected: &Detected,
    version: Option<String>,
    license: &LicenseGuess,
    homepage: String,
) -> write::Draft {
    let (version, version_note) = match (version, found) {
        (Some(v), _) => (v, None),
        (None, Found::Local { .. }) => ("0.1.0".to_string(), Some("the program's version".to_string())),
        (None, _) => ("0".to_string(), Some("the version: the file name does not say".to_string())),
    };
    let from: Vec<&str> = license.files.iter().map(|(f, _)| f.as_str()).collect();
    let license_note = match license.ids().len() {
        0 if from.is_empty() => "TODO: no LICENSE or COPYING file at the top: give the SPDX expression".to_string(),
        0 => format!("TODO: {} not recognised: give the SPDX expression", from.join(", ")),
        1 if license.ids()[0].contains("GPL") => {
            format!("guessed from {}: check it, and `-only` or `-or-later` in the sources' headers", from.join(", "))
        }
        1 => format!("guessed from {}: check it", from.join(", ")),
        _ => format!("guessed from {}: check whether it is a choice (OR) or both apply (AND)", from.join(", ")),
    };
    let source = match found {
        Found::Upstream { sha256, debian, .. } => write::DraftSource::Url {
            url: origin_url(req),
            sha256: sha256.clone(),
            debian: match debian {
                DebianCheck::Same(f) => Some(f.clone()),
                _ => None,
            },
            pinned_from_debian: false,
        },
        Found::DebianOnly { sha256, file, .. } => write::DraftSource::Url {
            url: origin_url(req),
            sha256: sha256.clone(),
            debian: Some(file.clone()),
            pinned_from_debian: true,
        },
        Found::Local { path } => write::DraftSource::Path(path.clone()),
    };
    write::Draft {
        name: req.name.clone(),
        version,
        version_note,
        license: license.expression(),
        license_note,
        homepage,
        source,
        build: detected.system.clone(),
        build_file: detected.file.clone(),
        build_also: detected.also.clone(),
        command: req.command.clone(),
    }
}

fn origin_url(req: &NewRequest) -> String {
    match &req.origin {
        Origin::Url(u) => u.clone(),
        Origin::Path(_) => String::new(),
    }
}

#[cfg(test)]
mod tests;
