//! Opening what `compose audit` is given: a plain rootfs tar, an OCI image layout directory, an OCI
//! archive (a tar of a layout) or a docker-archive (`docker save`). For images, one image is picked
//! (by `--tag` when the index lists several, then by platform when its manifests name platforms: a
//! multi-platform image), and its layers are applied in order. Archive members are found by offset in
//! one pass over the headers and read in place, so nothing is unpacked to disk (a compressed archive
//! is first decompressed into a temp file).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::AuditError;
use super::layer::{self, Compression, Hashing};
use super::tree::{Tree, normalise};
use crate::toolchain::Platform;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageKind {
    RootfsTar,
    OciLayout,
    OciArchive,
    DockerArchive,
}

impl ImageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageKind::RootfsTar => "rootfs tar",
            ImageKind::OciLayout => "OCI layout",
            ImageKind::OciArchive => "OCI archive",
            ImageKind::DockerArchive => "docker-archive",
        }
    }
}

/// An image read into a tree.
#[derive(Debug)]
pub struct Image {
    pub path: PathBuf,
    pub kind: ImageKind,
    /// The name the picked image goes by (a tag, `name:tag`), if it has one.
    pub reference: Option<String>,
    pub layers: usize,
    pub tree: Tree,
    /// For a rootfs tar: the sha256 of the file (what a manifest's `image.tar_sha256` names).
    pub tar_sha256: Option<String>,
    /// The platform the image is for, as it says: its index descriptor's `platform`, else its config's
    /// `os`/`architecture`/`variant`. `None` for a rootfs tar (or an image that does not say).
    pub platform: Option<Platform>,
    /// Every platform the index lists (for the picked tag) when its manifests name platforms, in its
    /// order: a multi-platform image, of which `platform` was picked. Empty otherwise.
    pub platforms: Vec<Platform>,
}

const INDEX_TYPES: [&str; 2] =
    ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];

/// Where an image's blobs live: a layout directory or members of an archive file.
enum Store {
    Dir(PathBuf),
    Archive { file: PathBuf, members: BTreeMap<String, (u64, u64)> },
}

