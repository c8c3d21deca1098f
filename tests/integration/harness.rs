//! A small builder that runs the real `compose` binary in a temp project with fixture recipes, tiny
//! generated tarballs and a stub toolchain (the host `cc`, no packages), fully offline.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

pub const STUB_TOOLCHAIN: &str = r#"
[toolchain]
name = "stub"
target = "x86_64-linux-musl"
description = "host cc, nothing to build: for fast fixture tests"
packages = []
[compiler]
host_cc = "cc"
cflags = "-O1"
"#;

pub struct Test {
    pub dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

pub struct Run {
    pub output: Output,
    pub stdout: String,
    pub stderr: String,
}

/// One entry of a generated tarball.
pub enum E<'a> {
    File(&'a str, &'a str, u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    /// Written with a raw header, bypassing the tar crate's path checks.
    RawFile(&'a str, &'a str),
    CharDev(&'a str),
}

impl Test {
    pub fn new() -> Test {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["recipes", "toolchains", "dl", "cache"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("toolchains/stub.toml"), STUB_TOOLCHAIN).unwrap();
        Test { dir, args: Vec::new(), env: Vec::new() }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `recipes/<name>.toml`. `{DL}` becomes the tarball directory, `{SHA:file}` that file's sha256.
    pub fn recipe(self, name: &str, text: &str) -> Test {
        let mut text = text.replace("{DL}", &self.path("dl").display().to_string());
        while let Some(start) = text.find("{SHA:") {
            let end = start + text[start..].find('}').expect("closing brace");
            let file = &text[start + 5..end];
            let sha = sha256_file(&self.path("dl").join(file));
            text.replace_range(start..=end, &sha);
        }
        std::fs::write(self.path(&format!("recipes/{name}.toml")), text).unwrap();
        self
    }

    pub fn file(self, rel: &str, text: &str) -> Test {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }

    /// Writes `dl/<name>` as a gzip tarball of `entries`, all under a `top/` directory when `top` is set.
    pub fn tarball(self, name: &str, entries: &[E]) -> Test {
        let f = std::fs::File::create(self.path("dl").join(name)).unwrap();
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for e in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(1_600_000_000);
            match e {
                E::File(p, body, mode) => {
                    h.set_mode(*mode);
                    h.set_size(body.len() as u64);
                    b.append_data(&mut h, p, body.as_bytes()).unwrap();
                }
                E::Dir(p) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    b.append_data(&mut h, p, std::io::empty()).unwrap();
                }
                E::Symlink(p, target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    b.append_link(&mut h, p, target).unwrap();
                }
                E::RawFile(p, body) => {
                    let name = &mut h.as_gnu_mut().unwrap().name;
                    name[..p.len()].copy_from_slice(p.as_bytes());
                    h.set_mode(0o644);
                    h.set_size(body.len() as u64);
                    h.set_cksum();
                    b.append(&h, body.as_bytes()).unwrap();
                }
                E::CharDev(p) => {
                    h.set_entry_type(tar::EntryType::Char);
                    h.set_mode(0o644);
                    h.set_size(0);
                    h.set_device_major(1).unwrap();
                    h.set_device_minor(3).unwrap();
                    b.append_data(&mut h, p, std::io::empty()).unwrap();
                }
            }
        }
        b.into_inner().unwrap().finish().unwrap();
        self
    }

    pub fn args(mut self, args: &[&str]) -> Test {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Test {
        self.env.push((k.into(), v.into()));
        self
    }

    /// `compose build recipes/<name>.toml --toolchain stub -o out --message-format json` plus extra args:
    /// what was built and written is read from the JSON lines on stdout (`Run::built`, `Run::output`).
    pub fn build(self, name: &str, extra: &[&str]) -> Test {
        let recipe = format!("recipes/{name}.toml");
        let mut a = vec!["build", recipe.as_str(), "--toolchain", "stub", "-o", "out", "--message-format", "json"];
        a.extend_from_slice(extra);
        self.args(&a)
    }

    pub fn run(&self) -> Run {
        self.run_with(&self.args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
    }

    /// Runs other arguments in the same project, with extra environment, leaving `self` as it is.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let output = self.command(args, env).output().expect("run compose");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        Run { output, stdout, stderr }
    }

    /// Starts `args` in the project without waiting, stdout and stderr piped: for runs that must
    /// overlap, or be killed. `Run::of` reads the finished child.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        let mut cmd = self.command(args, &[]);
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        cmd.spawn().expect("start compose")
    }

    /// The `compose` command in this project, with the test environment.
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_compose"));
        cmd.current_dir(self.dir.path())
            .args(args)
            .env("COMPOSE_CACHE_DIR", self.path("cache"))
            // Never reach the real archive from fixture tests.
            .env("COMPOSE_DEBIAN_MIRROR", "file:///nonexistent-debian-mirror")
            .env_remove("SOURCE_DATE_EPOCH")
            .env("NO_COLOR", "1")
            // The user's own config file and settings never leak into a test.
            .env("COMPOSE_CONFIG", self.path("config.toml"))
            .env_remove("COMPOSE_OFFLINE")
            .env_remove("COMPOSE_MIRRORS")
            .env_remove("COMPOSE_JOBS");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }
}

