//! The image half of `compose build`: what the recipe file asks for (a package's image or an image
//! recipe's), the output formats, and writing them from the assembled rootfs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use compose::export::memo::{DigestMemo, Origin};
use compose::export::{self, Compression, ImageMeta, Layering, Outputs, Reference};
use compose::recipe::{ImageConfig, Recipe, RecipeFile};
use compose::records::{OciDigests, Subject};
use compose::rootfs::RootfsTree;

use super::{Failure, exit};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The rootfs as a plain tar for `docker import` / `podman import`.
    Tar,
    /// An OCI image layout directory.
    Oci,
    /// The OCI layout as a tar, with Docker's manifest.json: `podman load` and `docker load` take it.
    OciArchive,
    /// `docker save`'s format, uncompressed layers.
    DockerArchive,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayersArg {
    Single,
    PerPackage,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    Gzip,
    Zstd,
}

#[derive(Args)]
pub struct ImageArgs {
    /// Output directory: NAME.tar, NAME.oci/, NAME.oci.tar, NAME.docker.tar.
    #[arg(short = 'o', long, default_value = "out")]
    pub out_dir: PathBuf,
    /// What to write, comma-separated or repeated.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["tar", "oci-archive"])]
    pub format: Vec<Format>,
    /// Image name and tag, e.g. `tools:1.0` or `registry.example/team/tools:1.0`. Default: NAME:VERSION.
    #[arg(long)]
    pub tag: Option<String>,
    /// One layer, or one per package (images sharing packages share those layers).
    #[arg(long, value_enum, default_value = "single")]
    pub layers: LayersArg,
    /// The most layers `--layers per-package` makes; the smallest packages share the last one.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(3..=127))]
    pub max_layers: u16,
    /// Layer compression (zstd needs podman or containerd; Docker's classic store reads gzip only).
    #[arg(long, value_enum, default_value = "gzip")]
    pub compression: CompressionArg,
}

/// What the recipe file asks to be built and how its image runs.
pub struct ImageSpec {
    pub name: String,
    pub version: String,
    pub description: String,
    pub recipe: PathBuf,
    /// Root package recipes.
    pub roots: Vec<PathBuf>,
    pub skeleton: bool,
    pub source: Option<String>,
    pub config: ImageConfig,
    pub digest: String,
}

impl ImageSpec {
    pub fn from_file(file: RecipeFile, recipes_dir: &Path) -> Result<ImageSpec, Failure> {
        Ok(match file {
            RecipeFile::Package(r) => ImageSpec {
                source: r.sources.first().map(|s| s.url.clone()),
                name: r.name,
                version: r.version,
                description: r.description,
                roots: vec![r.path.clone()],
                recipe: r.path,
                skeleton: true,
                config: r.config,
                digest: r.digest,
            },
            RecipeFile::Image(i) => {
                let mut roots = Vec::new();
                for (n, p) in i.packages.iter().enumerate() {
                    let path = recipes_dir.join(format!("{p}.toml"));
                    if !path.is_file() {
                        return Err(Failure::msg(
                            exit::GRAPH,
                            format!(
                                "{}: field `image.packages[{n}]`: image `{}` lists `{p}`, but there is no recipe `{}`",
                                i.path.display(),
                                i.name,
                                path.display()
                            ),
                            Some(format!("write `{p}.toml` beside the image recipe, or remove it from `packages`")),
                        ));
                    }
                    roots.push(path);
                }
                ImageSpec {
                    name: i.name,
                    version: i.version,
                    description: i.description,
                    recipe: i.path,
                    roots,
                    skeleton: i.skeleton,
                    source: i.source,
                    config: i.config,
                    digest: i.digest,
                }
            }
        })
    }

    /// The reference from `--tag`, else NAME:VERSION (the version made into a valid tag).
    pub fn reference(&self, tag: Option<&str>) -> Result<Reference, Failure> {
        let default_tag: String = self
            .version
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' })
            .collect();
        let s = tag.map(str::to_string).unwrap_or_else(|| self.name.clone());
        Reference::parse(&s, &default_tag).map_err(|m| {
            Failure::msg(
                exit::USAGE,
                format!("--tag: {m}"),
                Some("give NAME or NAME:TAG, e.g. `--tag tools:1.0` (lowercase name; tag of [A-Za-z0-9_.-])".into()),
            )
        })
    }
}

/// The SPDX expression for a set of packages' licences: each distinct one, AND-ed, compound ones in
/// parentheses.
pub fn combined_license<'a>(licenses: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut set: Vec<&str> = licenses.into_iter().map(str::trim).filter(|l| !l.is_empty()).collect();
    set.sort();
    set.dedup();
    match set.len() {
        0 => None,
        1 => Some(set[0].to_string()),
        _ => Some(
            set.iter()
                .map(|l| if l.contains(' ') && !l.starts_with('(') { format!("({l})") } else { l.to_string() })
                .collect::<Vec<_>>()
                .join(" AND "),
        ),
    }
}

pub fn architecture(target: &str) -> String {
    let arch = target.split('-').next().unwrap_or(target);
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i486" | "i586" | "i686" => "386",
        "armv7" | "arm" => "arm",
        other => other,
    }
    .to_string()
}

pub struct Written {
    pub lines: Vec<String>,
    pub tar: Option<PathBuf>,
    /// sha256 and size of the rootfs tarball, when it was written.
    pub rootfs: Option<(String, u64)>,
    pub oci: Option<OciDigests>,
    /// Every image file written, for the provenance subject.
    pub outputs: Vec<Subject>,
}

