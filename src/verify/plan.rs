//! The perturbation plan: how the control build (A) and the perturbed build (B) are run, and which
//! perturbations this host lets us apply. Pure: the host is described by `HostFacts`, probed once.

use std::path::{Path, PathBuf};

/// The libfaketime shift for build B (reproducible-builds.org's tests use the same 398 days: more than a
/// year, so the year, month and day all change).
pub const CLOCK_SHIFT: &str = "+398d";
/// B's cache sits below this extra directory, so its build path is different and longer.
pub const LONGER_PATH: &str = "perturbed-rebuild-under-a-different-and-longer-build-path";
pub const B_TZ: &str = "Asia/Kathmandu";
pub const B_LOCALE: &str = "fr_FR.UTF-8";

/// What this machine offers for perturbing a build.
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub cores: usize,
    /// libfaketime's preload library, if the `faketime` package is installed.
    pub faketime_lib: Option<PathBuf>,
    /// The `disorderfs` binary, or why it cannot be used (not installed, no /dev/fuse, mount failed).
    pub disorderfs: Result<PathBuf, String>,
    /// A tmpfs to put B's cache on (`/dev/shm`), if there is one.
    pub tmpfs: Option<PathBuf>,
    /// `locale -a` names, normalised (`fr_FR.utf8`).
    pub locales: Vec<String>,
    pub zoneinfo: bool,
}

/// How B's directory entries are reordered.
#[derive(Debug, Clone, PartialEq)]
pub enum DirOrder {
    /// B's cache root is a disorderfs mount (shuffled dirents) of `backing` at `mountpoint`.
    Disorderfs {
        bin: PathBuf,
        backing: PathBuf,
        mountpoint: PathBuf,
    },
    /// B's cache is on a tmpfs (readdir gives the newest entry first).
    Tmpfs,
    Unchanged,
}

/// One child `compose build`.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    pub label: &'static str,
    /// Everything of this build that is not an output: removed at the end unless kept.
    pub root: PathBuf,
    pub cache_dir: PathBuf,
    pub out_dir: PathBuf,
    pub jobs: usize,
    pub umask: u32,
    /// Environment of the compose process.
    pub env: Vec<(String, String)>,
    /// Extra environment of every build phase (through `COMPOSE_INTERNAL_PHASE_ENV`).
    pub phase_env: Vec<(String, String)>,
    pub dir_order: DirOrder,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Applied,
    /// Applied, with a limit worth saying.
    Partly(String),
    NotApplied(String),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Applied => f.write_str("applied"),
            Status::Partly(why) => write!(f, "applied ({why})"),
            Status::NotApplied(why) => write!(f, "NOT applied: {why}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Perturbation {
    pub what: &'static str,
    pub control: String,
    pub perturbed: String,
    pub status: Status,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub control: BuildSpec,
    pub perturbed: BuildSpec,
    pub perturbations: Vec<Perturbation>,
}