impl Store {
    fn open(&self, name: &str) -> io::Result<Box<dyn Read + '_>> {
        match self {
            Store::Dir(d) => Ok(Box::new(File::open(d.join(name))?)),
            Store::Archive { file, members } => {
                let &(offset, size) = members.get(name).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, format!("`{name}` is not in the archive"))
                })?;
                let mut f = File::open(file)?;
                f.seek(SeekFrom::Start(offset))?;
                Ok(Box::new(io::BufReader::with_capacity(1 << 16, f.take(size))))
            }
        }
    }
    fn has(&self, name: &str) -> bool {
        match self {
            Store::Dir(d) => d.join(name).is_file(),
            Store::Archive { members, .. } => members.contains_key(name),
        }
    }
    fn json(&self, name: &str, path: &Path) -> Result<Value, AuditError> {
        let mut bytes = Vec::new();
        self.open(name)
            .and_then(|mut r| r.read_to_end(&mut bytes))
            .map_err(|e| invalid(path, format!("cannot read `{name}`: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| invalid(path, format!("`{name}` is not valid JSON: {e}")))
    }
}

fn invalid(path: &Path, what: String) -> AuditError {
    AuditError::Invalid { path: path.to_path_buf(), what }
}

/// Which image of several to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Select<'a> {
    /// A tag or a full name; images are filtered by it first.
    pub tag: Option<&'a str>,
    /// Among manifests that name platforms, the one for this platform. `None`: this machine's
    /// (`Platform::host()`), or the only image when the index has one and it is for another.
    pub platform: Option<&'a Platform>,
}

/// Reads the image at `path`; `select` picks one image when there are several. A rootfs tar or a
/// docker-archive is one platform's: `select.platform` is not checked against it.
pub fn open(path: &Path, select: Select) -> Result<Image, AuditError> {
    let read_err = |source| AuditError::Read { path: path.to_path_buf(), source };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.is_dir() {
        if !path.join("index.json").is_file() {
            return Err(invalid(path, "is a directory but not an OCI image layout (no index.json)".into()));
        }
        return oci(path, ImageKind::OciLayout, Store::Dir(path.to_path_buf()), select);
    }
    let mut head = [0u8; 4];
    let n = File::open(path).and_then(|mut f| f.read(&mut head)).map_err(read_err)?;
    if n == 0 {
        return Err(invalid(path, "is empty, not a tar archive".into()));
    }
    // A compressed tar: decompress once into a temp file, so members can be read in place.
    let _decompressed;
    let file = if layer::sniff(&head[..n]) != Compression::None {
        let mut tmp = tempfile::NamedTempFile::new().map_err(read_err)?;
        let mut r = layer::decompress(File::open(path).map_err(read_err)?).map_err(read_err)?;
        io::copy(&mut r, &mut tmp).map_err(|e| invalid(path, format!("cannot decompress: {e}")))?;
        let p = tmp.path().to_path_buf();
        _decompressed = tmp;
        p
    } else {
        path.to_path_buf()
    };
    let members = list_members(&file).map_err(|e| invalid(path, format!("not a readable tar archive: {e}")))?;
    let store = Store::Archive { file: file.clone(), members };
    if store.has("index.json") && store.has("oci-layout") {
        return oci(path, ImageKind::OciArchive, store, select);
    }
    if store.has("manifest.json")
        && let Ok(Value::Array(images)) = store.json("manifest.json", path)
        && images.iter().all(|i| i.get("Layers").is_some())
    {
        return docker(path, store, &images, select.tag);
    }
    // A plain rootfs tar: one layer, names taken literally.
    let mut hashing = Hashing::new(io::BufReader::with_capacity(1 << 16, File::open(&file).map_err(read_err)?));
    let changes = layer::read(&mut hashing).map_err(|e| invalid(path, format!("not a readable tar archive: {e}")))?;
    let sha = hashing.finish().map_err(read_err)?;
    let mut tree = Tree::default();
    tree.apply(changes, false);
    let tar_sha256 = (file == path).then_some(sha);
    Ok(Image {
        path: path.to_path_buf(),
        kind: ImageKind::RootfsTar,
        reference: None,
        layers: 1,
        tree,
        tar_sha256,
        platform: None,
        platforms: Vec::new(),
    })
}

/// Member name (normalised, without the leading `/`) to (data offset, size), regular files only.
fn list_members(file: &Path) -> io::Result<BTreeMap<String, (u64, u64)>> {
    let mut ar = tar::Archive::new(File::open(file)?);
    let mut members = BTreeMap::new();
    for e in ar.entries_with_seek()? {
        let e = e?;
        if e.header().entry_type().is_file()
            && let Some(name) = normalise(&String::from_utf8_lossy(&e.path_bytes()))
        {
            members.insert(name[1..].to_string(), (e.raw_file_position(), e.size()));
        }
    }
    Ok(members)
}

fn str_at<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// The platform stated by `os`, `architecture` and `variant` at the top of `v`: a descriptor's
/// `platform` object, or an image config.
fn platform_of(v: &Value) -> Option<Platform> {
    Some(Platform::stated(str_at(v, &["os"])?, str_at(v, &["architecture"])?, str_at(v, &["variant"])))
}

fn descriptor_platform(d: &Value) -> Option<Platform> {
    d.get("platform").and_then(platform_of)
}

/// How a descriptor of an index is named in a listing: its tag or name, else its digest; and platform.
fn describe(d: &Value) -> String {
    let name = str_at(d, &["annotations", "org.opencontainers.image.ref.name"])
        .or_else(|| str_at(d, &["annotations", "io.containerd.image.name"]))
        .map(str::to_string)
        .unwrap_or_else(|| str_at(d, &["digest"]).unwrap_or("?").chars().take(19).collect());
    match descriptor_platform(d) {
        Some(p) => format!("{name} ({p})"),
        None => name,
    }
}

fn blob_name(digest: &str) -> Option<String> {
    let (algo, hex) = digest.split_once(':')?;
    (!hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| format!("blobs/{algo}/{hex}"))
}

/// The manifest picked from an index, and every platform the index lists for the tag (empty when its
/// manifests name none).
struct Picked<'a> {
    desc: &'a Value,
    platforms: Vec<Platform>,
}

