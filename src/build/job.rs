//! One package build: a fresh work directory (claimed by the caller under the key's build lock), the
//! sources unpacked, the sysroot assembled, then each phase run in the sandbox with a fixed
//! environment, and `$DESTDIR` committed to the artifact store.
//!
//! Inside the sandbox the paths are always the same (`/build/src`, `/build/dest`, `/sysroot`), so a
//! build does not depend on where the cache lives. Without the sandbox, the host paths are used.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use super::BuildError;
use super::artifact::{Artifact, ArtifactStore};
use super::key::KeyInputs;
use super::lock::WorkDir;
use super::sandbox::{self, Bind, Isolation, SandboxSpec};
use crate::recipe::Recipe;
use crate::source::unpack::{self, Strip, UnpackOptions};
use crate::toolchain::Toolchain;

pub struct Job {
    pub recipe: Recipe,
    /// What people read (`busybox@arm64` in a build for several targets): `logs/<label>.log` links here.
    pub label: String,
    pub inputs: KeyInputs,
    /// The cached archive of each of the recipe's sources, in order.
    pub sources: Vec<PathBuf>,
    /// (package, artifact tree) for everything the sysroot holds.
    pub sysroot: Vec<(String, PathBuf)>,
    /// A toolchain package: built with the host compiler.
    pub bootstrap: bool,
    pub toolchain: Arc<Toolchain>,
    /// `<cache>/work`: the build claims `<name>-<key prefix>-<pid>/` (and `.sysroot/`) in it.
    pub work_root: PathBuf,
    /// `<cache>/logs/<name>-<key prefix>.log`.
    pub log_path: PathBuf,
    pub sandboxed: bool,
    pub makeflags: String,
    pub jobs: usize,
    pub source_date_epoch: u64,
    /// Appended to the fixed environment; a name the fixed environment already has is ignored.
    pub extra_env: Vec<(String, String)>,
}

/// Paths the build sees.
struct Layout {
    build: PathBuf,
    sysroot: PathBuf,
    tmp: PathBuf,
}

/// Builds `job` in `dirs` (claimed, and emptied of anything a dead process left) and commits its
/// `$DESTDIR`. The log is `job.log_path` (one per key, written only under the key's build lock), and
/// `logs/<name>.log` is pointed at it whether the build succeeds or not.
pub fn run(
    job: &Job,
    dirs: &WorkDir,
    client: &jobserver::Client,
    store: &ArtifactStore,
    on_phase: &dyn Fn(&str),
) -> Result<Artifact, BuildError> {
    let started = Instant::now();
    let name = job.recipe.name.as_str();
    let io = |op: &'static str, path: &Path| {
        let (package, path) = (name.to_string(), path.to_path_buf());
        move |source| BuildError::Io { package, op, path, source }
    };
    if let Some(parent) = job.log_path.parent() {
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    let mut log = std::fs::File::create(&job.log_path).map_err(io("create the build log", &job.log_path))?;
    let built = build_tree(job, dirs, &mut log, client, on_phase);
    link_log(job).map_err(io("point the package's log link at", &job.log_path))?;
    built?;
    on_phase("commit");
    let src = dirs.path().join("src");
    let config = job
        .recipe
        .build
        .config
        .as_deref()
        .map(|rel| {
            capture_config(&src, rel).map_err(io("read the build's configuration (`[build] config`)", &src.join(rel)))
        })
        .transpose()?;
    let artifact = store
        .commit(name, &job.recipe.version, &job.inputs, &dirs.path().join("dest"), started.elapsed(), config)
        .map_err(|source| BuildError::Store { package: name.to_string(), source })?;
    Ok(artifact)
}

/// The largest configuration file `[build] config` may name (busybox's `.config` is 35 KiB).
const CONFIG_MAX: u64 = 4 << 20;

