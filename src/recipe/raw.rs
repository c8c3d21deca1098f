//! The serde mirror of a recipe file, exactly as written. Nothing outside `recipe` sees these types:
//! `resolve` turns them into a checked `Recipe`. Unknown keys are errors everywhere.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecipe {
    /// Absent in an image recipe, which has `[image]` with `packages` instead.
    pub package: Option<RawPackage>,
    #[serde(default)]
    pub source: Vec<RawSource>,
    #[serde(default)]
    pub patches: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub dependencies: RawDependencies,
    pub build: Option<RawBuild>,
    #[serde(default)]
    pub image: RawImage,
    #[serde(default)]
    pub config: RawConfig,
    #[serde(default)]
    pub user: Vec<RawUser>,
    #[serde(default)]
    pub group: Vec<RawGroup>,
    /// `[[vex]]`: vulnerability statements (`recipe::vex`).
    #[serde(default)]
    pub vex: Vec<RawVex>,
}

/// `[[vex]]`: `id`, `status` (`fixed` with `patch`; `not_affected` with `justification`, `detail` and
/// optionally `when`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVex {
    pub id: String,
    pub status: String,
    pub justification: Option<String>,
    pub detail: Option<String>,
    pub patch: Option<String>,
    #[serde(default)]
    pub when: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPackage {
    pub name: String,
    pub version: String,
    pub license: String,
    pub homepage: String,
    pub description: String,
    pub cpe: Option<String>,
    pub osv: Option<RawOsv>,
    pub targets: Option<Vec<String>>,
    /// `false`: nothing of the package ends up in programs built against it (headers only, a build
    /// tool), so `compose vulns` does not check it as statically linked.
    pub linked: Option<bool>,
}

/// `[package] osv = { ecosystem = "...", name = "..." }`: the package's name in OSV records.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOsv {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub url: Option<String>,
    pub sha256: Option<String>,
    /// A directory of the project instead of a download (excludes url, sha256, mirrors, debian).
    pub path: Option<String>,
    pub mirrors: Option<Vec<String>>,
    pub debian: Option<String>,
    pub dest: Option<String>,
    pub strip_components: Option<usize>,
    #[serde(default)]
    pub extract: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDependencies {
    #[serde(default)]
    pub build: Vec<String>,
    #[serde(default)]
    pub runtime: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuild {
    pub style: String,
    pub prefix: Option<String>,
    pub configure: Option<String>,
    pub build: Option<String>,
    pub install: Option<String>,
    /// Styles cmake and meson: the directory under `$SRC` holding CMakeLists.txt or meson.build.
    pub source_dir: Option<String>,
    /// The configuration file the build writes (relative to `$SRC`, e.g. busybox's `.config`), captured
    /// after the install phase so `[[vex]] when` conditions are checked against it.
    pub config: Option<String>,
    #[serde(default)]
    pub configure_args: Vec<String>,
    #[serde(default)]
    pub make_args: Vec<String>,
    #[serde(default)]
    pub install_args: Vec<String>,
    /// Commands run from the build host: `"autoreconf"`, or `"tclsh:tcl"` naming the Debian package.
    #[serde(default)]
    pub host_tools: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    // In a package recipe: what of the package enters an image.
    pub include: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    pub strip: Option<bool>,
    // In an image recipe: the image itself.
    pub name: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    pub packages: Option<Vec<String>>,
    pub skeleton: Option<bool>,
    pub source: Option<String>,
    // In either kind: the image recipe this image starts from.
    pub base: Option<String>,
}

/// The container's runtime configuration (the OCI image config's `config` object).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    pub stop_signal: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    pub name: String,
    pub uid: u32,
    pub gid: Option<u32>,
    pub home: Option<String>,
    pub shell: Option<String>,
    pub gecos: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub name: String,
    pub gid: u32,
    #[serde(default)]
    pub members: Vec<String>,
}
