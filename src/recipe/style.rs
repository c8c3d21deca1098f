//! Build styles: how `[build] style` and its `*_args` expand to the `configure`, `build` and `install`
//! phase scripts (docs/recipes.md, "Build styles", shows every script exactly as written here).
//!
//! Guarantees: every style's default scripts take the toolchain from the phase environment only (`$CC`,
//! `$AR`, `$SYSROOT`, `$TARGET`...), so one recipe builds for every target; cmake and meson packages
//! install static libraries only (their `install` fails on a shared library); and no style passes a
//! fixed `-j`: make joins compose's jobserver through `$MAKEFLAGS`, and ninja, which cannot before
//! 1.13, runs with as many jobs as it could take free tokens from that jobserver, and gives them back.

use super::BuildStyle;

/// The default scripts of a style, before the recipe's own `configure`/`build`/`install` replace them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Scripts {
    pub configure: Option<String>,
    pub build: Option<String>,
    pub install: Option<String>,
}

/// What a recipe's `[build]` gives a style.
pub(super) struct StyleArgs<'a> {
    pub configure_args: &'a [String],
    pub make_args: &'a [String],
    pub install_args: &'a [String],
    /// `source_dir`: where the top CMakeLists.txt or meson.build is, relative to `$SRC` ("" for `$SRC`).
    pub source_dir: &'a str,
}

/// The autotools style's cross arguments: `--host`/`--build` when `$CROSS_COMPILE` is set (a cross
/// target), nothing for a native build.
pub const CROSS_CONFIGURE: &str = "${CROSS_COMPILE:+--host=\"$TARGET\" --build=\"$BUILD\"}";

/// The build directory of the cmake and meson styles, under `$SRC`; the toolchain and machine files
/// are written into it (the sysroot is read-only in the sandbox).
pub const BUILD_DIR: &str = "_compose";

/// The style's names, as a recipe writes them.
pub(super) fn parse(name: &str) -> Option<BuildStyle> {
    Some(match name {
        "make" => BuildStyle::Make,
        "autotools" => BuildStyle::Autotools,
        "cmake" => BuildStyle::Cmake,
        "meson" => BuildStyle::Meson,
        "custom" => BuildStyle::Custom,
        _ => return None,
    })
}

/// Host commands a style's default scripts run, checked before anything builds like the recipe's own
/// `host_tools` (`COMMAND` or `COMMAND:DEBIAN-PACKAGE`).
pub(super) fn host_tools(style: BuildStyle) -> &'static [&'static str] {
    match style {
        BuildStyle::Cmake => &["cmake", "make"],
        BuildStyle::Meson => &["meson", "ninja:ninja-build"],
        BuildStyle::Make | BuildStyle::Autotools | BuildStyle::Custom => &[],
    }
}

