//! What a command works on: the recipe files given (package or image recipes) as `ImageSpec`s, the
//! toolchain, and the build graph of all their packages. Every command that reads recipes loads them
//! here, so they all resolve paths, toolchains and image package lists the same way.

use std::path::{Path, PathBuf};

use crate::export::Reference;
use crate::graph::{BuildGraph, GraphError};
use crate::recipe::{self, ImageConfig, RecipeError, RecipeFile};
use crate::toolchain::{self, Platform, Toolchain, ToolchainError};
use std::sync::Arc;

/// What one recipe file asks to be built and how its image runs.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub name: String,
    pub version: String,
    pub description: String,
    pub recipe: PathBuf,
    /// Root package recipes.
    pub roots: Vec<PathBuf>,
    pub skeleton: bool,
    pub source: Option<String>,
    pub config: ImageConfig,
    pub digest: String,
}

/// Loaded recipes, their toolchain and the graph of every package they need.
pub struct Closure {
    pub specs: Vec<ImageSpec>,
    /// The first platform's toolchain target.
    pub toolchain: Toolchain,
    /// Every platform's, in the order asked for (the graph's `toolchains`).
    pub toolchains: Vec<Toolchain>,
    /// `None` when no recipe has a package (scratch): nothing to build, not even the toolchain.
    pub graph: Option<BuildGraph>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no recipe at `{}`", path.display())]
    NoRecipe { path: PathBuf },
    #[error("cannot list the recipes in `{}`", dir.display())]
    ListRecipes { dir: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    #[error(transparent)]
    Toolchain(#[from] ToolchainError),
    #[error(
        "{}: field `image.packages[{index}]`: image `{image}` lists `{package}`, but there is no recipe `{}`",
        recipe.display(),
        looked.display()
    )]
    ImagePackage { recipe: PathBuf, index: usize, image: String, package: String, looked: PathBuf },
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("--tag: {message}")]
    Tag { message: String },
}

impl LoadError {
    /// The fix, in a few words.
    pub fn hint(&self) -> Option<String> {
        match self {
            LoadError::NoRecipe { .. } => Some("give the path to a recipe file, e.g. `recipes/busybox.toml`".into()),
            LoadError::ListRecipes { .. } => Some("run it in the project directory, or give recipe paths".into()),
            LoadError::Recipe(r) | LoadError::Toolchain(ToolchainError::Recipe(r)) => r.hint(),
            LoadError::Toolchain(t @ ToolchainError::NoTarget { .. }) => t.hint(),
            LoadError::Toolchain(_) => {
                Some("pass `--toolchain NAME` (looked up in toolchains/) or a path to a toolchain file".into())
            }
            LoadError::ImagePackage { package, .. } => {
                Some(format!("write `{package}.toml` beside the image recipe, or remove it from `packages`"))
            }
            LoadError::Graph(GraphError::Recipe(r)) => r.hint(),
            LoadError::Graph(GraphError::Missing { name, .. }) => {
                Some(format!("write `{name}.toml` beside the recipe that needs it, or remove the dependency"))
            }
            LoadError::Graph(GraphError::UnsupportedTarget { recipe, target, .. }) => Some(format!(
                "build it with a toolchain for one of the targets it lists, or add `{target}` to `package.targets` in `{}` once it builds there",
                recipe.display()
            )),
            LoadError::Graph(GraphError::Cycle { .. }) => {
                Some("a package cannot need itself, directly or through others".into())
            }
            LoadError::Tag { .. } => {
                Some("give NAME or NAME:TAG, e.g. `--tag tools:1.0` (lowercase name; tag of [A-Za-z0-9_.-])".into())
            }
        }
    }
}

