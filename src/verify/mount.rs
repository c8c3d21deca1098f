//! B's cache on disorderfs: a FUSE view of a backing directory whose directory entries come back in a
//! shuffled order, so a build that depends on readdir order shows it. Unmounted when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::VerifyError;

pub struct Disorderfs {
    mountpoint: PathBuf,
}

impl Disorderfs {
    /// Mounts `backing` at `mountpoint` (both created) with shuffled directory entries.
    pub fn mount(bin: &Path, backing: &Path, mountpoint: &Path) -> Result<Disorderfs, VerifyError> {
        for d in [backing, mountpoint] {
            std::fs::create_dir_all(d).map_err(|source| VerifyError::Create { path: d.to_path_buf(), source })?;
        }
        let fail = |message: String| VerifyError::Mount { path: mountpoint.to_path_buf(), message };
        // disorderfs daemonises once the mount is in place.
        let out = Command::new(bin)
            .args(["--shuffle-dirents=yes", "--reverse-dirents=no"])
            .arg(backing)
            .arg(mountpoint)
            .output()
            .map_err(|e| fail(format!("cannot run `{}`: {e}", bin.display())))?;
        if !out.status.success() {
            return Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        let mounted = Disorderfs { mountpoint: mountpoint.to_path_buf() };
        if !is_mountpoint(mountpoint) {
            return Err(fail("disorderfs exited without mounting".into()));
        }
        Ok(mounted)
    }
}

impl Drop for Disorderfs {
    fn drop(&mut self) {
        if !is_mountpoint(&self.mountpoint) {
            return;
        }
        let ok = Command::new("umount").arg(&self.mountpoint).status().is_ok_and(|s| s.success());
        if !ok {
            for fusermount in ["fusermount3", "fusermount"] {
                if Command::new(fusermount).arg("-u").arg(&self.mountpoint).status().is_ok_and(|s| s.success()) {
                    return;
                }
            }
            let _ = Command::new("umount").arg("-l").arg(&self.mountpoint).status();
        }
    }
}

/// Whether `path` is a mount point (listed in /proc/self/mountinfo).
pub fn is_mountpoint(path: &Path) -> bool {
    let Ok(canon) = path.canonicalize() else { return false };
    let target = canon.to_string_lossy().replace(' ', "\\040");
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| t.lines().any(|l| l.split(' ').nth(4) == Some(target.as_str())))
        .unwrap_or(false)
}
