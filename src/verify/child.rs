//! One child `compose build` of a verify run: offline, in its own fresh cache, with its own environment
//! and umask (a child process is the only way to give a build its own umask and TZ without touching
//! ours). Its stderr is saved to `<root>/build.log`; the lines before its closing `next:` block go to
//! the caller, and the last ones come back in the error when it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{BuildSpec, VerifyError};
use crate::source::SourceCache;
use crate::toolchain::Platform;

/// Internal, set only for the perturbed child build: `NAME=VALUE` lines that `compose build` adds to every
/// build phase's environment (e.g. libfaketime's `LD_PRELOAD` and `FAKETIME`). Not part of build keys, so
/// it is only meant for a fresh, throw-away cache.
pub const PHASE_ENV_VAR: &str = "COMPOSE_INTERNAL_PHASE_ENV";

/// Settings the parent has already resolved into flags: the child must not read them again.
const SETTINGS_ENV: [&str; 5] =
    ["COMPOSE_CACHE_DIR", "COMPOSE_JOBS", "COMPOSE_OFFLINE", "COMPOSE_MIRRORS", PHASE_ENV_VAR];

/// How many of the child's last stderr lines a failure carries.
const TAIL: usize = 40;

/// What both child builds build, as `compose build` flags (names, not types: the child parses them).
#[derive(Debug, Clone)]
pub struct ChildRequest {
    /// The compose executable to run.
    pub exe: PathBuf,
    /// The recipe, absolute.
    pub recipe: PathBuf,
    pub toolchain: String,
    /// `--format` names (`tar`, `oci`, ...).
    pub formats: Vec<String>,
    /// `--layers` and `--compression` names.
    pub layers: String,
    pub compression: String,
    pub tag: Option<String>,
    pub no_sandbox: bool,
}

/// Places each source (`(sha256, path)`) in the fresh cache at `cache_dir` through its `SourceCache`
/// (hard-linked, or copied across filesystems, and renamed into place).
pub fn seed(cache_dir: &Path, sources: &[(String, PathBuf)]) -> Result<(), VerifyError> {
    let cache = SourceCache::open(cache_dir).map_err(VerifyError::Seed)?;
    for (sha, from) in sources {
        cache.place_verified(sha, from).map_err(VerifyError::Seed)?;
    }
    Ok(())
}

/// Runs `compose build` for `spec` (with `--platform`, when one is named); `show` gets each stderr line
/// meant for people.
pub fn build(
    req: &ChildRequest,
    platform: Option<&Platform>,
    spec: &BuildSpec,
    show: &dyn Fn(&str),
) -> Result<(), VerifyError> {
    std::fs::create_dir_all(&spec.root).map_err(|source| VerifyError::Create { path: spec.root.clone(), source })?;
    let log_path = spec.root.join("build.log");
    let mut log =
        std::fs::File::create(&log_path).map_err(|source| VerifyError::Create { path: log_path.clone(), source })?;
    let run_fail = |source| VerifyError::Run { program: req.exe.clone(), source };
    let mut child = command(req, platform, spec).spawn().map_err(run_fail)?;
    let stdout = child.stdout.take().expect("piped");
    let out_thread = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stdout).read_to_string(&mut text);
        text
    });
    let mut tail: Vec<String> = Vec::new();
    // The child's closing `next:` block (podman load ...) is about its own outputs: logged, not shown.
    let mut closing = false;
    for line in BufReader::new(child.stderr.take().expect("piped")).lines().map_while(Result::ok) {
        let _ = writeln!(log, "{line}");
        closing |= line == "next:";
        if !closing {
            show(&line);
        }
        tail.push(line);
        if tail.len() > TAIL {
            tail.remove(0);
        }
    }
    let status = child.wait().map_err(run_fail)?;
    let _ = std::fs::write(spec.root.join("build.stdout"), out_thread.join().unwrap_or_default());
    if status.success() {
        return Ok(());
    }
    // Killed by a signal (or an exit code no u8 holds): a plain failure.
    let code = status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1);
    Err(VerifyError::ChildBuild { label: spec.label, code, log: log_path, tail })
}

/// The child's command line, environment and umask.
fn command(req: &ChildRequest, platform: Option<&Platform>, spec: &BuildSpec) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(&req.exe);
    cmd.arg("build")
        .arg(&req.recipe)
        .args(["--toolchain", &req.toolchain, "--offline", "--format", &req.formats.join(",")])
        .args(["--layers", &req.layers, "--compression", &req.compression])
        .arg("--jobs")
        .arg(spec.jobs.to_string())
        .arg("--cache-dir")
        .arg(&spec.cache_dir)
        .arg("-o")
        .arg(&spec.out_dir);
    if let Some(t) = &req.tag {
        cmd.args(["--tag", t]);
    }
    if let Some(p) = platform {
        cmd.arg("--platform").arg(p.to_string());
    }
    if req.no_sandbox {
        cmd.arg("--no-sandbox");
    }
    for v in SETTINGS_ENV {
        cmd.env_remove(v);
    }
    // Both builds build everything themselves: set but empty, this also turns off a config file's
    // `cache_registry` (and so `cache_push`).
    cmd.env("COMPOSE_CACHE_REGISTRY", "").env_remove("COMPOSE_CACHE_PUSH");
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    if !spec.phase_env.is_empty() {
        let lines: Vec<String> = spec.phase_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        cmd.env(PHASE_ENV_VAR, lines.join("\n"));
    }
    let umask = spec.umask as libc::mode_t;
    // SAFETY: umask is async-signal-safe and cannot fail.
    unsafe {
        cmd.pre_exec(move || {
            libc::umask(umask);
            Ok(())
        })
    };
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::DirOrder;

    fn args(platform: Option<&Platform>) -> Vec<String> {
        let req = ChildRequest {
            exe: "/bin/compose".into(),
            recipe: "/r/app.toml".into(),
            toolchain: "musl".into(),
            formats: vec!["tar".into(), "oci".into()],
            layers: "single".into(),
            compression: "gzip".into(),
            tag: None,
            no_sandbox: false,
        };
        let spec = BuildSpec {
            label: "A",
            root: "/w/a".into(),
            cache_dir: "/w/a/cache".into(),
            out_dir: "/w/a/out".into(),
            jobs: 2,
            umask: 0o022,
            env: Vec::new(),
            phase_env: Vec::new(),
            dir_order: DirOrder::Unchanged,
        };
        command(&req, platform, &spec).get_args().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn the_platform_reaches_the_child_build() {
        let with = args(Some(&Platform::parse("linux/arm64").unwrap()));
        let at = with.iter().position(|a| a == "--platform").expect("--platform");
        assert_eq!(with[at + 1], "linux/arm64/v8");
        assert_eq!(&with[..2], ["build", "/r/app.toml"]);
        assert!(!args(None).iter().any(|a| a == "--platform"), "none named: the child builds the host's");
    }
}
