//! Opening what `compose audit` is given: a plain rootfs tar, an OCI image layout directory, an OCI
//! archive (a tar of a layout) or a docker-archive (`docker save`). For images, one image is picked
//! (by `--tag` when the index lists several), and its layers are applied in order. Archive members are
//! found by offset in one pass over the headers and read in place, so nothing is unpacked to disk
//! (a compressed archive is first decompressed into a temp file).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::AuditError;
use super::layer::{self, Compression, Hashing};
use super::tree::{Tree, normalise};

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

/// Reads the image at `path`; `tag` picks one image when there are several.
pub fn open(path: &Path, tag: Option<&str>) -> Result<Image, AuditError> {
    let read_err = |source| AuditError::Read { path: path.to_path_buf(), source };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.is_dir() {
        if !path.join("index.json").is_file() {
            return Err(invalid(path, "is a directory but not an OCI image layout (no index.json)".into()));
        }
        return oci(path, ImageKind::OciLayout, Store::Dir(path.to_path_buf()), tag);
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
        return oci(path, ImageKind::OciArchive, store, tag);
    }
    if store.has("manifest.json")
        && let Ok(Value::Array(images)) = store.json("manifest.json", path)
        && images.iter().all(|i| i.get("Layers").is_some())
    {
        return docker(path, store, &images, tag);
    }
    // A plain rootfs tar: one layer, names taken literally.
    let mut hashing = Hashing::new(io::BufReader::with_capacity(1 << 16, File::open(&file).map_err(read_err)?));
    let changes = layer::read(&mut hashing).map_err(|e| invalid(path, format!("not a readable tar archive: {e}")))?;
    let sha = hashing.finish().map_err(read_err)?;
    let mut tree = Tree::default();
    tree.apply(changes, false);
    let tar_sha256 = (file == path).then_some(sha);
    Ok(Image { path: path.to_path_buf(), kind: ImageKind::RootfsTar, reference: None, layers: 1, tree, tar_sha256 })
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

/// How a descriptor of an index is named in a listing: its tag or name, else its digest; and platform.
fn describe(d: &Value) -> String {
    let name = str_at(d, &["annotations", "org.opencontainers.image.ref.name"])
        .or_else(|| str_at(d, &["annotations", "io.containerd.image.name"]))
        .map(str::to_string)
        .unwrap_or_else(|| str_at(d, &["digest"]).unwrap_or("?").chars().take(19).collect());
    match (str_at(d, &["platform", "os"]), str_at(d, &["platform", "architecture"])) {
        (Some(os), Some(arch)) => format!("{name} ({os}/{arch})"),
        _ => name,
    }
}

fn blob_name(digest: &str) -> Option<String> {
    let (algo, hex) = digest.split_once(':')?;
    (!hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| format!("blobs/{algo}/{hex}"))
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// Picks the manifest to audit from an index: the one `tag` names, or the only one.
fn pick<'a>(path: &Path, list: &'a [Value], tag: Option<&str>, what: &str) -> Result<&'a Value, AuditError> {
    let names = || list.iter().map(describe).collect::<Vec<_>>();
    if let Some(tag) = tag {
        let hit = |d: &&Value| {
            str_at(d, &["annotations", "org.opencontainers.image.ref.name"]) == Some(tag)
                || str_at(d, &["annotations", "io.containerd.image.name"])
                    .is_some_and(|n| n == tag || n.rsplit_once(':').is_some_and(|(_, t)| t == tag))
        };
        return list.iter().find(hit).ok_or_else(|| AuditError::NoSuchTag {
            path: path.to_path_buf(),
            tag: tag.into(),
            choices: names(),
        });
    }
    match list {
        [one] => Ok(one),
        [] => Err(invalid(path, format!("{what} lists no image"))),
        _ => Err(AuditError::Ambiguous {
            path: path.to_path_buf(),
            what: format!("{what} lists {} images; pick one with --tag", list.len()),
            choices: names(),
        }),
    }
}

fn oci(path: &Path, kind: ImageKind, store: Store, tag: Option<&str>) -> Result<Image, AuditError> {
    let index = store.json("index.json", path)?;
    let list = index.get("manifests").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut desc = pick(path, list, tag, "index.json")?.clone();
    let reference = str_at(&desc, &["annotations", "io.containerd.image.name"])
        .or_else(|| str_at(&desc, &["annotations", "org.opencontainers.image.ref.name"]))
        .map(str::to_string);
    // A multi-platform image: an index inside the index. Take this machine's platform.
    for _ in 0..4 {
        if !str_at(&desc, &["mediaType"]).is_some_and(|m| INDEX_TYPES.contains(&m)) {
            break;
        }
        let digest = str_at(&desc, &["digest"]).unwrap_or_default();
        let name = blob_name(digest).ok_or_else(|| invalid(path, format!("bad digest `{digest}`")))?;
        let nested = store.json(&name, path)?;
        let all = nested.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
        let here: Vec<Value> =
            all.iter().filter(|d| str_at(d, &["platform", "architecture"]) == Some(host_arch())).cloned().collect();
        let choose = if here.is_empty() { &all } else { &here };
        desc = pick(path, choose, None, &format!("the image index {}", &digest[..digest.len().min(19)]))?.clone();
    }
    let digest = str_at(&desc, &["digest"]).unwrap_or_default();
    let name = blob_name(digest).ok_or_else(|| invalid(path, format!("bad manifest digest `{digest}`")))?;
    let manifest = store.json(&name, path)?;
    let layers = manifest.get("layers").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut tree = Tree::default();
    for l in &layers {
        let digest = str_at(l, &["digest"]).unwrap_or_default();
        let name = blob_name(digest).ok_or_else(|| invalid(path, format!("bad layer digest `{digest}`")))?;
        apply_layer(path, &store, &name, Some(digest), &mut tree)?;
    }
    Ok(Image { path: path.to_path_buf(), kind, reference, layers: layers.len(), tree, tar_sha256: None })
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
    Ok(Image {
        path: path.to_path_buf(),
        kind: ImageKind::DockerArchive,
        reference,
        layers: layers.len(),
        tree,
        tar_sha256: None,
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
