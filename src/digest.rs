//! SHA-256 and SHA-1 over bulk data: tarballs, artifact trees, every file of a rootfs, the image
//! streams. Backed by aws-lc-rs (already linked for TLS), whose assembly runs about twice as fast as
//! the sha2 and sha1 crates' portable code on CPUs without the SHA extensions (measured on this
//! project's 2-core Xeon: sha256 217 against 111 MB/s, sha1 460 against 194 MB/s). Small digests
//! (keys, ids, recipe and blob digests) go through here too, so there is one SHA implementation; the
//! sha2 and sha1 crates are only dev-dependencies, to check this one against.

use aws_lc_rs::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY, SHA256};

/// A streaming SHA-256.
#[derive(Clone)]
pub struct Sha256(Context);

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    pub fn new() -> Self {
        Sha256(Context::new(&SHA256))
    }
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data)
    }
    /// The lowercase hex digest.
    pub fn hex(self) -> String {
        hex::encode(self.0.finish())
    }
    /// The lowercase hex digest of `data`.
    pub fn hex_of(data: &[u8]) -> String {
        hex::encode(Self::bytes_of(data))
    }
    /// The raw 32-byte digest of `data` (for ids cut from a digest).
    pub fn bytes_of(data: &[u8]) -> [u8; 32] {
        aws_lc_rs::digest::digest(&SHA256, data).as_ref().try_into().expect("SHA-256 is 32 bytes")
    }
}

/// A streaming SHA-1 (SPDX 2.3 requires one per file; nothing here trusts it for integrity).
#[derive(Clone)]
pub struct Sha1(Context);

impl Default for Sha1 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha1 {
    pub fn new() -> Self {
        Sha1(Context::new(&SHA1_FOR_LEGACY_USE_ONLY))
    }
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data)
    }
    pub fn hex(self) -> String {
        hex::encode(self.0.finish())
    }
    /// The lowercase hex digest of `data`.
    pub fn hex_of(data: &[u8]) -> String {
        hex::encode(aws_lc_rs::digest::digest(&SHA1_FOR_LEGACY_USE_ONLY, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    #[test]
    fn same_digests_as_the_reference_crates_across_chunk_boundaries() {
        let data: Vec<u8> = (0..200_003u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut s256 = Sha256::new();
        let mut s1 = Sha1::new();
        for chunk in data.chunks(4093) {
            s256.update(chunk);
            s1.update(chunk);
        }
        assert_eq!(s256.hex(), hex::encode(sha2::Sha256::digest(&data)));
        assert_eq!(s1.hex(), hex::encode(sha1::Sha1::digest(&data)));
        assert_eq!(Sha256::hex_of(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    /// FIPS 180-2 appendix A vectors ("abc"), and the one-shot functions agree with the streaming ones.
    #[test]
    fn one_shot_digests_match_the_known_vectors() {
        assert_eq!(Sha1::hex_of(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(Sha1::hex_of(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex::encode(Sha256::bytes_of(b"abc")), Sha256::hex_of(b"abc"));
        let mut s1 = Sha1::new();
        s1.update(b"a");
        s1.update(b"bc");
        assert_eq!(s1.hex(), Sha1::hex_of(b"abc"));
    }
}