/// Every recipe file (`*.toml`) of the directory `dir`, sorted: what `compose doctor` and
/// `compose cache prune` take when given no recipes.
pub fn recipes_in(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let list = |source| LoadError::ListRecipes { dir: dir.to_path_buf(), source };
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).map_err(list)? {
        let p = e.map_err(list)?.path();
        if p.extension().is_some_and(|x| x == "toml") {
            v.push(p);
        }
    }
    v.sort();
    Ok(v)
}

/// Loads `recipes` and everything they need. The toolchain is looked up beside the first recipe's
/// directory (`../toolchains/NAME.toml`) unless `toolchain` is a path.
pub fn load(recipes: &[PathBuf], toolchain: &str) -> Result<Closure, LoadError> {
    load_for(recipes, toolchain, &[])
}

/// `load`, for each of `platforms` (none: the host's) in one graph.
pub fn load_for(recipes: &[PathBuf], toolchain: &str, platforms: &[Platform]) -> Result<Closure, LoadError> {
    let mut specs = Vec::new();
    for r in recipes {
        let path = std::path::absolute(r).unwrap_or_else(|_| r.clone());
        if !path.is_file() {
            return Err(LoadError::NoRecipe { path: r.clone() });
        }
        let dir = path.parent().expect("a file has a parent").to_path_buf();
        specs.push(ImageSpec::from_file(recipe::load_file(&path)?, &dir)?);
    }
    let first_dir = specs.first().and_then(|s| s.recipe.parent()).unwrap_or(Path::new("recipes"));
    let search = first_dir.parent().map(|p| p.join("toolchains")).unwrap_or_else(|| PathBuf::from("toolchains"));
    let toolchains = if platforms.is_empty() {
        vec![toolchain::load(toolchain, &search)?]
    } else {
        platforms.iter().map(|p| toolchain::load_for(toolchain, &search, Some(p))).collect::<Result<_, _>>()?
    };
    let mut roots: Vec<PathBuf> = Vec::new();
    for r in specs.iter().flat_map(|s| &s.roots) {
        if !roots.contains(r) {
            roots.push(r.clone());
        }
    }
    let shared: Vec<Arc<Toolchain>> = toolchains.iter().cloned().map(Arc::new).collect();
    let graph = if roots.is_empty() { None } else { Some(BuildGraph::load_targets(&roots, &shared)?) };
    Ok(Closure { specs, toolchain: toolchains[0].clone(), toolchains, graph })
}

impl ImageSpec {
    pub fn from_file(file: RecipeFile, recipes_dir: &Path) -> Result<ImageSpec, LoadError> {
        Ok(match file {
            RecipeFile::Package(r) => ImageSpec {
                source: r.sources.first().filter(|s| s.path.is_none()).map(|s| s.url.clone()),
                name: r.name,
                version: r.version,
                description: r.description,
                roots: vec![r.path.clone()],
                recipe: r.path,
                skeleton: true,
                config: r.config,
                digest: r.digest,
            },
            RecipeFile::Image(i) => {
                let mut roots = Vec::new();
                for (index, p) in i.packages.iter().enumerate() {
                    let looked = recipes_dir.join(format!("{p}.toml"));
                    if !looked.is_file() {
                        let (recipe, image, package) = (i.path.clone(), i.name.clone(), p.clone());
                        return Err(LoadError::ImagePackage { recipe, index, image, package, looked });
                    }
                    roots.push(looked);
                }
                ImageSpec {
                    name: i.name,
                    version: i.version,
                    description: i.description,
                    recipe: i.path,
                    roots,
                    skeleton: i.skeleton,
                    source: i.source,
                    config: i.config,
                    digest: i.digest,
                }
            }
        })
    }

    /// The reference from `tag`, else NAME:VERSION (the version made into a valid tag).
    pub fn reference(&self, tag: Option<&str>) -> Result<Reference, LoadError> {
        let default_tag: String = self
            .version
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' })
            .collect();
        let s = tag.map(str::to_string).unwrap_or_else(|| self.name.clone());
        Reference::parse(&s, &default_tag).map_err(|message| LoadError::Tag { message })
    }
}
