//! compose: minimal container root filesystems from pinned sources.
//!
//! Data flows one way: `recipe` -> `source` -> `build` (fed by `toolchain` and `graph`) -> `rootfs`
//! -> `export`. The command layer (`src/cli`, in the binary) is the only place that sees them all.

pub mod build;
pub mod export;
pub mod graph;
pub mod lock;
pub mod recipe;
pub mod report;
pub mod rootfs;
pub mod source;
pub mod toolchain;
pub mod verify;
