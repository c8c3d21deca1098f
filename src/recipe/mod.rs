//! Recipes: how one package is fetched and built, and what of it enters an image.
//!
//! `load` reads a TOML file, rejects unknown keys, and `resolve`s the raw serde mirror into a checked
//! [`Recipe`]: hashes are well-formed, patch and config files exist, the build style is known and every
//! phase is a concrete script. Downstream stages never see raw strings from the file.

mod build;
mod image;
mod raw;
mod source;
mod style;
pub mod vex;

pub use image::{BUILTIN_GROUPS, BUILTIN_USERS, Group, ImageConfig, ImageRecipe, User};

use std::path::{Component, Path, PathBuf};

use crate::digest::Sha256;

/// A checked recipe.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub name: String,
    pub version: String,
    pub license: String,
    pub homepage: String,
    pub description: String,
    /// The package's CPE 2.3 name, for vulnerability databases (`cpe:2.3:a:VENDOR:PRODUCT:VERSION:…`).
    pub cpe: Option<String>,
    /// The package's name in OSV records (`[package] osv`), for OSV feeds.
    pub osv: Option<OsvName>,
    /// The targets (`ARCH-linux-musl` triples) the package builds for; empty: every target.
    pub targets: Vec<String>,
    /// The recipe file.
    pub path: PathBuf,
    pub sources: Vec<Source>,
    /// Patch files, absolute paths, applied in order with `patch -p1`.
    pub patches: Vec<PathBuf>,
    /// Extra files (configs), absolute paths, copied into `$FILES`.
    pub files: Vec<PathBuf>,
    pub build_deps: Vec<String>,
    pub runtime_deps: Vec<String>,
    pub build: BuildSpec,
    pub image: ImageRules,
    /// How the package's own image runs (`[config]`, `[[user]]`, `[[group]]`).
    pub config: ImageConfig,
    /// The image recipe the package's own image starts from (`[image] base`).
    pub base: Option<String>,
    /// What the recipe says about vulnerabilities: CVEs its patches fix, `not_affected` statements.
    pub vex: vex::Evidence,
    /// `[package] linked` (default true): whether what it installs ends up in the programs built
    /// against it, so `compose vulns` checks it as part of them.
    pub linked: bool,
    /// sha256 over the recipe text, its patches and its files: the recipe's share of a build key.
    pub digest: String,
}

/// An OSV ecosystem and the package's name in it (`osv = { ecosystem = "GitHub Actions", name = "..." }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsvName {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Source {
    /// The download URL; for a local source, its locator `path:DIR` (DIR as the recipe wrote it).
    pub url: String,
    /// The file's sha256; for a local source, the tree digest (`source::tree`), taken at load.
    pub sha256: String,
    /// A local source's directory (`path = "DIR"`), absolute and canonical, inside the recipe's
    /// directory.
    pub path: Option<PathBuf>,
    pub mirrors: Vec<String>,
    /// The file's name in the Debian archive's pool, if it is there.
    pub debian: Option<String>,
    /// Relative directory under `$SRC` to unpack into ("" for `$SRC` itself).
    pub dest: String,
    /// `None`: strip the single top-level directory if there is one.
    pub strip_components: Option<usize>,
    pub extract: Vec<String>,
}

impl Source {
    /// The upstream file name (last URL segment), used for mirror lookups; for a local source,
    /// `DIRNAME-tree.tar` (the packed tree).
    pub fn file_name(&self) -> String {
        if let Some(dir) = &self.path {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "root".into());
            return format!("{name}-tree.tar");
        }
        self.url.rsplit('/').next().unwrap_or(&self.url).to_string()
    }

    /// A local source's directory as the recipe wrote it (relative to the recipe's directory).
    pub fn local_path(&self) -> Option<&str> {
        self.path.as_ref().and(self.url.strip_prefix(LOCAL_SCHEME))
    }
}

/// The prefix of a local source's `url`: `path:DIR`.
pub const LOCAL_SCHEME: &str = "path:";

pub use style::CROSS_CONFIGURE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildStyle {
    Make,
    Autotools,
    Cmake,
    Meson,
    Custom,
}