impl Run {
    /// Waits for a child from `Test::spawn` and keeps what it printed.
    pub fn of(child: std::process::Child) -> Run {
        let output = child.wait_with_output().expect("wait for compose");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        Run { output, stdout, stderr }
    }

    #[track_caller]
    pub fn success(&self) -> &Run {
        assert!(
            self.output.status.success(),
            "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}",
            self.output.status,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn code(&self, code: i32) -> &Run {
        assert_eq!(
            self.output.status.code(),
            Some(code),
            "wrong exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", self.stderr);
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(self.stdout.contains(needle), "stdout lacks {needle:?}:\n{}", self.stdout);
        self
    }

    /// The `--message-format json` objects compose printed on stdout.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        messages(&self.stdout)
    }

    /// Packages whose build started in this run (from `package-started` messages), sorted.
    pub fn built(&self) -> Vec<String> {
        let mut v = started_packages(&self.stdout);
        v.sort();
        v
    }

    /// The `output` message for the file written in `format` (`tar`, `image`, `record`).
    #[track_caller]
    pub fn output(&self, format: &str) -> serde_json::Value {
        let m = self.messages().into_iter().find(|m| m["reason"] == "output" && m["format"] == format);
        m.unwrap_or_else(|| panic!("no `{format}` output message on stdout:\n{}", self.stdout))
    }
}

/// The JSON objects of `compose build --message-format json` output.
pub fn messages(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().filter(|l| l.starts_with('{')).filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// The packages whose build started, in order, from `--message-format json` output (never from the
/// human lines on stderr, whose wording may change).
#[track_caller]
pub fn started_packages(stdout: &str) -> Vec<String> {
    let m = messages(stdout);
    assert!(stdout.is_empty() || !m.is_empty(), "this reads --message-format json output; the run printed:\n{stdout}");
    m.iter()
        .filter(|m| m["reason"] == "package-started")
        .map(|m| m["package"].as_str().expect("package is a string").to_string())
        .collect()
}

pub fn sha256_file(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))))
}

/// (path, type char, mode, link target or content) of every entry of a tarball, in archive order.
pub fn tar_listing(p: &Path) -> Vec<(String, char, u32, String)> {
    let mut ar = tar::Archive::new(std::fs::File::open(p).unwrap());
    let mut v = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let kind = match e.header().entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Regular => 'f',
            other => panic!("unexpected entry type {other:?}"),
        };
        let mode = e.header().mode().unwrap();
        let extra = if kind == 'l' {
            e.link_name().unwrap().unwrap().to_string_lossy().into_owned()
        } else {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).ok();
            s
        };
        v.push((path, kind, mode, extra));
    }
    v
}

/// A minimal recipe around one tarball with a custom install script.
pub fn recipe(name: &str, tarball: &str, deps_build: &[&str], deps_runtime: &[&str], install: &str) -> String {
    let q = |v: &[&str]| v.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
    format!(
        r#"[package]
name = "{name}"
version = "1.0"
license = "MIT"
homepage = "https://example.org/{name}"
description = "fixture"

[[source]]
url = "file://{{DL}}/{tarball}"
sha256 = "{{SHA:{tarball}}}"

[dependencies]
build = [{}]
runtime = [{}]

[build]
style = "custom"
install = '''
{install}
'''
"#,
        q(deps_build),
        q(deps_runtime)
    )
}

pub fn sha256_bytes(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}
