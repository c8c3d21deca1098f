//! Build sandbox: runs one command in fresh user/mount/pid/net/uts/ipc namespaces.
//!
//! `unshare(CLONE_NEWUSER)` fails with EINVAL in a multi-threaded process, and the
//! `compose` process is multi-threaded. So [`command`] re-executes the current binary as
//! `<exe> __sandbox <spec-json>`, and `main()` calls [`maybe_enter`] first thing, while
//! still single-threaded. The process tree of one sandboxed command:
//!
//! ```text
//! compose ── <exe> __sandbox   outer: writes the child's id maps, exits with its status
//!              └─ child        unshares, waits for its maps, exits with pid 1's status
//!                  └─ pid 1    builds the new root, then reaps orphans like an init
//!                      └─ argv the command: exactly spec.env, spec.cwd, umask 022
//! ```
//!
//! Root inside is an unprivileged host id where the host allows it ([`ids`]), and `/etc` inside
//! holds only what builds need ([`etc`]).
//!
//! Nothing here closes file descriptors, so a jobserver pipe that the caller left
//! non-CLOEXEC reaches the command.

use serde::{Deserialize, Serialize};
use std::ffi::{CStr, CString, OsStr};
use std::fmt::Display;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

mod etc;
mod ids;

pub use etc::{FROM_HOST as ETC_FROM_HOST, GENERATED as ETC_GENERATED};
pub use ids::{HostIds, host_uid_mapping, uid_mapping_summary};

const MAGIC: &str = "__sandbox";
/// The new root's system directories, taken read-only from the host when they exist. Not `/etc`:
/// see [`etc`].
const SYSTEM_DIRS: [&str; 7] = ["usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32"];
const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
const NS_FLAGS: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Bind {
    pub host: PathBuf,
    pub inside: PathBuf,
    pub writable: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SandboxSpec {
    /// e.g. host work dir -> /build (rw), host sysroot -> /sysroot (ro).
    pub binds: Vec<Bind>,
    /// Working directory, as a path inside the sandbox.
    pub cwd: PathBuf,
    /// The complete environment of the command: nothing is inherited.
    pub env: Vec<(String, String)>,
    /// argv[0] is looked up in the PATH of `env`.
    pub argv: Vec<String>,
    pub hostname: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    Namespaces,
    None,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "build sandbox unavailable: cannot create Linux namespaces here ({reason}); \
         building without isolation must be asked for explicitly with --no-sandbox"
    )]
    Unavailable { reason: String },
}

/// A path the sandbox spec cannot carry: the spec goes to the re-executed compose as JSON text.
#[derive(Debug, thiserror::Error)]
#[error("`{}` is not valid UTF-8, and the sandbox spec is passed as text", path.display())]
pub struct NonUtf8Path {
    pub path: PathBuf,
}

/// A Command that runs `spec` isolated. The caller may add stdio redirection and
/// inherited fds (fds it made non-CLOEXEC survive into the final exec).
pub fn command(spec: &SandboxSpec, isolation: Isolation) -> Result<Command, NonUtf8Path> {
    command_with_exe(Path::new("/proc/self/exe"), spec, isolation)
}

/// Like [`command`], but re-executes `exe`, which must call [`maybe_enter`] first
/// thing. For tests, whose harness binary does not.
pub fn command_with_exe(exe: &Path, spec: &SandboxSpec, isolation: Isolation) -> Result<Command, NonUtf8Path> {
    if isolation == Isolation::None {
        let mut cmd = Command::new(spec.argv.first().map_or("", String::as_str));
        cmd.args(spec.argv.iter().skip(1))
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(host_path(spec, &spec.cwd));
        // SAFETY: umask is async-signal-safe and cannot fail.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            })
        };
        return Ok(cmd);
    }
    // Inside, host paths are looked up below /oldroot, where an absolute symlink would
    // point to the wrong place: resolve them here, on the host.
    let mut spec = spec.clone();
    for b in &mut spec.binds {
        b.host = b.host.canonicalize().unwrap_or_else(|_| b.host.clone());
    }
    let paths = spec.binds.iter().flat_map(|b| [&b.host, &b.inside]).chain([&spec.cwd]);
    if let Some(p) = paths.into_iter().find(|p| p.to_str().is_none()) {
        return Err(NonUtf8Path { path: p.clone() });
    }
    let json = serde_json::to_string(&spec).map_err(|_| NonUtf8Path { path: spec.cwd.clone() })?;
    let mut cmd = Command::new(exe);
    cmd.arg(MAGIC).arg(json).env_clear();
    die_with_parent(&mut cmd);
    Ok(cmd)
}

