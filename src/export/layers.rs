//! Layers: which rootfs entries go into which layer, and writing each layer as a compressed blob
//! while hashing both the compressed bytes (the blob digest) and the tar stream (the diff_id).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::ExportError;
use super::tar::{HashingWriter, write_stream};
use crate::rootfs::{Kind, RootfsTree};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    /// The name the CLI and the provenance use.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layering {
    /// The whole rootfs in one layer.
    Single,
    /// The skeleton, then one layer per package, then the image's own files (accounts), with at most
    /// `max_layers` in all: the smallest packages share a layer when there are too many.
    PerPackage { max_layers: usize },
}

/// The entries of one layer, sorted, with the directories above them.
#[derive(Debug, Clone)]
pub struct LayerPlan {
    /// What the layer holds, for `history`: `skeleton`, a package name, or a list.
    pub label: String,
    pub paths: Vec<String>,
}

/// A written layer blob.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    pub label: String,
    pub digest: String,
    pub size: u64,
    pub diff_id: String,
    /// Bytes of the uncompressed tar (what `diff_id` hashes).
    pub uncompressed_size: u64,
    /// The uncompressed tar, when asked for (docker-archive).
    pub raw: Option<PathBuf>,
}

pub fn plan(tree: &RootfsTree, layering: Layering, packages: &[String]) -> Vec<LayerPlan> {
    let all: Vec<String> = tree.entries.keys().cloned().collect();
    let Layering::PerPackage { max_layers } = layering else {
        return vec![LayerPlan { label: "rootfs".into(), paths: all }];
    };
    let mut by_owner: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for (p, e) in &tree.entries {
        by_owner.entry(e.owner.as_str()).or_default().push(p);
    }
    let size_of = |owner: &str| -> u64 {
        by_owner.get(owner).map_or(0, |ps| {
            ps.iter().map(|p| if let Kind::File { size, .. } = tree.entries[*p].kind { size } else { 0 }).sum()
        })
    };
    let present: Vec<&String> = packages.iter().filter(|p| by_owner.contains_key(p.as_str())).collect();
    // Packages beyond the budget (skeleton + accounts take two) share one layer: the smallest ones.
    let budget = max_layers.saturating_sub(2).max(1);
    let mut by_size: Vec<&String> = present.clone();
    by_size.sort_by_key(|p| (std::cmp::Reverse(size_of(p)), p.as_str()));
    let own: BTreeSet<&String> = if present.len() <= budget {
        present.iter().copied().collect()
    } else {
        by_size[..budget - 1].iter().copied().collect()
    };
    let mut groups: Vec<(String, Vec<&str>)> = vec![("skeleton".into(), vec!["skeleton"])];
    let mut shared = Vec::new();
    for p in &present {
        if own.contains(p) {
            groups.push(((*p).clone(), vec![p.as_str()]));
        } else {
            shared.push(p.as_str());
        }
    }
    if !shared.is_empty() {
        groups.push((shared.join(" "), shared));
    }
    let known: BTreeSet<&str> = groups.iter().flat_map(|(_, o)| o.iter().copied()).collect();
    let rest: Vec<&str> = by_owner.keys().copied().filter(|o| !known.contains(o)).collect();
    groups.push(("accounts".into(), rest));
    groups
        .into_iter()
        .filter_map(|(label, owners)| {
            let mut paths = BTreeSet::new();
            for o in owners {
                for p in by_owner.get(o).into_iter().flatten() {
                    // Parents first, as the tree has them, so the layer unpacks on its own.
                    let mut cut = 0;
                    while let Some(i) = p[cut..].find('/') {
                        let parent = &p[..cut + i];
                        if tree.entries.contains_key(parent) {
                            paths.insert(parent.to_string());
                        }
                        cut += i + 1;
                    }
                    paths.insert((*p).clone());
                }
            }
            (!paths.is_empty()).then(|| LayerPlan { label, paths: paths.into_iter().collect() })
        })
        .collect()
}

