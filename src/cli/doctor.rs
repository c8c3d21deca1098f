//! `compose doctor [RECIPE...]`: every host prerequisite of a recipe set, and whether this machine has
//! it. Default: every recipe in ./recipes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;

use compose::build::{host, sandbox};
use compose::recipe::HostTool;

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
        let mut v: Vec<PathBuf> = std::fs::read_dir("recipes")
            .map_err(|e| {
                Failure::msg(exit::RECIPE, format!("cannot list `recipes/`: {e}"), Some("give recipe paths".into()))
            })?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        v.sort();
        v
    } else {
        args.recipes.clone()
    };
    let closure = load::closure(&recipes, &args.toolchain)?;
    let mut needs: BTreeMap<String, (HostTool, Vec<String>)> = BTreeMap::new();
    if let Some(g) = &closure.graph {
        for i in g.order() {
            let r = g.recipe(i);
            for t in &r.build.host_tools {
                needs.entry(t.command.clone()).or_insert_with(|| (t.clone(), Vec::new())).1.push(r.name.clone());
            }
        }
    }
    println!("{:<14} {:<16} {:<28} needed by", "host tool", "debian package", "found");
    let mut missing = Vec::new();
    for (cmd, (tool, by)) in &needs {
        let found = host::find(cmd, host::BUILD_PATH);
        let pkg = host::debian_package(tool);
        let shown = found.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "MISSING".into());
        println!("{cmd:<14} {pkg:<16} {shown:<28} {}", by.join(", "));
        if found.is_none() {
            missing.push(pkg);
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