/// The outer sandbox process gets SIGKILL when the compose thread that started it dies (a killed
/// compose), and pid 1 dies with it in turn (`init`), which takes the whole namespace down: a killed
/// compose leaves no build running that could write into a work directory the next run sweeps. Safe
/// because each worker waits for its command before its thread ends.
fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: prctl, getppid and _exit are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // Killed between fork and prctl: the signal was missed, so exit now.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        })
    };
}

/// The host path for an inside path: through the bind with the longest matching
/// `inside` prefix, or unchanged when no bind covers it.
fn host_path(spec: &SandboxSpec, inside: &Path) -> PathBuf {
    let best = spec
        .binds
        .iter()
        .filter_map(|b| Some((b, inside.strip_prefix(&b.inside).ok()?)))
        .max_by_key(|(b, _)| b.inside.components().count());
    match best {
        Some((b, rest)) => b.host.join(rest),
        None => inside.to_path_buf(),
    }
}

/// Called first thing in main(): if argv[1] is `__sandbox`, sets up the sandbox and
/// execs the command, never returning; otherwise returns at once.
pub fn maybe_enter() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(OsStr::new(MAGIC)) {
        return;
    }
    match args.next().map(|a| serde_json::from_slice(a.as_bytes())) {
        Some(Ok(spec)) => enter(&spec),
        Some(Err(e)) => fail("parse spec", e),
        None => fail("parse spec", "missing"),
    }
}

/// A setup failure: exit 125, as `env` and `nice` do for their own failures.
fn fail(step: &str, err: impl Display) -> ! {
    eprintln!("compose sandbox: {step}: {err}");
    std::process::exit(125)
}

/// A failed setup step: what was being done, and why it failed.
type Step<T = ()> = Result<T, (String, io::Error)>;

/// For `.map_err()`: attaches a description of the step to an error.
fn ctx(what: impl Display) -> impl FnOnce(io::Error) -> (String, io::Error) {
    move |e| (what.to_string(), e)
}

/// A libc return value, -1 meaning failure with errno set.
fn sys(ret: impl Into<i64>) -> io::Result<()> {
    (ret.into() != -1).then_some(()).ok_or_else(io::Error::last_os_error)
}

fn cstr(s: impl AsRef<OsStr>) -> CString {
    CString::new(s.as_ref().as_bytes()).unwrap_or_else(|_| fail("path", "contains NUL"))
}

/// The outer process: hand the writable binds over to root inside, fork the child that unshares,
/// write its id maps from here (a privileged parent may map any id; the child itself could only
/// map its own), and exit with its status.
fn enter(spec: &SandboxSpec) -> ! {
    let ids = ids::root_ids(&spec.binds);
    if ids.subordinate {
        ids::hand_over(&spec.binds, ids).unwrap_or_else(|(step, err)| fail(&step, err));
    }
    let (unshared_rx, unshared_tx) = pipe().unwrap_or_else(|e| fail("pipe", e));
    let (mapped_rx, mapped_tx) = pipe().unwrap_or_else(|e| fail("pipe", e));
    // SAFETY: single-threaded (main() just started).
    let child = match unsafe { libc::fork() } {
        -1 => fail("fork", io::Error::last_os_error()),
        0 => {
            drop((unshared_rx, mapped_tx));
            unshare_and_wait(spec, ids, unshared_tx, mapped_rx)
        }
        pid => pid,
    };
    drop((unshared_tx, mapped_rx));
    // Nothing to read means the child failed before unsharing; it has said why.
    if read_byte(unshared_rx) {
        ids::write_maps(child, ids).unwrap_or_else(|(step, err)| fail(&step, err));
        let _ = File::from(mapped_tx).write_all(b"m");
    }
    match wait(child) {
        Ok((_, code)) => std::process::exit(code),
        Err(e) => fail("waitpid", e),
    }
}