/// Plans the two builds under `work` (`a/`, `b/`). `jobs` is the user's job count (A's); `unique` names
/// B's directory on a shared tmpfs.
pub fn plan(facts: &HostFacts, jobs: usize, work: &Path, unique: &str) -> Plan {
    let a_root = work.join("a");
    let b_root_local = work.join("b");
    let control_jobs = jobs.max(1);
    let perturbed_jobs = if control_jobs > 1 { 1 } else { 2 };
    let mut perturbations = Vec::new();

    // Directory order decides where B's cache lives.
    let (b_root, dir_order, order_status) = match (&facts.disorderfs, &facts.tmpfs) {
        (Ok(bin), _) => {
            let mountpoint = b_root_local.join(LONGER_PATH);
            let order = DirOrder::Disorderfs {
                bin: bin.clone(),
                backing: b_root_local.join("backing"),
                mountpoint: mountpoint.clone(),
            };
            (b_root_local.clone(), order, Status::Applied)
        }
        (Err(why), Some(tmpfs)) => (
            tmpfs.join(format!("compose-verify-{unique}")),
            DirOrder::Tmpfs,
            Status::Partly(format!("tmpfs instead of disorderfs ({why}): reverse creation order, not shuffled")),
        ),
        (Err(why), None) => {
            (b_root_local.clone(), DirOrder::Unchanged, Status::NotApplied(format!("{why}; and no tmpfs at /dev/shm")))
        }
    };
    let b_cache = match &dir_order {
        DirOrder::Disorderfs { mountpoint, .. } => mountpoint.join("cache"),
        _ => b_root.join(LONGER_PATH).join("cache"),
    };
    let perturbed_order = match &dir_order {
        DirOrder::Disorderfs { .. } => "B's cache on disorderfs --shuffle-dirents=yes".to_string(),
        DirOrder::Tmpfs => format!("B's cache on tmpfs at {}", b_root.display()),
        DirOrder::Unchanged => "same as A".to_string(),
    };
    let a_cache = a_root.join("cache");
    perturbations.push(Perturbation {
        what: "build path",
        control: a_cache.display().to_string(),
        perturbed: b_cache.display().to_string(),
        status: Status::Partly(
            "build phases see /build and /sysroot in the sandbox; compose sees the host path".into(),
        ),
    });

    let mut phase_env = Vec::new();
    let mut b_env = Vec::new();
    let clock_status = match &facts.faketime_lib {
        Some(lib) => {
            phase_env = vec![
                ("LD_PRELOAD".to_string(), lib.display().to_string()),
                ("FAKETIME".to_string(), CLOCK_SHIFT.to_string()),
                // Monotonic clocks stay real (timeouts and make's sleeps), and so do file times: only
                // the wall clock moves, which is what a build could stamp into its output.
                ("FAKETIME_DONT_FAKE_MONOTONIC".to_string(), "1".to_string()),
                ("NO_FAKE_STAT".to_string(), "1".to_string()),
            ];
            // compose itself is multi-threaded: libfaketime's thread-safe variant.
            let mt = lib.with_file_name("libfaketimeMT.so.1");
            b_env.extend(phase_env.iter().cloned());
            b_env[0].1 = mt.display().to_string();
            Status::Partly(
                "libfaketime: wall clock only, in compose and every build phase; static binaries ignore it".into(),
            )
        }
        None => Status::NotApplied("libfaketime not installed (apt-get install faketime)".into()),
    };
    perturbations.push(Perturbation {
        what: "clock",
        control: "real".into(),
        perturbed: "+398 days".into(),
        status: clock_status,
    });

    perturbations.push(Perturbation {
        what: "umask",
        control: "0022".into(),
        perturbed: "0077".into(),
        status: Status::Partly("compose's own process; build phases always run with 022".into()),
    });

    let locale_norm = B_LOCALE.replace("UTF-8", "utf8");
    let locale_note = if facts.locales.contains(&locale_norm) {
        String::new()
    } else {
        format!("; {B_LOCALE} is not installed here (locale -a), so programs fall back to C")
    };
    let tz_note = if facts.zoneinfo { "" } else { "; no /usr/share/zoneinfo here" };
    perturbations.push(Perturbation {
        what: "TZ and locale",
        control: "TZ=UTC LC_ALL=C.UTF-8".into(),
        perturbed: format!("TZ={B_TZ} LC_ALL={B_LOCALE}"),
        status: Status::Partly(format!(
            "compose's own process; build phases always get TZ=UTC LC_ALL=C{locale_note}{tz_note}"
        )),
    });
    perturbations.push(Perturbation {
        what: "jobs",
        control: control_jobs.to_string(),
        perturbed: perturbed_jobs.to_string(),
        status: Status::Applied,
    });
    perturbations.push(Perturbation {
        what: "directory order",
        control: "A's cache as it is".into(),
        perturbed: perturbed_order,
        status: order_status,
    });

    let a_env = vec![
        ("TZ".to_string(), "UTC".to_string()),
        ("LC_ALL".to_string(), "C.UTF-8".to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
    ];
    b_env.extend([
        ("TZ".to_string(), B_TZ.to_string()),
        ("LC_ALL".to_string(), B_LOCALE.to_string()),
        ("LANG".to_string(), B_LOCALE.to_string()),
    ]);
    Plan {
        control: BuildSpec {
            label: "A",
            root: a_root.clone(),
            cache_dir: a_cache,
            out_dir: a_root.join("out"),
            jobs: control_jobs,
            umask: 0o022,
            env: a_env,
            phase_env: Vec::new(),
            dir_order: DirOrder::Unchanged,
        },
        perturbed: BuildSpec {
            label: "B",
            root: b_root,
            cache_dir: b_cache,
            out_dir: b_root_local.join("out"),
            jobs: perturbed_jobs,
            umask: 0o077,
            env: b_env,
            phase_env,
            dir_order,
        },
        perturbations,
    }
}

impl HostFacts {
    /// Looks at this machine: cores, libfaketime, disorderfs and FUSE, a tmpfs, locales, zoneinfo.
    pub fn probe() -> HostFacts {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let faketime_lib = [
            "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
            "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
            "/usr/lib/faketime/libfaketime.so.1",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file() && p.with_file_name("libfaketimeMT.so.1").is_file());
        let disorderfs = match which("disorderfs") {
            None => Err("disorderfs not installed (apt-get install disorderfs)".to_string()),
            Some(_) if !Path::new("/dev/fuse").exists() => Err("no /dev/fuse".to_string()),
            Some(p) => Ok(p),
        };
        let tmpfs = Some(PathBuf::from("/dev/shm")).filter(|p| is_tmpfs(p));
        let locales = std::process::Command::new("locale")
            .arg("-a")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(|l| l.trim().to_string()).collect())
            .unwrap_or_default();
        let zoneinfo = Path::new("/usr/share/zoneinfo").join(B_TZ).is_file();
        HostFacts { cores, faketime_lib, disorderfs, tmpfs, locales, zoneinfo }
    }
}

