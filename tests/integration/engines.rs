//! The real container tools the slow tiers drive (docs/testing.md): podman with a private store and the
//! field notes' flags, docker, skopeo and umoci, and `require` for every other host tool. A tier that
//! was asked for needs all of its tools: a missing one fails the test, naming the tool and its Debian
//! package, and is never skipped.

use std::process::Command;

pub struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    pub fn new() -> Podman {
        require("podman", "podman");
        require("runc", "runc");
        let dir = tempfile::tempdir().unwrap();
        // Field notes: runc (crun fails on this cgroup setup), and ulimits we may set without CAP_SYS_RESOURCE.
        std::fs::write(dir.path().join("containers.conf"), "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n[engine]\nruntime = \"runc\"\n").unwrap();
        Podman { dir }
    }

    pub fn run(&self, args: &[&str]) -> (bool, String, String) {
        self.run_stdin(args, "")
    }

    /// Like `run`, with `input` on podman's stdin.
    pub fn run_stdin(&self, args: &[&str], input: &str) -> (bool, String, String) {
        use std::io::Write;
        let d = self.dir.path();
        let mut child = Command::new("podman")
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .arg("--runtime")
            .arg("runc")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run podman");
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(input.as_bytes()).expect("write podman's stdin");
        drop(stdin);
        let o = child.wait_with_output().expect("wait for podman");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rmi", "-a", "-f"]);
    }
}

/// Fails unless `cmd` is on PATH, naming the Debian `package` that provides it (.ci/run installs it).
#[track_caller]
pub fn require(cmd: &str, package: &str) {
    let found =
        Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().is_ok_and(|o| o.status.success());
    assert!(found, "`{cmd}` is required for this test and is not on PATH: apt-get install {package} (see .ci/run)");
}

/// Fails unless a Docker Engine answers `docker info` (CI machines have one; .ci/run does not install it).
#[track_caller]
pub fn require_docker() {
    match Command::new("docker").arg("info").output() {
        Err(e) => panic!(
            "`docker` is required for this test ({e}): install a Docker Engine (Debian package docker.io) and start it"
        ),
        Ok(o) if !o.status.success() => panic!(
            "no Docker Engine answers `docker info`, which this test needs: start it (systemctl start docker)\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Ok(_) => {}
    }
}

/// Runs a host tool (skopeo, umoci, docker) and returns (success, stdout, stderr). Panics with the
/// install hint when the tool is missing: CI installs every one of them (.ci/run).
pub fn tool(cmd: &str, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("`{cmd}` is required for this test ({e}): apt-get install {cmd} (see .ci/run)"));
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