/// Picks the manifest to audit from an index: those `select.tag` names (or all), then, when they name
/// platforms, the one for `select.platform` (default: this machine's); else the only one.
fn pick<'a>(path: &Path, list: &'a [Value], select: Select, what: &str) -> Result<Picked<'a>, AuditError> {
    let names = |l: &[&Value]| l.iter().map(|d| describe(d)).collect::<Vec<_>>();
    let tagged: Vec<&Value> = match select.tag {
        Some(tag) => {
            let hit = |d: &&Value| {
                str_at(d, &["annotations", "org.opencontainers.image.ref.name"]) == Some(tag)
                    || str_at(d, &["annotations", "io.containerd.image.name"])
                        .is_some_and(|n| n == tag || n.rsplit_once(':').is_some_and(|(_, t)| t == tag))
            };
            let hits: Vec<&Value> = list.iter().filter(hit).collect();
            if hits.is_empty() {
                let choices = names(&list.iter().collect::<Vec<_>>());
                return Err(AuditError::NoSuchTag { path: path.to_path_buf(), tag: tag.into(), choices });
            }
            hits
        }
        None => list.iter().collect(),
    };
    let stated: Vec<(&Value, Platform)> =
        tagged.iter().filter_map(|d| descriptor_platform(d).map(|p| (*d, p))).collect();
    if stated.is_empty() {
        return match (select.tag, tagged.as_slice()) {
            // Several descriptors with one tag and no platforms: the first, as it always was.
            (Some(_), [first, ..]) | (None, [first]) => Ok(Picked { desc: first, platforms: Vec::new() }),
            (_, []) => Err(invalid(path, format!("{what} lists no image"))),
            _ => Err(AuditError::Ambiguous {
                path: path.to_path_buf(),
                what: format!("{what} lists {} images; pick one with --tag", tagged.len()),
                choices: names(&tagged),
                by: "--tag",
            }),
        };
    }
    let mut platforms: Vec<Platform> = Vec::new();
    for (_, p) in &stated {
        if !platforms.contains(p) {
            platforms.push(p.clone());
        }
    }
    let wanted = select.platform.cloned().unwrap_or_else(Platform::host);
    let hits: Vec<&(&Value, Platform)> = stated.iter().filter(|(_, p)| p.matches(&wanted)).collect();
    // `linux/arm/v7` of `arm/v7` and a plain `arm`: the exact one.
    let exact: Vec<&(&Value, Platform)> = hits.iter().copied().filter(|(_, p)| *p == wanted).collect();
    let found = if exact.is_empty() { hits } else { exact };
    let mut matching: Vec<String> = Vec::new();
    for (_, p) in &found {
        if !matching.contains(&p.to_string()) {
            matching.push(p.to_string());
        }
    }
    match found.as_slice() {
        [(desc, _)] => Ok(Picked { desc, platforms }),
        [] if select.platform.is_none() && tagged.len() == 1 => Ok(Picked { desc: tagged[0], platforms }),
        [] => Err(AuditError::NoSuchPlatform {
            path: path.to_path_buf(),
            what: what.to_string(),
            platform: wanted.to_string(),
            host: select.platform.is_none(),
            choices: platforms.iter().map(Platform::to_string).collect(),
        }),
        // Several platforms match (`linux/arm` of `arm/v6` and `arm/v7`): a variant picks one.
        _ if matching.len() > 1 => Err(AuditError::Ambiguous {
            path: path.to_path_buf(),
            what: format!("{what} has {} platforms matching {wanted}; pick one with --platform", matching.len()),
            choices: matching,
            by: "--platform",
        }),
        // One platform, several images (tags).
        many => Err(AuditError::Ambiguous {
            path: path.to_path_buf(),
            what: format!("{what} lists {} images for {wanted}; pick one with --tag", many.len()),
            choices: many.iter().map(|(d, _)| describe(d)).collect(),
            by: "--tag",
        }),
    }
}

