//! What a command works on: the recipe files given (package or image recipes) as `ImageSpec`s, the
//! toolchain, and the build graph of all their packages. Every command that reads recipes loads them
//! here, so they all resolve paths, toolchains and image package lists the same way.

use std::path::{Path, PathBuf};

use crate::export::Reference;
use crate::graph::{BuildGraph, GraphError};
use crate::recipe::{self, BUILTIN_GROUPS, BUILTIN_USERS, Group, ImageConfig, RecipeError, RecipeFile, User};
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
    #[error("{}: field `image.base`: `{base}`: {message}", recipe.display())]
    Base { recipe: PathBuf, base: String, message: String },
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
            LoadError::Graph(GraphError::Ambiguous { name, .. }) => Some(format!(
                "keep one `{name}.toml`: a name is looked up beside the recipe naming it, then in recipes/"
            )),
            LoadError::Graph(GraphError::Cycle { .. }) => {
                Some("a package cannot need itself, directly or through others".into())
            }
            LoadError::Base { base, .. } => Some(format!(
                "name an image recipe (`[image]` with `packages`) as `{base}.toml`, beside this recipe or in recipes/"
            )),
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

/// Loads `recipes` and everything they need. The toolchain is looked up in the project's `toolchains/`
/// (see `toolchains_dir`) unless `toolchain` is a path.
pub fn load(recipes: &[PathBuf], toolchain: &str) -> Result<Closure, LoadError> {
    load_for(recipes, toolchain, &[])
}

/// `load`, for each of `platforms` (none: the host's) in one graph.
pub fn load_for(recipes: &[PathBuf], toolchain: &str, platforms: &[Platform]) -> Result<Closure, LoadError> {
    let mut files = Vec::new();
    for r in recipes {
        let path = std::path::absolute(r).unwrap_or_else(|_| r.clone());
        if !path.is_file() {
            return Err(LoadError::NoRecipe { path: r.clone() });
        }
        files.push(recipe::load_file(&path)?);
    }
    let first_dir = recipes
        .first()
        .map(|r| std::path::absolute(r).unwrap_or_else(|_| r.clone()))
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("recipes"));
    let search = toolchains_dir(&first_dir);
    let toolchains = if platforms.is_empty() {
        vec![toolchain::load(toolchain, &search)?]
    } else {
        platforms.iter().map(|p| toolchain::load_for(toolchain, &search, Some(p))).collect::<Result<_, _>>()?
    };
    let specs =
        files.into_iter().map(|f| ImageSpec::resolve(f, &toolchains[0].recipes_dir)).collect::<Result<Vec<_>, _>>()?;
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

/// The project's `toolchains/`: beside the recipe's directory (`recipes/x.toml` -> `toolchains/`), or one
/// level higher for a recipe kept in `examples/NAME/`. No further: a `toolchains/` found anywhere up to
/// `/` would pick the toolchain, and so the build scripts that run, from outside the project.
pub fn toolchains_dir(dir: &Path) -> PathBuf {
    let beside = dir.parent().map(|p| p.join("toolchains")).unwrap_or_else(|| PathBuf::from("toolchains"));
    let above = dir.parent().and_then(Path::parent).map(|p| p.join("toolchains"));
    match above {
        Some(a) if !beside.is_dir() && a.is_dir() => a,
        _ => beside,
    }
}

/// The merged accounts as /etc/passwd and /etc/group will hold them: every group member is a user (or
/// root, nobody), and no two groups, the users' own ones included, share a name or a gid.
fn check_merged_accounts(users: &[User], groups: &[Group]) -> Result<(), String> {
    for g in groups {
        for m in &g.members {
            if !users.iter().any(|u| &u.name == m) && !BUILTIN_USERS.iter().any(|(n, _)| n == m) {
                return Err(format!("group `{}` lists `{m}`, which neither this recipe nor its base defines", g.name));
            }
        }
    }
    let mut all: Vec<(&str, u32)> = BUILTIN_GROUPS.iter().map(|(n, g)| (*n, *g)).collect();
    all.extend(groups.iter().map(|g| (g.name.as_str(), g.gid)));
    all.extend(users.iter().filter(|u| !groups.iter().any(|g| g.gid == u.gid)).map(|u| (u.name.as_str(), u.gid)));
    for (i, (name, gid)) in all.iter().enumerate() {
        if let Some((n, g)) = all[..i].iter().find(|(n, g)| n == name || g == gid) {
            return Err(format!("group `{name}` (gid {gid}) would clash with `{n}` (gid {g}) in /etc/group"));
        }
    }
    Ok(())
}

/// How deep `base` chains may go (`app` on `static-nonroot` on `static` is 2).
const MAX_BASE_DEPTH: usize = 8;

impl ImageSpec {
    /// The spec of a loaded recipe file, with its base images (`[image] base`) folded in: their packages
    /// first, their accounts, and their config under this recipe's.
    pub fn resolve(file: RecipeFile, recipes_dir: &Path) -> Result<ImageSpec, LoadError> {
        let mut chain: Vec<PathBuf> = Vec::new();
        Self::resolve_in(file, recipes_dir, &mut chain)
    }

