//! The CycloneDX 1.6 JSON document. `metadata.component` is the image (a container); `components`
//! holds what is in it (each package with its files as nested `file` components, plus the files compose
//! generated); build-time inputs (toolchain, build-only dependencies) are kept apart in `formulation`.

use serde::Serialize;
use serde_json::{Value, json};

use super::stream::Doc;
use super::{FileFacts, FileKind, Inventory, PackageFacts, Role};
use crate::export::rfc3339;

pub fn document(inv: &Inventory) -> Doc<'_> {
    let img = &inv.image;
    let mut doc = Doc::new();
    let mut image = json!({
        "type": "container",
        "bom-ref": "image",
        "name": img.name,
        "version": img.version,
        "hashes": [{"alg": "SHA-256", "content": img.rootfs_sha256}],
        "properties": [
            prop("compose:recipe", &format!("{} sha256:{}", img.recipe.path, img.recipe.sha256)),
            prop("compose:reference", &img.reference),
        ],
    });
    if !img.description.is_empty() {
        image["description"] = json!(img.description);
    }
    if let Some(l) = &img.license {
        image["licenses"] = licenses(l);
    }
    if let Some(o) = &img.oci {
        image["properties"].as_array_mut().expect("array").extend([
            prop("oci:manifest", &o.manifest),
            prop("oci:config", &o.config),
            prop("oci:index", &o.index),
        ]);
    }
    let mut components = Vec::new();
    let mut building = Vec::new();
    let mut depends = vec![json!({
        "ref": "image",
        "dependsOn": inv.packages.iter().filter(|p| p.role == Role::Runtime).map(|p| bom_ref(&p.name)).collect::<Vec<_>>(),
    })];
    for p in &inv.packages {
        if p.role == Role::Runtime {
            let mut c = component(p, program(inv, &p.name));
            if inv.files.iter().any(|f| f.owner == p.name && matches!(f.kind, FileKind::File { .. })) {
                let name = p.name.clone();
                c["components"] = doc.list(&format!("files:{}", p.name), move |w| {
                    inv.files.iter().filter(|f| f.owner == name).filter_map(file).try_for_each(|c| w.push(&c))
                });
            }
            components.push(c);
            depends.push(json!({"ref": bom_ref(&p.name), "dependsOn": p.runtime_deps.iter().map(|d| bom_ref(d)).collect::<Vec<_>>()}));
        } else {
            let mut c = component(p, false);
            c["scope"] = json!("excluded");
            building.push(c);
        }
    }
    let generated: Vec<Value> = inv
        .files
        .iter()
        .filter(|f| !inv.packages.iter().any(|p| p.role == Role::Runtime && p.name == f.owner))
        .filter_map(|f| file(f).map(|c| serde_json::to_value(c).expect("serialises")))
        .collect();
    components.extend(generated);
    let mut value = json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", super::uuid_from(&format!("cyclonedx:{}", img.rootfs_sha256))),
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(img.source_date_epoch),
            "lifecycles": [{"phase": "build"}],
            "tools": {"components": [{"type": "application", "name": "compose", "version": inv.build.compose_version}]},
            "component": image,
        },
        "components": components,
        "dependencies": depends,
    });
    if !building.is_empty() {
        building.push(json!({
            "type": "file",
            "bom-ref": "toolchain",
            "name": inv.toolchain.file.path,
            "description": format!("toolchain `{}` for {}", inv.toolchain.name, inv.toolchain.target),
            "hashes": [{"alg": "SHA-256", "content": inv.toolchain.file.sha256}],
            "scope": "excluded",
        }));
        value["formulation"] = json!([{"bom-ref": "formulation", "components": building}]);
    }
    doc.value = value;
    doc
}

/// Whether `package` ships an executable file.
fn program(inv: &Inventory, package: &str) -> bool {
    super::ships_program(&inv.files, package)
}

fn component(p: &PackageFacts, program: bool) -> Value {
    let kind = if program { "application" } else { "library" };
    let mut refs: Vec<Value> = p
        .sources
        .iter()
        .filter_map(|s| {
            let url = s.download_url()?;
            Some(json!({"type": "distribution", "url": url, "hashes": [{"alg": "SHA-256", "content": s.sha256}]}))
        })
        .collect();
    if !p.homepage.is_empty() {
        refs.push(json!({"type": "website", "url": p.homepage}));
    }
    let mut props = vec![
        prop("compose:recipe", &format!("{} sha256:{}", p.recipe.path, p.recipe.sha256)),
        prop("compose:recipe-digest", &p.recipe_digest),
        prop("compose:role", role_name(p.role)),
    ];
    for s in &p.sources {
        props.push(prop("compose:source", &format!("{} sha256:{}", s.file, s.sha256)));
        if let Some(dir) = &s.path {
            props.push(prop("compose:source-path", &format!("{dir} sha256:{}", s.sha256)));
        }
    }
    for f in &p.files {
        props.push(prop("compose:file", &format!("{} sha256:{}", f.path, f.sha256)));
    }
    if let Some(a) = &p.artifact {
        props.push(prop("compose:artifact-tree", &format!("sha256:{a}")));
    }
    if let Some(o) = &p.osv {
        props.push(prop("compose:osv-ecosystem", &o.ecosystem));
        props.push(prop("compose:osv-name", &o.name));
    }
    vex_properties(p, &mut props);
    let mut c = json!({
        "type": kind,
        "bom-ref": bom_ref(&p.name),
        "name": p.name,
        "version": p.version,
        "licenses": licenses(&p.license),
        "purl": p.purl(),
        "externalReferences": refs,
        "properties": props,
    });
    if !p.description.is_empty() {
        c["description"] = json!(p.description);
    }
    if let Some(cpe) = &p.cpe {
        c["cpe"] = json!(cpe);
    }
    if !p.patches.is_empty() {
        let patches: Vec<Value> = p.patches.iter().enumerate().map(|(k, x)| patch(p, k, x)).collect();
        c["pedigree"] = json!({"patches": patches});
        for x in &p.patches {
            c["properties"]
                .as_array_mut()
                .expect("array")
                .push(prop("compose:patch", &format!("{} sha256:{}", x.path, x.sha256)));
        }
    }
    c
}

