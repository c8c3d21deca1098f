//! The real container tools the tests drive: podman with a private store and the field notes' flags,
//! docker where an engine answers, and skopeo and umoci.

use std::process::Command;

pub struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    pub fn new() -> Podman {
        let found = Command::new("podman").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
        assert!(found, "podman is required for the end-to-end test: apt-get install podman runc (see .ci/run)");
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

pub fn docker_answers() -> bool {
    Command::new("docker").arg("info").output().map(|o| o.status.success()).unwrap_or(false)
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