    fn resolve_in(file: RecipeFile, recipes_dir: &Path, chain: &mut Vec<PathBuf>) -> Result<ImageSpec, LoadError> {
        let (path, base) = match &file {
            RecipeFile::Package(r) => (r.path.clone(), r.base.clone()),
            RecipeFile::Image(i) => (i.path.clone(), i.base.clone()),
        };
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let own = Self::from_file(file, &dir, recipes_dir)?;
        let Some(base) = base else { return Ok(own) };
        let looked = recipe::find(&dir, recipes_dir, &base);
        chain.push(path.clone());
        let bad = |message: String| LoadError::Base { recipe: path.clone(), base: base.clone(), message };
        if chain.iter().any(|p| p == &looked) || chain.len() > MAX_BASE_DEPTH {
            let names: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
            return Err(bad(format!(
                "the bases form a cycle or go deeper than {MAX_BASE_DEPTH}: {}",
                names.join(" -> ")
            )));
        }
        if !looked.is_file() {
            return Err(bad(format!("there is no recipe `{}`", looked.display())));
        }
        let base_file = recipe::load_file(&looked)?;
        if let RecipeFile::Package(_) = base_file {
            return Err(bad(format!("`{}` is a package recipe, not an image recipe", looked.display())));
        }
        let under = Self::resolve_in(base_file, recipes_dir, chain)?;
        own.on_base(under).map_err(bad)
    }

    /// This spec laid over `base`: packages after the base's, config fields set here win, maps merge,
    /// accounts add up (an account of the same name must be the same account).
    fn on_base(mut self, base: ImageSpec) -> Result<ImageSpec, String> {
        let mut roots = base.roots.clone();
        roots.extend(self.roots.iter().filter(|r| !base.roots.contains(r)).cloned());
        self.roots = roots;
        if !base.skeleton && self.skeleton && !self.config.users.is_empty() {
            return Err(format!(
                "base `{}` has no skeleton, so there is no /etc/passwd for this recipe's users",
                base.name
            ));
        }
        self.skeleton = self.skeleton && base.skeleton;
        self.source = self.source.or(base.source);
        let (mine, under) = (&mut self.config, base.config);
        mine.entrypoint = mine.entrypoint.take().or(under.entrypoint);
        mine.cmd = mine.cmd.take().or(under.cmd);
        mine.user = mine.user.take().or(under.user);
        mine.workdir = mine.workdir.take().or(under.workdir);
        mine.stop_signal = mine.stop_signal.take().or(under.stop_signal);
        for (map, from) in
            [(&mut mine.env, under.env), (&mut mine.labels, under.labels), (&mut mine.annotations, under.annotations)]
        {
            for (k, v) in from {
                map.entry(k).or_insert(v);
            }
        }
        let mut ports = under.exposed_ports;
        ports.extend(mine.exposed_ports.drain(..).filter(|p| !ports.contains(p)).collect::<Vec<_>>());
        mine.exposed_ports = ports;
        // The base's groups as its /etc/group has them: its [[group]]s, and each user's own group.
        let implicit: Vec<Group> = under
            .users
            .iter()
            .filter(|u| !under.groups.iter().any(|g| g.gid == u.gid))
            .map(|u| Group { name: u.name.clone(), gid: u.gid, members: Vec::new() })
            .collect();
        let mut users = under.users;
        for u in mine.users.drain(..) {
            match users.iter().find(|b| b.name == u.name || b.uid == u.uid) {
                Some(b) if *b == u => {}
                Some(b) => {
                    return Err(format!(
                        "user `{}` (uid {}) differs from the base's `{}` (uid {})",
                        u.name, u.uid, b.name, b.uid
                    ));
                }
                None => users.push(u),
            }
        }
        mine.users = users;
        let mut groups = under.groups;
        for g in mine.groups.drain(..) {
            match groups.iter().chain(&implicit).find(|b| b.name == g.name || b.gid == g.gid) {
                Some(b) if *b == g => {}
                Some(b) => {
                    return Err(format!(
                        "group `{}` (gid {}) differs from the base's `{}` (gid {})",
                        g.name, g.gid, b.name, b.gid
                    ));
                }
                None => groups.push(g),
            }
        }
        mine.groups = groups;
        check_merged_accounts(&mine.users, &mine.groups)?;
        self.digest =
            crate::digest::Sha256::hex_of(format!("image-on-base\0{}\0{}", self.digest, base.digest).as_bytes());
        Ok(self)
    }

    /// The spec of one recipe file, without its base; an image recipe's packages are looked up beside
    /// it (`recipes_dir`), then in the toolchain's recipes directory (`project_recipes`).
    pub fn from_file(file: RecipeFile, recipes_dir: &Path, project_recipes: &Path) -> Result<ImageSpec, LoadError> {
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
                    let looked = recipe::find(recipes_dir, project_recipes, p);
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
