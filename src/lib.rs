//! compose: minimal container root filesystems from pinned sources.
//!
//! Data flows one way: `recipe` -> `source` -> `build` (fed by `toolchain` and `graph`) -> `rootfs`
//! -> `export` -> `records` (SBOMs, provenance, file manifest); `audit` reads finished images back.
//! The command layer (`src/cli`, in the binary) is the only place that sees them all.

pub mod audit;
pub mod build;
pub mod digest;
pub mod export;
pub mod graph;
pub mod lock;
pub mod recipe;
pub mod records;
pub mod report;
pub mod rootfs;
pub mod small_writes;
pub mod source;
pub mod toolchain;
pub mod verify;
