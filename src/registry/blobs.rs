//! Blobs: existence (HEAD), upload (cross-repository mount, monolithic PUT or PATCH chunks), and
//! download streamed through a hash.

use std::io::Read;

use reqwest::{Method, StatusCode, Url};

use super::client::Client;
use super::http::{Payload, Req, location, protocol, status_error};
use super::session::scope;
use super::{BlobPush, BlobSource, RegistryError, valid_digest};
use crate::digest::Sha256;

const OCTET_STREAM: &str = "application/octet-stream";
const BUFFER: usize = 256 << 10;

impl Client {
    pub fn has_blob(&self, digest: &str) -> Result<bool, RegistryError> {
        self.head_blob(digest, vec![scope(&self.repository, false)])
    }

    fn head_blob(&self, digest: &str, scopes: Vec<String>) -> Result<bool, RegistryError> {
        check_digest(digest)?;
        let op = format!("look for blob {digest}");
        let resp =
            self.session.send(&op, &Req::new(Method::HEAD, self.repo_url(&format!("blobs/{digest}")), scopes))?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(status_error(&op, resp)),
        }
    }

    /// HEAD first (Exists); then, if `mount_from` names another repository of this registry, a
    /// cross-repository mount (Mounted, or falls through to upload when the registry answers 202);
    /// else a monolithic PUT (size <= chunk_size) or PATCH chunks + PUT.
    /// The bytes are checked against `digest` and `size` before upload (DigestMismatch, SizeMismatch).
    pub fn push_blob(
        &self,
        digest: &str,
        size: u64,
        data: BlobSource<'_>,
        mount_from: Option<&str>,
    ) -> Result<BlobPush, RegistryError> {
        check_digest(digest)?;
        check_source(digest, size, data)?;
        let mount_from = mount_from.filter(|from| *from != self.repository);
        let mut scopes = vec![scope(&self.repository, true)];
        scopes.extend(mount_from.map(|from| scope(from, false)));
        if self.head_blob(digest, scopes.clone())? {
            return Ok(BlobPush::Exists);
        }
        let op = format!("upload blob {digest}");
        let start = match mount_from {
            Some(from) => match self.mount(&op, digest, from, &scopes)? {
                Some(upload) => upload,
                None => return Ok(BlobPush::Mounted),
            },
            None => self.start_upload(&op, self.repo_url("blobs/uploads/"), &scopes)?,
        };
        let chunk = self.options.chunk_size.max(1);
        let chunks = if size <= chunk {
            let req = Req::new(Method::PUT, with_digest(start, digest), scopes)
                .header("Content-Type", OCTET_STREAM)
                .body(payload(data, 0, size))
                .long();
            self.expect_created(&op, &req)?;
            1
        } else {
            self.upload_chunks(&op, digest, start, size, data, &scopes)?
        };
        Ok(BlobPush::Uploaded { chunks })
    }

    /// `POST ?mount=&from=`: None when mounted (201); the upload the registry started instead (202).
    fn mount(&self, op: &str, digest: &str, from: &str, scopes: &[String]) -> Result<Option<Url>, RegistryError> {
        let mut url = self.repo_url("blobs/uploads/");
        url.query_pairs_mut().append_pair("mount", digest).append_pair("from", from);
        let resp = self.session.send(op, &Req::new(Method::POST, url.clone(), scopes.to_vec()))?;
        match resp.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => Ok(Some(location(&resp).ok_or_else(|| no_location(op, &url))?)),
            _ => Err(status_error(op, resp)),
        }
    }

    /// `POST /v2/<repo>/blobs/uploads/`: the upload's URL.
    fn start_upload(&self, op: &str, url: Url, scopes: &[String]) -> Result<Url, RegistryError> {
        let resp = self.session.send(op, &Req::new(Method::POST, url.clone(), scopes.to_vec()))?;
        match resp.status() {
            StatusCode::ACCEPTED => location(&resp).ok_or_else(|| no_location(op, &url)),
            _ => Err(status_error(op, resp)),
        }
    }

    /// PATCHes of `chunk_size` (`Content-Range: start-end`, inclusive), each to the Location the last
    /// answered, then the closing `PUT ?digest=`. Returns the number of PATCHes.
    fn upload_chunks(
        &self,
        op: &str,
        digest: &str,
        mut upload: Url,
        size: u64,
        data: BlobSource<'_>,
        scopes: &[String],
    ) -> Result<u32, RegistryError> {
        let mut chunks = 0;
        for (start, len) in chunk_ranges(size, self.options.chunk_size) {
            let end = start + len - 1;
            let req = Req::new(Method::PATCH, upload.clone(), scopes.to_vec())
                .header("Content-Type", OCTET_STREAM)
                .header("Content-Range", format!("{start}-{end}"))
                .body(payload(data, start, len))
                .long();
            let resp = self.session.send(op, &req)?;
            match resp.status() {
                StatusCode::ACCEPTED => upload = location(&resp).ok_or_else(|| no_location(op, &upload))?,
                StatusCode::RANGE_NOT_SATISFIABLE => {
                    let has =
                        resp.headers().get("Range").and_then(|v| v.to_str().ok()).unwrap_or("nothing").to_string();
                    let reason = format!("the registry refused bytes {start}-{end} (HTTP 416; it holds `{has}`)");
                    return Err(protocol(op, &upload, reason));
                }
                _ => return Err(status_error(op, resp)),
            }
            chunks += 1;
        }
        self.expect_created(op, &Req::new(Method::PUT, with_digest(upload, digest), scopes.to_vec()))?;
        Ok(chunks)
    }

    fn expect_created(&self, op: &str, req: &Req<'_>) -> Result<(), RegistryError> {
        let resp = self.session.send(op, req)?;
        match resp.status() {
            StatusCode::CREATED => Ok(()),
            _ => Err(status_error(op, resp)),
        }
    }

    /// Streams the blob into `out`, checking its sha256 against `digest` (DigestMismatch); returns its size.
    pub fn get_blob(&self, digest: &str, out: &mut dyn std::io::Write) -> Result<u64, RegistryError> {
        check_digest(digest)?;
        let op = format!("download blob {digest}");
        let url = self.repo_url(&format!("blobs/{digest}"));
        let mut resp =
            self.session.send(&op, &Req::new(Method::GET, url, vec![scope(&self.repository, false)]).long())?;
        if resp.status() != StatusCode::OK {
            return Err(status_error(&op, resp));
        }
        let url = resp.url().to_string();
        let (mut hash, mut buf, mut total) = (Sha256::new(), vec![0u8; BUFFER], 0u64);
        loop {
            let n = match resp.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(RegistryError::Transfer { op, url, source }),
            };
            hash.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|source| RegistryError::WriteBlob { digest: digest.to_string(), source })?;
            total += n as u64;
        }
        let actual = format!("sha256:{}", hash.hex());
        if actual != digest {
            return Err(RegistryError::DigestMismatch { digest: digest.to_string(), actual });
        }
        Ok(total)
    }
}