/// The style's default scripts. `custom` has none.
pub(super) fn expand(style: BuildStyle, a: &StyleArgs) -> Scripts {
    let join = |args: &[String]| args.iter().map(|a| format!(" {a}")).collect::<String>();
    let make_install = format!("make DESTDIR=\"$DESTDIR\"{} install", join(a.install_args));
    let src = if a.source_dir.is_empty() { "." } else { a.source_dir };
    match style {
        BuildStyle::Make => {
            Scripts { configure: None, build: Some(format!("make{}", join(a.make_args))), install: Some(make_install) }
        }
        BuildStyle::Autotools => Scripts {
            // --host/--build only when cross-compiling: the native configure runs as it always has
            // (given --host=x86_64-linux-musl, autoconf would take the host's own machine for a
            // cross target, only because the triple is spelt differently from --build's).
            configure: Some(format!(
                "./configure --prefix=\"$PREFIX\" {CROSS_CONFIGURE} --disable-shared --enable-static{}",
                join(a.configure_args)
            )),
            build: Some(format!("make{}", join(a.make_args))),
            install: Some(make_install),
        },
        BuildStyle::Cmake => Scripts {
            configure: Some(format!(
                "{CMAKE_TOOLCHAIN_FILE}\
                 cmake -S \"{src}\" -B {BUILD_DIR} -G \"Unix Makefiles\" \\\n  \
                 -DCMAKE_TOOLCHAIN_FILE=\"$PWD/{BUILD_DIR}/toolchain.cmake\" \\\n  \
                 -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DCMAKE_VERBOSE_MAKEFILE=ON \\\n  \
                 -DCMAKE_INSTALL_PREFIX=\"${{PREFIX%/}}\" -DCMAKE_INSTALL_LIBDIR=lib{}",
                join(a.configure_args)
            )),
            build: Some(format!("make -C {BUILD_DIR}{}", join(a.make_args))),
            install: Some(format!(
                "make -C {BUILD_DIR} DESTDIR=\"$DESTDIR\"{} install\n{}",
                join(a.install_args),
                static_only("cmake")
            )),
        },
        BuildStyle::Meson => Scripts {
            configure: Some(format!(
                "{MESON_MACHINE_FILE}\
                 env -u CFLAGS -u LDFLAGS PKG_CONFIG_LIBDIR=\"$pc_libdir\" PKG_CONFIG_SYSROOT_DIR=\"$SYSROOT\" \\\n  \
                 meson setup {BUILD_DIR} \"{src}\" --\"$machine\"-file {BUILD_DIR}/machine.ini \\\n  \
                 --prefix=\"$PREFIX\" --libdir=lib --buildtype=minsize -Db_ndebug=true \\\n  \
                 --default-library=static --prefer-static -Db_staticpic=false --wrap-mode=nodownload{}",
                join(a.configure_args)
            )),
            build: Some(format!("{NINJA_JOBS}ninja -C {BUILD_DIR} $ninja_jobs{}", join(a.make_args))),
            install: Some(format!(
                "meson install -C {BUILD_DIR} --no-rebuild --destdir \"$DESTDIR\"{}\n{}",
                join(a.install_args),
                static_only("meson")
            )),
        },
        BuildStyle::Custom => Scripts::default(),
    }
}

/// The end of the cmake and meson `install`: a shared library installed is a failure, naming it.
fn static_only(style: &str) -> String {
    format!(
        "shared=$(find \"$DESTDIR\" \\( -name '*.so' -o -name '*.so.*' \\) \\( -type f -o -type l \\) -print)\n\
         if [ -n \"$shared\" ]; then\n  \
         echo \"style {style} installs static libraries only, but these are shared: $shared\" >&2\n  \
         echo \"hint: turn the package's shared build off in configure_args\" >&2\n  \
         exit 1\n\
         fi"
    )
}

/// Writes `_compose/toolchain.cmake`: CMake's view of the target toolchain (Buildroot's
/// toolchainfile.cmake is the model). Cross mode (`CMAKE_SYSTEM_NAME`) only for a cross target, as the
/// autotools style passes `--host` only then. No `CMAKE_SYSROOT`: `$CC` already searches only the
/// sysroot (its specs file), and `--sysroot` on top would point gcc's own libgcc search into it. The
/// release flags are only `-DNDEBUG`, so the optimisation is the toolchain's `$CFLAGS` (CMake reads
/// `CFLAGS`/`LDFLAGS` from the environment), not CMake's `-O3` after it.
const CMAKE_TOOLCHAIN_FILE: &str = r##"mkdir -p _compose
if [ -n "$CROSS_COMPILE" ]; then
  cmake_system="set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${TARGET%%-*})"
else
  cmake_system="# a native target: CMake finds Linux and the processor itself, and stays out of cross mode"
