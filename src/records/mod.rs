//! Audit records written beside every image: the file manifest, an SPDX 2.3 and a CycloneDX 1.6 SBOM,
//! and an in-toto Statement with a SLSA provenance v1 predicate (docs/records.md).
//!
//! The command layer gathers what the build knew into one `Inventory` (`Inventory::collect`); each
//! document is a pure function of it, so the same inputs give the same bytes.

mod collect;
mod cyclonedx;
pub mod legal;
mod manifest;
mod provenance;
mod spdx;
mod stream;

pub use collect::{BuildFacts, CollectRequest, collect, files, packages, project_root, toolchain_facts};
pub use cyclonedx::bom_ref;

use std::path::{Path, PathBuf};

use crate::export::ExportError;

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("cannot {op} `{}`", path.display())]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("cannot identify the host compiler for the provenance")]
    HostCompiler(#[source] crate::toolchain::ToolchainError),
}

/// Everything the records say, gathered once.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub image: ImageFacts,
    /// Every package of the build graph, image contents first, then build-time inputs; by name within each.
    pub packages: Vec<PackageFacts>,
    pub toolchain: ToolchainFacts,
    pub build: BuildFacts,
    /// Every entry of the rootfs, sorted by path.
    pub files: Vec<FileFacts>,
    /// The written image files (tar, archives) with their sha256, for the provenance subject.
    pub outputs: Vec<Subject>,
}

#[derive(Debug, Clone)]
pub struct ImageFacts {
    pub name: String,
    pub version: String,
    pub description: String,
    /// The image or package recipe, relative to the project (the recipes directory's parent).
    pub recipe: InputFile,
    /// The fully qualified reference, e.g. `docker.io/library/busybox:1.37.0`.
    pub reference: String,
    /// sha256 of the rootfs tarball (`NAME.tar`), written or not.
    pub rootfs_sha256: String,
    pub rootfs_size: u64,
    /// The SPDX expression over every package in the image.
    pub license: Option<String>,
    pub source_date_epoch: u64,
    pub oci: Option<OciDigests>,
}

#[derive(Debug, Clone)]
pub struct OciDigests {
    /// `sha256:…` of index.json, the manifest and the config (the image ID).
    pub index: String,
    pub manifest: String,
    pub config: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Its files are in the image.
    Runtime,
    /// Built only so that another package can be built (a library linked in, a build tool).
    Build,
    /// A member of the toolchain (libc, kernel headers): linked into or used by every build.
    Toolchain,
}

#[derive(Debug, Clone)]
pub struct PackageFacts {
    pub name: String,
    pub version: String,
    pub license: String,
    pub homepage: String,
    pub description: String,
    pub cpe: Option<String>,
    /// The recipe's OSV ecosystem and name (`[package] osv`).
    pub osv: Option<crate::recipe::OsvName>,
    pub role: Role,
    pub recipe: InputFile,
    /// The recipe digest build keys use (text, patches and files).
    pub recipe_digest: String,
    pub sources: Vec<SourceFacts>,
    pub patches: Vec<InputFile>,
    /// Config files and other `files` the recipe ships to its build.
    pub files: Vec<InputFile>,
    pub build_deps: Vec<String>,
    pub runtime_deps: Vec<String>,
    /// sha256 over the installed tree of the built artifact, when it was built.
    pub artifact: Option<String>,
    /// The recipe's vulnerability evidence: CVEs its applied patches fix, `not_affected` statements.
    pub vex: crate::recipe::vex::Evidence,
    /// The configuration file its build used (`[build] config`), when it was built.
    pub config: Option<crate::recipe::vex::BuildConfig>,
    /// A build-time package's: the runtime packages built against it (it is in their build sysroot),
    /// which link it statically. Empty for runtime packages and for `[package] linked = false`.
    pub linked_into: Vec<String>,
}

impl PackageFacts {
    /// `pkg:generic/NAME@VERSION?checksum=sha256:…&download_url=…` from the first source.
    pub fn purl(&self) -> String {
        let mut p = format!("pkg:generic/{}@{}", pct(&self.name), pct(&self.version));
        if let Some(s) = self.sources.first() {
            p.push_str(&format!("?checksum=sha256:{}", s.sha256));
            if let Some(url) = s.download_url() {
                p.push_str(&format!("&download_url={}", pct(url)));
            }
        }
        p
    }
}

/// Percent-encodes what a purl component may not hold literally.
fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug, Clone)]
pub struct SourceFacts {
    /// The upstream file name; for a local source, `DIRNAME-tree.tar`.
    pub file: String,
    /// The download URL; for a local source, `path:DIR` as its recipe wrote it.
    pub url: String,
    /// The file's sha256; for a local source, its tree digest (`source::tree`).
    pub sha256: String,
    /// A local source's directory, relative to the project root like every path in the records.
    pub path: Option<String>,
}

impl SourceFacts {
    /// Where the source can be downloaded: its URL, or nothing for a local directory (SPDX's
    /// `NOASSERTION`).
    pub fn download_url(&self) -> Option<&str> {
        self.path.is_none().then_some(self.url.as_str())
    }
}

