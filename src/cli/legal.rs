//! `compose sources bundle IMAGE-RECIPE -o legal.tar`: the licence and source bundle of an image.

use std::path::PathBuf;

use clap::Args;

use compose::records::legal;

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
    let req = legal::ImageLegal {
        image: &closure.specs[0].name,
        graph: closure.graph.as_ref(),
        toolchain: &closure.toolchain,
        source_path: &|sha: &str| cache.path(sha),
        source_date_epoch: common.source_date_epoch,
    };
    let b = legal::write_image(&req, &args.output).map_err(|e| Failure::new(exit::EXPORT, e))?;
    println!(
        "{}  {} bytes  sha256:{}  ({} packages, {} sources, {} patches, {} licence files)",
        b.file.path.display(),
        b.file.size,
        b.file.sha256,
        b.packages,
        b.sources,
        b.patches,
        b.license_files
    );
    for (name, license) in &b.unlicensed {
        eprintln!("warning: no licence file found at the top of {name}'s sources; its recipe declares `{license}`");
    }
    Ok(())
}
