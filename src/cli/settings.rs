//! Flags, environment, the config file and defaults merged into plain settings. Nothing past the
//! command layer reads a raw flag, an environment variable or the config file.
//!
//! Precedence, per setting: flag > environment > config file > default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use compose::build::BuildSettings;
use compose::build::remote::RemoteCacheSettings;
use compose::registry::Reference;
use compose::source::FetchSettings;

use super::registry_args::RegistryArgs;
use super::{Failure, exit};

/// Default SOURCE_DATE_EPOCH when neither the environment nor a flag sets one: 2023-11-14T22:13:20Z.
pub const DEFAULT_SOURCE_DATE_EPOCH: u64 = 1_700_000_000;

pub struct Common {
    pub cache_dir: PathBuf,
    pub jobs: usize,
    pub source_date_epoch: u64,
    pub offline: bool,
    pub mirrors: Vec<String>,
    /// The remote artifact cache from $COMPOSE_CACHE_REGISTRY or the config file (`--cache` wins).
    pub cache_registry: Option<String>,
    /// `--cache-push` from $COMPOSE_CACHE_PUSH or the config file.
    pub cache_push: bool,
}

impl Common {
    pub fn fetch(&self) -> FetchSettings {
        FetchSettings {
            mirrors: self.mirrors.clone(),
            offline: self.offline,
            debian_base: compose::source::debian_base_from_apt(),
            retries: 3,
            timeout: std::time::Duration::from_secs(60),
        }
    }

    /// The library's build settings: these, plus the sandbox choice (`--no-sandbox`) and `--keep-going`.
    pub fn build(&self, sandboxed: bool, keep_going: bool) -> BuildSettings {
        BuildSettings {
            jobs: self.jobs,
            sandboxed,
            cache_root: self.cache_dir.clone(),
            source_date_epoch: self.source_date_epoch,
            keep_going,
            fetch: self.fetch(),
            phase_env: phase_env(),
            remote: None,
        }
    }

    /// The remote artifact cache: `--cache` (else the environment or config file's) as REGISTRY/REPO,
    /// pushed to with `--cache-push` (or its environment or config setting). A malformed reference, a
    /// tag in it, or a push without a registry is a usage error (exit 2).
    pub fn remote(
        &self,
        cache: Option<&str>,
        push: bool,
        registry: &RegistryArgs,
    ) -> Result<Option<RemoteCacheSettings>, Failure> {
        let push = push || self.cache_push;
        let usage = |m: String, hint: &str| Failure::msg(exit::USAGE, m, Some(hint.to_string()));
        let Some(text) = cache.or(self.cache_registry.as_deref()) else {
            if push {
                return Err(usage("--cache-push needs a registry to push to".into(), "add `--cache REGISTRY/REPO`"));
            }
            return Ok(None);
        };
        let options = registry.options()?;
        let hint = "`--cache` takes a registry repository, e.g. `registry.example:5000/team/compose-cache`";
        let reference = Reference::parse(text).map_err(|e| usage(format!("--cache `{text}`: {e}"), hint))?;
        if reference.tag.is_some() || reference.digest.is_some() {
            return Err(usage(format!("--cache `{text}`: names a tag or digest; each artifact is its own tag"), hint));
        }
        Ok(Some(RemoteCacheSettings { reference, options, push }))
    }
}

/// `--cache` and `--cache-push` of `compose build`.
#[derive(clap::Args, Clone, Default)]
pub struct CacheArgs {
    /// A registry repository used as a shared artifact cache below the local one: a package whose build
    /// key it holds is downloaded, checked and stored instead of built. Default: $COMPOSE_CACHE_REGISTRY,
    /// the config file's `cache_registry`; none.
    #[arg(long, value_name = "REGISTRY/REPO")]
    pub cache: Option<String>,
    /// Upload every package this run builds to the --cache registry. Whoever can push there decides what
    /// others run: keep it to trusted CI. Default: $COMPOSE_CACHE_PUSH, the config file's `cache_push`; off.
    #[arg(long)]
    pub cache_push: bool,
}

/// The flags every command that touches the cache shares.
#[derive(clap::Args, Clone, Default)]
pub struct CommonArgs {
    /// Cache directory (sources, artifacts, logs). Default: $COMPOSE_CACHE_DIR, the config file's
    /// `cache_dir`, else $XDG_CACHE_HOME/compose.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Another mirror (URL or directory) to look for sources in, by file name or sha256. Repeatable.
    /// Replaces $COMPOSE_MIRRORS and the config file's `mirrors`.
    #[arg(long)]
    pub mirror: Vec<String>,
    /// Never use the network: only the cache, file:// URLs and directory mirrors.
    #[arg(long)]
    pub offline: bool,
}

/// `$XDG_CONFIG_HOME/compose/config.toml` (or `$COMPOSE_CONFIG`), exactly as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub cache_dir: Option<PathBuf>,
    pub jobs: Option<usize>,
    pub offline: Option<bool>,
    pub mirrors: Option<Vec<String>>,
    pub cache_registry: Option<String>,
    pub cache_push: Option<bool>,
}

