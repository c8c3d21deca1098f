//! Taking artifacts from the registry: the pull pass before the plan, and the read-only lookup of
//! `compose explain --cache`.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use petgraph::graph::NodeIndex;

use super::format;
use super::{Remote, RemoteCacheSettings, RemoteError, chain, pack};
use crate::build::artifact::{Artifact, ArtifactMeta, ArtifactStore, hash_tree};
use crate::build::key::{self, KeyInputs};
use crate::build::lock::KeyLock;
use crate::build::{BuildError, BuildSettings};
use crate::graph::BuildGraph;
use crate::registry::{Client, Descriptor, RegistryError};

/// What asking the registry for one key gave.
enum Pulled {
    /// Downloaded, checked and committed (the layer's size in bytes).
    Hit(Artifact, u64),
    /// Another process committed the key meanwhile (this one may have waited for its build lock).
    Stored(Artifact),
    Miss,
}

/// The pull pass: every package whose key is known and not in the local store is asked for in the
/// registry; each hit is committed to the store. Returns the nodes taken from the registry.
pub(in crate::build) fn pull(
    graph: &BuildGraph,
    settings: &BuildSettings,
    store: &ArtifactStore,
    remote: &Remote,
) -> Result<HashSet<NodeIndex>, BuildError> {
    let mut pulled = HashSet::new();
    walk(graph, settings, store, |i, inputs, key| {
        let (name, label) = (graph.name(i), graph.label(i));
        let tag = match format::tag(name, key) {
            Ok(t) => t,
            Err(reason) => {
                remote.reporter.note(&format!("remote cache: `{label}` is not looked up: {reason}"));
                return None;
            }
        };
        let client = remote.client("building locally")?;
        let waiting = |pid| remote.reporter.on_waiting(label, pid);
        match pull_one(client, store, &tag, inputs, &waiting) {
            Ok(Pulled::Hit(a, bytes)) => {
                remote.reporter.on_remote_hit(label, bytes);
                pulled.insert(i);
                Some(a.meta.tree_digest)
            }
            Ok(Pulled::Stored(a)) => Some(a.meta.tree_digest),
            Ok(Pulled::Miss) => None,
            Err(e) if e.unusable() => {
                remote.gone(&e, "building locally");
                None
            }
            Err(e) => {
                remote.warn(&format!("`{label}`: {}; refused, building it locally", chain(&e)));
                None
            }
        }
    })?;
    Ok(pulled)
}

/// Walks the graph in build order, computing each key from the local store's tree digests and those
/// `missing` gives: it is called for each node whose key is known and which the store lacks.
fn walk(
    graph: &BuildGraph,
    settings: &BuildSettings,
    store: &ArtifactStore,
    mut missing: impl FnMut(NodeIndex, &KeyInputs, &str) -> Option<String>,
) -> Result<(), BuildError> {
    let host = crate::build::host_tools(graph)?;
    let mut digests: HashMap<NodeIndex, String> = HashMap::new();
    for i in graph.order() {
        let host = &host[graph.graph[i].target];
        let (sandbox, sde) = (settings.sandboxed, settings.source_date_epoch);
        let Some(inputs) = key::inputs_for(graph, i, sandbox, sde, host, |d| digests.get(&d).cloned()) else {
            continue;
        };
        let key = inputs.key();
        let digest = match store.get(graph.name(i), &key) {
            Some(a) => Some(a.meta.tree_digest),
            None => missing(i, &inputs, &key),
        };
        if let Some(d) = digest {
            digests.insert(i, d);
        }
    }
    Ok(())
}

fn registry(op: &'static str) -> impl FnOnce(RegistryError) -> RemoteError {
    move |source| RemoteError::Registry { op, source }
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RemoteError {
    let path = path.to_path_buf();
    move |source| RemoteError::Io { op, path, source }
}

/// The manifest tagged `tag` and its checked metadata, or `None` if the registry has no such tag.
fn manifest_and_meta(
    client: &Client,
    tag: &str,
    inputs: &KeyInputs,
) -> Result<Option<(Descriptor, ArtifactMeta)>, RemoteError> {
    let Some(m) = client.get_manifest(tag).map_err(registry("ask for its manifest"))? else { return Ok(None) };
    let (config, layer) = format::parse(&m.media_type, &m.bytes).map_err(RemoteError::Format)?;
    // `format::parse` refused a config over MAX_META_SIZE; no more than it states is read.
    let mut bytes = crate::registry::AtMost::new(Vec::new(), config.size);
    client.get_blob(&config.digest, &mut bytes).map_err(registry("download its metadata"))?;
    let meta: ArtifactMeta = serde_json::from_slice(&bytes.inner)
        .map_err(|e| RemoteError::Meta(format!("it is not an artifact's meta.json: {e}")))?;
    check_meta(&meta, tag, inputs)?;
    Ok(Some((layer, meta)))
}

/// The metadata is this very package, key and target, and names a tree digest.
fn check_meta(meta: &ArtifactMeta, tag: &str, inputs: &KeyInputs) -> Result<(), RemoteError> {
    let key = inputs.key();
    let bad = |what: String| Err(RemoteError::Meta(what));
    if format::tag(&meta.name, &meta.key).as_deref() != Ok(tag) {
        return bad(format!("it is `{}` under key {}", meta.name, meta.key));
    }
    if meta.inputs.key() != key {
        return bad(format!("its inputs give the key {}, not {key}", meta.inputs.key()));
    }
    if meta.inputs.target != inputs.target {
        return bad(format!("it was built for `{}`, not `{}`", meta.inputs.target, inputs.target));
    }
    if meta.tree_digest.len() != 64 || !meta.tree_digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return bad(format!("its tree digest `{}` is not a sha256", meta.tree_digest));
    }
    Ok(())
}

