//! What `compose vulns` checks: the packages of a TARGET, read without building anything. A recipe
//! (package or image) gives its runtime closure through `pipeline::load`; an image built earlier gives
//! the components of the CycloneDX SBOM written beside it (`NAME.cdx.json`), so an image can be
//! checked long after its build, on a machine without its recipes. Either way each package carries the
//! bom-ref compose's CycloneDX writer gives it, so a VEX document points into the image's SBOM.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{CheckedStatement, Package};
use crate::build::{BuildSettings, artifact::ArtifactStore};
use crate::graph::BuildGraph;
use crate::pipeline::{self, LoadError};
use crate::recipe::vex::BuildConfig;
use crate::recipe::vex::{Check, Justification};
use crate::records::{self, RecordsError, Role};
use petgraph::graph::NodeIndex;

/// The packages of one TARGET.
#[derive(Debug)]
pub struct Target {
    /// The image's (or package recipe's) name.
    pub name: String,
    /// The image recipe or the SBOM the packages were read from.
    pub from: PathBuf,
    pub kind: TargetKind,
    /// The image's packages (runtime closure), by name.
    pub packages: Vec<Package>,
    /// Each package's purl, by package name: what an OpenVEX product is named by.
    pub purls: BTreeMap<String, String>,
    /// The SBOM's `metadata.timestamp` (an image's build time, from its SOURCE_DATE_EPOCH).
    pub timestamp: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Recipe,
    Image,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Load(Box<LoadError>),
    #[error("cannot list the packages of `{}`", recipe.display())]
    Packages { recipe: PathBuf, source: Box<RecordsError> },
    #[error("no SBOM for image `{}`: looked for `{}`", image.display(), sbom.display())]
    NoSbom { image: PathBuf, sbom: PathBuf },
    #[error("cannot read the SBOM `{}`", path.display())]
    ReadSbom { path: PathBuf, source: std::io::Error },
    #[error("the SBOM `{}` is not a CycloneDX document compose wrote: {what}", path.display())]
    Sbom { path: PathBuf, what: String },
    #[error("no image or recipe at `{}`", path.display())]
    Missing { path: PathBuf },
}

impl TargetError {
    pub fn hint(&self) -> Option<String> {
        match self {
            TargetError::Load(e) => e.hint(),
            TargetError::NoSbom { .. } => Some(
                "`compose build` writes NAME.cdx.json beside the image; keep it there, or give the recipe instead"
                    .into(),
            ),
            TargetError::Missing { .. } => Some(
                "give a recipe (`recipes/NAME.toml`) or an image `compose build` wrote (`out/NAME.oci.tar`)".into(),
            ),
            _ => None,
        }
    }
}

/// Reads the packages of `path`: a `.toml` recipe (its closure loaded with `toolchain`), an image
/// (`NAME.oci.tar`, `NAME.tar`, `NAME.docker.tar`, the OCI layout directory `NAME/`) whose
/// `NAME.cdx.json` sits beside it, or that SBOM itself.
///
/// For a recipe, `cache` (the build settings `compose build` would use) lets the statements of packages
/// whose exact build is in the local cache be checked against the configuration that build captured;
/// without it, or when a package's build is not cached, a statement with conditions is `Unchecked`.
pub fn inspect(path: &Path, toolchain: &str, cache: Option<&BuildSettings>) -> Result<Target, TargetError> {
    if path.extension().is_some_and(|e| e == "toml") {
        return from_recipe(path, toolchain, cache);
    }
    if !path.exists() {
        return Err(TargetError::Missing { path: path.to_path_buf() });
    }
    let sbom = sbom_beside(path);
    if !sbom.is_file() {
        return Err(TargetError::NoSbom { image: path.to_path_buf(), sbom });
    }
    from_sbom(&sbom)
}

/// `out/NAME.cdx.json` for `out/NAME.oci.tar`, `out/NAME.tar`, `out/NAME.docker.tar` or `out/NAME/`;
/// a `.cdx.json` path is the SBOM itself.
pub fn sbom_beside(image: &Path) -> PathBuf {
    let file = image.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if file.ends_with(".cdx.json") {
        return image.to_path_buf();
    }
    let name = [".oci.tar", ".docker.tar", ".tar"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))
        .unwrap_or(file.trim_end_matches('/'));
    image.with_file_name(format!("{name}.cdx.json"))
}