fi
cat >_compose/toolchain.cmake <<EOF
# written by compose for $TARGET (docs/recipes.md, style cmake)
$cmake_system
set(CMAKE_C_COMPILER "$CC")
set(CMAKE_AR "$(command -v "$AR")" CACHE FILEPATH "archiver")
set(CMAKE_RANLIB "$(command -v "$RANLIB")" CACHE FILEPATH "ranlib")
set(CMAKE_STRIP "$(command -v "$STRIP")" CACHE FILEPATH "strip")
set(CMAKE_C_FLAGS_RELEASE "-DNDEBUG" CACHE STRING "the optimisation is \$CFLAGS'")
set(CMAKE_FIND_ROOT_PATH "$SYSROOT")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(ENV{PKG_CONFIG_LIBDIR} "$SYSROOT/lib/pkgconfig:$SYSROOT/share/pkgconfig:$SYSROOT/usr/lib/pkgconfig:$SYSROOT/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "$SYSROOT")
EOF
cat _compose/toolchain.cmake
"##;

/// Writes `_compose/machine.ini`: a meson cross file for a cross target, a native file otherwise (as
/// for cmake), with the compiler, binutils, pkg-config into the sysroot, and `$CFLAGS`/`$LDFLAGS` as
/// `c_args`/`c_link_args` (meson setup runs without `CFLAGS`/`LDFLAGS`, so the file is the one source).
/// Sets `$machine` (`cross` or `native`) and `$pc_libdir` for the `meson setup` line.
const MESON_MACHINE_FILE: &str = r##"mkdir -p _compose
meson_list() { local a out=''; for a in $1; do out+="${out:+, }'$a'"; done; printf '[%s]' "$out"; }
pc_libdir="$SYSROOT/lib/pkgconfig:$SYSROOT/share/pkgconfig:$SYSROOT/usr/lib/pkgconfig:$SYSROOT/usr/share/pkgconfig"
cpu=${TARGET%%-*}
case $cpu in
  x86_64) family=x86_64 ;;
  i?86) family=x86 ;;
  aarch64 | aarch64_be) family=aarch64 ;;
  arm*) family=arm ;;
  riscv64) family=riscv64 ;;
  *) echo "no meson cpu_family known for $TARGET: add it to the meson style (src/recipe/style.rs)" >&2; exit 1 ;;
