//! The serde mirror of a recipe file, exactly as written. Nothing outside `recipe` sees these types:
//! `resolve` turns them into a checked `Recipe`. Unknown keys are errors everywhere.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecipe {
    pub package: RawPackage,
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPackage {
    pub name: String,
    pub version: String,
    pub license: String,
    pub homepage: String,
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub url: String,
    pub sha256: String,
    #[serde(default)]
    pub mirrors: Vec<String>,
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
    #[serde(default)]
    pub configure_args: Vec<String>,
    #[serde(default)]
    pub make_args: Vec<String>,
    #[serde(default)]
    pub install_args: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub strip: Option<bool>,
}
