//! PLACEHOLDER (uncommitted): contract signatures only, replaced by the registry branch.
#![allow(unused)]
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference { pub registry: String, pub repository: String, pub tag: Option<String>, pub digest: Option<String> }
impl Reference {
    pub fn parse(s: &str) -> Result<Reference, RegistryError> { todo!() }
    pub fn tag_or_digest(&self) -> &str { todo!() }
    pub fn with_tag(&self, tag: &str) -> Reference { todo!() }
    pub fn with_digest(&self, digest: &str) -> Reference { todo!() }
}
impl std::fmt::Display for Reference { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { todo!() } }
#[derive(Debug, Clone)]
pub struct Credentials { pub username: String, pub password: String }
#[derive(Debug, Clone)]
pub struct Options { pub tls_verify: bool, pub cert_dir: Option<PathBuf>, pub auth_file: Option<PathBuf>, pub credentials: Option<Credentials>, pub chunk_size: u64, pub retries: u32 }
impl Default for Options { fn default() -> Self { todo!() } }
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")] pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(rename = "artifactType", skip_serializing_if = "Option::is_none", default)] pub artifact_type: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)] pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none", default)] pub platform: Option<serde_json::Value>,
}
pub enum BlobSource<'a> { File(&'a Path), Bytes(&'a [u8]) }
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush { Exists, Mounted, Uploaded { chunks: u32 } }
pub struct Manifest { pub media_type: String, pub digest: String, pub bytes: Vec<u8> }
pub struct ManifestPut { pub digest: String, pub subject_accepted: bool }
pub enum ReferrersVia { Api, TagSchema }
pub struct Referrers { pub descriptors: Vec<Descriptor>, pub via: ReferrersVia }
pub struct Client;
impl Client {
    pub fn connect(reference: &Reference, options: &Options) -> Result<Client, RegistryError> { todo!() }
    pub fn registry(&self) -> &str { todo!() }
    pub fn repository(&self) -> &str { todo!() }
    pub fn has_blob(&self, digest: &str) -> Result<bool, RegistryError> { todo!() }
    pub fn push_blob(&self, digest: &str, size: u64, data: BlobSource<'_>, mount_from: Option<&str>) -> Result<BlobPush, RegistryError> { todo!() }
    pub fn get_blob(&self, digest: &str, out: &mut dyn std::io::Write) -> Result<u64, RegistryError> { todo!() }
    pub fn put_manifest(&self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<ManifestPut, RegistryError> { todo!() }
    pub fn get_manifest(&self, reference: &str) -> Result<Option<Manifest>, RegistryError> { todo!() }
    pub fn referrers(&self, digest: &str) -> Result<Referrers, RegistryError> { todo!() }
    pub fn add_to_referrers_tag(&self, subject: &str, descriptor: &Descriptor) -> Result<(), RegistryError> { todo!() }
}
#[derive(Debug, thiserror::Error)]
pub enum RegistryError { #[error("x")] X, #[error("d")] DigestMismatch { digest: String, actual: String } }
impl RegistryError { pub fn hint(&self) -> Option<String> { None } }