fn from_recipe(path: &Path, toolchain: &str, cache: Option<&BuildSettings>) -> Result<Target, TargetError> {
    let closure = pipeline::load(&[path.to_path_buf()], toolchain).map_err(|e| TargetError::Load(Box::new(e)))?;
    let spec = &closure.specs[0];
    let mut target = Target {
        name: spec.name.clone(),
        from: path.to_path_buf(),
        kind: TargetKind::Recipe,
        packages: Vec::new(),
        purls: BTreeMap::new(),
        timestamp: None,
    };
    let Some(graph) = closure.graph.as_ref() else { return Ok(target) };
    let contents = graph.image_contents();
    let cached = cache.map(|settings| cached_builds(graph, settings)).unwrap_or_default();
    let mut facts = records::packages(Some(graph), 0, &contents, &closure.toolchain, &HashMap::new(), &cached.configs)
        .map_err(|source| TargetError::Packages { recipe: path.to_path_buf(), source: Box::new(source) })?;
    // A package whose cached build ships no executable (certificates, zone files) links nothing.
    for p in &mut facts {
        p.linked_into.retain(|n| !cached.no_program.contains(n));
    }
    for p in facts.into_iter().filter(|p| p.role == Role::Runtime || !p.linked_into.is_empty()) {
        target.purls.insert(p.name.clone(), p.purl());
        let statements = p
            .vex
            .statements
            .iter()
            .map(|s| CheckedStatement {
                id: s.id.clone(),
                justification: s.justification,
                detail: s.detail.clone(),
                when: s.when.iter().map(|c| c.to_string()).collect(),
                // Checked against the cached build's configuration, when the cache has this build.
                check: s.check(p.config.as_ref()),
            })
            .collect();
        target.packages.push(Package {
            bom_ref: Some(records::bom_ref(&p.name)),
            osv: p.osv.map(|o| (o.ecosystem, o.name)),
            cpe: p.cpe,
            version: p.version,
            // Named as the image's SBOM names it (`diff.url`: the path from the project's root).
            fixed: p
                .vex
                .fixes
                .iter()
                .flat_map(|f| {
                    let path = p.patches.get(f.index).map_or(&f.patch, |x| &x.path);
                    f.ids.iter().map(move |id| (id.clone(), path.clone()))
                })
                .collect(),
            statements,
            linked_into: p.linked_into,
            name: p.name,
        });
    }
    Ok(target)
}

/// What the local cache knows of a recipe's builds.
#[derive(Default)]
struct Cached {
    /// The configuration each cached build captured (`[build] config`).
    configs: HashMap<NodeIndex, BuildConfig>,
    /// Packages whose cached build installed no executable file.
    no_program: HashSet<String>,
}

/// The packages whose exact build (the key `compose build` would compute now) is in the local artifact
/// store: their captured configurations, and which of them ship no program. Best effort: a plan that
/// cannot be made (a host compiler missing) gives nothing, and the statements stay unchecked.
fn cached_builds(graph: &BuildGraph, settings: &BuildSettings) -> Cached {
    let mut cached = Cached::default();
    let Ok(plan) = crate::build::plan(graph, settings) else { return cached };
    let Ok(store) = ArtifactStore::open(&settings.cache_root) else { return cached };
    for step in plan.iter().filter(|s| s.cached) {
        let Some(a) = step.key.as_ref().and_then(|k| store.get(&step.name, k)) else { continue };
        if !ships_a_program(&a.tree()) {
            cached.no_program.insert(step.name.clone());
        }
        if let Some(c) = a.meta.config {
            cached.configs.insert(step.node, c);
        }
    }
    cached
}

/// Whether an installed tree holds an executable regular file (not following symlinks).
fn ships_a_program(tree: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    walkdir::WalkDir::new(tree)
        .into_iter()
        .filter_map(Result::ok)
        .any(|e| e.file_type().is_file() && e.metadata().is_ok_and(|m| m.permissions().mode() & 0o111 != 0))
}