/// The phases as shell scripts, already expanded from the style.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    pub style: BuildStyle,
    pub prefix: String,
    pub phases: Vec<Phase>,
    /// Host commands the phases run, checked before any build starts.
    pub host_tools: Vec<HostTool>,
    /// `[build] config`: the configuration file the build writes, relative to `$SRC`, captured after
    /// the install phase (`vex::BuildConfig`).
    pub config: Option<String>,
}

/// A command a recipe needs from the build host, and the Debian package providing it (when the
/// recipe says; otherwise `build::host` knows the common ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTool {
    pub command: String,
    pub debian: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Phase {
    pub name: &'static str,
    pub script: String,
}

/// What of a package's installed files enters an image.
#[derive(Debug, Clone, Default)]
pub struct ImageRules {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub strip: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("cannot read recipe `{}`", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{}: field `{field}`: {message}", path.display())]
    Invalid { path: PathBuf, field: String, message: String, hint: String },
    #[error("{}: field `{field}`: cannot read `{}`", path.display(), file.display())]
    MissingFile { path: PathBuf, field: String, file: PathBuf, source: std::io::Error },
}

impl RecipeError {
    pub fn hint(&self) -> Option<String> {
        match self {
            RecipeError::Invalid { hint, .. } if !hint.is_empty() => Some(hint.clone()),
            RecipeError::MissingFile { .. } => {
                Some("paths in `patches` and `files` are relative to the recipe's directory".into())
            }
            RecipeError::Parse { message, .. } if message.contains("unknown field") => {
                Some("see docs/recipes.md for the keys a recipe may use".into())
            }
            _ => None,
        }
    }
}

/// `package.targets`: at least one, each a target triple (`ARCH-linux-musl`), none twice.
fn check_targets(path: &Path, targets: &[String]) -> Result<(), RecipeError> {
    if targets.is_empty() {
        let hint = "list the targets it builds for, e.g. `targets = [\"x86_64-linux-musl\"]`, or leave the key out";
        return Err(invalid(path, "package.targets", "must not be empty", hint));
    }
    for (i, t) in targets.iter().enumerate() {
        let parts: Vec<&str> = t.split('-').collect();
        let ok = parts.len() == 3
            && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        if !ok || targets[..i].contains(t) {
            let why = if ok { format!("`{t}` is listed twice") } else { format!("`{t}` is not a target triple") };
            return Err(invalid(path, "package.targets", why, "write triples such as `aarch64-linux-musl`, each once"));
        }
    }
    Ok(())
}

/// A CPE 2.3 formatted string: 13 colon-separated parts, part `a`/`o`/`h`, the version the recipe's.
fn check_cpe(path: &Path, cpe: &str, version: &str) -> Result<(), RecipeError> {
    let parts: Vec<&str> = cpe.split(':').collect();
    let well_formed = parts.len() == 13
        && parts[0] == "cpe"
        && parts[1] == "2.3"
        && ["a", "o", "h"].contains(&parts[2])
        && parts.iter().all(|p| !p.is_empty() && !p.contains(char::is_whitespace));
    if !well_formed {
        return Err(invalid(
            path,
            "package.cpe",
            format!("`{cpe}` is not a CPE 2.3 formatted string"),
            "write `cpe:2.3:a:VENDOR:PRODUCT:VERSION:*:*:*:*:*:*:*` (13 parts; see NVD's CPE dictionary)",
        ));
    }
    if parts[5] != version {
        return Err(invalid(
            path,
            "package.cpe",
            format!("its version `{}` is not the package's version `{version}`", parts[5]),
            "keep the CPE's sixth part equal to `package.version`",
        ));
    }
    Ok(())
}

/// A recipe file of either kind.
#[derive(Debug, Clone)]
pub enum RecipeFile {
    /// `[package]`: builds one package.
    Package(Box<Recipe>),
    /// `[image]` with `packages`: composes an image of packages.
    Image(Box<ImageRecipe>),
}

/// Reads and resolves the recipe file at `path`, of either kind.
pub fn load_file(path: &Path) -> Result<RecipeFile, RecipeError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| RecipeError::Read { path: path.to_path_buf(), source })?;
    let raw: raw::RawRecipe = toml::from_str(&text).map_err(|e| parse_error(path, &text, &e))?;
    if raw.package.is_some() {
        return resolve(path, &text, raw).map(|r| RecipeFile::Package(Box::new(r)));
    }
    let package_only = !raw.source.is_empty()
        || raw.build.is_some()
        || !raw.patches.is_empty()
        || !raw.files.is_empty()
        || !raw.dependencies.build.is_empty()
        || !raw.dependencies.runtime.is_empty()
        || !raw.vex.is_empty();
    if package_only {
        return Err(invalid(
            path,
            "package",
            "missing [package] table",
            "a package recipe needs [package] with name, version, license, homepage and description",
        ));
    }
    image::resolve_image(path, &text, raw.image, raw.config, raw.user, raw.group)
        .map(|i| RecipeFile::Image(Box::new(i)))
}

