//! The host compiler is an input. Every byte of every artifact is written by host programs: the C
//! compiler driver (`compiler.host_cc`), the compiler proper it runs (`cc1`), the assembler, the linker
//! (`collect2`, `ld`) and `ar`; the image's binaries may also pass through the target's `strip`. After an
//! upgrade of any of them the same recipe gives other bytes, so their identity (resolved path, first
//! version line, sha256) enters build keys, the lock and the provenance.
//!
//! Probing costs a few execs and hashing ~30 MB of `cc1`; it runs once per process and toolchain.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use super::{Toolchain, ToolchainError};

/// Where build phases find host commands (the sandbox's PATH, over the host's read-only /usr), and where
/// the probe looks for the compiler.
pub const BUILD_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

/// The machine the build runs on, as autotools' `--build` wants it: `$BUILD` in every phase.
pub fn build_triple() -> String {
    format!("{}-linux-gnu", std::env::consts::ARCH)
}

/// Where `command` is on `path` (a PATH string), if anywhere.
pub fn find(command: &str, path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path.split(':')
        .map(|d| Path::new(d).join(command))
        .find(|p| p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false))
}

/// The toolchain field every probed program derives from.
pub const FIELD: &str = "compiler.host_cc";

/// One host program that writes into artifacts or the image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostTool {
    /// Its role: `cc` (the driver), `cc1`, `collect2`, `as`, `ld`, `ar` or `strip`.
    pub tool: String,
    /// The resolved binary (symlinks followed).
    pub path: String,
    /// The first line it prints for `--version` (`-version` for `cc1`), if it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub sha256: String,
}

impl HostTool {
    /// Whether it writes into package artifacts (and so belongs in build keys). `strip` only runs when
    /// the rootfs is assembled, whose bytes are digested anyway.
    pub fn in_build_keys(&self) -> bool {
        self.tool != "strip"
    }

    /// `VERSION (sha256 PREFIX)`, or the path when it prints no version: for one-line messages.
    pub fn describe(&self) -> String {
        let sha = &self.sha256[..self.sha256.len().min(12)];
        match &self.version {
            Some(v) => format!("{v} (sha256 {sha})"),
            None => format!("{} (sha256 {sha})", self.path),
        }
    }
}

/// Programs the driver names through `-print-prog-name`, and whether a driver may lack them (clang
/// has no separate `cc1` or `collect2`).
const DRIVEN: &[(&str, bool)] = &[("cc1", true), ("collect2", true), ("as", false), ("ld", false), ("ar", false)];

type Probes = Mutex<HashMap<(String, PathBuf), Arc<Vec<HostTool>>>>;

/// The host tools of `tc`, probed once per process.
pub fn probe(tc: &Toolchain) -> Result<Arc<Vec<HostTool>>, ToolchainError> {
    static PROBES: OnceLock<Probes> = OnceLock::new();
    let memo = PROBES.get_or_init(Default::default);
    let k = (tc.compiler.host_cc.clone(), tc.path.clone());
    if let Some(v) = memo.lock().expect("probe memo").get(&k) {
        return Ok(v.clone());
    }
    let tools =
        Arc::new(probe_uncached(&tc.compiler.host_cc, &tc.compiler.strip(), &tc.path, &tc.compiler.host_package)?);
    memo.lock().expect("probe memo").insert(k, tools.clone());
    Ok(tools)
}

/// Resolves the driver and what it runs, and the target's `strip` (the image's), then hashes and asks each
/// for its version (in parallel).
pub fn probe_uncached(
    host_cc: &str,
    strip: &str,
    toolchain: &Path,
    debian: &str,
) -> Result<Vec<HostTool>, ToolchainError> {
    let not_found = |tool: &str, program: &str| ToolchainError::HostToolNotFound {
        toolchain: toolchain.to_path_buf(),
        tool: tool.to_string(),
        program: program.to_string(),
        debian: debian.to_string(),
    };
    let driver = locate(host_cc).ok_or_else(|| not_found("cc", host_cc))?;
    let mut found = vec![("cc".to_string(), driver.clone())];
    for &(tool, optional) in DRIVEN {
        let name = prog_name(&driver, tool);
        match locate(&name) {
            Some(p) => found.push((tool.to_string(), p)),
            None if optional => {}
            None => return Err(not_found(tool, &name)),
        }
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| BUILD_PATH.to_string());
    if let Some(p) = find(strip, &path) {
        found.push(("strip".to_string(), p));
    }
    found.into_par_iter().map(|(tool, p)| identify(&tool, &p, toolchain)).collect()
}