/// A `pedigree.patches` entry; `resolves` lists the vulnerabilities the recipe says it fixes (`CVE:`
/// header lines, `[[vex]] status = "fixed"`): the build applied it, or there would be no image.
fn patch(p: &PackageFacts, index: usize, x: &super::InputFile) -> Value {
    let mut v = json!({"type": "unofficial", "diff": {"url": x.path}});
    let ids: Vec<&String> = p.vex.fixes.iter().filter(|f| f.index == index).flat_map(|f| &f.ids).collect();
    if !ids.is_empty() {
        v["resolves"] = ids
            .iter()
            .map(|id| json!({"type": "security", "id": id, "source": crate::vuln::report::advisory_source(id)}))
            .collect();
    }
    v
}

/// `compose:build-config` (the configuration file the build used) and one `compose:vex` per
/// `not_affected` statement, a JSON object with the outcome of checking it against that configuration
/// (`holds`: true, false with `unmet`, or null when it could not be checked), which `compose vulns`
/// reads back from the SBOM. A build-time package names the programs that link it (`compose:linked-into`).
fn vex_properties(p: &PackageFacts, props: &mut Vec<Value>) {
    use crate::recipe::vex::Check;
    if let Some(c) = &p.config {
        props.push(prop("compose:build-config", &format!("{} sha256:{}", c.path, c.sha256)));
    }
    for s in &p.vex.statements {
        let (holds, unmet) = match s.check(p.config.as_ref()) {
            Check::Holds => (json!(true), vec![]),
            Check::Unmet(u) => (json!(false), u),
            Check::Unchecked => (Value::Null, vec![]),
        };
        let v = json!({
            "id": s.id, "status": "not_affected", "justification": s.justification.as_str(), "detail": s.detail,
            "when": s.when.iter().map(|c| c.to_string()).collect::<Vec<_>>(), "holds": holds, "unmet": unmet,
        });
        props.push(prop("compose:vex", &v.to_string()));
    }
    if !p.linked_into.is_empty() {
        props.push(prop("compose:linked-into", &p.linked_into.join(" ")));
    }
}

/// A file component; fields in the sorted order the whole document uses.
#[derive(Serialize)]
struct File<'a> {
    #[serde(rename = "bom-ref")]
    bom_ref: String,
    hashes: [Hash<'a>; 2],
    name: &'a str,
    properties: [Prop<'a>; 2],
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Hash<'a> {
    alg: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct Prop<'a> {
    name: &'static str,
    value: std::borrow::Cow<'a, str>,
}

fn file(f: &FileFacts) -> Option<File<'_>> {
    let FileKind::File { sha256, sha1, .. } = &f.kind else { return None };
    Some(File {
        bom_ref: format!("file:{}", f.path),
        hashes: [Hash { alg: "SHA-1", content: sha1 }, Hash { alg: "SHA-256", content: sha256 }],
        name: &f.path,
        properties: [
            Prop { name: "compose:mode", value: format!("{:04o}", f.mode).into() },
            Prop { name: "compose:owner", value: f.owner.as_str().into() },
        ],
        kind: "file",
    })
}

/// A single SPDX id as `license.id`, anything compound as an `expression`. A lone `LicenseRef-` id is
/// not in CycloneDX's list of ids: it goes in `license.name`.
fn licenses(l: &str) -> Value {
    if l.contains(' ') || l.contains('(') {
        json!([{"expression": l}])
    } else if l.starts_with("LicenseRef-") {
        json!([{"license": {"name": l}}])
    } else {
        json!([{"license": {"id": l}}])
    }
}

/// The bom-ref of package `name`'s component (`package:NAME`): what a VEX document's `affects[].ref`
/// names.
pub fn bom_ref(name: &str) -> String {
    format!("package:{name}")
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Runtime => "runtime",
        Role::Build => "build",
        Role::Toolchain => "toolchain",
    }
}

fn prop(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}
