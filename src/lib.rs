//! compose: minimal container root filesystems from pinned sources.
//!
//! Data flows one way: `recipe` -> `source` -> `build` (fed by `toolchain` and `graph`) -> `rootfs`
//! -> `export` -> `records` (SBOMs, provenance, file manifest); `audit` reads finished images back.
//! `pipeline` runs them in order for one `compose build`; `cache` measures and prunes the cache; `sign`
//! makes and checks DSSE envelopes (signed provenance) with PEM keys; `vuln` matches packages against
//! offline NVD and OSV feeds. The command layer (`src/cli`, in the binary) turns flags into requests
//! and outcomes into lines.

pub mod audit;
pub mod build;
pub mod cache;
pub mod digest;
pub mod export;
pub mod graph;
pub mod lock;
pub mod pipeline;
pub mod publish;
pub mod recipe;
pub mod records;
pub mod registry;
pub mod report;
pub mod rootfs;
pub mod scaffold;
pub mod sign;
pub mod small_writes;
pub mod source;
pub mod timings;
pub mod toolchain;
pub mod verify;
pub mod vuln;
