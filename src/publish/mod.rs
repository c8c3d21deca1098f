//! Publishing: an image that `compose build` wrote, pushed to a registry with its records attached, and
//! checked back from the registry.
//!
//! ```text
//! push          the layout's blobs (HEAD first, mounts, chunks), its manifests, then the tag
//! attach        SBOMs and provenance as OCI artifacts whose `subject` is the manifest they describe
//! sign          with a key: the provenance as a DSSE envelope, and a signed statement naming the image's
//!               digest, the tag it was pushed as and the digest of every attachment
//! verify_image  pulls the manifest and its referrers and checks all of that with the public key
//! ```

mod attach;
pub mod layout;
mod pushlog;
mod sign;
#[cfg(test)]
mod tests;
mod verify;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use attach::{Attached, Attachment, Kind, SIGNATURE_TYPE};
pub use layout::Layout;
pub use verify::{Check, VerifyReport, VerifyRequest, verify_image};

use crate::registry::{BlobPush, BlobSource, Client, Options, Reference, RegistryError};
use crate::report::Reporter;
use crate::sign::{SignError, SigningKey};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("`{}` is not an image compose can push: {reason}", path.display())]
    Layout { path: PathBuf, reason: String },
    #[error("cannot {op}")]
    Registry { op: String, source: Box<RegistryError> },
    #[error("cannot read the record `{}`", path.display())]
    ReadRecord { path: PathBuf, source: std::io::Error },
    #[error("a signed push signs the provenance, and none was found for `{}`", image.display())]
    MissingProvenance { image: PathBuf },
    #[error("cannot sign {what}")]
    Sign { what: String, source: SignError },
    #[error("the registry stored the manifest of `{reference}` as {got}, not {expected}")]
    DigestChanged { reference: String, expected: String, got: String },
    #[error("`{reference}` is not in the registry")]
    NotFound { reference: String },
    #[error("`{reference}` failed verification: {reason}")]
    Verification { reference: String, reason: String },
}

impl PublishError {
    pub fn registry(op: impl Into<String>) -> impl FnOnce(RegistryError) -> PublishError {
        let op = op.into();
        move |source| PublishError::Registry { op, source: Box::new(source) }
    }