/// Writes every requested format for the assembled `tree`; `memo` may hold the rootfs tar's digest.
#[allow(clippy::too_many_arguments)]
pub fn export(
    args: &ImageArgs,
    spec: &ImageSpec,
    reference: Reference,
    tree: &RootfsTree,
    packages: &[&Recipe],
    target: &str,
    source_date_epoch: u64,
    memo: Option<(&DigestMemo, &[Origin])>,
) -> Result<Written, Failure> {
    if let Err(e) = export::check_config(tree, &spec.config) {
        let hint = Some(e.hint.clone());
        return Err(Failure::msg(exit::RECIPE, format!("{}: {e}", spec.recipe.display()), hint));
    }
    let name = &spec.name;
    let out = |suffix: &str| args.out_dir.join(format!("{name}{suffix}"));
    let has = |f: Format| args.format.contains(&f);
    let mut w = Written { lines: Vec::new(), tar: None, rootfs: None, oci: None, outputs: Vec::new() };
    let subject = |e: &export::Exported| Subject {
        name: e.path.file_name().unwrap_or_default().to_string_lossy().into_owned(),
        sha256: e.sha256.clone(),
    };
    if has(Format::Tar) {
        let e = match memo {
            Some((m, origins)) => export::memo::write_tar(tree, &out(".tar"), source_date_epoch, m, origins),
            None => export::tar::write(tree, &out(".tar"), source_date_epoch),
        };
        let e = e.map_err(|e| Failure::new(exit::EXPORT, e))?;
        w.lines.push(format!("rootfs tar   {}  {} bytes  sha256:{}", e.path.display(), e.size, e.sha256));
        w.outputs.push(subject(&e));
        w.rootfs = Some((e.sha256, e.size));
        w.tar = Some(e.path);
    }
    let outputs = Outputs {
        layout: has(Format::Oci).then(|| out(".oci")),
        oci_archive: has(Format::OciArchive).then(|| out(".oci.tar")),
        docker_archive: has(Format::DockerArchive).then(|| out(".docker.tar")),
    };
    if outputs.layout.is_none() && outputs.oci_archive.is_none() && outputs.docker_archive.is_none() {
        return Ok(w);
    }
    let meta = ImageMeta {
        annotations: annotations(spec, packages, source_date_epoch),
        reference,
        config: spec.config.clone(),
        architecture: architecture(target),
        created_by: format!(
            "compose {} build {}",
            env!("CARGO_PKG_VERSION"),
            spec.recipe.file_name().unwrap_or_default().to_string_lossy()
        ),
        source_date_epoch,
    };
    let names: Vec<String> = packages.iter().map(|r| r.name.clone()).collect();
    let req = export::ImageRequest {
        tree,
        meta: &meta,
        layering: match args.layers {
            LayersArg::Single => Layering::Single,
            LayersArg::PerPackage => Layering::PerPackage { max_layers: args.max_layers.into() },
        },
        compression: match args.compression {
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        },
        packages: &names,
        outputs: &outputs,
        staging_parent: &args.out_dir,
    };
    let img = export::oci::write(&req).map_err(|e| Failure::new(exit::EXPORT, e))?;
    for f in &img.files {
        w.lines.push(format!("image        {}  {} bytes", f.path.display(), f.size));
        if f.path.is_file() {
            w.outputs.push(subject(f));
        }
    }
    w.lines.push(format!(
        "image        {}  index {}  manifest {}  {} layer(s)",
        meta.reference.familiar(),
        img.index_digest,
        img.manifest_digest,
        img.layers.len()
    ));
    if let ([layer], None) = (img.layers.as_slice(), &w.rootfs) {
        // One layer holds exactly the rootfs tarball's bytes: its diff_id is that tarball's sha256.
        w.rootfs = Some((layer.diff_id.trim_start_matches("sha256:").to_string(), layer.uncompressed_size));
    }
    w.oci = Some(OciDigests { index: img.index_digest, manifest: img.manifest_digest, config: img.config_digest });
    Ok(w)
}

fn annotations(spec: &ImageSpec, packages: &[&Recipe], source_date_epoch: u64) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        a.insert(format!("org.opencontainers.image.{k}"), v);
    };
    put("title", spec.name.clone());
    put("version", spec.version.clone());
    put("created", export::rfc3339(source_date_epoch));
    put("revision", format!("sha256:{}", spec.digest));
    if !spec.description.is_empty() {
        put("description", spec.description.clone());
    }
    if let Some(l) = combined_license(packages.iter().map(|r| r.license.as_str())) {
        put("licenses", l);
    }
    if let Some(s) = &spec.source {
        put("source", s.clone());
    }
    a.extend(spec.config.annotations.clone());
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licences_combine_into_one_expression() {
        assert_eq!(combined_license(["MIT"]), Some("MIT".into()));
        assert_eq!(combined_license(["MIT", "GPL-2.0-only", "MIT"]), Some("GPL-2.0-only AND MIT".into()));
        assert_eq!(combined_license(["MIT OR Apache-2.0", "Zlib"]), Some("(MIT OR Apache-2.0) AND Zlib".into()));
        assert_eq!(combined_license([]), None);
    }

    #[test]
    fn architectures_use_oci_names() {
        assert_eq!(architecture("x86_64-linux-musl"), "amd64");
        assert_eq!(architecture("aarch64-linux-musl"), "arm64");
    }
}