/// A file input named relative to the project or its recipe, with its digest.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct ToolchainFacts {
    pub name: String,
    pub target: String,
    pub file: InputFile,
    /// The toolchain digest build keys use.
    pub digest: String,
    /// The host programs that wrote the artifacts and the image (`toolchain::host`).
    pub host_tools: Vec<crate::toolchain::host::HostTool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    Dir,
    File { size: u64, sha256: String, sha1: String },
    Symlink { target: String },
}

#[derive(Debug, Clone)]
pub struct FileFacts {
    /// Absolute: `/bin/busybox`.
    pub path: String,
    pub kind: FileKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// A package name, or `skeleton` / `accounts`.
    pub owner: String,
}

#[derive(Debug, Clone)]
pub struct Subject {
    pub name: String,
    pub sha256: String,
}

/// A record written.
#[derive(Debug, Clone)]
pub struct RecordFile {
    pub path: PathBuf,
    pub size: u64,
}

/// The record files for image `name` in `dir`.
pub fn paths(dir: &Path, name: &str) -> [PathBuf; 4] {
    ["files.json", "spdx.json", "cdx.json", "provenance.json"].map(|s| dir.join(format!("{name}.{s}")))
}

/// Writes the four records into `dir`, each to a temp file renamed into place.
pub fn write(inv: &Inventory, dir: &Path) -> Result<Vec<RecordFile>, RecordsError> {
    write_docs(inv, dir, &[manifest::document, spdx::document, cyclonedx::document, provenance::statement])
}

/// Writes one platform's file manifest and SBOMs of a build for several platforms (named after
/// `inv.image.name`, which carries the architecture); `write_provenance` writes the one provenance.
pub fn write_platform(inv: &Inventory, dir: &Path) -> Result<Vec<RecordFile>, RecordsError> {
    write_docs(inv, dir, &[manifest::document, spdx::document, cyclonedx::document])
}

/// `makers`' documents, in `paths` order, one thread each: the three with a line per file are of similar
/// size.
fn write_docs(
    inv: &Inventory,
    dir: &Path,
    makers: &[fn(&Inventory) -> stream::Doc<'_>],
) -> Result<Vec<RecordFile>, RecordsError> {
    std::thread::scope(|s| {
        let jobs: Vec<_> = makers
            .iter()
            .zip(paths(dir, &inv.image.name))
            .map(|(make, path)| s.spawn(move || stream::write(&make(inv), &path)))
            .collect();
        jobs.into_iter().map(|j| j.join().expect("writing a record does not panic")).collect()
    })
}

/// The provenance of a build for several platforms, `NAME.provenance.json`: every platform's subjects.
pub fn write_provenance(invs: &[Inventory], dir: &Path, name: &str) -> Result<RecordFile, RecordsError> {
    stream::write(&provenance::statement_all(invs), &paths(dir, name)[3])
}

/// A name-based, deterministic UUID (version 5 layout) from `seed`.
pub(crate) fn uuid_from(seed: &str) -> String {
    let mut b: [u8; 16] = crate::digest::Sha256::bytes_of(seed.as_bytes())[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Whether `package` owns an executable regular file among `files`: it ships a program.
pub(crate) fn ships_program(files: &[FileFacts], package: &str) -> bool {
    files.iter().any(|f| f.owner == package && f.mode & 0o111 != 0 && matches!(f.kind, FileKind::File { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_come_out_with_sorted_keys() {
        let v = serde_json::json!({"b": {"z": 1, "a": 2}, "a": [{"y": 1, "x": 2}]});
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"a":[{"x":2,"y":1}],"b":{"a":2,"z":1}}"#);
    }

    #[test]
    fn uuid_is_stable_and_well_formed() {
        let u = uuid_from("sha256:abc");
        assert_eq!(u, uuid_from("sha256:abc"));
        assert_ne!(u, uuid_from("sha256:abd"));
        let parts: Vec<&str> = u.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('5'));
        assert!("89ab".contains(&parts[3][..1]));
    }

    #[test]
    fn purl_encodes_the_download_url() {
        let p = PackageFacts {
            name: "busybox".into(),
            version: "1.37.0".into(),
            license: "GPL-2.0-only".into(),
            homepage: String::new(),
            description: String::new(),
            cpe: None,
            osv: None,
            role: Role::Runtime,
            recipe: InputFile { path: "recipes/busybox.toml".into(), sha256: "0".into() },
            recipe_digest: "0".into(),
            sources: vec![SourceFacts {
                file: "b.tar.bz2".into(),
                url: "https://x.org/b 1.tar".into(),
                sha256: "ab".into(),
                path: None,
            }],
            patches: vec![],
            files: vec![],
            build_deps: vec![],
            runtime_deps: vec![],
            artifact: None,
            vex: Default::default(),
            config: None,
            linked_into: vec![],
        };
        assert_eq!(
            p.purl(),
            "pkg:generic/busybox@1.37.0?checksum=sha256:ab&download_url=https%3A%2F%2Fx.org%2Fb%201.tar"
        );
        // A local directory has no download URL.
        let mut local = p;
        local.sources[0].url = "path:src".into();
        local.sources[0].path = Some("recipes/src".into());
        assert_eq!(local.purl(), "pkg:generic/busybox@1.37.0?checksum=sha256:ab");
    }
}