/// The child: enter the namespaces, let the parent map its ids, then fork pid 1 and exit with its
/// status.
fn unshare_and_wait(spec: &SandboxSpec, ids: HostIds, unshared: OwnedFd, mapped: OwnedFd) -> ! {
    // SAFETY: plain syscalls; single-threaded.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    sys(unsafe { libc::unshare(NS_FLAGS) }).unwrap_or_else(|e| fail("unshare", e));
    let _ = File::from(unshared).write_all(b"u");
    if !read_byte(mapped) {
        fail("wait for the id maps", "the parent did not write them");
    }
    // SAFETY: single-threaded. The child is pid 1 of the new pid namespace.
    match unsafe { libc::fork() } {
        -1 => fail("fork", io::Error::last_os_error()),
        0 => init(spec, ids),
        pid => match wait(pid) {
            Ok((_, code)) => std::process::exit(code),
            Err(e) => fail("waitpid", e),
        },
    }
}

/// A pipe, both ends close-on-exec: (read, write).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both fds, which the OwnedFds then own.
    unsafe {
        sys(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC))?;
        Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])))
    }
}

/// Whether one byte arrived before end of file.
fn read_byte(fd: OwnedFd) -> bool {
    File::from(fd).read_exact(&mut [0u8]).is_ok()
}