esac
case $cpu in *_be | *eb) endian=big ;; *) endian=little ;; esac
if [ -n "$CROSS_COMPILE" ]; then machine=cross; else machine=native; fi
{
  echo "# written by compose for $TARGET (docs/recipes.md, style meson): a $machine file"
  echo "[binaries]"
  echo "c = ['$CC']"
  echo "ar = '$(command -v "$AR")'"
  echo "strip = '$(command -v "$STRIP")'"
  echo "pkgconfig = 'pkg-config'"
  echo "[properties]"
  echo "pkg_config_libdir = $(meson_list "${pc_libdir//:/ }")"
  echo "sys_root = '$SYSROOT'"
  echo "[built-in options]"
  echo "c_args = $(meson_list "$CFLAGS")"
  echo "c_link_args = $(meson_list "$LDFLAGS")"
  if [ "$machine" = cross ]; then
    echo "[host_machine]"
    echo "system = 'linux'"
    echo "cpu_family = '$family'"
    echo "cpu = '$cpu'"
    echo "endian = '$endian'"
  fi
} >_compose/machine.ini
cat _compose/machine.ini
"##;

/// Sets `$ninja_jobs` for the meson `build`. Ninja joins a GNU make jobserver only from 1.13
/// (ninja-build/ninja#2506); Debian 12 has 1.11.1, whose `-j N` would run N jobs beside every other
/// package's. So the script takes the jobserver's free tokens without waiting (at most `$JOBS - 1`:
/// this build already holds one), runs `ninja -j` one more than it took, and writes back exactly the
/// bytes it read when the script exits, failed or not. No jobserver: `-j $JOBS`. Ninja 1.13 or later
/// with a jobserver: no `-j`, it joins the jobserver itself.
const NINJA_JOBS: &str = r##"auth=''
for w in $MAKEFLAGS; do case $w in --jobserver-auth=*) auth=${w#--jobserver-auth=} ;; esac; done
IFS=. read -r ninja_major ninja_minor _ <<<"$(ninja --version)"
if [ -z "$auth" ]; then
  ninja_jobs="-j $JOBS"
  echo "compose: no jobserver in MAKEFLAGS: ninja -j $JOBS"
elif [ "$ninja_major" -gt 1 ] || { [ "$ninja_major" -eq 1 ] && [ "$ninja_minor" -ge 13 ]; }; then
  ninja_jobs=''
  echo "compose: ninja $ninja_major.$ninja_minor joins the jobserver itself"
else
  case $auth in
    fifo:*) exec {js_r}<>"${auth#fifo:}"; js_w=$js_r ;;
    *) js_r=${auth%,*}; js_w=${auth#*,} ;;
  esac
  taken=''
  trap 'printf %s "$taken" >&"$js_w"' EXIT
  while [ "${#taken}" -lt $((JOBS - 1)) ] && read -t 0 -u "$js_r"; do
    t=''
    IFS= read -r -N 1 -t 0.05 -u "$js_r" t || { taken+=$t; break; }
    taken+=$t
  done
  ninja_jobs="-j $((1 + ${#taken}))"
  echo "compose: ninja $ninja_major.$ninja_minor: took ${#taken} free jobserver token(s) of $((JOBS - 1)): ninja $ninja_jobs"
fi
"##;

#[cfg(test)]
mod tests {
    use super::*;

    fn args<'a>(configure: &'a [String], make: &'a [String], install: &'a [String], dir: &'a str) -> StyleArgs<'a> {
        StyleArgs { configure_args: configure, make_args: make, install_args: install, source_dir: dir }
    }

    #[test]
    fn cmake_writes_a_toolchain_file_and_builds_with_make_in_its_build_dir() {
        let c = vec!["-DLZ4_BUILD_LEGACY_LZ4C=OFF".to_string()];
        let s = expand(BuildStyle::Cmake, &args(&c, &["V=1".into()], &["-s".into()], "build/cmake"));
        let configure = s.configure.unwrap();
        for needle in [
            "cat >_compose/toolchain.cmake <<EOF",
            "set(CMAKE_SYSTEM_NAME Linux)",
            "set(CMAKE_SYSTEM_PROCESSOR ${TARGET%%-*})",
            "set(CMAKE_C_COMPILER \"$CC\")",
            "set(CMAKE_AR \"$(command -v \"$AR\")\" CACHE FILEPATH",
            "set(CMAKE_RANLIB \"$(command -v \"$RANLIB\")\"",
            "set(CMAKE_STRIP \"$(command -v \"$STRIP\")\"",
            "set(CMAKE_FIND_ROOT_PATH \"$SYSROOT\")",
            "CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER",
            "CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY",
            "CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY",
            "CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY",
            "set(ENV{PKG_CONFIG_SYSROOT_DIR} \"$SYSROOT\")",
            "cmake -S \"build/cmake\" -B _compose -G \"Unix Makefiles\"",
            "-DCMAKE_TOOLCHAIN_FILE=\"$PWD/_compose/toolchain.cmake\"",
            "-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF",
            "-DCMAKE_INSTALL_PREFIX=\"${PREFIX%/}\" -DCMAKE_INSTALL_LIBDIR=lib -DLZ4_BUILD_LEGACY_LZ4C=OFF",
        ] {
            assert!(configure.contains(needle), "configure lacks {needle:?}:\n{configure}");
        }
        assert!(!configure.contains("CMAKE_SYSROOT"), "the wrapper already points gcc at the sysroot");
        assert_eq!(s.build.unwrap(), "make -C _compose V=1");
        let install = s.install.unwrap();
        assert!(install.starts_with("make -C _compose DESTDIR=\"$DESTDIR\" -s install\n"), "{install}");
        assert!(install.contains("installs static libraries only"), "{install}");
    }

    #[test]
    fn meson_writes_a_machine_file_and_installs_with_destdir() {
        let c = vec!["-Dlz4=enabled".to_string()];
        let s = expand(BuildStyle::Meson, &args(&c, &[], &["--tags=runtime".into()], ""));
        let configure = s.configure.unwrap();
        for needle in [
            "echo \"c = ['$CC']\"",
            "echo \"ar = '$(command -v \"$AR\")'\"",
            "echo \"strip = '$(command -v \"$STRIP\")'\"",
            "echo \"pkgconfig = 'pkg-config'\"",
            "pkg_config_libdir = $(meson_list",
            "echo \"sys_root = '$SYSROOT'\"",
            "echo \"c_args = $(meson_list \"$CFLAGS\")\"",
            "echo \"[host_machine]\"",
            "echo \"cpu_family = '$family'\"",
            "echo \"endian = '$endian'\"",
            "env -u CFLAGS -u LDFLAGS PKG_CONFIG_LIBDIR=\"$pc_libdir\" PKG_CONFIG_SYSROOT_DIR=\"$SYSROOT\"",
            "meson setup _compose \".\" --\"$machine\"-file _compose/machine.ini",
            "--prefix=\"$PREFIX\" --libdir=lib --buildtype=minsize -Db_ndebug=true",
            "--default-library=static --prefer-static -Db_staticpic=false --wrap-mode=nodownload -Dlz4=enabled",
        ] {
            assert!(configure.contains(needle), "configure lacks {needle:?}:\n{configure}");
        }
        let build = s.build.unwrap();
        assert!(build.ends_with("ninja -C _compose $ninja_jobs"), "{build}");
        assert!(build.contains("trap 'printf %s \"$taken\" >&\"$js_w\"' EXIT"), "tokens go back: {build}");
        let install = s.install.unwrap();
        assert!(install.starts_with("meson install -C _compose --no-rebuild --destdir \"$DESTDIR\" --tags=runtime\n"));
        assert!(install.contains("installs static libraries only"), "{install}");
    }

    #[test]
    fn make_and_autotools_scripts_are_unchanged() {
        let (c, m, i) = (vec!["--with-x".to_string()], vec!["V=1".to_string()], vec!["-s".to_string()]);
        let s = expand(BuildStyle::Make, &args(&[], &m, &i, ""));
        assert_eq!(
            s,
            Scripts {
                configure: None,
                build: Some("make V=1".into()),
                install: Some("make DESTDIR=\"$DESTDIR\" -s install".into())
            }
        );
        let s = expand(BuildStyle::Autotools, &args(&c, &[], &[], ""));
        assert_eq!(
            s.configure.unwrap(),
            r#"./configure --prefix="$PREFIX" ${CROSS_COMPILE:+--host="$TARGET" --build="$BUILD"} --disable-shared --enable-static --with-x"#
        );
        assert_eq!(expand(BuildStyle::Custom, &args(&[], &[], &[], "")), Scripts::default());
    }

    /// Runs a style's script in bash with the given environment; (status, stdout, stderr).
    fn bash(script: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> (bool, String, String) {
        let mut cmd = std::process::Command::new("bash");
        cmd.args(["-e", "-o", "pipefail", "-c", script]).current_dir(dir).env_clear();
        cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let o = cmd.output().unwrap();
        (o.status.success(), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
    }

    const TOOLS: [(&str, &str); 7] = [
        ("CC", "/sysroot/bin/musl-gcc"),
        ("AR", "ar"),
        ("RANLIB", "ranlib"),
        ("STRIP", "strip"),
        ("SYSROOT", "/sysroot"),
        ("CFLAGS", "-Os -pipe"),
        ("LDFLAGS", "-static"),
    ];

    #[test]
    fn the_machine_file_is_a_cross_file_only_for_a_cross_target() {
        let d = tempfile::tempdir().unwrap();
        let mut env = TOOLS.to_vec();
        env.extend([("TARGET", "aarch64-linux-musl"), ("CROSS_COMPILE", "aarch64-linux-gnu-")]);
        let (ok, _, err) = bash(MESON_MACHINE_FILE, d.path(), &env);
        assert!(ok, "{err}");
        let cross = std::fs::read_to_string(d.path().join("_compose/machine.ini")).unwrap();
        for line in [
            "c = ['/sysroot/bin/musl-gcc']",
            "ar = '/usr/bin/ar'",
            "pkg_config_libdir = ['/sysroot/lib/pkgconfig', '/sysroot/share/pkgconfig', '/sysroot/usr/lib/pkgconfig', '/sysroot/usr/share/pkgconfig']",
            "sys_root = '/sysroot'",
            "c_args = ['-Os', '-pipe']",
            "c_link_args = ['-static']",
            "system = 'linux'",
            "cpu_family = 'aarch64'",
            "cpu = 'aarch64'",
            "endian = 'little'",
        ] {
            assert!(cross.lines().any(|l| l == line), "no line {line:?} in:\n{cross}");
        }
        env.retain(|(k, _)| !matches!(*k, "TARGET" | "CROSS_COMPILE"));
        env.extend([("TARGET", "x86_64-linux-musl"), ("CROSS_COMPILE", "")]);
        let (ok, _, err) = bash(MESON_MACHINE_FILE, d.path(), &env);
        assert!(ok, "{err}");
        let native = std::fs::read_to_string(d.path().join("_compose/machine.ini")).unwrap();
        assert!(native.contains("a native file") && !native.contains("[host_machine]"), "{native}");
    }

    #[test]
    fn the_cmake_toolchain_file_names_the_target_only_when_cross_compiling() {
        let d = tempfile::tempdir().unwrap();
        let mut env = TOOLS.to_vec();
        env.extend([("TARGET", "riscv64-linux-musl"), ("CROSS_COMPILE", "riscv64-linux-gnu-")]);
        let (ok, _, err) = bash(CMAKE_TOOLCHAIN_FILE, d.path(), &env);
        assert!(ok, "{err}");
        let f = std::fs::read_to_string(d.path().join("_compose/toolchain.cmake")).unwrap();
        assert!(f.contains("set(CMAKE_SYSTEM_NAME Linux)\nset(CMAKE_SYSTEM_PROCESSOR riscv64)\n"), "{f}");
        assert!(f.contains("set(CMAKE_AR \"/usr/bin/ar\" CACHE FILEPATH"), "{f}");
        assert!(
            f.contains("set(CMAKE_C_FLAGS_RELEASE \"-DNDEBUG\" CACHE STRING \"the optimisation is $CFLAGS'\")"),
            "{f}"
        );
        env.retain(|(k, _)| !matches!(*k, "TARGET" | "CROSS_COMPILE"));
        env.extend([("TARGET", "x86_64-linux-musl"), ("CROSS_COMPILE", "")]);
        let (ok, _, err) = bash(CMAKE_TOOLCHAIN_FILE, d.path(), &env);
        assert!(ok, "{err}");
        let f = std::fs::read_to_string(d.path().join("_compose/toolchain.cmake")).unwrap();
        assert!(!f.contains("CMAKE_SYSTEM_NAME"), "{f}");
    }

    /// A jobserver pipe holding `free` tokens, its fds inherited by the script, as compose's are.
    fn jobserver_run(free: usize, jobs: usize, after: &str) -> (bool, String, String, usize) {
        let client = jobserver::Client::new(free).unwrap();
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        // A stand-in ninja 1.11.1: the script asks for its version only.
        let ninja = bin.join("ninja");
        std::fs::write(&ninja, "#!/bin/sh\necho 1.11.1\n").unwrap();
        std::fs::set_permissions(&ninja, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let script = format!("{NINJA_JOBS}{after}");
        let mut cmd = std::process::Command::new("bash");
        cmd.args(["-e", "-o", "pipefail", "-c", &script]).env_clear();
        cmd.env("PATH", format!("{}:/usr/bin:/bin", bin.display())).env("JOBS", jobs.to_string());
        client.configure_make(&mut cmd);
        let o = cmd.output().unwrap();
        let left = client.available().unwrap();
        (o.status.success(), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into(), left)
    }

    #[test]
    fn ninja_takes_the_free_tokens_up_to_jobs_minus_one_and_gives_them_back() {
        let (ok, out, err, left) = jobserver_run(3, 4, "echo \"jobs=$ninja_jobs\"");
        assert!(ok, "{err}");
        assert!(out.contains("took 3 free jobserver token(s) of 3") && out.contains("jobs=-j 4"), "{out}");
        assert_eq!(left, 3, "every token is back");
        let (ok, out, _, left) = jobserver_run(6, 3, "echo \"jobs=$ninja_jobs\"");
        assert!(ok && out.contains("jobs=-j 3"), "at most JOBS-1 taken: {out}");
        assert_eq!(left, 6);
        let (ok, out, _, left) = jobserver_run(0, 4, "echo \"jobs=$ninja_jobs\"");
        assert!(ok && out.contains("took 0") && out.contains("jobs=-j 1"), "none free, no wait: {out}");
        assert_eq!(left, 0);
    }

    #[test]
    fn ninja_gives_the_tokens_back_when_the_build_fails() {
        let (ok, out, _, left) = jobserver_run(2, 8, "echo \"jobs=$ninja_jobs\"; false");
        assert!(!ok && out.contains("jobs=-j 3"), "{out}");
        assert_eq!(left, 2, "the failed build's tokens are back");
    }

    #[test]
    fn ninja_without_a_jobserver_runs_jobs_jobs() {
        let d = tempfile::tempdir().unwrap();
        let script = format!("ninja() {{ echo 1.11.1; }}\n{NINJA_JOBS}echo \"jobs=$ninja_jobs\"");
        let (ok, out, err) = bash(&script, d.path(), &[("JOBS", "5"), ("MAKEFLAGS", "")]);
        assert!(ok && out.contains("jobs=-j 5"), "{out}{err}");
        let script = format!("ninja() {{ echo 1.13.1; }}\n{NINJA_JOBS}echo \"jobs=[$ninja_jobs]\"");
        let (ok, out, err) = bash(&script, d.path(), &[("JOBS", "5"), ("MAKEFLAGS", "-j --jobserver-auth=3,4")]);
        assert!(ok && out.contains("jobs=[]"), "ninja 1.13 joins the jobserver itself: {out}{err}");
    }
}
