//! Toolchains: which packages form the build sysroot, and how the host compiler is driven into it.
//!
//! A toolchain's packages (musl, the kernel headers) are ordinary recipes and ordinary graph nodes; they
//! are built with the host compiler. Every other package is built with `$CC` pointing at a wrapper that
//! compose writes into each build's sysroot, because musl's own wrapper and specs hard-code the absolute
//! sysroot path, and each build sees the sysroot at its own path.

pub mod host;
pub mod platform;

use std::path::{Path, PathBuf};

pub use platform::Platform;

use crate::digest::Sha256;
use serde::Deserialize;

use crate::recipe::{RecipeError, parse_error};

/// One target of a toolchain file, resolved: what every build of a package for that target uses.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub name: String,
    /// The target triple (`aarch64-linux-musl`).
    pub target: String,
    /// The OCI platform its images are for.
    pub platform: Platform,
    /// Every target the file declares, for messages.
    pub targets: Vec<String>,
    pub description: String,
    pub path: PathBuf,
    /// Recipe names built first, into every other package's sysroot.
    pub packages: Vec<String>,
    /// Where the toolchain's recipes live.
    pub recipes_dir: PathBuf,
    pub compiler: Compiler,
    /// sha256 of the toolchain file.
    pub digest: String,
}

/// How the compiler is driven for one target.
#[derive(Debug, Clone)]
pub struct Compiler {
    /// The C compiler driver that writes the target's code (`gcc`, `aarch64-linux-gnu-gcc`).
    pub host_cc: String,
    /// The Debian package that has `host_cc`, for the fix when it is missing.
    pub host_package: String,
    /// The compiler for programs that run during the build (kconfig, generators): `$HOST_CC`, `$BUILD_CC`.
    pub build_cc: String,
    /// The prefix of the target's binutils (`aarch64-linux-gnu-`; empty for the host's): `$CROSS_COMPILE`.
    pub cross_compile: String,
    /// The kernel's name for the architecture (`x86_64`, `arm64`, `riscv`): `$LINUX_ARCH`.
    pub linux_arch: String,
    pub wrapper: Option<String>,
    pub specs_template: Option<String>,
    pub cflags: String,
    pub ldflags: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    toolchain: RawToolchain,
    compiler: RawCompiler,
    #[serde(default)]
    target: Vec<RawTarget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToolchain {
    name: String,
    /// The single target of a file without `[[target]]` tables.
    target: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    packages: Vec<String>,
    recipes: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompiler {
    host_cc: Option<String>,
    host_package: Option<String>,
    build_cc: Option<String>,
    wrapper: Option<String>,
    specs_template: Option<String>,
    #[serde(default)]
    cflags: String,
    #[serde(default)]
    ldflags: String,
}

/// `[[target]]`: one triple the toolchain builds for, and the host programs that do it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    triple: String,
    platform: Option<String>,
    host_cc: Option<String>,
    host_package: Option<String>,
    #[serde(default)]
    cross_compile: String,
    linux_arch: Option<String>,
    cflags: Option<String>,
}

/// The compiler environment of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompilerEnv {
    pub cc: String,
    pub cflags: String,
    pub ldflags: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ToolchainError {
    #[error("toolchain `{name}` not found at `{}`", path.display())]
    NotFound { name: String, path: PathBuf },
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    #[error("cannot write the compiler wrapper `{}`", path.display())]
    WriteWrapper { path: PathBuf, source: std::io::Error },
    #[error("toolchain `{name}`: the sysroot has no specs template `{}`", path.display())]
    MissingSpecs { name: String, path: PathBuf },
    #[error("`{}`: `{}` = the host compiler: cannot find its `{tool}` (`{program}`)", toolchain.display(), host::FIELD)]
    HostToolNotFound { toolchain: PathBuf, tool: String, program: String, debian: String },
    #[error("`{}`: no target for platform `{platform}` (it has {})", path.display(), available.join(", "))]
    NoTarget { path: PathBuf, platform: String, available: Vec<String> },
    #[error("`{}`: field `{field}`: {message}", path.display())]
    Invalid { path: PathBuf, field: String, message: String },
    #[error("`{}`: `{}`: cannot probe its `{tool}` at `{}`", toolchain.display(), host::FIELD, path.display())]
    ProbeHostTool { toolchain: PathBuf, tool: String, path: PathBuf, source: std::io::Error },
}

impl ToolchainError {
    /// The fix, for errors that have one.
    pub fn hint(&self) -> Option<String> {
        match self {
            ToolchainError::HostToolNotFound { debian, .. } => Some(format!(
                "install the host compiler (Debian: `apt-get install {debian}`), or set `{}` in the toolchain file to a C compiler on {} (or an absolute path)",
                host::FIELD,
                host::BUILD_PATH
            )),
            ToolchainError::ProbeHostTool { .. } => Some(format!(
                "check that `{}` in the toolchain file names a working C compiler on {}",
                host::FIELD,
                host::BUILD_PATH
            )),
            ToolchainError::NoTarget { .. } => Some(
                "pick one of its platforms with `--platform`, or add a `[[target]]` for this one (docs/recipes.md)"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Loads a toolchain by path (`toolchains/musl.toml`) or by name, looked up in `search_dir`, for the host's
/// platform (or a file's only target).
pub fn load(spec: &str, search_dir: &Path) -> Result<Toolchain, ToolchainError> {
    load_for(spec, search_dir, None)
}

/// Loads the toolchain's target for `platform` (`None`: the host's, or the file's only target).
pub fn load_for(spec: &str, search_dir: &Path, platform: Option<&Platform>) -> Result<Toolchain, ToolchainError> {
    let file = read(spec, search_dir)?;
    let wanted = platform.cloned().unwrap_or_else(Platform::host);
    let pick = match file.targets.iter().position(|(t, c)| resolved_platform(t, c) == wanted) {
        Some(i) => i,
        None if platform.is_none() && file.targets.len() == 1 => 0,
        None => {
            return Err(ToolchainError::NoTarget {
                path: file.path,
                platform: wanted.to_string(),
                available: file.targets.iter().map(|(t, c)| format!("`{}` ({t})", resolved_platform(t, c))).collect(),
            });
        }
    };
    Ok(file.resolve(pick))
}

/// Every target of the toolchain file, in the file's order.
pub fn load_all(spec: &str, search_dir: &Path) -> Result<Vec<Toolchain>, ToolchainError> {
    let file = read(spec, search_dir)?;
    Ok((0..file.targets.len()).map(|i| file.resolve(i)).collect())
}

/// A toolchain file, parsed.
struct File {
    path: PathBuf,
    raw: RawFile,
    targets: Vec<(String, TargetFields)>,
    digest: String,
}

fn read(spec: &str, search_dir: &Path) -> Result<File, ToolchainError> {
    let path = if spec.ends_with(".toml") || spec.contains('/') {
        PathBuf::from(spec)
    } else {
        search_dir.join(format!("{spec}.toml"))
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|_| ToolchainError::NotFound { name: spec.to_string(), path: path.clone() })?;
    let raw: RawFile = toml::from_str(&text).map_err(|e| parse_error(&path, &text, &e))?;
    let targets = targets(&path, &raw)?;
    Ok(File { path, raw, targets, digest: Sha256::hex_of(text.as_bytes()) })
}

impl File {
    /// The toolchain of target `pick`.
    fn resolve(&self, pick: usize) -> Toolchain {
        let (target, t) = &self.targets[pick];
        let (raw, c) = (&self.raw, &self.raw.compiler);
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let recipes_dir = dir.join(raw.toolchain.recipes.as_deref().unwrap_or("../recipes"));
        let compiler = Compiler {
            host_cc: t.host_cc.clone().or(c.host_cc.clone()).unwrap_or_else(|| "gcc".into()),
            host_package: t.host_package.clone().or(c.host_package.clone()).unwrap_or_else(|| "gcc binutils".into()),
            build_cc: c.build_cc.clone().unwrap_or_else(|| "gcc".into()),
            cross_compile: t.cross_compile.clone(),
            linux_arch: t.linux_arch.clone().unwrap_or_else(|| linux_arch(target)),
            wrapper: c.wrapper.clone(),
            specs_template: c.specs_template.clone(),
            cflags: t.cflags.clone().unwrap_or(c.cflags.clone()),
            ldflags: c.ldflags.clone(),
        };
        Toolchain {
            name: raw.toolchain.name.clone(),
            target: target.clone(),
            platform: resolved_platform(target, t),
            targets: self.targets.iter().map(|(t, _)| t.clone()).collect(),
            description: raw.toolchain.description.clone(),
            path: std::path::absolute(&self.path).unwrap_or(self.path.clone()),
            packages: raw.toolchain.packages.clone(),
            recipes_dir: std::path::absolute(&recipes_dir).unwrap_or(recipes_dir),
            compiler,
            digest: self.digest.clone(),
        }
    }
}

/// The file's targets: its `[[target]]` tables, or the single `toolchain.target`.
fn targets(path: &Path, raw: &RawFile) -> Result<Vec<(String, TargetFields)>, ToolchainError> {
    let invalid = |field: &str, message: String| ToolchainError::Invalid {
        path: path.to_path_buf(),
        field: field.to_string(),
        message,
    };
    match (&raw.toolchain.target, raw.target.is_empty()) {
        (Some(_), false) => {
            Err(invalid("toolchain.target", "give either `toolchain.target` or `[[target]]` tables, not both".into()))
        }
        (None, true) => Err(invalid("target", "no target: add `[[target]]` with a `triple`".into())),
        (Some(t), true) => Ok(vec![(t.clone(), TargetFields::default())]),
        (None, false) => {
            let mut out: Vec<(String, TargetFields)> = Vec::new();
            for (i, t) in raw.target.iter().enumerate() {
                let platform = match &t.platform {
                    Some(p) => Some(Platform::parse(p).map_err(|m| invalid(&format!("target[{i}].platform"), m))?),
                    None => None,
                };
                let f = TargetFields {
                    platform,
                    host_cc: t.host_cc.clone(),
                    host_package: t.host_package.clone(),
                    cross_compile: t.cross_compile.clone(),
                    linux_arch: t.linux_arch.clone(),
                    cflags: t.cflags.clone(),
                };
                if out.iter().any(|(o, of)| resolved_platform(o, of) == resolved_platform(&t.triple, &f)) {
                    return Err(invalid(&format!("target[{i}]"), format!("a second target for `{}`", t.triple)));
                }
                out.push((t.triple.clone(), f));
            }
            Ok(out)
        }
    }
}

/// A `[[target]]` table's optional fields, after parsing.
#[derive(Default)]
struct TargetFields {
    platform: Option<Platform>,
    host_cc: Option<String>,
    host_package: Option<String>,
    cross_compile: String,
    linux_arch: Option<String>,
    cflags: Option<String>,
}

fn resolved_platform(triple: &str, f: &TargetFields) -> Platform {
    f.platform.clone().unwrap_or_else(|| Platform::of_triple(triple))
}

/// The kernel's `ARCH=` for a triple.
fn linux_arch(triple: &str) -> String {
    match triple.split('-').next().unwrap_or(triple) {
        "aarch64" => "arm64",
        "riscv64" | "riscv32" => "riscv",
        "i386" | "i486" | "i586" | "i686" => "x86",
        other => other,
    }
    .to_string()
}

impl Compiler {
    /// The target's `strip` (`$STRIP` in the phases): the host's own `strip` only knows the host's ELF.
    pub fn strip(&self) -> String {
        format!("{}strip", self.cross_compile)
    }
}

impl Toolchain {
    pub fn is_member(&self, package: &str) -> bool {
        self.packages.iter().any(|p| p == package)
    }

    /// The environment for building one of the toolchain's own packages: the host compiler, no sysroot.
    pub fn bootstrap_env(&self) -> CompilerEnv {
        CompilerEnv { cc: self.compiler.host_cc.clone(), cflags: self.compiler.cflags.clone(), ldflags: String::new() }
    }

    /// Writes the wrapper and the specs into a sysroot assembled at `host` that the build will see at
    /// `inside`, and returns the compiler environment pointing at them.
    pub fn prepare_sysroot(&self, host: &Path, inside: &Path) -> Result<CompilerEnv, ToolchainError> {
        let Some(wrapper) = &self.compiler.wrapper else {
            return Ok(CompilerEnv {
                cc: self.compiler.host_cc.clone(),
                cflags: self.compiler.cflags.clone(),
                ldflags: self.compiler.ldflags.clone(),
            });
        };
        let mut specs_arg = String::new();
        if let Some(template) = &self.compiler.specs_template {
            let src = host.join(template);
            let text = std::fs::read_to_string(&src)
                .map_err(|_| ToolchainError::MissingSpecs { name: self.name.clone(), path: src.clone() })?;
            let out_rel = template.strip_suffix(".in").unwrap_or(template);
            let out = host.join(out_rel);
            let text = text.replace("@SYSROOT@", &inside.to_string_lossy());
            write_file(&out, &text, 0o644)?;
            specs_arg = format!(" -specs \"{}\"", inside.join(out_rel).display());
        }
        let script = format!(
            "#!/bin/sh\n# written by compose: host {cc} driven into the sysroot {sysroot}\nexec {cc} \"$@\" -static{specs_arg}\n",
            cc = self.compiler.host_cc,
            sysroot = inside.display(),
        );
        let wrapper_path = host.join("bin").join(wrapper);
        write_file(&wrapper_path, &script, 0o755)?;
        Ok(CompilerEnv {
            cc: inside.join("bin").join(wrapper).to_string_lossy().into_owned(),
            cflags: self.compiler.cflags.clone(),
            ldflags: self.compiler.ldflags.clone(),
        })
    }
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), ToolchainError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |source| ToolchainError::WriteWrapper { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent() {
        // 0755 whatever compose's umask: a build phase may run as another host uid than compose.
        crate::source::unpack::create_dir_all_mode(parent, 0o755).map_err(err)?;
    }
    let _ = std::fs::remove_file(path);
    std::fs::write(path, text).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapper_points_into_the_inside_path() {
        let d = tempfile::tempdir().unwrap();
        let tc_path = d.path().join("t.toml");
        std::fs::write(&tc_path, "[toolchain]\nname='t'\ntarget='x86_64-linux-musl'\npackages=['musl']\n[compiler]\nhost_cc='gcc'\nwrapper='musl-gcc'\nspecs_template='lib/s.specs.in'\nldflags='-static'\n").unwrap();
        let tc = load(tc_path.to_str().unwrap(), d.path()).unwrap();
        let sys = d.path().join("sys");
        std::fs::create_dir_all(sys.join("lib")).unwrap();
        std::fs::write(sys.join("lib/s.specs.in"), "-I@SYSROOT@/include").unwrap();
        let env = tc.prepare_sysroot(&sys, Path::new("/sysroot")).unwrap();
        assert_eq!(env.cc, "/sysroot/bin/musl-gcc");
        assert_eq!(std::fs::read_to_string(sys.join("lib/s.specs")).unwrap(), "-I/sysroot/include");
        let w = std::fs::read_to_string(sys.join("bin/musl-gcc")).unwrap();
        assert!(w.contains("exec gcc \"$@\" -static -specs \"/sysroot/lib/s.specs\""), "{w}");
        assert!(tc.is_member("musl"));
    }
}
