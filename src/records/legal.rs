//! The licence and source bundle (`compose sources bundle`): every source, patch, recipe, config file
//! and licence text that went into an image, with a manifest. What distributing GPL binaries requires:
//! the complete corresponding source, and the scripts that control its compilation (the recipes).
//!
//! Layout (a deterministic tar): `manifest.json`, `README`, `sources/PKG/FILE`, the recipes, patches and
//! files at their project paths (`recipes/busybox.toml`, `toolchains/musl.toml`), and
//! `licenses/PKG/SOURCE-FILE/PATH` for each licence file found at the top of a source archive (or in its
//! `LICENSES/` directory).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{PackageFacts, RecordsError, Role, ToolchainFacts};
use crate::export::{self, Exported};
use crate::graph::BuildGraph;
use crate::toolchain::Toolchain;

pub const FORMAT: &str = "compose-legal-v1";
const MAX_LICENSE_BYTES: u64 = 1 << 20;

pub struct LegalRequest<'a> {
    pub image: &'a str,
    pub packages: &'a [PackageFacts],
    pub toolchain: &'a ToolchainFacts,
    /// Recipe, patch and toolchain paths are relative to this directory.
    pub root: &'a Path,
    /// Where each source is, by sha256 (the verified cache).
    pub source_path: &'a dyn Fn(&str) -> PathBuf,
    pub source_date_epoch: u64,
}

/// One bundle member: its path in the bundle and where its bytes come from.
enum Member {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

pub fn write(req: &LegalRequest, out: &Path) -> Result<(Exported, Value), RecordsError> {
    let mut members: Vec<(String, Member)> = Vec::new();
    let mut packages = Vec::new();
    let tc = req.toolchain;
    members.push((tc.file.path.clone(), Member::Path(req.root.join(&tc.file.path))));
    for p in req.packages {
        let mut sources = Vec::new();
        let mut licenses = Vec::new();
        for s in &p.sources {
            let at = format!("sources/{}/{}", p.name, s.file);
            let cached = (req.source_path)(&s.sha256);
            for (path, bytes) in license_files(&cached)? {
                let sha = crate::digest::Sha256::hex_of(&bytes);
                let in_bundle = format!("licenses/{}/{}/{path}", p.name, s.file);
                licenses.push(json!({"path": in_bundle, "from": s.file, "sha256": sha}));
                members.push((in_bundle, Member::Bytes(bytes)));
            }
            sources.push(json!({"path": at, "url": s.url, "sha256": s.sha256}));
            members.push((at, Member::Path(cached)));
        }
        let inputs = |list: &[super::InputFile]| -> Vec<Value> {
            list.iter().map(|f| json!({"path": f.path, "sha256": f.sha256})).collect()
        };
        for f in p.patches.iter().chain(&p.files).chain(std::iter::once(&p.recipe)) {
            members.push((f.path.clone(), Member::Path(req.root.join(&f.path))));
        }
        packages.push(json!({
            "name": p.name,
            "version": p.version,
            "license": p.license,
            "in_image": p.role == Role::Runtime,
            "role": match p.role { Role::Runtime => "runtime", Role::Build => "build", Role::Toolchain => "toolchain" },
            "recipe": {"path": p.recipe.path, "sha256": p.recipe.sha256},
            "sources": sources,
            "patches": inputs(&p.patches),
            "files": inputs(&p.files),
            "license_files": licenses,
        }));
    }
    let manifest = json!({
        "format": FORMAT,
        "image": req.image,
        "toolchain": {"name": tc.name, "target": tc.target, "path": tc.file.path, "sha256": tc.file.sha256},
        "packages": packages,
    });
    let mut text = serde_json::to_vec_pretty(&manifest).expect("serialises");
    text.push(b'\n');
    members.push(("manifest.json".into(), Member::Bytes(text)));
    members.push(("README".into(), Member::Bytes(readme(req).into_bytes())));
    members.sort_by(|a, b| a.0.cmp(&b.0));
    members.dedup_by(|a, b| a.0 == b.0);
    let exported = write_tar(&members, out, req.source_date_epoch)?;
    Ok((exported, manifest))
}

/// The bundle of an image (`compose sources bundle`): what goes in is every package of its roots'
/// runtime closures, with the toolchain.
pub struct ImageLegal<'a> {
    pub image: &'a str,
    pub graph: Option<&'a BuildGraph>,
    pub toolchain: &'a Toolchain,
    /// Where each source is, by sha256 (the verified cache).
    pub source_path: &'a dyn Fn(&str) -> PathBuf,
    pub source_date_epoch: u64,
}

/// A bundle written, and what it holds.
#[derive(Debug, Clone)]
pub struct Bundled {
    pub file: Exported,
    pub packages: usize,
    pub sources: usize,
    pub patches: usize,
    pub license_files: usize,
    /// `(package, declared licence)` of each package with no licence file at the top of its sources.
    pub unlicensed: Vec<(String, String)>,
}

