//! Host prerequisites: the commands recipes run from the build host (autoreconf, tclsh...), checked
//! before anything builds, with the Debian package that provides each.

use std::path::{Path, PathBuf};

use crate::recipe::HostTool;

pub use crate::toolchain::host::{BUILD_PATH, find};

/// Debian packages of common build commands (Debian 12 names).
const DEBIAN: &[(&str, &str)] = &[
    ("aclocal", "automake"),
    ("autoconf", "autoconf"),
    ("autopoint", "autopoint"),
    ("autoreconf", "autoconf"),
    ("automake", "automake"),
    ("bc", "bc"),
    ("bison", "bison"),
    ("bzip2", "bzip2"),
    ("cc", "gcc"),
    ("cmake", "cmake"),
    ("file", "file"),
    ("flex", "flex"),
    ("g++", "g++"),
    ("gawk", "gawk"),
    ("gcc", "gcc"),
    ("gperf", "gperf"),
    ("install", "coreutils"),
    ("libtoolize", "libtool"),
    ("m4", "m4"),
    ("make", "make"),
    ("makeinfo", "texinfo"),
    ("meson", "meson"),
    ("msgfmt", "gettext"),
    ("ninja", "ninja-build"),
    ("patch", "patch"),
    ("perl", "perl"),
    ("pkg-config", "pkgconf"),
    ("python3", "python3"),
    ("rsync", "rsync"),
    ("sed", "sed"),
    ("strip", "binutils"),
    ("tclsh", "tcl"),
    ("xxd", "xxd"),
    ("xz", "xz-utils"),
];

/// The Debian package for `tool`: the recipe's own word, else the table, else the command's name.
pub fn debian_package(tool: &HostTool) -> String {
    tool.debian.clone().unwrap_or_else(|| {
        DEBIAN.iter().find(|(c, _)| *c == tool.command).map(|(_, p)| p.to_string()).unwrap_or(tool.command.clone())
    })
}

/// A host command some packages need and this machine lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingTool {
    pub command: String,
    pub debian: String,
    pub packages: Vec<String>,
}

/// Checks each (package, tools) pair; returns what is missing, grouped by command.
pub fn missing<'a>(needs: impl IntoIterator<Item = (&'a str, &'a [HostTool])>) -> Vec<MissingTool> {
    let mut out: Vec<MissingTool> = Vec::new();
    for (package, tools) in needs {
        for t in tools {
            if find(&t.command, BUILD_PATH).is_some() {
                continue;
            }
            match out.iter_mut().find(|m| m.command == t.command) {
                Some(m) => m.packages.push(package.to_string()),
                None => out.push(MissingTool {
                    command: t.command.clone(),
                    debian: debian_package(t),
                    packages: vec![package.to_string()],
                }),
            }
        }
    }
    out
}

/// One host command the recipes need: where it is (if anywhere) and which packages need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub command: String,
    pub debian: String,
    pub found: Option<PathBuf>,
    pub needed_by: Vec<String>,
}

/// Every host command of every package of `graph`, sorted by command, each with what needs it.
pub fn requirements(graph: &crate::graph::BuildGraph) -> Vec<Requirement> {
    let mut by_command: std::collections::BTreeMap<String, Requirement> = Default::default();
    for i in graph.order() {
        let r = graph.recipe(i);
        for t in &r.build.host_tools {
            by_command
                .entry(t.command.clone())
                .or_insert_with(|| Requirement {
                    command: t.command.clone(),
                    debian: debian_package(t),
                    found: find(&t.command, BUILD_PATH),
                    needed_by: Vec::new(),
                })
                .needed_by
                .push(r.name.clone());
        }
    }
    by_command.into_values().collect()
}