/// Where the config file is looked for: `$COMPOSE_CONFIG`, else `$XDG_CONFIG_HOME/compose/config.toml`,
/// else `~/.config/compose/config.toml`.
pub fn config_path() -> PathBuf {
    if let Some(p) = var("COMPOSE_CONFIG") {
        return PathBuf::from(p);
    }
    let base = var("XDG_CONFIG_HOME").map(PathBuf::from).unwrap_or_else(|| home().join(".config"));
    base.join("compose").join("config.toml")
}

/// Reads the config file; a missing file is an empty config, a bad one an error naming file, line and key.
pub fn load_config(path: &Path) -> Result<ConfigFile, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => return Err(format!("cannot read the config file `{}`: {e}", path.display())),
    };
    let cfg: ConfigFile = toml::from_str(&text).map_err(|e| {
        let (line, col) = compose::recipe::line_col(&text, e.span().map(|s| s.start).unwrap_or(0));
        format!(
            "{}:{line}:{col}: {} (keys: cache_dir, jobs, offline, mirrors, cache_registry, cache_push; see docs/cli.md)",
            path.display(),
            e.message().trim()
        )
    })?;
    if let Some(d) = &cfg.cache_dir
        && !d.is_absolute()
    {
        return Err(format!("{}: field `cache_dir`: `{}` must be an absolute path", path.display(), d.display()));
    }
    Ok(cfg)
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"))
}

fn parse_bool(name: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("{name}=`{v}` is not a boolean (use 1 or 0)")),
    }
}

/// The extra environment of every build phase, from `compose verify`'s perturbed child build (see
/// `compose::verify::PHASE_ENV_VAR`).
pub fn phase_env() -> Vec<(String, String)> {
    var(compose::verify::PHASE_ENV_VAR)
        .map(|v| {
            v.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.trim().to_string(), v.to_string())).collect()
        })
        .unwrap_or_default()
}

pub fn source_date_epoch() -> Result<u64, String> {
    match var("SOURCE_DATE_EPOCH") {
        Some(v) => v.trim().parse().map_err(|_| format!("SOURCE_DATE_EPOCH=`{v}` is not a number of seconds")),
        None => Ok(DEFAULT_SOURCE_DATE_EPOCH),
    }
}

/// Merges flags, environment, config file and defaults.
pub fn common(args: &CommonArgs, jobs_flag: Option<usize>) -> Result<Common, String> {
    let cfg = load_config(&config_path())?;
    // Read as OsStrings: `var` would drop a non-UTF-8 value silently and fall back to another cache.
    let os_var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let cache_dir = args
        .cache_dir
        .clone()
        .or_else(|| os_var("COMPOSE_CACHE_DIR"))
        .or(cfg.cache_dir)
        .or_else(|| os_var("XDG_CACHE_HOME").map(|p| p.join("compose")))
        .unwrap_or_else(|| home().join(".cache").join("compose"));
    let cache_dir = std::path::absolute(&cache_dir).unwrap_or(cache_dir);
    // Build keys, sandbox specs and records carry cache paths as text; refuse what they cannot hold.
    if cache_dir.to_str().is_none() {
        return Err(format!(
            "the cache directory `{}` is not valid UTF-8\nhint: choose a UTF-8 path with `--cache-dir DIR` or \
             `COMPOSE_CACHE_DIR=DIR` (or `cache_dir` in the config file)",
            cache_dir.display()
        ));
    }
    let env_jobs = match var("COMPOSE_JOBS") {
        Some(v) => Some(v.trim().parse::<usize>().map_err(|_| format!("COMPOSE_JOBS=`{v}` is not a number"))?),
        None => None,
    };
    let jobs = jobs_flag
        .or(env_jobs)
        .or(cfg.jobs)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1);
    let env_offline = match var("COMPOSE_OFFLINE") {
        Some(v) => Some(parse_bool("COMPOSE_OFFLINE", &v)?),
        None => None,
    };
    let offline = args.offline || env_offline.or(cfg.offline).unwrap_or(false);
    let env_mirrors = var("COMPOSE_MIRRORS").map(|v| v.split_whitespace().map(String::from).collect::<Vec<_>>());
    let mirrors =
        if !args.mirror.is_empty() { args.mirror.clone() } else { env_mirrors.or(cfg.mirrors).unwrap_or_default() };
    for m in &mirrors {
        if !(m.starts_with('/') || m.contains("://")) {
            return Err(format!("mirror `{m}` is neither an absolute directory nor a URL"));
        }
    }
    // Set but empty, $COMPOSE_CACHE_REGISTRY turns off a config file's registry (`compose verify`'s builds).
    let cache_registry = match std::env::var("COMPOSE_CACHE_REGISTRY") {
        Ok(v) => Some(v.trim().to_string()).filter(|v| !v.is_empty()),
        Err(_) => cfg.cache_registry,
    };
    let cache_push = match var("COMPOSE_CACHE_PUSH") {
        Some(v) => parse_bool("COMPOSE_CACHE_PUSH", &v)?,
        None => cfg.cache_push.unwrap_or(false),
    };
    let source_date_epoch = source_date_epoch()?;
    Ok(Common { cache_dir, jobs, source_date_epoch, offline, mirrors, cache_registry, cache_push })
}