/// A path as is (it contains `/`), else the command on the build PATH.
fn locate(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        p.is_file().then_some(p)
    } else {
        find(program, BUILD_PATH)
    }
}

/// What `driver -print-prog-name=TOOL` says (a path, or a name for PATH), or `tool` if it says nothing.
fn prog_name(driver: &Path, tool: &str) -> String {
    let out = Command::new(driver)
        .arg(format!("-print-prog-name={tool}"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if s.is_empty() { tool.to_string() } else { s }
        }
        _ => tool.to_string(),
    }
}

fn identify(tool: &str, p: &Path, toolchain: &Path) -> Result<HostTool, ToolchainError> {
    let err = |source| ToolchainError::ProbeHostTool {
        toolchain: toolchain.to_path_buf(),
        tool: tool.to_string(),
        path: p.to_path_buf(),
        source,
    };
    let resolved = std::fs::canonicalize(p).map_err(err)?;
    let sha256 = crate::source::sha256_of(std::fs::File::open(&resolved).map_err(err)?).map_err(err)?;
    // `cc1` compiles its stdin (empty here) and prints its banner for `-version`; it has no `--version`.
    let args: &[&str] = if tool == "cc1" { &["-version", "-o", "/dev/null"] } else { &["--version"] };
    Ok(HostTool {
        tool: tool.to_string(),
        path: resolved.display().to_string(),
        version: version_of(p, args, tool == "collect2"),
        sha256,
    })
}

/// The first non-empty line `program ARGS` prints (stdout, else stderr), if it runs and succeeds.
/// `collect2 --version` prints its own line on stderr, then runs `ld`, whose line goes to stdout: for it,
/// stderr comes first (`stderr_first`).
fn version_of(program: &Path, args: &[&str], stderr_first: bool) -> Option<String> {
    let o = Command::new(program).args(args).stdin(Stdio::null()).output().ok()?;
    if !o.status.success() {
        return None;
    }
    let (first, second) = if stderr_first { (&o.stderr, &o.stdout) } else { (&o.stdout, &o.stderr) };
    first_line(first).or_else(|| first_line(second))
}

/// The first line with anything but whitespace on it, trimmed.
pub fn first_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes).lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn version_is_the_first_non_empty_line() {
        assert_eq!(
            first_line(b"\n  gcc (Debian 12.2.0-14) 12.2.0  \nCopyright"),
            Some("gcc (Debian 12.2.0-14) 12.2.0".into())
        );
        assert_eq!(first_line(b" \n\n"), None);
    }

    #[test]
    fn the_driver_is_followed_through_symlinks_and_its_programs_are_found() {
        let d = tempfile::tempdir().unwrap();
        let real = script(
            d.path(),
            "real-cc",
            "#!/bin/sh\n[ \"$1\" = --version ] && { echo; echo 'fixture cc 9.9'; exit 0; }\nexec cc \"$@\"\n",
        );
        std::os::unix::fs::symlink(&real, d.path().join("cc-link")).unwrap();
        let tools =
            probe_uncached(d.path().join("cc-link").to_str().unwrap(), "strip", Path::new("t.toml"), "gcc").unwrap();
        let cc = tools.iter().find(|t| t.tool == "cc").unwrap();
        assert_eq!(cc.path, std::fs::canonicalize(&real).unwrap().display().to_string());
        assert_eq!(cc.version.as_deref(), Some("fixture cc 9.9"));
        assert_eq!(cc.sha256, crate::digest::Sha256::hex_of(&std::fs::read(&real).unwrap()));
        for t in ["as", "ld", "ar"] {
            let t = tools.iter().find(|x| x.tool == t).unwrap_or_else(|| panic!("{t} not probed: {tools:?}"));
            assert!(t.path.starts_with('/') && t.sha256.len() == 64, "{t:?}");
        }
    }

    #[test]
    fn a_program_without_a_version_is_known_by_its_digest_alone() {
        let d = tempfile::tempdir().unwrap();
        let p = script(d.path(), "mute", "#!/bin/sh\nexit 1\n");
        let t = identify("ar", &p, Path::new("t.toml")).unwrap();
        assert_eq!(t.version, None);
        assert!(t.describe().contains("mute (sha256 "), "{}", t.describe());
    }

    #[test]
    fn a_missing_driver_is_an_error_naming_it_the_field_and_the_toolchain() {
        let e =
            probe_uncached("no-such-cc-for-compose", "strip", Path::new("/p/toolchains/t.toml"), "gcc").unwrap_err();
        let msg = e.to_string();
        for needle in ["no-such-cc-for-compose", "compiler.host_cc", "/p/toolchains/t.toml"] {
            assert!(msg.contains(needle), "{needle} not in: {msg}");
        }
    }
}