/// Reads `[build] config` from the finished build tree. The build is code from elsewhere: the file must
/// resolve inside `src` (a symlink to a host file such as /etc/shadow would otherwise land in the
/// artifact and the SBOM), be a regular file (a fifo or a device is refused without blocking), and be
/// at most `CONFIG_MAX` bytes.
fn capture_config(src: &Path, rel: &str) -> std::io::Result<crate::recipe::vex::BuildConfig> {
    use std::io::{Error, ErrorKind, Read};
    let root = std::fs::canonicalize(src)?;
    let file = std::fs::canonicalize(src.join(rel))?;
    if !file.starts_with(&root) {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("it resolves outside the build tree, to `{}`", file.display()),
        ));
    }
    // Non-blocking and not through a symlink: a fifo made by the build must not hang compose.
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW).open(&file)?;
    let meta = f.metadata()?;
    if !meta.is_file() || meta.len() > CONFIG_MAX {
        return Err(Error::new(ErrorKind::InvalidData, format!("not a regular file of at most {CONFIG_MAX} bytes")));
    }
    let mut bytes = Vec::new();
    f.take(CONFIG_MAX).read_to_end(&mut bytes)?;
    Ok(crate::recipe::vex::BuildConfig::parse(rel, &bytes))
}

/// `logs/<name>.log` becomes a symlink to this build's log (through a temp link and a rename, so a
/// reader always finds one whole log, the newest build's).
fn link_log(job: &Job) -> std::io::Result<()> {
    let (Some(dir), Some(file)) = (job.log_path.parent(), job.log_path.file_name()) else { return Ok(()) };
    let name = &job.label;
    let tmp = dir.join(format!(".{name}.log.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(file, &tmp)?;
    std::fs::rename(&tmp, dir.join(format!("{name}.log")))
}

/// The sources unpacked, patches and files copied, the sysroot assembled, then every phase.
fn build_tree(
    job: &Job,
    dirs: &WorkDir,
    log: &mut std::fs::File,
    client: &jobserver::Client,
    on_phase: &dyn Fn(&str),
) -> Result<(), BuildError> {
    let name = job.recipe.name.as_str();
    let io = |op: &'static str, path: &Path| {
        let (package, path) = (name.to_string(), path.to_path_buf());
        move |source| BuildError::Io { package, op, path, source }
    };
    let (work, host_sysroot) = (dirs.path(), dirs.sysroot());
    // Exactly 0755, not what compose's umask gives: `dest/` is the artifact's root, and builds copy from
    // these (found by `compose verify`, whose perturbed build runs under umask 077).
    for sub in ["dest", "files", "home", "patches", "tmp"] {
        unpack::create_dir_all_mode(&work.join(sub), 0o755).map_err(io("create", &work.join(sub)))?;
    }
    unpack::create_dir_all_mode(&host_sysroot, 0o755).map_err(io("create", &host_sysroot))?;

    on_phase("unpack");
    unpack_sources(job, work).map_err(|e| match e {
        UnpackStep::Unpack(source) => BuildError::Unpack { package: name.to_string(), source },
        UnpackStep::Io(op, path, source) => BuildError::Io { package: name.to_string(), op, path, source },
    })?;
    for (i, p) in job.recipe.patches.iter().enumerate() {
        let to = work.join("patches").join(format!("{:04}-{}", i, p.file_name().unwrap_or_default().to_string_lossy()));
        std::fs::copy(p, &to).map_err(io("copy the patch", p))?;
    }
    for f in &job.recipe.files {
        let to = work.join("files").join(f.file_name().unwrap_or_default());
        std::fs::copy(f, &to).map_err(io("copy the file", f))?;
    }

    on_phase("sysroot");
    assemble_sysroot(&job.sysroot, &host_sysroot, job.sandboxed).map_err(|(op, path, source)| BuildError::Io {
        package: name.to_string(),
        op,
        path,
        source,
    })?;
    let layout = if job.sandboxed {
        Layout { build: "/build".into(), sysroot: "/sysroot".into(), tmp: "/tmp".into() }
    } else {
        Layout { build: work.to_path_buf(), sysroot: host_sysroot.clone(), tmp: work.join("tmp") }
    };
    let cenv = if job.bootstrap {
        job.toolchain.bootstrap_env()
    } else {
        job.toolchain
            .prepare_sysroot(&host_sysroot, &layout.sysroot)
            .map_err(|source| BuildError::Toolchain { package: name.to_string(), source: Box::new(source) })?
    };
    run_phases(job, dirs, &layout, &environment(job, &layout, &cenv), log, client, on_phase)
}

/// The recipe's phases (and `patch` first when there are patches), each in the sandbox, output to `log`.
fn run_phases(
    job: &Job,
    dirs: &WorkDir,
    layout: &Layout,
    env: &[(String, String)],
    log: &mut std::fs::File,
    client: &jobserver::Client,
    on_phase: &dyn Fn(&str),
) -> Result<(), BuildError> {
    let name = job.recipe.name.as_str();
    let work = dirs.path().to_path_buf();
    let io = |op: &'static str, path: &Path| {
        let (package, path) = (name.to_string(), path.to_path_buf());
        move |source| BuildError::Io { package, op, path, source }
    };
    let spec_for = |script: &str| SandboxSpec {
        binds: vec![
            Bind { host: work.clone(), inside: layout.build.clone(), writable: true },
            Bind { host: dirs.sysroot(), inside: layout.sysroot.clone(), writable: false },
        ],
        cwd: layout.build.join("src"),
        env: env.to_vec(),
        argv: vec!["bash".into(), "-e".into(), "-o".into(), "pipefail".into(), "-c".into(), script.into()],
        hostname: "compose".into(),
    };
    let mut phases: Vec<(&str, String)> = Vec::new();
    if !job.recipe.patches.is_empty() {
        let dir = layout.build.join("patches");
        phases.push((
            "patch",
            format!(
                "for p in \"{}\"/*; do echo \"applying ${{p##*/}}\"; patch -p1 --no-backup-if-mismatch -i \"$p\"; done",
                dir.display()
            ),
        ));
    }
    for p in &job.recipe.build.phases {
        phases.push((p.name, p.script.clone()));
    }
    for (phase, script) in phases {
        on_phase(phase);
        let _ = writeln!(log, "==> {name}: {phase}\n{}\n", script.trim());
        let _ = log.flush();
        let isolation = if job.sandboxed { Isolation::Namespaces } else { Isolation::None };
        let mut cmd = sandbox::command(&spec_for(&script), isolation).map_err(|e| BuildError::Io {
            package: name.to_string(),
            op: "pass to the sandbox",
            path: e.path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        })?;
        client.configure_make(&mut cmd);
        let out = log.try_clone().map_err(io("reopen the build log", &job.log_path))?;
        let err = log.try_clone().map_err(io("reopen the build log", &job.log_path))?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let status = cmd.status().map_err(io("start the build command for", &work))?;
        if !status.success() {
            return Err(BuildError::Phase {
                package: name.to_string(),
                phase: phase.to_string(),
                status: status.code().map(|c| c.to_string()).unwrap_or_else(|| format!("{status}")),
                log: job.log_path.clone(),
                work_dir: work.clone(),
            });
        }
    }
    Ok(())
}

