//! The sandbox's `/etc`: only what compilers and shells need, never the host's whole `/etc` (its
//! `shadow`, `ssh/`, `docker/`, registry and package-manager credentials). A recipe is code from
//! elsewhere.
//!
//! It is a directory of the new root's tmpfs, so it is made read-only with the root. The host's
//! entries below are bound read-only (a symlink is recreated as the same symlink); the account and
//! name-service files are written by compose.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{Step, bind, ctx};

/// Host entries a build needs: `alternatives/` (Debian's `cc`, `c++`, `awk`, `pager`... are
/// symlinks through it) and the dynamic loader's cache and configuration (`ld` reads it too).
pub const FROM_HOST: [&str; 4] = ["alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d"];

/// Files compose writes: accounts with root and nobody only, and name lookups from files only.
pub const GENERATED: [(&str, &str); 4] = [
    ("passwd", "root:x:0:0:root:/build/home:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
    ("group", "root:x:0:\nnobody:x:65534:\n"),
    ("nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n"),
    ("hosts", "127.0.0.1\tlocalhost compose\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
];

/// Fills `etc` (an empty directory of the new root) from the host's `/etc` at `host`.
pub(super) fn populate(host: &Path, etc: &Path) -> Step {
    let mode =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).map_err(ctx(p.display()));
    mode(etc, 0o755)?;
    for (name, text) in GENERATED {
        let path = etc.join(name);
        std::fs::write(&path, text).map_err(ctx(path.display()))?;
        mode(&path, 0o644)?;
    }
    for name in FROM_HOST {
        let (src, dst) = (host.join(name), etc.join(name));
        match std::fs::symlink_metadata(&src) {
            Ok(m) if m.is_symlink() => {
                let target = std::fs::read_link(&src).map_err(ctx(src.display()))?;
                std::os::unix::fs::symlink(target, &dst).map_err(ctx(dst.display()))?;
            }
            Ok(_) => bind(&src, &dst, false)?,
            Err(_) => {}
        }
    }
    Ok(())
}