/// Reads and resolves the package recipe at `path`.
pub fn load(path: &Path) -> Result<Recipe, RecipeError> {
    match load_file(path)? {
        RecipeFile::Package(r) => Ok(*r),
        RecipeFile::Image(i) => Err(invalid(
            path,
            "image.packages",
            format!("`{}` is an image recipe, not a package", i.name),
            "only package recipes can be dependencies or toolchain packages; list images' packages instead",
        )),
    }
}

/// `NAME.toml` beside the recipe naming it, else in the toolchain's recipes directory (`recipes/`); the
/// first place is returned when neither has it, for the error.
pub fn find(beside: &Path, recipes_dir: &Path, name: &str) -> PathBuf {
    let here = beside.join(format!("{name}.toml"));
    let there = recipes_dir.join(format!("{name}.toml"));
    if !here.is_file() && there.is_file() { there } else { here }
}

pub(crate) fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> RecipeError {
    let offset = e.span().map(|s| s.start).unwrap_or(0);
    let (line, column) = line_col(text, offset);
    RecipeError::Parse { path: path.to_path_buf(), line, column, message: e.message().trim().to_string() }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

fn invalid(path: &Path, field: &str, message: impl Into<String>, hint: impl Into<String>) -> RecipeError {
    RecipeError::Invalid {
        path: path.to_path_buf(),
        field: field.to_string(),
        message: message.into(),
        hint: hint.into(),
    }
}

fn resolve(path: &Path, text: &str, raw: raw::RawRecipe) -> Result<Recipe, RecipeError> {
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
    let p = raw.package.as_ref().expect("checked by load_file");
    check_name(path, "package.name", &p.name)?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if stem != p.name {
        return Err(invalid(
            path,
            "package.name",
            format!("`{}` does not match the file name `{stem}.toml`", p.name),
            format!("rename the file to `{}.toml`: dependencies are found by file name", p.name),
        ));
    }
    for (field, value) in [("package.version", &p.version), ("package.license", &p.license)] {
        if value.trim().is_empty() {
            return Err(invalid(path, field, "must not be empty", ""));
        }
    }
    if let Some(c) = &p.cpe {
        check_cpe(path, c, &p.version)?;
    }
    if let Some(o) = &p.osv {
        for (field, value) in [("package.osv.ecosystem", &o.ecosystem), ("package.osv.name", &o.name)] {
            if value.trim().is_empty() {
                return Err(invalid(
                    path,
                    field,
                    "must not be empty",
                    "write the ecosystem and name OSV records use, e.g. `osv = { ecosystem = \"OSS-Fuzz\", name = \"busybox\" }`",
                ));
            }
        }
    }
    if let Some(t) = &p.targets {
        check_targets(path, t)?;
    }
    if raw.source.is_empty() {
        return Err(invalid(
            path,
            "source",
            "a recipe needs at least one [[source]]",
            "add a [[source]] with url and sha256, or with path (a directory of the project)",
        ));
    }
    let mut sources = Vec::new();
    for (i, s) in raw.source.into_iter().enumerate() {
        sources.push(source::resolve_source(path, &dir, i, s)?);
    }
    let patches = local_files(path, &dir, "patches", &raw.patches)?;
    let files = local_files(path, &dir, "files", &raw.files)?;
    let named: Vec<(String, PathBuf)> = raw.patches.iter().cloned().zip(patches.iter().cloned()).collect();
    for (field, deps) in
        [("dependencies.build", &raw.dependencies.build), ("dependencies.runtime", &raw.dependencies.runtime)]
    {
        for d in deps {
            check_name(path, field, d)?;
        }
    }
    let build = build::resolve_build(path, raw.build)?;
    let vex = vex::resolve(path, raw.vex, &named, build.config.as_deref())?;
    let i = raw.image;
    for (field, set) in [
        ("image.name", i.name.is_some()),
        ("image.version", i.version.is_some()),
        ("image.description", i.description.is_some()),
        ("image.packages", i.packages.is_some()),
        ("image.skeleton", i.skeleton.is_some()),
        ("image.source", i.source.is_some()),
    ] {
        if set {
            return Err(invalid(
                path,
                field,
                "belongs in an image recipe, not in a package recipe's [image]",
                "a package recipe's [image] takes include, exclude and strip; its image is named after the package",
            ));
        }
    }
    let base = image::check_base(path, i.base)?;
    let image = ImageRules {
        include: i.include.unwrap_or_default(),
        exclude: i.exclude.unwrap_or_default(),
        strip: i.strip.unwrap_or(true),
    };
    let config = image::resolve_config(path, raw.config, raw.user, raw.group, base.is_some())?;

    let mut h = Sha256::new();
    h.update(b"recipe\0");
    h.update(text.as_bytes());
    for f in patches.iter().chain(&files) {
        let bytes = std::fs::read(f).map_err(|source| RecipeError::MissingFile {
            path: path.to_path_buf(),
            field: "patches/files".into(),
            file: f.clone(),
            source,
        })?;
        h.update(f.file_name().unwrap_or_default().as_encoded_bytes());
        h.update(b"\0");
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    let digest = h.hex();
    Ok(Recipe {
        name: p.name.clone(),
        version: p.version.clone(),
        license: p.license.clone(),
        homepage: p.homepage.clone(),
        description: p.description.clone(),
        cpe: p.cpe.clone(),
        osv: p.osv.as_ref().map(|o| OsvName { ecosystem: o.ecosystem.clone(), name: o.name.clone() }),
        targets: p.targets.clone().unwrap_or_default(),
        path: path.to_path_buf(),
        sources,
        patches,
        files,
        build_deps: raw.dependencies.build,
        runtime_deps: raw.dependencies.runtime,
        build,
        image,
        config,
        base,
        vex,
        linked: p.linked.unwrap_or(true),
        digest,
    })
}

/// A package or image name: letters, digits and `-_.+`, not starting with `.` (it names a file).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
        && !name.starts_with('.')
}

fn check_name(path: &Path, field: &str, name: &str) -> Result<(), RecipeError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(invalid(path, field, format!("`{name}` is not a valid package name"), "use letters, digits and `-_.+`"))
    }
}