/// Collects the facts of the image's packages and toolchain, and writes their bundle to `out`.
pub fn write_image(req: &ImageLegal, out: &Path) -> Result<Bundled, RecordsError> {
    let mut contents = Vec::new();
    if let Some(g) = req.graph {
        for &root in &g.roots {
            for i in g.runtime_closure(root) {
                if !contents.contains(&i) {
                    contents.push(i);
                }
            }
        }
    }
    let packages = super::packages(req.graph, 0, &contents, req.toolchain, &HashMap::new(), &HashMap::new())?;
    let toolchain = super::toolchain_facts(req.toolchain)?;
    let root = super::project_root(req.toolchain);
    let legal = LegalRequest {
        image: req.image,
        packages: &packages,
        toolchain: &toolchain,
        root: &root,
        source_path: req.source_path,
        source_date_epoch: req.source_date_epoch,
    };
    let (file, manifest) = write(&legal, out)?;
    let listed = manifest["packages"].as_array().map(Vec::as_slice).unwrap_or_default();
    let count = |k: &str| -> usize { listed.iter().map(|p| p[k].as_array().map_or(0, Vec::len)).sum() };
    let unlicensed = listed
        .iter()
        .filter(|p| p["license_files"].as_array().is_some_and(|a| a.is_empty()))
        .map(|p| (p["name"].as_str().unwrap_or("?").to_string(), p["license"].as_str().unwrap_or("?").to_string()))
        .collect();
    Ok(Bundled {
        file,
        packages: packages.len(),
        sources: count("sources"),
        patches: count("patches"),
        license_files: count("license_files"),
        unlicensed,
    })
}

fn readme(req: &LegalRequest) -> String {
    format!(
        "Corresponding source for the container image `{}`, built by compose.\n\n\
         manifest.json  every package: licence, whether its files are in the image, sources (url, sha256), patches,\n\
         \x20              files, recipe, and the licence texts found in its sources\n\
         sources/       the source archives, byte for byte as pinned by sha256 in the recipes\n\
         recipes/       the recipes (build scripts), patches and config files\n\
         toolchains/    the toolchain definition\n\
         licenses/      licence texts from each source archive\n\n\
         To rebuild: put recipes/ and toolchains/ in a compose project, import the sources\n\
         (`compose build --mirror sources/PKG` or `compose sources import`), then `compose build`.\n",
        req.image
    )
}

/// Whether an archive member (path without the top directory) is a licence text.
pub fn is_license_path(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [name] => {
            let up = name.to_ascii_uppercase();
            ["COPYING", "LICENSE", "LICENCE", "COPYRIGHT", "NOTICE", "UNLICENSE"].iter().any(|p| up.starts_with(p))
        }
        [dir, ..] => dir.eq_ignore_ascii_case("LICENSES"),
        [] => false,
    }
}

/// The licence texts at the top of an archive (under its single top directory), sorted by path.
fn license_files(archive: &Path) -> Result<Vec<(String, Vec<u8>)>, RecordsError> {
    let io = |source| RecordsError::Io { op: "read the licence files of", path: archive.to_path_buf(), source };
    let reader = crate::source::unpack::open(archive).map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let mut a = tar::Archive::new(reader);
    let mut found = Vec::new();
    for e in a.entries().map_err(io)? {
        let mut e = e.map_err(io)?;
        if e.header().entry_type() != tar::EntryType::Regular || e.size() > MAX_LICENSE_BYTES {
            continue;
        }
        let path = e.path().map_err(io)?.to_string_lossy().into_owned();
        let rel = path.trim_start_matches("./").split_once('/').map(|(_, r)| r.to_string()).unwrap_or(path.clone());
        if is_license_path(&rel) && !rel.contains("..") {
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).map_err(io)?;
            found.push((rel, bytes));
        }
    }
    found.sort();
    Ok(found)
}

fn write_tar(members: &[(String, Member)], out: &Path, epoch: u64) -> Result<Exported, RecordsError> {
    let tmp = export::temp_beside(out)?;
    let (sha256, size) = append_all(members, tmp.as_file(), out, epoch)?;
    export::publish(tmp, out)?;
    Ok(Exported { path: out.to_path_buf(), size, sha256 })
}

fn append_all(
    members: &[(String, Member)],
    file: &std::fs::File,
    out: &Path,
    epoch: u64,
) -> Result<(String, u64), RecordsError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| RecordsError::Io { op, path, source }
    };
    let hashing = crate::export::tar::HashingWriter::new(std::io::BufWriter::new(file));
    let mut b = tar::Builder::new(hashing);
    for (name, m) in members {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(epoch);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        match m {
            Member::Bytes(bytes) => {
                h.set_size(bytes.len() as u64);
                b.append_data(&mut h, name, bytes.as_slice()).map_err(io("write", out))?;
            }
            Member::Path(p) => {
                let f = std::fs::File::open(p).map_err(io("read", p))?;
                h.set_size(f.metadata().map_err(io("stat", p))?.len());
                b.append_data(&mut h, name, std::io::BufReader::with_capacity(256 << 10, f))
                    .map_err(io("write", out))?;
            }
        }
    }
    let mut hashing = b.into_inner().map_err(io("write", out))?;
    hashing.flush().map_err(io("write", out))?;
    let (sha256, size) = (hashing.hex_digest(), hashing.len);
    hashing.inner.into_inner().map_err(|e| io("write", out)(e.into_error()))?;
    Ok((sha256, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_paths() {
        for p in ["COPYING", "LICENSE.txt", "License", "COPYRIGHT", "LICENSES/preferred/GPL-2.0", "COPYING.LIB"] {
            assert!(is_license_path(p), "{p}");
        }
        for p in ["src/COPYING", "README", "doc/LICENSE", ""] {
            assert!(!is_license_path(p), "{p}");
        }
    }
}