/// waitpid() for `pid` (-1: any child), retried on EINTR. Returns the pid and its exit
/// code, or 128+signal like a shell.
fn wait(pid: libc::pid_t) -> io::Result<(libc::pid_t, i32)> {
    let mut status = 0;
    loop {
        // SAFETY: plain syscall.
        let ret = unsafe { libc::waitpid(pid, &mut status, 0) };
        let err = io::Error::last_os_error();
        if ret > 0 && libc::WIFSIGNALED(status) {
            return Ok((ret, 128 + libc::WTERMSIG(status)));
        } else if ret > 0 {
            return Ok((ret, libc::WEXITSTATUS(status)));
        } else if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// pid 1: build the root, run the command as our child and reap every orphan until
/// it exits. When pid 1 exits, the kernel kills whatever is left in the namespace.
fn init(spec: &SandboxSpec, ids: HostIds) -> ! {
    // If the outer process is killed (compose cancels the build), take the whole pid
    // namespace down with it.
    // SAFETY: plain syscall.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    setup(spec, ids).unwrap_or_else(|(step, err)| fail(&step, err));
    // SAFETY: single-threaded; the child only execs.
    let child = match unsafe { libc::fork() } {
        -1 => fail("fork", io::Error::last_os_error()),
        0 => exec(spec),
        pid => pid,
    };
    loop {
        match wait(-1) {
            Ok((pid, code)) if pid == child => std::process::exit(code),
            Ok(_) => {}
            Err(e) => fail("waitpid", e),
        }
    }
}

/// Replaces this process with the command. std's exec looks argv[0] up in the PATH of
/// the environment it is given, restores SIGPIPE (which Rust's runtime ignores, and
/// ignored signals would stay ignored across exec) and leaves other fds alone.
fn exec(spec: &SandboxSpec) -> ! {
    let name = spec.argv.first().map_or("", String::as_str);
    let err =
        Command::new(name).args(spec.argv.iter().skip(1)).env_clear().envs(spec.env.iter().map(|(k, v)| (k, v))).exec();
    eprintln!("compose sandbox: cannot exec {name}: {err}");
    std::process::exit(127)
}

/// Builds the new root and enters it. Runs as pid 1, in the new mount namespace.
fn setup(spec: &SandboxSpec, ids: HostIds) -> Step {
    let p = Path::new;
    // Keep every mount below from propagating back to the host.
    mount(p("none"), p("/"), "", libc::MS_REC | libc::MS_PRIVATE, "")?;
    // The caller's bind sources are opened while this process still has the uid it was forked
    // with: as the mapped id it could not look up a path below, say, root's 0700 home.
    let sources = open_binds(spec)?;
    ids::become_root(ids)?;
    // Scratch space: a tmpfs over /tmp, pivoted into, so that the host root stays
    // reachable, whole, at /oldroot (bind sources may well be under the host's /tmp),
    // while the new root is assembled at /newroot. Nothing is created on the host.
    tmpfs(p("/tmp"), "mode=0700")?;
    for d in ["/tmp/newroot", "/tmp/oldroot"] {
        std::fs::create_dir(d).map_err(ctx(d))?;
    }
    pivot_root(p("/tmp"), p("/tmp/oldroot"))?;
    std::env::set_current_dir("/").map_err(ctx("chdir /"))?;
    let (old, root) = (p("/oldroot"), p("/newroot"));
    // Its own tmpfs, so that it alone can be made read-only at the end.
    tmpfs(root, "mode=0755")?;
    system_dirs(old, root)?;
    let etc = root.join("etc");
    std::fs::create_dir(&etc).map_err(ctx(etc.display()))?;
    etc::populate(&old.join("etc"), &etc)?;
    devices_and_proc(old, root)?;

    // The caller's binds, parents before children so that nested binds stack. Each is mounted from
    // its open descriptor, through the host's proc.
    let under = |base: &Path, p: &Path| base.join(p.strip_prefix("/").unwrap_or(p));
    for (b, fd) in &sources {
        let src = old.join(format!("proc/self/fd/{}", fd.as_raw_fd()));
        bind(&src, &under(root, &b.inside), b.writable)?;
    }
    drop(sources);
    enter_root(spec, root)
}

/// Opens each bind's host path (`O_PATH`), parents before children.
fn open_binds(spec: &SandboxSpec) -> Step<Vec<(&Bind, OwnedFd)>> {
    let mut binds: Vec<&Bind> = spec.binds.iter().collect();
    binds.sort_by_key(|b| b.inside.components().count());
    let flags = libc::O_PATH | libc::O_CLOEXEC;
    binds
        .into_iter()
        .map(|b| {
            let path = cstr(&b.host);
            // SAFETY: a live NUL-terminated path; the fd is owned from here on.
            let fd = unsafe { libc::open(path.as_ptr(), flags) };
            sys(fd).map_err(ctx(format!("open {}", b.host.display())))?;
            // SAFETY: a fresh fd that nothing else owns.
            Ok((b, unsafe { OwnedFd::from_raw_fd(fd) }))
        })
        .collect()
}

/// System directories, read-only. Debian's merged-/usr symlinks (bin -> usr/bin, ...) are
/// recreated as the same symlinks rather than bound.
fn system_dirs(old: &Path, root: &Path) -> Step {
    for d in SYSTEM_DIRS {
        let (src, dst) = (old.join(d), root.join(d));
        match std::fs::symlink_metadata(&src) {
            Ok(m) if m.is_symlink() => {
                let target = std::fs::read_link(&src).map_err(ctx(d))?;
                std::os::unix::fs::symlink(target, &dst).map_err(ctx(dst.display()))?
            }
            Ok(_) => bind(&src, &dst, false)?,
            Err(_) => {}
        }
    }
    Ok(())
}

/// A minimal /dev (the harmless character devices, each bound onto an empty file), private /tmp
/// and /dev/shm, and a fresh proc.
fn devices_and_proc(old: &Path, root: &Path) -> Step {
    let p = Path::new;
    let mkdir = |d: &Path| std::fs::create_dir_all(d).map_err(ctx(d.display()));
    let symlink = |target: &Path, link: &Path| std::os::unix::fs::symlink(target, link).map_err(ctx(link.display()));
    let dev = root.join("dev");
    mkdir(&dev)?;
    for node in DEV_NODES.map(|n| p("dev").join(n)) {
        if old.join(&node).exists() {
            bind(&old.join(&node), &root.join(&node), true)?;
        }
    }
    for (i, link) in ["stdin", "stdout", "stderr"].into_iter().enumerate() {
        symlink(p(&format!("/proc/self/fd/{i}")), &dev.join(link))?;
    }
    symlink(p("/proc/self/fd"), &dev.join("fd"))?;
    for tmp in [dev.join("shm"), root.join("tmp")] {
        mkdir(&tmp)?;
        tmpfs(&tmp, "mode=1777")?;
    }
    // A fresh proc, showing only this pid namespace. The host's proc must still be
    // mounted (at /oldroot/proc) for this: a user namespace may only mount proc where
    // a fully visible one is already mounted.
    let proc = root.join("proc");
    mkdir(&proc)?;
    let proc_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    mount(p("proc"), &proc, "proc", proc_flags, "")
}

/// Makes the new root read-only, switches to it, drops the old one, and sets the hostname, the
/// working directory and the umask.
fn enter_root(spec: &SandboxSpec, root: &Path) -> Step {
    // Now nothing but the writable binds, /tmp and /dev/shm can be written.
    sys(set_readonly(&cstr(root), false)).map_err(ctx("make / read-only"))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching it then
    // drops /oldroot and the scratch tmpfs without needing a directory to put them in.
    std::env::set_current_dir(root).map_err(ctx("chdir /newroot"))?;
    pivot_root(Path::new("."), Path::new("."))?;
    // SAFETY: plain syscall on a static string.
    sys(unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) }).map_err(ctx("detach"))?;
    std::env::set_current_dir(&spec.cwd).map_err(ctx(format!("chdir {}", spec.cwd.display())))?;

    let host = &spec.hostname;
    // SAFETY: pointers and lengths of live buffers.
    unsafe {
        sys(libc::sethostname(host.as_ptr().cast(), host.len())).map_err(ctx("sethostname"))?;
        // The kernel's default, rather than whatever the host's NIS domain is.
        sys(libc::setdomainname(c"(none)".as_ptr(), 6)).map_err(ctx("setdomainname"))?;
        libc::umask(0o022);
    }
    // The network namespace has only `lo`, and it is down: no network at all.
    Ok(())
}

