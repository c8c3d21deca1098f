//! The SPDX 2.3 JSON document. The image is a CONTAINER package that CONTAINS its packages, each of
//! which CONTAINS its files (with SHA1 and SHA256); files compose generated (skeleton, accounts) are
//! contained by the image itself. Build-time inputs (toolchain members, build-only dependencies) are
//! packages the image does not contain, linked by BUILD_DEPENDENCY_OF.

use std::collections::BTreeMap;

use crate::digest::{Sha1, Sha256};
use serde::Serialize;
use serde_json::{Value, json};

use super::stream::Doc;
use super::{FileFacts, FileKind, Inventory, PackageFacts, Role};
use crate::export::rfc3339;

pub const NAMESPACE_BASE: &str = "https://compose.invalid/spdx";

/// A relationship: (element, type, related element); sorted, they give the document's order.
type Rel = (String, &'static str, String);

pub fn document(inv: &Inventory) -> Doc<'_> {
    let img = &inv.image;
    let mut doc = Doc::new();
    let mut packages = vec![image_package(inv)];
    let mut relationships: Vec<Rel> = vec![rel("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image")];
    let mut by_owner: BTreeMap<&str, Vec<&FileFacts>> = BTreeMap::new();
    for f in &inv.files {
        if let FileKind::File { .. } = f.kind {
            by_owner.entry(f.owner.as_str()).or_default().push(f);
        }
    }
    let files = doc.list("files", |w| inv.files.iter().filter_map(file).try_for_each(|f| w.push(&f)));
    for p in &inv.packages {
        let own = by_owner.remove(p.name.as_str()).unwrap_or_default();
        packages.push(package(p, &own));
        let id = package_id(&p.name);
        if p.role == Role::Runtime {
            relationships.push(rel("SPDXRef-Image", "CONTAINS", &id));
            for f in &own {
                relationships.push(rel(&id, "CONTAINS", &file_id(&f.path)));
            }
        }
        for (n, s) in p.sources.iter().enumerate().skip(1) {
            let sid = format!("{}-{n}", source_id(&p.name));
            packages.push(json!({
                "SPDXID": sid,
                "name": s.file,
                "versionInfo": p.version,
                "downloadLocation": s.download_url().unwrap_or("NOASSERTION"),
                "packageFileName": s.file,
                "checksums": [{"algorithm": "SHA256", "checksumValue": s.sha256}],
                "filesAnalyzed": false,
                "primaryPackagePurpose": "SOURCE",
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": "NOASSERTION",
                "copyrightText": "NOASSERTION",
            }));
            if let Some(dir) = &s.path {
                packages.last_mut().expect("pushed")["comment"] = json!(local_comment(dir, &s.sha256));
            }
            relationships.push(rel(&id, "GENERATED_FROM", &sid));
        }
        for d in &p.runtime_deps {
            relationships.push(rel(&id, "DEPENDS_ON", &package_id(d)));
        }
        for d in &p.build_deps {
            relationships.push(rel(&package_id(d), "BUILD_DEPENDENCY_OF", &id));
        }
        if p.role != Role::Toolchain {
            for t in inv.packages.iter().filter(|t| t.role == Role::Toolchain) {
                relationships.push(rel(&package_id(&t.name), "BUILD_DEPENDENCY_OF", &id));
            }
        }
    }
    // Generated files (skeleton, accounts) belong to the image itself.
    for f in by_owner.into_values().flatten() {
        relationships.push(rel("SPDXRef-Image", "CONTAINS", &file_id(&f.path)));
    }
    relationships.sort();
    relationships.dedup();
    let relationships = doc.list("relationships", move |w| {
        relationships.iter().try_for_each(|(a, kind, b)| {
            w.push(&Relationship { related_spdx_element: b, relationship_type: kind, spdx_element_id: a })
        })
    });
    let licenses = inv.packages.iter().map(|p| p.license.as_str()).chain(img.license.as_deref());
    let extracted = extracted_licensing_infos(licenses);
    doc.value = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}-{}", img.name, img.version),
        "documentNamespace": format!("{NAMESPACE_BASE}/{}-{}-sha256-{}", img.name, img.version, img.rootfs_sha256),
        "creationInfo": {
            "created": rfc3339(img.source_date_epoch),
            "creators": [format!("Tool: compose-{}", inv.build.compose_version)],
        },
        "packages": packages,
        "files": files,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        doc.value["hasExtractedLicensingInfos"] = json!(extracted);
    }
    doc
}

