//! Who root inside the sandbox is on the host.
//!
//! Run by an ordinary user, the sandbox maps uid/gid 0 inside to that user: phases already run
//! unprivileged on the host. Run by root, mapping 0 to 0 would make every phase host root, able to
//! read and write whatever a forgotten mount shows. So when root has a subordinate range in
//! `/etc/subuid` and `/etc/subgid`, 0 inside is mapped to the first id of that range instead. Root
//! writes that map for its child directly (it holds CAP_SETUID on the host, so `newuidmap` is not
//! needed), and first hands the writable binds over to that id, since host root's files are
//! nobody's inside. Without a range, phases run as host root behind a minimal `/etc`, and
//! `compose doctor` says how to add one.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Bind, Step, ctx, sys};

const SUBUID: &str = "/etc/subuid";
const SUBGID: &str = "/etc/subgid";

/// The host uid and gid of root inside the sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostIds {
    pub uid: u32,
    pub gid: u32,
    /// Taken from the invoking user's subordinate range (written by a privileged parent), rather
    /// than the invoking user itself (written by the sandbox for itself, `setgroups` denied).
    pub subordinate: bool,
}

/// Whether build phases run as an unprivileged host id: `Ok` with those ids, or `Err` with what is
/// missing and how to get it (phases then run as host root).
pub fn host_uid_mapping() -> Result<HostIds, String> {
    // SAFETY: plain syscalls.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if uid != 0 {
        return Ok(HostIds { uid, gid, subordinate: false });
    }
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    match (subordinate_start(&read(SUBUID), "root", 0), subordinate_start(&read(SUBGID), "root", 0)) {
        (Some(uid), Some(gid)) => Ok(HostIds { uid, gid, subordinate: true }),
        _ => Err(format!(
            "compose runs as root and root has no subordinate uid and gid range in {SUBUID} and \
             {SUBGID}, so build phases run as host root (behind a minimal /etc); add one: \
             `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 root`"
        )),
    }
}

/// One line for `compose doctor`: who root inside the sandbox is on the host, and the fix when it is
/// host root.
pub fn uid_mapping_summary() -> String {
    match host_uid_mapping() {
        Ok(HostIds { uid, subordinate: true, .. }) => {
            format!("ok: root inside is host uid {uid} (root's subordinate range)")
        }
        Ok(HostIds { uid, .. }) => format!("ok: root inside is host uid {uid} (you)"),
        Err(why) => format!("WARNING: {why}"),
    }
}

/// The ids the sandbox maps 0 inside to for a command with `binds`: [`host_uid_mapping`], or else
/// the invoking user's own. Also the invoker's own when a writable bind is on FUSE (`compose verify`
/// builds on disorderfs): a FUSE mount refuses other users, or lets them create files they may not
/// then chmod.
pub(super) fn root_ids(binds: &[Bind]) -> HostIds {
    // SAFETY: plain syscalls.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let invoker = HostIds { uid, gid, subordinate: false };
    match host_uid_mapping() {
        Ok(ids) if !binds.iter().any(|b| b.writable && on_fuse(&b.host)) => ids,
        _ => invoker,
    }
}

fn on_fuse(path: &Path) -> bool {
    const FUSE_SUPER_MAGIC: libc::c_long = 0x6573_5546;
    let c = super::cstr(path);
    // SAFETY: a live path and a zeroed statfs buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as libc::c_long == FUSE_SUPER_MAGIC }
}

/// The first id of `user`'s range in an /etc/subuid-style file (`name-or-id:start:count` lines),
/// if any: the first line that names the user and has a count of at least one, never id 0.
fn subordinate_start(text: &str, user: &str, id: u32) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut f = line.trim().split(':');
        let (owner, start, count) = (f.next()?, f.next()?.parse::<u32>().ok()?, f.next()?.parse::<u32>().ok()?);
        let mine = owner == user || owner.parse::<u32>() == Ok(id);
        (mine && count >= 1 && start != 0 && f.next().is_none()).then_some(start)
    })
}

/// The maps the parent writes for its child, pid `pid`, which has just unshared its user namespace.
pub(super) fn write_maps(pid: libc::pid_t, ids: HostIds) -> Step {
    let setgroups = if ids.subordinate { "allow" } else { "deny" };
    for (file, content) in [
        ("setgroups", setgroups.to_string()),
        ("uid_map", format!("0 {} 1", ids.uid)),
        ("gid_map", format!("0 {} 1", ids.gid)),
    ] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, content).map_err(ctx(path))?;
    }
    Ok(())
}

/// Run by pid 1 once the maps are written: become root inside, that is the mapped ids on the host,
/// dropping host root's supplementary groups (they would still grant access though unmapped).
pub(super) fn become_root(ids: HostIds) -> Step {
    // SAFETY: plain syscalls.
    unsafe {
        if ids.subordinate {
            sys(libc::setgroups(0, std::ptr::null())).map_err(ctx("setgroups"))?;
        }
        sys(libc::setresgid(0, 0, 0)).map_err(ctx("setresgid 0"))?;
        sys(libc::setresuid(0, 0, 0)).map_err(ctx("setresuid 0"))?;
    }
    Ok(())
}

/// Gives every writable bind's tree to `ids`, so that root inside can write it: host root's files
/// would be nobody's there. Entries that already belong to `ids` are left alone (later phases).
pub(super) fn hand_over(binds: &[Bind], ids: HostIds) -> Step {
    for b in binds.iter().filter(|b| b.writable) {
        for e in walkdir::WalkDir::new(&b.host).follow_links(false) {
            let e = e.map_err(|e| (format!("walk {}", b.host.display()), e.into()))?;
            let m = e.metadata().map_err(|err| (format!("stat {}", e.path().display()), err.into()))?;
            if (m.uid(), m.gid()) != (ids.uid, ids.gid) {
                chown(e.path(), ids)?;
            }
        }
    }
    Ok(())
}

fn chown(path: &Path, ids: HostIds) -> Step {
    std::os::unix::fs::lchown(path, Some(ids.uid), Some(ids.gid)).map_err(ctx(format!("chown {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_range_of_a_user_by_name_or_id() {
        let text = "alice:100000:65536\n# comment\nroot:0:10\nroot:200000:0\n0:300000:65536\nroot:400000:1\n";
        assert_eq!(subordinate_start(text, "root", 0), Some(300000), "id 0 and empty ranges are skipped");
        assert_eq!(subordinate_start(text, "alice", 1000), Some(100000));
        assert_eq!(subordinate_start(text, "bob", 1001), None);
        assert_eq!(subordinate_start("", "root", 0), None);
        assert_eq!(subordinate_start("root:x:1\nroot:5:1:extra\n", "root", 0), None);
    }
}
