//! `--cache-push`: every artifact this run built goes to the registry, on a few threads (they wait on
//! the network, so plain threads, not rayon). A key the registry already has is left as it is (first
//! writer wins); blobs it has are not uploaded again (the client HEADs first). A failure is a warning.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use petgraph::graph::NodeIndex;

use super::format::{self, MANIFEST_MEDIA_TYPE, META_MEDIA_TYPE, TREE_MEDIA_TYPE};
use super::{Remote, RemoteError, chain, pack};
use crate::build::artifact::Artifact;
use crate::digest::Sha256;
use crate::export::tar::HashingWriter;
use crate::graph::BuildGraph;
use crate::registry::{BlobPush, BlobSource, Client, RegistryError};

/// Uploads at once at most this many artifacts.
const THREADS: usize = 3;

/// What pushing one artifact did.
enum Pushed {
    /// Uploaded; the bytes of the blobs the registry did not have.
    Uploaded(u64),
    /// The registry has the key already.
    There,
}

/// Pushes the artifacts of `built` and says what happened in one line.
pub(in crate::build) fn push(
    remote: &Remote,
    graph: &BuildGraph,
    built: &[NodeIndex],
    artifacts: &HashMap<NodeIndex, Artifact>,
    scratch: &Path,
) {
    let mut queue: Vec<(&str, &Artifact)> =
        built.iter().filter_map(|n| artifacts.get(n).map(|a| (graph.label(*n), a))).collect();
    if queue.is_empty() {
        return;
    }
    let Some(client) = remote.client("nothing pushed") else { return };
    if let Err(e) = std::fs::create_dir_all(scratch) {
        return remote.warn(&format!("cannot create `{}`: {e}; nothing pushed", scratch.display()));
    }
    // Layers packed by pushes that were killed (`.compose-<pid>-*` of dead processes).
    crate::export::sweep(scratch);
    queue.reverse();
    let (queue, results) = (Mutex::new(queue), Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..THREADS.min(built.len()) {
            s.spawn(|| {
                while !remote.is_down() {
                    let Some((label, a)) = queue.lock().expect("not poisoned").pop() else { break };
                    let r = push_one(client, a, scratch);
                    match &r {
                        Ok(Pushed::Uploaded(bytes)) => remote.reporter.on_remote_pushed(label, *bytes),
                        Err(e) if e.unusable() => remote.gone(e, "nothing more pushed"),
                        Err(e) => remote.warn(&format!("`{label}`: {}; not pushed", chain(e))),
                        Ok(Pushed::There) => {}
                    }
                    results.lock().expect("not poisoned").push(r);
                }
            });
        }
    });
    let results = results.into_inner().expect("not poisoned");
    let pushed: Vec<u64> =
        results.iter().filter_map(|r| if let Ok(Pushed::Uploaded(b)) = r { Some(*b) } else { None }).collect();
    let there = results.iter().filter(|r| matches!(r, Ok(Pushed::There))).count();
    let failed = built.len() - pushed.len() - there;
    remote.reporter.note(&format!(
        "remote cache: pushed {} artifact(s) to `{}` ({} uploaded), {there} already there, {failed} not pushed",
        pushed.len(),
        remote.settings.reference,
        crate::cache::format_size(pushed.iter().sum()),
    ));
}

fn registry(op: &'static str) -> impl FnOnce(RegistryError) -> RemoteError {
    move |source| RemoteError::Registry { op, source }
}

/// Packs one artifact into a temp file under `scratch` (`.compose-<pid>-*`, removed when dropped, or by a
/// later push's sweep if this process is killed) and uploads its blobs, then its manifest tag.
fn push_one(client: &Client, a: &Artifact, scratch: &Path) -> Result<Pushed, RemoteError> {
    let m = &a.meta;
    let tag = format::tag(&m.name, &m.key).map_err(RemoteError::Format)?;
    if client.get_manifest(&tag).map_err(registry("ask for its manifest"))?.is_some() {
        return Ok(Pushed::There);
    }
    let meta_path = a.dir.join("meta.json");
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| RemoteError::Io { op, path, source }
    };
    let meta = std::fs::read(&meta_path).map_err(io("read", &meta_path))?;
    let config = format::descriptor(META_MEDIA_TYPE, &Sha256::hex_of(&meta), meta.len() as u64);
    let prefix = crate::export::temp_prefix();
    let file = tempfile::Builder::new().prefix(&prefix).tempfile_in(scratch).map_err(io("create", scratch))?;
    let w = HashingWriter::new(BufWriter::new(file.as_file()));
    let (mut w, _) = pack::pack(&a.tree(), m.inputs.source_date_epoch, w)?;
    w.flush().map_err(io("write", file.path()))?;
    let layer = format::descriptor(TREE_MEDIA_TYPE, &w.hex_digest(), w.len);
    let mut uploaded = 0;
    for (d, data) in [(&config, BlobSource::Bytes(&meta)), (&layer, BlobSource::File(file.path()))] {
        if client.push_blob(&d.digest, d.size, data, None).map_err(registry("upload a blob"))? != BlobPush::Exists {
            uploaded += d.size;
        }
    }
    let manifest = format::manifest(&config, &layer, &m.name, &m.version, &m.key);
    client.put_manifest(&tag, MANIFEST_MEDIA_TYPE, &manifest).map_err(registry("put its manifest"))?;
    Ok(Pushed::Uploaded(uploaded))
}