/// mount(2); an empty `fstype` or `data` is passed as NULL.
fn mount(src: &Path, dst: &Path, fstype: &str, flags: libc::c_ulong, data: &str) -> Step {
    let opt = |s: &str| (!s.is_empty()).then(|| cstr(s));
    let (c_src, c_dst, c_type, c_data) = (cstr(src), cstr(dst), opt(fstype), opt(data));
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    let (typ, data) = (ptr(&c_type), ptr(&c_data));
    // SAFETY: every pointer is null or a live NUL-terminated string.
    let ret = unsafe { libc::mount(c_src.as_ptr(), c_dst.as_ptr(), typ, flags, data.cast()) };
    sys(ret).map_err(ctx(format!("mount {} on {}", src.display(), dst.display())))
}

fn tmpfs(dst: &Path, options: &str) -> Step {
    let flags = libc::MS_NOSUID | libc::MS_NODEV;
    mount(Path::new("tmpfs"), dst, "tmpfs", flags, options)
}

/// Bind-mounts `src` (with everything mounted below it) on `dst`, creating the mount
/// point: a directory, or an empty file when `src` is not a directory.
fn bind(src: &Path, dst: &Path, writable: bool) -> Step {
    if src.is_dir() {
        std::fs::create_dir_all(dst).map_err(ctx(dst.display()))?;
    } else if let Some(dir) = dst.parent() {
        std::fs::create_dir_all(dir).map_err(ctx(dir.display()))?;
        File::create(dst).map_err(ctx(dst.display()))?;
    }
    mount(src, dst, "", libc::MS_BIND | libc::MS_REC, "")?;
    if writable {
        return Ok(());
    }
    sys(set_readonly(&cstr(dst), true)).map_err(ctx(format!("make {} read-only", dst.display())))
}

/// Makes the mount at `path` (and, if `recursive`, every mount below it) read-only.
/// mount_setattr (Linux 5.12+) rather than MS_REMOUNT: a remount changes one mount
/// only, and in a user namespace it must repeat exactly the flags (nosuid, nodev, ...)
/// that the kernel locked, while mount_setattr leaves other flags alone.
/// Async-signal-safe (no allocation), so that [`probe`] can use it after fork.
fn set_readonly(path: &CStr, recursive: bool) -> libc::c_long {
    let attr = libc::mount_attr { attr_set: libc::MOUNT_ATTR_RDONLY, attr_clr: 0, propagation: 0, userns_fd: 0 };
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    let size = std::mem::size_of::<libc::mount_attr>();
    // SAFETY: a live path and a live attr of the given size.
    let (nr, dirfd) = (libc::SYS_mount_setattr, libc::AT_FDCWD);
    unsafe { libc::syscall(nr, dirfd, path.as_ptr(), flags, &attr, size) }
}