/// Whether binaries of a foreign architecture can run here: qemu-user's static emulator (Debian's
/// `qemu-user-static`), and whether the kernel hands such binaries to it by itself (`binfmt_misc`),
/// which `podman run --platform` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignRunner {
    /// The ELF machine as qemu names it: `aarch64`, `riscv64`.
    pub arch: &'static str,
    pub qemu: Option<PathBuf>,
    /// `Ok`: registered and enabled; `Err`: why not (not mounted, not registered, disabled).
    pub binfmt: Result<(), String>,
}

/// The architectures compose is meant to cross-build for.
pub const FOREIGN: [&str; 2] = ["aarch64", "riscv64"];

/// How each foreign architecture would run on this host.
pub fn foreign_runners() -> Vec<ForeignRunner> {
    FOREIGN.iter().map(|&arch| foreign_runner(arch, Path::new("/proc/sys/fs/binfmt_misc"))).collect()
}

fn foreign_runner(arch: &'static str, binfmt_dir: &Path) -> ForeignRunner {
    let qemu = find(&format!("qemu-{arch}-static"), BUILD_PATH);
    let binfmt = if !binfmt_dir.join("status").exists() {
        Err(format!("binfmt_misc is not mounted (mount -t binfmt_misc binfmt_misc {})", binfmt_dir.display()))
    } else {
        match std::fs::read_to_string(binfmt_dir.join(format!("qemu-{arch}"))) {
            Ok(text) if text.lines().next() == Some("enabled") => Ok(()),
            Ok(_) => Err(format!("qemu-{arch} is registered but disabled")),
            Err(_) => Err(unregistered(arch)),
        }
    };
    ForeignRunner { arch, qemu, binfmt }
}

/// Why `arch` has no handler, and the fix: register Debian's (systemd-binfmt does at boot, but not in a
/// container), or install qemu-user-static first.
fn unregistered(arch: &str) -> String {
    let conf = format!("/usr/lib/binfmt.d/qemu-{arch}.conf");
    if Path::new(&conf).exists() {
        format!("no qemu-{arch} handler registered (/lib/systemd/systemd-binfmt {conf})")
    } else {
        format!("no qemu-{arch} handler registered (apt-get install qemu-user-static)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_from_the_table_or_the_recipe() {
        let t = |c: &str, d: Option<&str>| HostTool { command: c.into(), debian: d.map(String::from) };
        assert_eq!(debian_package(&t("libtoolize", None)), "libtool");
        assert_eq!(debian_package(&t("tclsh", Some("tcl8.6"))), "tcl8.6");
        assert_eq!(debian_package(&t("frobnicate", None)), "frobnicate");
        assert!(find("sh", BUILD_PATH).is_some());
        let m = missing([
            ("a", &[t("sh", None), t("no-such-tool-xyz", None)][..]),
            ("b", &[t("no-such-tool-xyz", None)][..]),
        ]);
        assert_eq!(
            m,
            vec![MissingTool {
                command: "no-such-tool-xyz".into(),
                debian: "no-such-tool-xyz".into(),
                packages: vec!["a".into(), "b".into()]
            }]
        );
    }

    #[test]
    fn a_foreign_runner_needs_qemu_and_an_enabled_binfmt_handler() {
        let d = tempfile::tempdir().unwrap();
        let r = foreign_runner("aarch64", d.path());
        assert!(r.binfmt.unwrap_err().contains("not mounted"));
        std::fs::write(d.path().join("status"), "enabled\n").unwrap();
        let why = foreign_runner("aarch64", d.path()).binfmt.unwrap_err();
        assert!(why.contains("no qemu-aarch64 handler registered ("), "{why}");
        std::fs::write(d.path().join("qemu-aarch64"), "disabled\ninterpreter /usr/bin/qemu-aarch64-static\n").unwrap();
        assert!(foreign_runner("aarch64", d.path()).binfmt.unwrap_err().contains("disabled"));
        std::fs::write(d.path().join("qemu-aarch64"), "enabled\ninterpreter /usr/bin/qemu-aarch64-static\n").unwrap();
        assert_eq!(foreign_runner("aarch64", d.path()).binfmt, Ok(()));
    }
}