fn environment(job: &Job, l: &Layout, cenv: &crate::toolchain::CompilerEnv) -> Vec<(String, String)> {
    let p = |path: &Path| path.to_string_lossy().into_owned();
    let c = &job.toolchain.compiler;
    let v = [
        ("PATH", super::host::BUILD_PATH.to_string()),
        ("LC_ALL", "C".into()),
        ("TZ", "UTC".into()),
        ("HOME", p(&l.build.join("home"))),
        ("TMPDIR", p(&l.tmp)),
        ("SRC", p(&l.build.join("src"))),
        ("DESTDIR", p(&l.build.join("dest"))),
        ("FILES", p(&l.build.join("files"))),
        ("SYSROOT", p(&l.sysroot)),
        ("PREFIX", job.recipe.build.prefix.clone()),
        ("TARGET", job.toolchain.target.clone()),
        ("BUILD", crate::toolchain::host::build_triple()),
        ("CROSS_COMPILE", c.cross_compile.clone()),
        ("LINUX_ARCH", c.linux_arch.clone()),
        ("HOST_CC", c.build_cc.clone()),
        ("BUILD_CC", c.build_cc.clone()),
        ("AR", format!("{}ar", c.cross_compile)),
        ("RANLIB", format!("{}ranlib", c.cross_compile)),
        ("STRIP", c.strip()),
        ("CC", cenv.cc.clone()),
        ("CFLAGS", cenv.cflags.clone()),
        ("LDFLAGS", cenv.ldflags.clone()),
        ("SOURCE_DATE_EPOCH", job.source_date_epoch.to_string()),
        ("MAKEFLAGS", job.makeflags.clone()),
        ("JOBS", job.jobs.to_string()),
        ("PACKAGE", job.recipe.name.clone()),
        ("VERSION", job.recipe.version.clone()),
    ];
    let mut env: Vec<(String, String)> = v.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    for (k, val) in &job.extra_env {
        if !env.iter().any(|(fixed, _)| fixed == k) {
            env.push((k.clone(), val.clone()));
        }
    }
    env
}