fn pivot_root(new: &Path, put_old: &Path) -> Step {
    let (n, o) = (cstr(new), cstr(put_old));
    // SAFETY: two live NUL-terminated strings.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, n.as_ptr(), o.as_ptr()) };
    sys(ret).map_err(ctx(format!("pivot_root {}", new.display())))
}

/// Checks that namespaces can be created here as the sandbox needs them: a forked
/// child unshares and maps its ids, and its own child, pid 1 of the new pid namespace,
/// mounts a fresh proc and makes it read-only.
pub fn probe() -> Result<(), SandboxError> {
    let unavailable = |reason: String| SandboxError::Unavailable { reason };
    // SAFETY: plain syscalls.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // Allocate everything before fork: the caller may be multi-threaded, and then the
    // forked copy may only make async-signal-safe calls.
    let maps = [
        (c"/proc/self/setgroups".to_owned(), c"deny".to_owned()),
        (c"/proc/self/uid_map".to_owned(), cstr(format!("0 {uid} 1"))),
        (c"/proc/self/gid_map".to_owned(), cstr(format!("0 {gid} 1"))),
    ];
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both fds, which the OwnedFds then own.
    let (mut rx, tx) = unsafe {
        sys(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC)).map_err(|e| unavailable(format!("pipe: {e}")))?;
        (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    // SAFETY: the child only makes async-signal-safe calls.
    let pid = match unsafe { libc::fork() } {
        -1 => return Err(unavailable(format!("fork: {}", io::Error::last_os_error()))),
        0 => probe_child(tx.as_raw_fd(), &maps),
        pid => pid,
    };
    drop(tx);
    // A failed step sends [step, errno]; EOF without them means every step passed.
    let mut report = [0u8; 8];
    let failed = rx.read_exact(&mut report).is_ok();
    let status = wait(pid);
    if failed {
        let [step, errno] = [0, 4].map(|i| u32::from_ne_bytes(report[i..i + 4].try_into().unwrap()));
        let step = PROBE_STEPS.split('|').nth(step as usize).unwrap_or("?");
        let err = io::Error::from_raw_os_error(errno as i32);
        return Err(unavailable(format!("{step}: {err}")));
    }
    match status {
        Ok((_, 0)) => Ok(()),
        Ok((_, code)) => Err(unavailable(format!("probe exited with status {code}"))),
        Err(e) => Err(unavailable(format!("waitpid: {e}"))),
    }
}

const PROBE_STEPS: &str = "unshare|write uid/gid map|make / private|fork|mount proc|mount_setattr";

/// The forked side of [`probe`]: only async-signal-safe calls.
fn probe_child(fd: libc::c_int, maps: &[(CString, CString)]) -> ! {
    let null = std::ptr::null();
    // SAFETY: syscalls on live NUL-terminated strings and buffers.
    unsafe {
        let must = |step: u32, ret: i64| {
            if ret == -1 {
                let report = [step, *libc::__errno_location() as u32];
                libc::write(fd, report.as_ptr().cast(), 8);
                libc::_exit(1);
            }
        };
        must(0, libc::unshare(NS_FLAGS).into());
        for (path, content) in maps {
            let f = libc::open(path.as_ptr(), libc::O_WRONLY);
            must(1, f.into());
            must(1, libc::write(f, content.as_ptr().cast(), content.count_bytes()) as i64);
        }
        let private = libc::MS_REC | libc::MS_PRIVATE;
        let ret = libc::mount(null, c"/".as_ptr(), null, private, null.cast());
        must(2, ret.into());
        let pid = libc::fork();
        must(3, pid.into());
        if pid == 0 {
            let proc = c"proc".as_ptr();
            let ret = libc::mount(proc, c"/proc".as_ptr(), proc, 0, null.cast());
            must(4, ret.into());
            must(5, set_readonly(c"/proc", true));
            libc::_exit(0);
        }
        libc::_exit(if let Ok((_, 0)) = wait(pid) { 0 } else { 1 })
    }
}
