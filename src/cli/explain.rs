//! `compose explain PKG`: why each package of PKG's closure would (or would not) be rebuilt: which
//! input changed since its newest artifact, with the old and new digests; with `--cache`, which of the
//! packages to build the remote cache would give instead (reading only manifests and metadata).

use std::path::PathBuf;

use clap::Args;

use compose::build;

use super::registry_args::RegistryArgs;
use super::settings::{self, CommonArgs};
use super::{Failure, exit, load};

#[derive(Args)]
pub struct ExplainArgs {
    /// A package (looked up as RECIPES/PKG.toml) or a recipe file.
    package: String,
    /// Where package recipes are.
    #[arg(long, default_value = "recipes")]
    recipes: PathBuf,
    #[arg(long, default_value = "musl")]
    toolchain: String,
    /// Explain a build without the sandbox (it is part of every key).
    #[arg(long)]
    no_sandbox: bool,
    #[command(flatten)]
    common: CommonArgs,
    /// Also say which packages the remote artifact cache REGISTRY/REPO holds (nothing is downloaded).
    /// Default: $COMPOSE_CACHE_REGISTRY, the config file's `cache_registry`.
    #[arg(long, value_name = "REGISTRY/REPO")]
    cache: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: ExplainArgs) -> Result<(), Failure> {
    let common = settings::common(&args.common, None).map_err(|m| Failure::msg(exit::USAGE, m, None))?;
    let recipe = if args.package.ends_with(".toml") {
        PathBuf::from(&args.package)
    } else {
        args.recipes.join(format!("{}.toml", args.package))
    };
    let closure = load::closure(&[recipe], &args.toolchain)?;
    let Some(graph) = &closure.graph else {
        println!("`{}` has no packages: nothing is ever built", args.package);
        return Ok(());
    };
    let mut settings = common.build(!args.no_sandbox, false);
    settings.remote = common.remote(args.cache.as_deref(), false, &args.registry)?;
    let plan = build::plan(graph, &settings).map_err(|e| match e {
        build::BuildError::HostCompiler(t) => {
            let hint = t.hint();
            Failure { hint, ..Failure::new(exit::HOST, build::BuildError::HostCompiler(t)) }
        }
        e => Failure::new(exit::BUILD, e),
    })?;
    let remote = remote_lookup(graph, &settings);
    let building: Vec<&str> = plan.iter().filter(|s| !s.cached).map(|s| s.label.as_str()).collect();
    for s in &plan {
        if let Some(r) = settings.remote.as_ref().filter(|_| !s.cached) {
            let (from, k16) = (&r.reference, |k: &String| k[..16].to_string());
            if let Some(k) = remote.hits.get(&s.node) {
                println!("{}: in the remote cache {from}: would be downloaded, not built (key {})", s.label, k16(k));
                continue;
            }
            if let (None, Some(k)) = (&s.key, remote.missing.get(&s.node)) {
                println!("{}: rebuilds (key {}): not in the remote cache {from}", s.label, k16(k));
                continue;
            }
        }
        match (&s.key, s.cached) {
            (Some(k), true) => println!("{}: up to date (key {})", s.label, &k[..16]),
            (Some(k), false) => {
                println!("{}: rebuilds (key {}):", s.label, &k[..16]);
                for r in &s.reasons {
                    println!("  - {r}");
                }
            }
            (None, _) => {
                let deps: Vec<&str> =
                    graph.deps(s.node).into_iter().map(|d| graph.label(d)).filter(|d| building.contains(d)).collect();
                println!(
                    "{}: waits for {} to rebuild; it rebuilds only if their output changes (early cutoff)",
                    s.label,
                    deps.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ")
                );
            }
        }
    }
    Ok(())
}

/// What the remote cache holds for the graph; a registry out of reach, or an entry a build would refuse,
/// is a warning (a build would go on without it too).
fn remote_lookup(graph: &compose::graph::BuildGraph, settings: &build::BuildSettings) -> build::remote::Lookup {
    let Some(r) = &settings.remote else { return Default::default() };
    match build::remote::lookup(graph, settings, r) {
        Ok(found) => {
            for (label, why) in &found.refused {
                eprintln!("warning: remote cache: `{label}`: {why}; a build would refuse it and build locally");
            }
            found
        }
        Err(e) => {
            let why: Vec<String> = std::iter::once(e.to_string()).chain(super::causes(&e)).collect();
            eprintln!("warning: remote cache: `{}`: {}; not consulted", r.reference, why.join(": "));
            Default::default()
        }
    }
}