/// SPDX 2.3 requires every `LicenseRef-` id an expression uses to be declared in the document: one
/// entry per id (sorted), whose text points at the package's sources, where the license text is.
fn extracted_licensing_infos<'a>(licenses: impl Iterator<Item = &'a str>) -> Vec<Value> {
    let mut ids: Vec<&str> = licenses
        .flat_map(|l| l.split(|c: char| c.is_whitespace() || c == '(' || c == ')'))
        .filter(|t| t.starts_with("LicenseRef-"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.iter()
        .map(|id| {
            json!({
                "licenseId": id,
                "name": id.trim_start_matches("LicenseRef-"),
                "extractedText": format!("{id}: not on the SPDX License List; declared by the package recipe \
                                          ([package].license), the text is in the package's sources"),
            })
        })
        .collect()
}

fn image_package(inv: &Inventory) -> Value {
    let img = &inv.image;
    let sha1s: Vec<&str> = inv
        .files
        .iter()
        .filter_map(|f| match &f.kind {
            FileKind::File { sha1, .. } => Some(sha1.as_str()),
            _ => None,
        })
        .collect();
    let mut v = json!({
        "SPDXID": "SPDXRef-Image",
        "name": img.name,
        "versionInfo": img.version,
        "downloadLocation": "NOASSERTION",
        "packageFileName": format!("{}.tar", img.name),
        "checksums": [{"algorithm": "SHA256", "checksumValue": img.rootfs_sha256}],
        "filesAnalyzed": true,
        "packageVerificationCode": {"packageVerificationCodeValue": verification_code(&sha1s)},
        "primaryPackagePurpose": "CONTAINER",
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": img.license.clone().unwrap_or_else(|| "NONE".into()),
        "copyrightText": "NOASSERTION",
        "sourceInfo": format!("built by compose from {} (sha256 {})", img.recipe.path, img.recipe.sha256),
    });
    if !img.description.is_empty() {
        v["description"] = json!(img.description);
    }
    if let Some(o) = &img.oci {
        let (name, tag) = img.reference.rsplit_once(':').unwrap_or((&img.reference, "latest"));
        let name = name.rsplit('/').next().unwrap_or(name);
        let purl = format!("pkg:oci/{name}@{}?tag={tag}", o.manifest.replace(':', "%3A"));
        v["externalRefs"] =
            json!([{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}]);
    }
    v
}

/// A local source in words: SPDX has no field for a directory of the project.
fn local_comment(dir: &str, sha256: &str) -> String {
    format!("local source directory {dir} (tree sha256 {sha256}: the sha256 of its deterministic tar, docs/recipes.md)")
}

fn package(p: &PackageFacts, own: &[&FileFacts]) -> Value {
    let sha1s: Vec<&str> = own
        .iter()
        .filter_map(|f| match &f.kind {
            FileKind::File { sha1, .. } => Some(sha1.as_str()),
            _ => None,
        })
        .collect();
    let analyzed = p.role == Role::Runtime && !sha1s.is_empty();
    let mut info = format!("built by compose from recipe {} (sha256 {})", p.recipe.path, p.recipe.sha256);
    for s in &p.sources {
        match &s.path {
            Some(dir) => info.push_str(&format!("; {}", local_comment(dir, &s.sha256))),
            None => info.push_str(&format!("; source {} (sha256 {}) from {}", s.file, s.sha256, s.url)),
        }
    }
    for x in &p.patches {
        info.push_str(&format!("; patch {} (sha256 {})", x.path, x.sha256));
    }
    for x in &p.files {
        info.push_str(&format!("; file {} (sha256 {})", x.path, x.sha256));
    }
    let purpose = match p.role {
        Role::Runtime if own.iter().any(|f| is_program(f)) => "APPLICATION",
        Role::Runtime => "LIBRARY",
        Role::Build | Role::Toolchain => "LIBRARY",
    };
    let mut refs =
        vec![json!({"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl()})];
    if let Some(c) = &p.cpe {
        refs.push(json!({"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": c}));
    }
    let mut v = json!({
        "SPDXID": package_id(&p.name),
        "name": p.name,
        "versionInfo": p.version,
        "downloadLocation": p.sources.first().and_then(|s| s.download_url()).unwrap_or("NOASSERTION"),
        "filesAnalyzed": analyzed,
        "primaryPackagePurpose": purpose,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": p.license,
        "copyrightText": "NOASSERTION",
        "sourceInfo": info,
        "externalRefs": refs,
        "comment": match p.role {
            Role::Runtime => "in the image",
            Role::Build => "build-time input: built to build the image's packages, not in the image",
            Role::Toolchain => "build-time input: toolchain member, not in the image (static binaries carry its libc)",
        },
    });
    if let Some(s) = p.sources.first() {
        v["packageFileName"] = json!(s.file);
        v["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": s.sha256}]);
    }
    if !p.homepage.is_empty() {
        v["homepage"] = json!(p.homepage);
    }
    if !p.description.is_empty() {
        v["description"] = json!(p.description);
    }
    if analyzed {
        v["packageVerificationCode"] = json!({"packageVerificationCodeValue": verification_code(&sha1s)});
    }
    v
}

fn is_program(f: &FileFacts) -> bool {
    f.mode & 0o111 != 0 && ["/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/"].iter().any(|d| f.path.starts_with(d))
}

/// Typed elements of the long arrays; fields in the sorted order the whole document uses.
#[derive(Serialize)]
struct File<'a> {
    #[serde(rename = "SPDXID")]
    id: String,
    checksums: [Checksum<'a>; 2],
    #[serde(rename = "copyrightText")]
    copyright_text: &'static str,
    #[serde(rename = "fileName")]
    file_name: String,
    #[serde(rename = "licenseConcluded")]
    license_concluded: &'static str,
}

#[derive(Serialize)]
struct Checksum<'a> {
    algorithm: &'static str,
    #[serde(rename = "checksumValue")]
    checksum_value: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship<'a> {
    related_spdx_element: &'a str,
    relationship_type: &'a str,
    spdx_element_id: &'a str,
}

/// A regular file's SPDX entry; `None` for other entries.
fn file(f: &FileFacts) -> Option<File<'_>> {
    let FileKind::File { sha256, sha1, .. } = &f.kind else { return None };
    Some(File {
        id: file_id(&f.path),
        checksums: [
            Checksum { algorithm: "SHA1", checksum_value: sha1 },
            Checksum { algorithm: "SHA256", checksum_value: sha256 },
        ],
        copyright_text: "NOASSERTION",
        file_name: format!(".{}", f.path),
        license_concluded: "NOASSERTION",
    })
}

fn rel(a: &str, kind: &'static str, b: &str) -> Rel {
    (a.to_string(), kind, b.to_string())
}

/// SPDX ids allow letters, digits, `.` and `-` only.
fn id_part(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect()
}

pub fn package_id(name: &str) -> String {
    format!("SPDXRef-Package-{}", id_part(name))
}

fn source_id(name: &str) -> String {
    format!("SPDXRef-Source-{}", id_part(name))
}

fn file_id(path: &str) -> String {
    format!("SPDXRef-File-{}", &Sha256::hex_of(path.as_bytes())[..16])
}

/// SPDX 2.3 §7.9: SHA1 over the sorted, concatenated SHA1s of the package's files.
pub fn verification_code(sha1s: &[&str]) -> String {
    let mut v: Vec<&str> = sha1s.to_vec();
    v.sort();
    Sha1::hex_of(v.concat().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_code_sorts_before_hashing() {
        let a = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        let b = "0000000000000000000000000000000000000000";
        assert_eq!(verification_code(&[a, b]), verification_code(&[b, a]));
        // No files: the SHA1 of nothing.
        assert_eq!(verification_code(&[]), a);
    }

    #[test]
    fn every_license_ref_is_declared_once() {
        let infos = extracted_licensing_infos(
            ["MIT", "(LicenseRef-tz-public-domain AND MPL-2.0)", "LicenseRef-b OR LicenseRef-tz-public-domain"]
                .into_iter(),
        );
        let ids: Vec<&str> = infos.iter().map(|v| v["licenseId"].as_str().unwrap()).collect();
        assert_eq!(ids, ["LicenseRef-b", "LicenseRef-tz-public-domain"]);
        assert!(infos.iter().all(|v| !v["extractedText"].as_str().unwrap().is_empty()));
        assert!(extracted_licensing_infos(["MIT AND Zlib"].into_iter()).is_empty());
    }

    #[test]
    fn ids_are_spdx_safe() {
        assert_eq!(package_id("linux_headers+x"), "SPDXRef-Package-linux-headers-x");
        assert!(file_id("/bin/sh").starts_with("SPDXRef-File-"));
    }
}
