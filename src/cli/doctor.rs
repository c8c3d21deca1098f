//! `compose doctor [RECIPE...]`: every host prerequisite of a recipe set, and whether this machine has
//! it. Default: every recipe in ./recipes.

use std::path::{Path, PathBuf};

use clap::Args;

use compose::build::{host, sandbox};
use compose::pipeline;

use super::{Failure, exit, load};

#[derive(Args)]
pub struct DoctorArgs {
    /// Recipes to check (default: recipes/*.toml).
    recipes: Vec<PathBuf>,
    #[arg(long, default_value = "musl")]
    toolchain: String,
}

/// Tools for using the images, not for building them.
const RUNTIME: &[(&str, &str)] = &[("podman", "podman"), ("runc", "runc"), ("skopeo", "skopeo"), ("umoci", "umoci")];

pub fn run(args: DoctorArgs) -> Result<(), Failure> {
    let recipes = if args.recipes.is_empty() {
        pipeline::recipes_in(Path::new("recipes")).map_err(load::load_failure)?
    } else {
        args.recipes.clone()
    };
    let closure = load::closure(&recipes, &args.toolchain)?;
    let needs = closure.graph.as_ref().map(host::requirements).unwrap_or_default();
    println!("{:<14} {:<16} {:<28} needed by", "host tool", "debian package", "found");
    let mut missing = Vec::new();
    for r in &needs {
        let shown = r.found.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "MISSING".into());
        println!("{:<14} {:<16} {shown:<28} {}", r.command, r.debian, r.needed_by.join(", "));
        if r.found.is_none() {
            missing.push(r.debian.clone());
        }
    }
    let sandbox = match sandbox::probe() {
        Ok(()) => "ok: user, mount, pid, net, uts and ipc namespaces".to_string(),
        Err(e) => format!("UNAVAILABLE: {e} (builds need --no-sandbox)"),
    };
    println!("{:<14} {:<16} {sandbox}", "sandbox", "-");
    println!("{:<14} {:<16} {}", "sandbox uid", "-", sandbox::uid_mapping_summary());
    for (cmd, pkg) in RUNTIME {
        let shown = host::find(cmd, host::BUILD_PATH)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "not installed".into());
        println!("{cmd:<14} {pkg:<16} {shown:<28} (running and checking images; optional)");
    }
    let tc_path = closure.toolchain.path.to_string_lossy().into_owned();
    for tc in compose::toolchain::load_all(&tc_path, Path::new(".")).unwrap_or_default() {
        let cc = &tc.compiler.host_cc;
        let shown = host::find(cc, host::BUILD_PATH)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| format!("{cc}: not installed"));
        println!(
            "{:<14} {:<16} {shown:<28} (the C compiler for {}: --platform {})",
            format!("target {}", tc.platform.arch()),
            tc.compiler.host_package.split(' ').next().unwrap_or("gcc"),
            tc.target,
            tc.platform
        );
    }
    for f in host::foreign_runners() {
        let qemu = f.qemu.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "not installed".into());
        let binfmt = match &f.binfmt {
            Ok(()) => "binfmt registered".to_string(),
            Err(why) => format!("binfmt: {why}"),
        };
        println!(
            "{:<14} {:<16} {qemu:<28} ({binfmt}; running {} images; optional)",
            format!("qemu {}", f.arch),
            "qemu-user-static",
            f.arch
        );
    }
    if missing.is_empty() {
        eprintln!("every host tool of {} recipe file(s) is present", recipes.len());
        Ok(())
    } else {
        missing.sort();
        missing.dedup();
        Err(Failure::msg(
            exit::HOST,
            format!("{} host tool(s) missing", missing.len()),
            Some(format!("apt-get install {}", missing.join(" "))),
        ))
    }
}