/// Asks for one key, and on a hit downloads, checks and commits it under the key's build lock. If
/// another process holds that lock (it is pulling or building the key), `waiting` says so and this one
/// waits: it holds no other lock and no jobserver token yet, so nothing can deadlock, and it then finds
/// the artifact stored (or pulls it, if that process failed).
fn pull_one(
    client: &Client,
    store: &ArtifactStore,
    tag: &str,
    inputs: &KeyInputs,
    waiting: &dyn Fn(Option<u32>),
) -> Result<Pulled, RemoteError> {
    let Some((layer, meta)) = manifest_and_meta(client, tag, inputs)? else { return Ok(Pulled::Miss) };
    let (name, key) = (meta.name.as_str(), meta.key.as_str());
    let lock_path = store.lock_path(name, key);
    let _lock = match KeyLock::try_acquire(&lock_path).map_err(io("lock", &lock_path))? {
        Some(lock) => lock,
        None => {
            waiting(KeyLock::holder(&lock_path));
            KeyLock::acquire(&lock_path).map_err(io("lock", &lock_path))?
        }
    };
    if let Some(a) = store.get(name, key) {
        return Ok(Pulled::Stored(a));
    }
    // Beside the store, so the commit is a rename; named so that `ArtifactStore::sweep` removes what a
    // killed pull leaves once the key's lock is free.
    let work = store.root().join(format!(".tmp-{name}-{key}-{}.pull", std::process::id()));
    pack::remove_tree(&work);
    fs::create_dir(&work).map_err(io("create", &work))?;
    let result = fetch_and_commit(client, store, &work, &layer, &meta, inputs);
    pack::remove_tree(&work);
    result
}

fn fetch_and_commit(
    client: &Client,
    store: &ArtifactStore,
    work: &Path,
    layer: &Descriptor,
    meta: &ArtifactMeta,
    inputs: &KeyInputs,
) -> Result<Pulled, RemoteError> {
    let file: PathBuf = work.join("tree.tar.zst");
    let f = File::create_new(&file).map_err(io("create", &file))?;
    let mut f = crate::registry::AtMost::new(f, layer.size);
    let size = client.get_blob(&layer.digest, &mut f).map_err(registry("download its tree"))?;
    f.flush().map_err(io("write", &file))?;
    drop(f);
    let tree = work.join("tree");
    pack::unpack(&file, &tree)?;
    let hashed = hash_tree(&tree).map_err(io("hash", &tree))?;
    if hashed.0 != meta.tree_digest {
        return Err(RemoteError::TreeDigest { claimed: meta.tree_digest.clone(), actual: hashed.0 });
    }
    let took = Duration::try_from_secs_f64(meta.build_seconds).unwrap_or_default();
    let a = store
        .commit_hashed(&meta.name, &meta.version, inputs, &tree, took, hashed, meta.config.clone())
        .map_err(RemoteError::Store)?;
    Ok(Pulled::Hit(a, size))
}

/// What `compose explain --cache` learns from the registry, reading only manifests and metadata.
#[derive(Debug, Default)]
pub struct Lookup {
    /// Each package whose key the registry has (the key).
    pub hits: HashMap<NodeIndex, String>,
    /// Each package absent from both stores whose key is known (the key): through the hits' claimed
    /// tree digests, some keys the local plan cannot compute yet.
    pub missing: HashMap<NodeIndex, String>,
    /// Entries the registry has that a pull would refuse: (label, why).
    pub refused: Vec<(String, String)>,
}

/// Which keys of the graph the registry has, following each hit's claimed tree digest to its
/// dependents' keys. Nothing is downloaded but manifests and metadata; nothing is written.
pub fn lookup(
    graph: &BuildGraph,
    settings: &BuildSettings,
    remote: &RemoteCacheSettings,
) -> Result<Lookup, RemoteError> {
    let store = ArtifactStore::open(&settings.cache_root).map_err(RemoteError::Store)?;
    let client = Client::connect(&remote.reference, &remote.options).map_err(RemoteError::Connect)?;
    let (mut found, mut gone) = (Lookup::default(), None);
    let walked = walk(graph, settings, &store, |i, inputs, key| {
        let tag = format::tag(graph.name(i), key).ok().filter(|_| gone.is_none())?;
        match manifest_and_meta(&client, &tag, inputs) {
            Ok(Some((_, meta))) => {
                found.hits.insert(i, key.to_string());
                Some(meta.tree_digest)
            }
            Ok(None) => {
                found.missing.insert(i, key.to_string());
                None
            }
            Err(e) if e.unusable() => {
                gone = Some(e);
                None
            }
            Err(e) => {
                found.missing.insert(i, key.to_string());
                found.refused.push((graph.label(i).to_string(), chain(&e)));
                None
            }
        }
    });
    walked.map_err(|e| RemoteError::Format(chain(&e)))?;
    match gone {
        Some(e) => Err(e),
        None => Ok(found),
    }
}