/// Writes every planned layer into `blobs` (blobs/sha256), in parallel: compression is the CPU work.
/// Temp files are named `<tag>layer-<n>`, so writers with different tags can share `blobs`; a layer
/// another writer already wrote is renamed over its own identical blob.
pub fn write_all(
    tree: &RootfsTree,
    plans: &[LayerPlan],
    compression: Compression,
    blobs: &Path,
    raw_dir: Option<&Path>,
    tag: &str,
    source_date_epoch: u64,
) -> Result<Vec<LayerBlob>, ExportError> {
    plans
        .par_iter()
        .enumerate()
        .map(|(i, p)| write_one(tree, p, &format!("{tag}layer-{i}"), compression, blobs, raw_dir, source_date_epoch))
        .collect()
}

enum Compressor<W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    fn finish(self) -> std::io::Result<W> {
        match self {
            Compressor::Gzip(g) => g.finish(),
            Compressor::Zstd(z) => z.finish(),
        }
    }
}

/// The tar stream: hashed for the diff_id, copied to the raw file if any, and compressed.
struct LayerSink<W: Write> {
    diff: HashingWriter<std::io::Sink>,
    raw: Option<BufWriter<crate::small_writes::SmallWrites<std::fs::File>>>,
    out: Compressor<W>,
}

impl<W: Write> super::tar::TarSink for LayerSink<W> {}

impl<W: Write> Write for LayerSink<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = match &mut self.out {
            Compressor::Gzip(g) => g.write(buf)?,
            Compressor::Zstd(z) => z.write(buf)?,
        };
        self.diff.write_all(&buf[..n])?;
        if let Some(r) = &mut self.raw {
            r.write_all(&buf[..n])?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.out {
            Compressor::Gzip(g) => g.flush(),
            Compressor::Zstd(z) => z.flush(),
        }
    }
}

fn write_one(
    tree: &RootfsTree,
    plan: &LayerPlan,
    stem: &str,
    compression: Compression,
    blobs: &Path,
    raw_dir: Option<&Path>,
    source_date_epoch: u64,
) -> Result<LayerBlob, ExportError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { op, path, source }
    };
    let tmp = blobs.join(format!("{stem}.tmp"));
    let file = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
    let blob = HashingWriter::new(BufWriter::with_capacity(1 << 20, crate::small_writes::SmallWrites(file)));
    let out = match compression {
        // mtime 0, no file name, OS byte fixed by flate2: the same bytes on every machine.
        Compression::Gzip => {
            Compressor::Gzip(flate2::GzBuilder::new().mtime(0).write(blob, flate2::Compression::new(6)))
        }
        Compression::Zstd => {
            let mut z = zstd::stream::write::Encoder::new(blob, 3).map_err(io("start zstd for", &tmp))?;
            z.include_checksum(true).map_err(io("configure zstd for", &tmp))?;
            Compressor::Zstd(z)
        }
    };
    let raw_tmp = raw_dir.map(|d| d.join(format!("{stem}.tar")));
    let raw = match &raw_tmp {
        Some(p) => Some(BufWriter::with_capacity(
            1 << 20,
            crate::small_writes::SmallWrites(std::fs::File::create(p).map_err(io("create", p))?),
        )),
        None => None,
    };
    let sink = LayerSink { diff: HashingWriter::new(std::io::sink()), raw, out };
    let mut sink = write_stream(tree, &plan.paths, sink, source_date_epoch, &tmp)?;
    let diff_id = format!("sha256:{}", sink.diff.hex_digest());
    let uncompressed_size = sink.diff.len;
    if let Some(mut r) = sink.raw.take() {
        r.flush().map_err(io("write", raw_tmp.as_deref().unwrap_or(&tmp)))?;
    }
    let mut blob = sink.out.finish().map_err(io("compress", &tmp))?;
    blob.inner.flush().map_err(io("write", &tmp))?;
    let hex = blob.hex_digest();
    let size = blob.len;
    drop(blob);
    let dest = blobs.join(&hex);
    std::fs::rename(&tmp, &dest).map_err(io("rename into place", &dest))?;
    let raw = match raw_tmp {
        Some(p) => {
            let dest = p.with_file_name(format!("{}.tar", &diff_id[7..]));
            std::fs::rename(&p, &dest).map_err(io("rename into place", &dest))?;
            Some(dest)
        }
        None => None,
    };
    Ok(LayerBlob { label: plan.label.clone(), digest: format!("sha256:{hex}"), size, diff_id, uncompressed_size, raw })
}
