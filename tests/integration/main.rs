//! Integration tests: the real `compose` binary on fixture recipes (fast, offline), plus the slow tiers
//! (docs/testing.md), each test `#[ignore = "tier: NAME"]` and named with its tier as a prefix: the
//! real end-to-end busybox build with the musl toolchain (`e2e`), the package collection built and run
//! (`collection`) and the static base images (`static_base`), all tier `e2e`; the real container
//! engines (`engines_*`), the SBOM validators (`validators_*`) and `compose verify`'s perturbations
//! (`verify_*`) on fixture images, and a real registry server (`registry_*`, started by
//! `registry_server`).

mod engines;
mod harness;
mod registry_server;

mod airgap;
mod audit;
mod audit_images;
mod cache;
mod collection;
mod concurrency;
mod crash;
mod cross;
mod e2e;
mod example;
mod fixture_build;
mod host;
mod host_compiler;
mod image;
mod image_base;
mod incremental;
mod local_sources;
mod new;
mod platforms;
mod push;
mod recipe_errors;
mod records;
mod registry_e2e;
mod registry_harness;
mod remote_cache;
mod sandbox;
mod scheduler;
mod signing;
mod source_safety;
mod static_base;
mod styles;
mod verify;
mod vulns;
mod vulns_evidence;
