//! Toolchains: which packages form the build sysroot, and how the host compiler is driven into it.
//!
//! A toolchain's packages (musl, the kernel headers) are ordinary recipes and ordinary graph nodes; they
//! are built with the host compiler. Every other package is built with `$CC` pointing at a wrapper that
//! compose writes into each build's sysroot, because musl's own wrapper and specs hard-code the absolute
//! sysroot path, and each build sees the sysroot at its own path.

pub mod host;

use std::path::{Path, PathBuf};

use crate::digest::Sha256;
use serde::Deserialize;

use crate::recipe::{RecipeError, parse_error};

#[derive(Debug, Clone)]
pub struct Toolchain {
    pub name: String,
    pub target: String,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compiler {
    pub host_cc: String,
    pub wrapper: Option<String>,
    pub specs_template: Option<String>,
    #[serde(default)]
    pub cflags: String,
    #[serde(default)]
    pub ldflags: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    toolchain: RawToolchain,
    compiler: Compiler,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToolchain {
    name: String,
    target: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    packages: Vec<String>,
    recipes: Option<String>,
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
    HostToolNotFound { toolchain: PathBuf, tool: String, program: String },
    #[error("`{}`: `{}`: cannot probe its `{tool}` at `{}`", toolchain.display(), host::FIELD, path.display())]
    ProbeHostTool { toolchain: PathBuf, tool: String, path: PathBuf, source: std::io::Error },
}

impl ToolchainError {
    /// The fix, for errors that have one.
    pub fn hint(&self) -> Option<String> {
        match self {
            ToolchainError::HostToolNotFound { .. } | ToolchainError::ProbeHostTool { .. } => Some(format!(
                "install the host compiler (Debian: `apt-get install gcc binutils`), or set `{}` in the toolchain file to a C compiler on {} (or an absolute path)",
                host::FIELD,
                crate::build::host::BUILD_PATH
            )),
            _ => None,
        }
    }
}

/// Loads a toolchain by path (`toolchains/musl.toml`) or by name, looked up in `search_dir`.
pub fn load(spec: &str, search_dir: &Path) -> Result<Toolchain, ToolchainError> {
    let path = if spec.ends_with(".toml") || spec.contains('/') {
        PathBuf::from(spec)
    } else {
        search_dir.join(format!("{spec}.toml"))
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|_| ToolchainError::NotFound { name: spec.to_string(), path: path.clone() })?;
    let raw: RawFile = toml::from_str(&text).map_err(|e| parse_error(&path, &text, &e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let recipes_dir = dir.join(raw.toolchain.recipes.as_deref().unwrap_or("../recipes"));
    let digest = Sha256::hex_of(text.as_bytes());
    Ok(Toolchain {
        name: raw.toolchain.name,
        target: raw.toolchain.target,
        description: raw.toolchain.description,
        path: std::path::absolute(&path).unwrap_or(path),
        packages: raw.toolchain.packages,
        recipes_dir: std::path::absolute(&recipes_dir).unwrap_or(recipes_dir),
        compiler: raw.compiler,
        digest,
    })
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