/// The first `name` on `$PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

fn is_tmpfs(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else { return false };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a zeroed statfs to fill.
    let ok = unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    ok && st.f_type as i64 == TMPFS_MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> HostFacts {
        HostFacts {
            cores: 2,
            faketime_lib: Some("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1".into()),
            disorderfs: Ok("/usr/bin/disorderfs".into()),
            tmpfs: Some("/dev/shm".into()),
            locales: vec!["C".into(), "fr_FR.utf8".into()],
            zoneinfo: true,
        }
    }

    fn status<'a>(p: &'a Plan, what: &str) -> &'a Status {
        &p.perturbations.iter().find(|x| x.what == what).unwrap().status
    }

    #[test]
    fn everything_differs_when_the_host_has_every_tool() {
        let p = plan(&facts(), 2, Path::new("/w"), "x");
        let (a, b) = (&p.control, &p.perturbed);
        assert_ne!(a.cache_dir, b.cache_dir);
        assert!(b.cache_dir.as_os_str().len() > a.cache_dir.as_os_str().len(), "B's build path is longer");
        assert_ne!(a.jobs, b.jobs);
        assert_ne!(a.umask, b.umask);
        assert_ne!(a.env, b.env);
        assert!(b.phase_env.iter().any(|(k, v)| k == "FAKETIME" && v == CLOCK_SHIFT));
        assert!(a.phase_env.is_empty());
        assert!(matches!(&b.dir_order, DirOrder::Disorderfs { mountpoint, .. } if b.cache_dir.starts_with(mountpoint)));
        assert_ne!(a.out_dir, b.out_dir);
        assert_eq!(status(&p, "directory order"), &Status::Applied);
        assert!(matches!(status(&p, "TZ and locale"), Status::Partly(s) if !s.contains("not installed")));
    }

    #[test]
    fn missing_tools_fall_back_and_say_why() {
        let f = HostFacts {
            faketime_lib: None,
            disorderfs: Err("disorderfs not installed".into()),
            locales: vec!["C".into()],
            ..facts()
        };
        let p = plan(&f, 2, Path::new("/w"), "x");
        assert!(matches!(status(&p, "clock"), Status::NotApplied(s) if s.contains("faketime")));
        assert!(p.perturbed.phase_env.is_empty());
        assert_eq!(p.perturbed.dir_order, DirOrder::Tmpfs);
        assert!(p.perturbed.cache_dir.starts_with("/dev/shm/compose-verify-x"));
        assert!(p.perturbed.out_dir.starts_with("/w/b"), "outputs stay in the work dir");
        assert!(matches!(status(&p, "directory order"), Status::Partly(s) if s.contains("disorderfs not installed")));
        assert!(matches!(status(&p, "TZ and locale"), Status::Partly(s) if s.contains("not installed")));
        let none = HostFacts { tmpfs: None, ..f };
        let p = plan(&none, 2, Path::new("/w"), "x");
        assert_eq!(p.perturbed.dir_order, DirOrder::Unchanged);
        assert!(matches!(status(&p, "directory order"), Status::NotApplied(_)));
    }

    #[test]
    fn jobs_always_differ() {
        for (jobs, a, b) in [(1, 1, 2), (2, 2, 1), (8, 8, 1)] {
            let p = plan(&facts(), jobs, Path::new("/w"), "x");
            assert_eq!((p.control.jobs, p.perturbed.jobs), (a, b), "-j {jobs}");
        }
    }
}