fn is_relative_inside(p: &str) -> bool {
    Path::new(p).components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn local_files(path: &Path, dir: &Path, field: &str, names: &[String]) -> Result<Vec<PathBuf>, RecipeError> {
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if !is_relative_inside(n) {
            return Err(invalid(
                path,
                &format!("{field}[{i}]"),
                format!("`{n}` must be relative to the recipe's directory, without `..`"),
                "",
            ));
        }
        let f = dir.join(n);
        std::fs::metadata(&f).map_err(|source| RecipeError::MissingFile {
            path: path.to_path_buf(),
            field: format!("{field}[{i}]"),
            file: f.clone(),
            source,
        })?;
        out.push(std::path::absolute(&f).unwrap_or(f));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[package]
name = "hello"
version = "1.0"
license = "MIT"
homepage = "https://example.org"
description = "test"

[[source]]
url = "https://example.org/hello-1.0.tar.gz"
sha256 = "3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4"

[build]
style = "autotools"
configure_args = ["--with-x"]
"#;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn autotools_style_expands_to_three_phases() {
        let d = tempfile::tempdir().unwrap();
        let r = load(&write(d.path(), "hello.toml", GOOD)).unwrap();
        let names: Vec<_> = r.build.phases.iter().map(|p| p.name).collect();
        assert_eq!(names, ["configure", "build", "install"]);
        let configure = &r.build.phases[0].script;
        assert_eq!(
            configure,
            r#"./configure --prefix="$PREFIX" ${CROSS_COMPILE:+--host="$TARGET" --build="$BUILD"} --disable-shared --enable-static --with-x"#
        );
        assert_eq!(r.sources[0].file_name(), "hello-1.0.tar.gz");
        assert_eq!(r.build.prefix, "/usr");
    }

    #[test]
    fn cross_configure_arguments_only_when_cross_compiling() {
        let args = |cross: &str| {
            let script = format!("printf '<%s>' {CROSS_CONFIGURE}");
            let out = std::process::Command::new("bash")
                .args(["-c", &script])
                .env("CROSS_COMPILE", cross)
                .env("TARGET", "aarch64-linux-musl")
                .env("BUILD", "x86_64-linux-gnu")
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(args("aarch64-linux-gnu-"), "<--host=aarch64-linux-musl><--build=x86_64-linux-gnu>");
        assert_eq!(args(""), "<>");
    }

    #[test]
    fn unknown_key_is_reported_with_line_and_column() {
        let d = tempfile::tempdir().unwrap();
        let text = GOOD.replace("style = \"autotools\"", "style = \"autotools\"\ncolour = 1");
        let e = load(&write(d.path(), "hello.toml", &text)).unwrap_err();
        let RecipeError::Parse { line, column, message, .. } = &e else { panic!("{e:?}") };
        assert_eq!((*line, *column), (15, 1));
        assert!(message.contains("unknown field `colour`"), "{message}");
    }

    #[test]
    fn bad_sha_names_the_field() {
        let d = tempfile::tempdir().unwrap();
        let text = GOOD.replace("3311dff3", "zz");
        let e = load(&write(d.path(), "hello.toml", &text)).unwrap_err();
        assert!(e.to_string().contains("field `source[0].sha256`"), "{e}");
    }

    #[test]
    fn name_must_match_file() {
        let d = tempfile::tempdir().unwrap();
        let e = load(&write(d.path(), "other.toml", GOOD)).unwrap_err();
        assert!(e.to_string().contains("does not match the file name"), "{e}");
    }

    #[test]
    fn digest_covers_patches() {
        let d = tempfile::tempdir().unwrap();
        let text = GOOD.replace("[package]", "patches = [\"p/fix.patch\"]\n[package]");
        std::fs::create_dir(d.path().join("p")).unwrap();
        std::fs::write(d.path().join("p/fix.patch"), "a").unwrap();
        let a = load(&write(d.path(), "hello.toml", &text)).unwrap().digest;
        std::fs::write(d.path().join("p/fix.patch"), "b").unwrap();
        let b = load(&write(d.path(), "hello.toml", &text)).unwrap().digest;
        assert_ne!(a, b);
    }

    #[test]
    fn a_path_source_is_identified_by_its_tree_digest_alone() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("app")).unwrap();
        std::fs::write(d.path().join("app/main.c"), "int main;\n").unwrap();
        let text = GOOD.replace(
            "url = \"https://example.org/hello-1.0.tar.gz\"\nsha256 = \"3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4\"",
            "path = \"./app/\"",
        );
        let r = load(&write(d.path(), "hello.toml", &text)).unwrap();
        let s = &r.sources[0];
        let dir = std::fs::canonicalize(d.path().join("app")).unwrap();
        assert_eq!((s.url.as_str(), s.local_path(), s.path.as_ref()), ("path:app", Some("app"), Some(&dir)));
        assert_eq!(s.sha256, crate::source::tree::digest(&dir).unwrap());
        assert_eq!((s.strip_components, s.file_name()), (Some(0), "app-tree.tar".to_string()));
        // The tree is counted once, in the source's sha256: the recipe digest does not cover it.
        std::fs::write(d.path().join("app/main.c"), "int main2;\n").unwrap();
        let again = load(&d.path().join("hello.toml")).unwrap();
        assert_eq!(again.digest, r.digest);
        assert_ne!(again.sources[0].sha256, s.sha256);
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("x", 0), (1, 1));
    }
}
