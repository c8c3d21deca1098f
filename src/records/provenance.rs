//! An in-toto Statement v1 whose predicate is SLSA provenance v1: the subjects are the image's
//! digests (rootfs tarball, OCI manifest, written archives); `resolvedDependencies` lists every source,
//! patch, file, recipe and the toolchain with their digests, and the host programs that wrote the bytes
//! (`file:///usr/lib/gcc/.../cc1`, with their version line). No wall-clock times: the statement is as
//! reproducible as the image on one machine; another host compiler shows in `resolvedDependencies`.

use serde_json::{Value, json};

use super::stream::Doc;
use super::{Inventory, Role};

pub const BUILD_TYPE: &str = "https://compose.invalid/buildtypes/image/v1";
pub const BUILDER_ID: &str = "https://compose.invalid/builder/local";

pub fn statement(inv: &Inventory) -> Doc<'_> {
    let mut doc = Doc::new();
    doc.value = statement_value(inv);
    doc
}

/// One statement for a build of several platforms: the first platform's, with every other platform's
/// subjects, dependencies (its cross compiler among them) and artifacts (named `artifact:NAME@ARCH`)
/// added, each once.
pub fn statement_all(invs: &[Inventory]) -> Doc<'_> {
    let arch = |inv: &Inventory| crate::toolchain::Platform::of_triple(&inv.toolchain.target).arch().to_string();
    let mut all = statement_value(&invs[0]);
    let mut targets = Vec::new();
    for (k, inv) in invs.iter().enumerate() {
        targets.push(json!(inv.toolchain.target));
        let mut v = if k == 0 { all.clone() } else { statement_value(inv) };
        for b in v["predicate"]["runDetails"]["byproducts"].as_array_mut().into_iter().flatten() {
            let name = format!("{}@{}", b["name"].as_str().unwrap_or_default(), arch(inv));
            b["name"] = json!(name);
        }
        if k == 0 {
            all["predicate"]["runDetails"]["byproducts"] = json!([]);
        }
        for (list, path) in [
            (v["subject"].take(), &["subject"][..]),
            (
                v["predicate"]["buildDefinition"]["resolvedDependencies"].take(),
                &["predicate", "buildDefinition", "resolvedDependencies"][..],
            ),
            (v["predicate"]["runDetails"]["byproducts"].take(), &["predicate", "runDetails", "byproducts"][..]),
        ] {
            let into = path.iter().fold(&mut all, |v, k| &mut v[*k]).as_array_mut().expect("a list");
            for item in list.as_array().into_iter().flatten() {
                if !into.contains(item) {
                    into.push(item.clone());
                }
            }
        }
    }
    all["predicate"]["buildDefinition"]["internalParameters"]["target"] = json!(targets);
    let mut doc = Doc::new();
    doc.value = all;
    doc
}

fn statement_value(inv: &Inventory) -> Value {
    let img = &inv.image;
    let mut subject =
        vec![json!({"name": format!("{}.rootfs.tar", img.name), "digest": {"sha256": img.rootfs_sha256}})];
    if let Some(o) = &img.oci {
        subject.push(json!({"name": img.reference, "digest": {"sha256": o.manifest.trim_start_matches("sha256:")}}));
    }
    for s in inv.outputs.iter().filter(|s| s.sha256 != img.rootfs_sha256) {
        subject.push(json!({"name": s.name, "digest": {"sha256": s.sha256}}));
    }
    let mut deps = vec![
        dep(&format!("file:{}", img.recipe.path), &img.recipe.sha256, "recipe", &img.name),
        dep(&format!("file:{}", inv.toolchain.file.path), &inv.toolchain.file.sha256, "toolchain", &inv.toolchain.name),
    ];
    for t in &inv.toolchain.host_tools {
        let mut d = dep(&format!("file://{}", t.path), &t.sha256, "host-tool", &inv.toolchain.name);
        d["name"] = json!(t.tool);
        d["annotations"] =
            json!({"kind": "host-tool", "toolchain": inv.toolchain.name, "field": crate::toolchain::host::FIELD});
        if let Some(v) = &t.version {
            d["annotations"]["version"] = json!(v);
        }
        deps.push(d);
    }
    let mut byproducts = Vec::new();
    for p in &inv.packages {
        if p.recipe.path != img.recipe.path {
            deps.push(dep(&format!("file:{}", p.recipe.path), &p.recipe.sha256, "recipe", &p.name));
        }
        for s in &p.sources {
            let mut d = match &s.path {
                Some(dir) => dep(&format!("file:{dir}"), &s.sha256, "local-source", &p.name),
                None => dep(&s.url, &s.sha256, "source", &p.name),
            };
            d["name"] = json!(s.file);
            deps.push(d);
        }
        for x in &p.patches {
            deps.push(dep(&format!("file:{}", x.path), &x.sha256, "patch", &p.name));
        }
        for x in &p.files {
            deps.push(dep(&format!("file:{}", x.path), &x.sha256, "file", &p.name));
        }
        if let Some(a) = &p.artifact {
            byproducts.push(json!({
                "name": format!("artifact:{}", p.name),
                "digest": {"sha256": a},
                "annotations": {"role": match p.role { Role::Runtime => "runtime", Role::Build => "build", Role::Toolchain => "toolchain" }},
            }));
        }
    }
    let b = &inv.build;
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subject,
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "recipe": img.recipe.path,
                    "toolchain": inv.toolchain.name,
                    "reference": img.reference,
                    "formats": b.formats,
                    "layers": b.layers,
                    "compression": b.compression,
                    "source_date_epoch": img.source_date_epoch,
                },
                "internalParameters": {
                    "sandbox": b.sandboxed,
                    "target": inv.toolchain.target,
                    "toolchain_digest": inv.toolchain.digest,
                },
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"compose": b.compose_version}},
                "byproducts": byproducts,
            },
        },
    })
}

fn dep(uri: &str, sha256: &str, kind: &str, package: &str) -> Value {
    json!({"uri": uri, "digest": {"sha256": sha256}, "annotations": {"kind": kind, "package": package}})
}