fn oci(path: &Path, kind: ImageKind, store: Store, select: Select) -> Result<Image, AuditError> {
    let index = store.json("index.json", path)?;
    let list = index.get("manifests").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let picked = pick(path, list, select, "index.json")?;
    let (mut desc, mut platforms) = (picked.desc.clone(), picked.platforms);
    let reference = str_at(&desc, &["annotations", "io.containerd.image.name"])
        .or_else(|| str_at(&desc, &["annotations", "org.opencontainers.image.ref.name"]))
        .map(str::to_string);
    // An index inside the index (a multi-platform image as docker and skopeo write it): the tag picked
    // it; the platform picks within it.
    for _ in 0..4 {
        if !str_at(&desc, &["mediaType"]).is_some_and(|m| INDEX_TYPES.contains(&m)) {
            break;
        }
        let digest = str_at(&desc, &["digest"]).unwrap_or_default();
        let name = blob_name(digest).ok_or_else(|| invalid(path, format!("bad digest `{digest}`")))?;
        let nested = store.json(&name, path)?;
        let all = nested.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
        let what = format!("the image index {}", &digest[..digest.len().min(19)]);
        let inner = pick(path, &all, Select { tag: None, ..select }, &what)?;
        (desc, platforms) = (inner.desc.clone(), inner.platforms);
    }
    let digest = str_at(&desc, &["digest"]).unwrap_or_default();
    let name = blob_name(digest).ok_or_else(|| invalid(path, format!("bad manifest digest `{digest}`")))?;
    let manifest = store.json(&name, path)?;
    // What the index said, else what the config says (an image without a platform field names one there).
    let platform = descriptor_platform(&desc).or_else(|| {
        let config = blob_name(str_at(&manifest, &["config", "digest"])?)?;
        platform_of(&store.json(&config, path).ok()?)
    });
    let layers = manifest.get("layers").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut tree = Tree::default();
    for l in &layers {
        let digest = str_at(l, &["digest"]).unwrap_or_default();
        let name = blob_name(digest).ok_or_else(|| invalid(path, format!("bad layer digest `{digest}`")))?;
        apply_layer(path, &store, &name, Some(digest), &mut tree)?;
    }
    Ok(Image {
        path: path.to_path_buf(),
        kind,
        reference,
        layers: layers.len(),
        tree,
        tar_sha256: None,
        platform,
        platforms,
    })
}

fn docker(path: &Path, store: Store, images: &[Value], tag: Option<&str>) -> Result<Image, AuditError> {
    let tags = |i: &Value| -> Vec<String> {
        i.get("RepoTags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let listed = || images.iter().map(|i| tags(i).join(", ")).collect::<Vec<_>>();
    let image = match tag {
        Some(t) => images
            .iter()
            .find(|i| tags(i).iter().any(|n| n == t || n.rsplit_once(':').is_some_and(|(_, x)| x == t)))
            .ok_or_else(|| AuditError::NoSuchTag { path: path.to_path_buf(), tag: t.into(), choices: listed() })?,
        None if images.len() == 1 => &images[0],
        None => {
            return Err(AuditError::Ambiguous {
                path: path.to_path_buf(),
                what: format!("manifest.json lists {} images; pick one with --tag", images.len()),
                choices: listed(),
                by: "--tag",
            });
        }
    };
    let layers: Vec<String> =
        image["Layers"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    let mut tree = Tree::default();
    for l in &layers {
        let name = normalise(l).map(|n| n[1..].to_string()).unwrap_or_default();
        apply_layer(path, &store, &name, None, &mut tree)?;
    }
    let reference = tags(image).into_iter().next();
    let config = image.get("Config").and_then(Value::as_str).and_then(normalise);
    let platform = config.and_then(|c| platform_of(&store.json(&c[1..], path).ok()?));
    Ok(Image {
        path: path.to_path_buf(),
        kind: ImageKind::DockerArchive,
        reference,
        layers: layers.len(),
        tree,
        tar_sha256: None,
        platform,
        platforms: Vec::new(),
    })
}

/// Reads the layer blob `name`, checks it against `digest` when there is one, and applies it.
fn apply_layer(
    path: &Path,
    store: &Store,
    name: &str,
    digest: Option<&str>,
    tree: &mut Tree,
) -> Result<(), AuditError> {
    let bad = |e: io::Error| invalid(path, format!("layer `{name}`: {e}"));
    let mut hashing = Hashing::new(store.open(name).map_err(bad)?);
    let changes = layer::read(layer::decompress(&mut hashing).map_err(bad)?).map_err(bad)?;
    let got = hashing.finish().map_err(bad)?;
    if let Some(want) = digest
        && want.starts_with("sha256:")
        && want[7..] != got
    {
        return Err(invalid(path, format!("layer `{name}` does not match its digest (got sha256:{got})")));
    }
    tree.apply(changes, true);
    Ok(())
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;