/// The image's packages from its CycloneDX SBOM: the top-level components that are not files (the
/// files compose generated), with their name, version, cpe, purl, bom-ref and OSV properties.
fn from_sbom(path: &Path) -> Result<Target, TargetError> {
    let bad = |what: &str| TargetError::Sbom { path: path.to_path_buf(), what: what.to_string() };
    let text =
        std::fs::read_to_string(path).map_err(|source| TargetError::ReadSbom { path: path.to_path_buf(), source })?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| bad(&format!("not JSON ({e})")))?;
    if doc["bomFormat"] != "CycloneDX" {
        return Err(bad("no `bomFormat: CycloneDX`"));
    }
    let image = &doc["metadata"]["component"];
    let name = image["name"].as_str().ok_or_else(|| bad("no `metadata.component.name`"))?;
    let components = doc["components"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut target = Target {
        name: name.to_string(),
        from: path.to_path_buf(),
        kind: TargetKind::Image,
        packages: Vec::new(),
        purls: BTreeMap::new(),
        timestamp: doc["metadata"]["timestamp"].as_str().map(str::to_string),
    };
    let building = doc["formulation"][0]["components"].as_array().map(Vec::as_slice).unwrap_or_default();
    let linked = building.iter().filter(|c| property(c, "compose:linked-into").is_some());
    for c in components.iter().filter(|c| c["type"] != "file").chain(linked) {
        let p = sbom_package(c).map_err(|what| bad(&what))?;
        if let Some(purl) = c["purl"].as_str() {
            target.purls.insert(p.name.clone(), purl.to_string());
        }
        target.packages.push(p);
    }
    Ok(target)
}

fn property<'v>(c: &'v Value, key: &str) -> Option<&'v str> {
    c["properties"].as_array()?.iter().find(|p| p["name"] == key)?["value"].as_str()
}

/// One component of an SBOM compose wrote: name, version, cpe, bom-ref, OSV name, the vulnerabilities
/// its patches resolve (`pedigree.patches[].resolves`), its checked statements (`compose:vex`) and the
/// programs it is linked into (`compose:linked-into`).
fn sbom_package(c: &Value) -> Result<Package, String> {
    let text = |key: &str| c[key].as_str().map(str::to_string);
    let (Some(name), Some(version)) = (text("name"), text("version")) else {
        return Err("a component without `name` or `version`".into());
    };
    let prop = |key: &str| property(c, key).map(str::to_string);
    let mut fixed = Vec::new();
    for patch in c["pedigree"]["patches"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let file = patch["diff"]["url"].as_str().unwrap_or("a patch");
        for r in patch["resolves"].as_array().map(Vec::as_slice).unwrap_or_default() {
            if let Some(id) = r["id"].as_str() {
                fixed.push((id.to_string(), file.to_string()));
            }
        }
    }
    let mut statements = Vec::new();
    for p in
        c["properties"].as_array().map(Vec::as_slice).unwrap_or_default().iter().filter(|p| p["name"] == "compose:vex")
    {
        let v: Value = p["value"].as_str().and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default();
        statements
            .push(statement(&v).ok_or_else(|| format!("{name}: a `compose:vex` property that is not a statement"))?);
    }
    Ok(Package {
        bom_ref: text("bom-ref"),
        osv: prop("compose:osv-ecosystem").zip(prop("compose:osv-name")),
        cpe: text("cpe"),
        version,
        fixed,
        statements,
        linked_into: prop("compose:linked-into")
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        name,
    })
}

/// A `compose:vex` property's JSON, as `records::cyclonedx` writes it.
fn statement(v: &Value) -> Option<CheckedStatement> {
    let strings = |key: &str| -> Vec<String> {
        v[key].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    let check = match v["holds"].as_bool() {
        Some(true) => Check::Holds,
        Some(false) => Check::Unmet(strings("unmet")),
        None => Check::Unchecked,
    };
    Some(CheckedStatement {
        id: v["id"].as_str()?.to_string(),
        justification: Justification::parse(v["justification"].as_str()?)?,
        detail: v["detail"].as_str()?.to_string(),
        when: strings("when"),
        check,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sbom_sits_beside_every_image_form() {
        for image in ["out/tools.oci.tar", "out/tools.tar", "out/tools.docker.tar", "out/tools", "out/tools.cdx.json"] {
            assert_eq!(sbom_beside(Path::new(image)), Path::new("out/tools.cdx.json"), "{image}");
        }
    }
}
