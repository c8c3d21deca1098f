//! The remote artifact cache: an OCI registry repository as a second level below the local artifact
//! store, so a team's machines build each key once.
//!
//! - `pull` (before the plan): every package whose key is known and not in the local store is asked for
//!   in the registry (`{name}-{key}`); a hit is checked (its metadata names this package, key and
//!   target; its layer's digest; its unpacked tree's digest against the metadata's) and committed to
//!   the local store under the key's build lock. The plan then sees it as stored: its sources are never
//!   fetched.
//! - `push` (after the drain, with `--cache-push`): every artifact this run built is packed and
//!   uploaded on a few threads.
//! - `lookup` (`compose explain --cache`): which keys the registry has, reading only metadata.
//!
//! The registry is an accelerator, never a requirement: one that cannot be reached is one warning, and
//! the build goes on locally; an entry that fails a check is refused with a warning and built locally;
//! a failed push is a warning. Nothing here fails a build. The checks catch a corrupted or swapped blob
//! and a tree that does not match its metadata; they cannot catch a writer to the registry who forges a
//! consistent entry (docs/ARCHITECTURE.md, "Remote artifact cache").

mod format;
mod pack;
mod pull;
mod push;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::registry::{Client, Options, Reference, RegistryError};
use crate::report::Reporter;

pub use format::{ARTIFACT_TYPE, META_MEDIA_TYPE, TREE_MEDIA_TYPE, tag};
pub use pack::{PackError, UnpackError, pack, unpack};
pub(super) use pull::pull;
pub use pull::{Lookup, lookup};
pub(super) use push::push;

/// `--cache REGISTRY/REPO` and `--cache-push`, with how to reach the registry.
#[derive(Debug, Clone)]
pub struct RemoteCacheSettings {
    /// REGISTRY/REPO, no tag: each artifact is a tag in this repository.
    pub reference: Reference,
    pub options: Options,
    /// Upload every artifact this run builds.
    pub push: bool,
}

/// Why one artifact was not taken from (or given to) the registry.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot use the registry")]
    Connect(#[source] RegistryError),
    #[error("cannot {op}")]
    Registry { op: &'static str, source: RegistryError },
    #[error("{0}")]
    Format(String),
    #[error("its metadata does not match this build: {0}")]
    Meta(String),
    #[error("its tree digest is {actual}, not the {claimed} its metadata claims")]
    TreeDigest { claimed: String, actual: String },
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error(transparent)]
    Pack(#[from] PackError),
    #[error("cannot {op} `{}`", path.display())]
    Io { op: &'static str, path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot store it")]
    Store(#[source] super::artifact::ArtifactError),
}

impl RemoteError {
    /// Whether the registry itself cannot be used (out of reach, or refusing these credentials), rather
    /// than one entry being wrong: then it is not asked again this run.
    fn unusable(&self) -> bool {
        use RegistryError as R;
        match self {
            RemoteError::Connect(_) => true,
            RemoteError::Registry { source, .. } => {
                matches!(source, R::Connect { .. } | R::Unauthorized { .. } | R::PlainHttpRefused { .. })
            }
            _ => false,
        }
    }
}

/// The error and its causes on one line: `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The registry of one run, connected on first use. After it proved unreachable, it is not asked again
/// (one warning, not one per package).
pub(super) struct Remote<'a> {
    pub(super) settings: &'a RemoteCacheSettings,
    reporter: &'a dyn Reporter,
    client: OnceLock<Option<Client>>,
    down: AtomicBool,
}

impl<'a> Remote<'a> {
    pub(super) fn new(settings: &'a RemoteCacheSettings, reporter: &'a dyn Reporter) -> Self {
        Remote { settings, reporter, client: OnceLock::new(), down: AtomicBool::new(false) }
    }

    /// The client, or `None` when the registry cannot be reached (said once, ending with `then`).
    fn client(&self, then: &str) -> Option<&Client> {
        if self.down.load(Ordering::Relaxed) {
            return None;
        }
        let c = self.client.get_or_init(|| match Client::connect(&self.settings.reference, &self.settings.options) {
            Ok(c) => Some(c),
            Err(e) => {
                self.gone(&RemoteError::Connect(e), then);
                None
            }
        });
        c.as_ref()
    }

    /// The registry stopped answering: one warning, and no more questions this run.
    fn gone(&self, e: &RemoteError, then: &str) {
        if !self.down.swap(true, Ordering::Relaxed) {
            self.warn(&format!("`{}`: {}; {then}", self.settings.reference, chain(e)));
        }
    }

    fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    fn warn(&self, text: &str) {
        self.reporter.warning(&format!("warning: remote cache: {text}"));
    }
}
