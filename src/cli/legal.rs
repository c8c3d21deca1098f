//! `compose sources bundle IMAGE-RECIPE -o legal.tar`: the licence and source bundle of an image.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Args;

use compose::records::{self, legal};

use super::settings::CommonArgs;
use super::sources::{common, fetch_verified, open_cache, requests};
use super::{Failure, exit, load};

#[derive(Args)]
pub struct BundleArgs {
    /// The image (or package) recipe whose sources to bundle.
    recipe: PathBuf,
    /// The bundle to write.
    #[arg(short, long)]
    output: PathBuf,
    #[arg(long, default_value = "musl")]
    toolchain: String,
    #[command(flatten)]
    common: CommonArgs,
}

pub fn run(args: BundleArgs) -> Result<(), Failure> {
    let common = common(&args.common)?;
    let closure = load::closure(std::slice::from_ref(&args.recipe), &args.toolchain)?;
    let cache = open_cache(&common)?;
    fetch_verified(&cache, &requests(&closure), &common, true, None)?;
    let spec = &closure.specs[0];
    let mut contents = Vec::new();
    if let Some(g) = &closure.graph {
        for &root in &g.roots {
            for i in g.runtime_closure(root) {
                if !contents.contains(&i) {
                    contents.push(i);
                }
            }
        }
    }
    let fail = |e: records::RecordsError| Failure::new(exit::EXPORT, e);
    let tc = &closure.toolchain;
    let packages = records::packages(closure.graph.as_ref(), &contents, tc, &HashMap::new()).map_err(fail)?;
    let toolchain = records::toolchain_facts(tc).map_err(fail)?;
    let root = records::project_root(tc);
    let source_path = |sha: &str| cache.path(sha);
    let req = legal::LegalRequest {
        image: &spec.name,
        packages: &packages,
        toolchain: &toolchain,
        root: &root,
        source_path: &source_path,
        source_date_epoch: common.source_date_epoch,
    };
    let (written, manifest) = legal::write(&req, &args.output).map_err(fail)?;
    let count = |k: &str| -> usize {
        manifest["packages"]
            .as_array()
            .map(|ps| ps.iter().map(|p| p[k].as_array().map_or(0, |a| a.len())).sum())
            .unwrap_or(0)
    };
    println!(
        "{}  {} bytes  sha256:{}  ({} packages, {} sources, {} patches, {} licence files)",
        written.path.display(),
        written.size,
        written.sha256,
        packages.len(),
        count("sources"),
        count("patches"),
        count("license_files")
    );
    for p in manifest["packages"].as_array().into_iter().flatten() {
        if p["license_files"].as_array().is_some_and(|a| a.is_empty()) {
            eprintln!(
                "warning: no licence file found at the top of {}'s sources; its recipe declares `{}`",
                p["name"].as_str().unwrap_or("?"),
                p["license"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(())
}