/// `(start, len)` of each PATCH: `chunk` bytes each, the last one shorter.
pub(crate) fn chunk_ranges(size: u64, chunk: u64) -> impl Iterator<Item = (u64, u64)> {
    let chunk = chunk.max(1);
    (0..size.div_ceil(chunk)).map(move |i| (i * chunk, chunk.min(size - i * chunk)))
}

fn payload<'a>(data: BlobSource<'a>, start: u64, len: u64) -> Payload<'a> {
    match data {
        BlobSource::Bytes(b) => Payload::Bytes(&b[start as usize..(start + len) as usize]),
        BlobSource::File(path) => Payload::File { path, offset: start, len },
    }
}

fn with_digest(mut upload: Url, digest: &str) -> Url {
    upload.query_pairs_mut().append_pair("digest", digest);
    upload
}

fn no_location(op: &str, url: &Url) -> RegistryError {
    protocol(op, url, "the answer has no Location for the upload")
}

pub(crate) fn check_digest(digest: &str) -> Result<(), RegistryError> {
    if valid_digest(digest) {
        return Ok(());
    }
    let reason = "a digest is `sha256:` and 64 lowercase hex digits".to_string();
    Err(RegistryError::InvalidReference { reference: digest.to_string(), reason })
}

/// The bytes to upload must be the ones named: hashed (a file chunk by chunk) before anything is sent.
fn check_source(digest: &str, size: u64, data: BlobSource<'_>) -> Result<(), RegistryError> {
    let (actual, actual_size) = match data {
        BlobSource::Bytes(b) => (Sha256::hex_of(b), b.len() as u64),
        BlobSource::File(path) => {
            let err = |source| RegistryError::ReadBlob { path: path.to_path_buf(), source };
            let mut file = std::fs::File::open(path).map_err(err)?;
            let (mut hash, mut buf, mut total) = (Sha256::new(), vec![0u8; BUFFER], 0u64);
            loop {
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => (hash.update(&buf[..n]), total += n as u64),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(err(e)),
                };
            }
            (hash.hex(), total)
        }
    };
    if actual_size != size {
        return Err(RegistryError::SizeMismatch { digest: digest.to_string(), expected: size, actual: actual_size });
    }
    let actual = format!("sha256:{actual}");
    if actual != digest {
        return Err(RegistryError::DigestMismatch { digest: digest.to_string(), actual });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ranges_cover_the_blob_once() {
        assert_eq!(chunk_ranges(10, 4).collect::<Vec<_>>(), vec![(0, 4), (4, 4), (8, 2)]);
        assert_eq!(chunk_ranges(8, 4).collect::<Vec<_>>(), vec![(0, 4), (4, 4)]);
        assert_eq!(chunk_ranges(3, 8).collect::<Vec<_>>(), vec![(0, 3)]);
        assert_eq!(chunk_ranges(0, 8).count(), 0);
        assert_eq!(chunk_ranges(5, 0).count(), 5, "a zero chunk size means 1 byte, not a loop");
    }

    #[test]
    fn sources_are_checked_before_upload() {
        let digest = format!("sha256:{}", Sha256::hex_of(b"hello"));
        assert!(check_source(&digest, 5, BlobSource::Bytes(b"hello")).is_ok());
        assert!(matches!(
            check_source(&digest, 5, BlobSource::Bytes(b"hellO")),
            Err(RegistryError::DigestMismatch { .. })
        ));
        assert!(matches!(
            check_source(&digest, 6, BlobSource::Bytes(b"hello")),
            Err(RegistryError::SizeMismatch { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"hello").unwrap();
        assert!(check_source(&digest, 5, BlobSource::File(&path)).is_ok());
        let missing = dir.path().join("missing");
        assert!(matches!(check_source(&digest, 5, BlobSource::File(&missing)), Err(RegistryError::ReadBlob { .. })));
        assert!(check_digest("sha256:ABC").is_err());
    }
}