    /// The registry error underneath, for its hint.
    pub fn registry_error(&self) -> Option<&RegistryError> {
        match self {
            PublishError::Registry { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// One `compose push` (or `compose build --push`).
pub struct PushRequest<'a> {
    /// The OCI layout directory or OCI archive `compose build` wrote.
    pub image: PathBuf,
    /// Where to: `REGISTRY/REPO[:TAG]`; no tag: the layout's own tag, else `latest`.
    pub reference: Reference,
    /// The records to attach (`attachments_beside` finds them by name).
    pub attachments: Vec<Attachment>,
    pub sign_key: Option<&'a SigningKey>,
    pub options: Options,
    /// Where pushed blobs are remembered (`$CACHE/registry-pushes.tsv`), so that a blob already pushed to
    /// another repository of the same registry is mounted rather than uploaded again.
    pub push_log: Option<PathBuf>,
}

/// What the blobs of a push did.
#[derive(Debug, Clone, Default)]
pub struct BlobCounts {
    pub uploaded: usize,
    pub existed: usize,
    pub mounted: usize,
    pub bytes_uploaded: u64,
    pub chunks: u32,
}

#[derive(Debug, Clone)]
pub struct PushOutcome {
    /// As pushed, with its tag.
    pub reference: Reference,
    /// What the tag names: the manifest, or the image index.
    pub digest: String,
    pub media_type: String,
    /// The image's blobs (configs and layers).
    pub blobs: BlobCounts,
    pub manifests: usize,
    pub attachments: Vec<Attached>,
    /// The key id, when the push was signed.
    pub signed_by: Option<String>,
    pub took: Duration,
}

/// Pushes the image, then its attachments, then (with a key) its signature.
pub fn push(req: &PushRequest, reporter: &dyn Reporter) -> Result<PushOutcome, PublishError> {
    let started = Instant::now();
    if req.sign_key.is_some() && !req.attachments.iter().any(|a| a.kind == Kind::Provenance) {
        return Err(PublishError::MissingProvenance { image: req.image.clone() });
    }
    let layout = Layout::open(&req.image)?;
    let reference = with_tag(&req.reference, layout.ref_name.as_deref());
    let client =
        Client::connect(&reference, &req.options).map_err(PublishError::registry(format!("reach `{reference}`")))?;
    let log = req.push_log.as_deref().map(pushlog::PushLog::new);
    let mut blobs = BlobCounts::default();
    let mut manifests = 0;
    for m in layout.top.manifests() {
        for b in &m.blobs {
            push_blob(&client, &layout, b, log.as_ref(), &mut blobs)?;
        }
        if m.descriptor.digest != layout.top.descriptor.digest {
            put(&client, &m.descriptor.digest, m)?;
            manifests += 1;
        }
    }
    put(&client, reference.tag_or_digest(), &layout.top)?;
    manifests += 1;
    reporter.note(&format!("pushed {reference}@{}; attaching the records", layout.top.descriptor.digest));
    let mut attacher = attach::Attacher::new(&client);
    let mut attached = Vec::new();
    for a in &req.attachments {
        attached.push(attacher.attach_record(&layout.top, a, req.sign_key)?);
    }
    let signed_by = match req.sign_key {
        Some(key) => {
            attached.push(sign::attach_signature(&mut attacher, &layout.top, &reference, &attached, key)?);
            Some(key.key_id())
        }
        None => None,
    };
    Ok(PushOutcome {
        digest: layout.top.descriptor.digest.clone(),
        media_type: layout.top.descriptor.media_type.clone(),
        reference,
        blobs,
        manifests,
        attachments: attached,
        signed_by,
        took: started.elapsed(),
    })
}

/// `reference` with a tag: its own, else the layout's (its ref name is a tag, or a reference whose part
/// after the last `:` is one), else `latest`.
fn with_tag(reference: &Reference, layout_ref: Option<&str>) -> Reference {
    if reference.tag.is_some() || reference.digest.is_some() {
        return reference.clone();
    }
    let tag = layout_ref.map(|r| r.rsplit_once(':').map_or(r, |(_, t)| t)).filter(|t| is_tag(t)).unwrap_or("latest");
    reference.with_tag(tag)
}

/// The distribution spec's tag grammar: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn is_tag(t: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-';
    !t.is_empty() && t.len() <= 128 && t.chars().all(ok) && !t.starts_with(['.', '-'])
}

fn push_blob(
    client: &Client,
    layout: &Layout,
    b: &crate::registry::Descriptor,
    log: Option<&pushlog::PushLog>,
    counts: &mut BlobCounts,
) -> Result<(), PublishError> {
    let path = layout.blob_path(&b.digest);
    let from = log.and_then(|l| l.other_repository(client.registry(), client.repository(), &b.digest));
    let op = format!("push blob {} to `{}/{}`", b.digest, client.registry(), client.repository());
    match client
        .push_blob(&b.digest, b.size, BlobSource::File(&path), from.as_deref())
        .map_err(PublishError::registry(op))?
    {
        BlobPush::Exists => counts.existed += 1,
        BlobPush::Mounted => counts.mounted += 1,
        BlobPush::Uploaded { chunks } => {
            counts.uploaded += 1;
            counts.bytes_uploaded += b.size;
            counts.chunks += chunks;
        }
    }
    if let Some(l) = log {
        l.record(client.registry(), client.repository(), &b.digest);
    }
    Ok(())
}

/// PUTs a manifest or index under `tag_or_digest` and checks the registry stored the same bytes.
fn put(client: &Client, tag_or_digest: &str, node: &layout::Node) -> Result<(), PublishError> {
    let op = format!(
        "push manifest {} as `{}/{}:{tag_or_digest}`",
        node.descriptor.digest,
        client.registry(),
        client.repository()
    );
    let put = client
        .put_manifest(tag_or_digest, &node.descriptor.media_type, &node.bytes)
        .map_err(PublishError::registry(op))?;
    if put.digest != node.descriptor.digest {
        return Err(PublishError::DigestChanged {
            reference: format!("{}/{}:{tag_or_digest}", client.registry(), client.repository()),
            expected: node.descriptor.digest.clone(),
            got: put.digest,
        });
    }
    Ok(())
}

/// The records `compose build` wrote beside the image at `image` (`out/busybox.oci` or
/// `out/busybox.oci.tar`): each platform's SPDX and CycloneDX (`NAME-ARCH.*`, or `NAME.*` for an image
/// of one manifest) attached to its manifest, and `NAME.provenance.json` to what the tag names.
/// Records that are not there are left out (the caller says so).
pub fn attachments_beside(image: &Path, layout: &Layout) -> (Vec<Attachment>, Vec<PathBuf>) {
    let file = image.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let name = file.strip_suffix(".oci.tar").or_else(|| file.strip_suffix(".oci")).unwrap_or(&file).to_string();
    let dir = image.parent().unwrap_or(Path::new("."));
    let (mut found, mut missing) = (Vec::new(), Vec::new());
    let single = layout.top.children.is_empty();
    for m in layout.top.manifests() {
        for kind in [Kind::Spdx, Kind::CycloneDx] {
            let candidates: Vec<String> = match (&m.platform, single) {
                (Some(p), _) => vec![format!("{name}-{}", p.arch()), name.clone()],
                (None, _) => vec![name.clone()],
            };
            let paths: Vec<PathBuf> = candidates.iter().map(|n| dir.join(format!("{n}.{}", kind.suffix()))).collect();
            match paths.iter().find(|p| p.is_file()) {
                Some(p) => found.push(Attachment { kind, path: p.clone(), subject: Some(m.descriptor.digest.clone()) }),
                None => missing.push(paths[0].clone()),
            }
        }
    }
    let prov = dir.join(format!("{name}.{}", Kind::Provenance.suffix()));
    match prov.is_file() {
        true => found.push(Attachment { kind: Kind::Provenance, path: prov, subject: None }),
        false => missing.push(prov),
    }
    (found, missing)
}
