//! Integration tests: the real `compose` binary on fixture recipes (fast, offline), plus the real
//! end-to-end busybox build with the musl toolchain and real container engines (`e2e`), and the
//! package collection (lua, jq, sqlite, strace, dropbear, toolkit, sshd) built and run (`collection`).

mod engines;
mod harness;

mod airgap;
mod audit;
mod audit_images;
mod collection;
mod e2e;
mod fixture_build;
mod host;
mod image;
mod incremental;
mod recipe_errors;
mod records;
mod scheduler;
mod source_safety;
mod verify;