enum UnpackStep {
    Unpack(unpack::UnpackError),
    Io(&'static str, PathBuf, std::io::Error),
}

/// Each source unpacks into its own fresh directory, then moves to its `dest` under `src/`.
fn unpack_sources(job: &Job, work: &Path) -> Result<(), UnpackStep> {
    let src = work.join("src");
    for (i, (s, archive)) in job.recipe.sources.iter().zip(&job.sources).enumerate() {
        let fresh = work.join(format!("unpack-{i}"));
        let opts = UnpackOptions {
            strip: s.strip_components.map(Strip::Components).unwrap_or(Strip::Auto),
            include: s.extract.clone(),
        };
        unpack::unpack(archive, &fresh, &opts).map_err(UnpackStep::Unpack)?;
        let target = if s.dest.is_empty() { src.clone() } else { src.join(&s.dest) };
        if !target.exists() {
            if let Some(parent) = target.parent() {
                unpack::create_dir_all_mode(parent, 0o755)
                    .map_err(|e| UnpackStep::Io("create", parent.to_path_buf(), e))?;
            }
            std::fs::rename(&fresh, &target)
                .map_err(|e| UnpackStep::Io("move the unpacked source to", target.clone(), e))?;
        } else {
            for e in std::fs::read_dir(&fresh).map_err(|e| UnpackStep::Io("read", fresh.clone(), e))? {
                let e = e.map_err(|e| UnpackStep::Io("read", fresh.clone(), e))?;
                let to = target.join(e.file_name());
                if to.symlink_metadata().is_ok() {
                    let err = std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "two sources unpack to the same path; give one a `dest`",
                    );
                    return Err(UnpackStep::Io("unpack", to, err));
                }
                std::fs::rename(e.path(), &to)
                    .map_err(|e| UnpackStep::Io("move the unpacked source to", to.clone(), e))?;
            }
            let _ = std::fs::remove_dir_all(&fresh);
        }
    }
    if !src.exists() {
        unpack::create_dir_all_mode(&src, 0o755).map_err(|e| UnpackStep::Io("create", src.clone(), e))?;
    }
    Ok(())
}

type IoFail = (&'static str, PathBuf, std::io::Error);

/// Puts every dependency's installed tree into one sysroot. Hard links when the sandbox mounts the
/// sysroot read-only (fast, and the build cannot touch the store); copies otherwise.
fn assemble_sysroot(trees: &[(String, PathBuf)], to: &Path, link: bool) -> Result<(), IoFail> {
    let mut owner: HashMap<PathBuf, String> = HashMap::new();
    for (pkg, tree) in trees {
        for e in walkdir::WalkDir::new(tree).follow_links(false).sort_by_file_name().min_depth(1) {
            let e = e.map_err(|e| ("walk", tree.clone(), std::io::Error::other(e)))?;
            let rel = e.path().strip_prefix(tree).expect("walkdir stays under its root").to_path_buf();
            let dst = to.join(&rel);
            let ft = e.file_type();
            if ft.is_dir() {
                unpack::create_dir_all_mode(&dst, 0o755).map_err(|err| ("create", dst.clone(), err))?;
                continue;
            }
            if let Some(other) = owner.insert(rel.clone(), pkg.clone()) {
                let err = std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("both `{other}` and `{pkg}` install it"),
                );
                return Err(("assemble the sysroot at", dst, err));
            }
            if ft.is_symlink() {
                let target =
                    std::fs::read_link(e.path()).map_err(|err| ("read the link", e.path().to_path_buf(), err))?;
                std::os::unix::fs::symlink(&target, &dst).map_err(|err| ("link", dst.clone(), err))?;
            } else if link {
                if std::fs::hard_link(e.path(), &dst).is_err() {
                    std::fs::copy(e.path(), &dst).map_err(|err| ("copy into the sysroot", dst.clone(), err))?;
                }
            } else {
                std::fs::copy(e.path(), &dst).map_err(|err| ("copy into the sysroot", dst.clone(), err))?;
            }
        }
    }
    Ok(())
}
