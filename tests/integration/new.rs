//! `compose new`: tarballs served by a tiny HTTP server in the test, a fake Debian archive in a
//! directory (`COMPOSE_DEBIAN_MIRROR=file:///...`), and the recipe it writes built with the stub
//! toolchain.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::harness::{E, Test, sha256_file, tar_listing};

/// Serves files by path on 127.0.0.1 (GET and HEAD; 404 for anything else), one thread per
/// connection, each answer after `delay`. Runs until the test process ends.
struct Server {
    base: String,
    gets: Arc<AtomicUsize>,
}

impl Server {
    fn start(files: HashMap<String, Vec<u8>>, delay: Duration) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (files, gets) = (Arc::new(files), Arc::new(AtomicUsize::new(0)));
        let counter = gets.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let (files, gets) = (files.clone(), counter.clone());
                std::thread::spawn(move || answer(conn.unwrap(), &files, &gets, delay));
            }
        });
        Server { base, gets }
    }

    fn url(&self, file: &str) -> String {
        format!("{}/releases/{file}", self.base)
    }
}

fn answer(mut conn: TcpStream, files: &HashMap<String, Vec<u8>>, gets: &AtomicUsize, delay: Duration) {
    let (mut request, mut buf) = (Vec::new(), [0u8; 1024]);
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&request);
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    std::thread::sleep(delay);
    let file = path.strip_prefix("/releases/").and_then(|f| files.get(f));
    let (status, body) = match file {
        Some(body) => ("200 OK", body.as_slice()),
        None => ("404 Not Found", &b"not here"[..]),
    };
    if method == "GET" && file.is_some() {
        gets.fetch_add(1, Ordering::SeqCst);
    }
    let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let _ = conn.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = conn.write_all(body);
    }
}

/// A stand-in for a generated `configure`: it records the prefix for the Makefile.
const CONFIGURE: &str = "#!/bin/sh\nprefix=/usr\nfor a; do case $a in --prefix=*) prefix=${a#--prefix=} ;; esac; done\nprintf 'PREFIX = %s\\n' \"$prefix\" > config.mk\n";
const MAKEFILE: &str = "include config.mk\nall: hello\nhello: hello.c\n\t$(CC) $(CFLAGS) -o hello hello.c $(LDFLAGS)\ninstall: hello\n\tmkdir -p $(DESTDIR)$(PREFIX)/bin\n\tcp hello $(DESTDIR)$(PREFIX)/bin/hello\n";
const HELLO_C: &str = "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n";
const MIT: &str = "MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\nof this software...\n";

/// An autotools-style `hello-1.0.tar.gz` in dl/.
fn hello() -> Test {
    Test::new().tarball(
        "hello-1.0.tar.gz",
        &[
            E::Dir("hello-1.0"),
            E::File("hello-1.0/configure", CONFIGURE, 0o755),
            E::File("hello-1.0/configure.ac", "AC_INIT([hello], [1.0])\n", 0o644),
            E::File("hello-1.0/Makefile.in", MAKEFILE, 0o644),
            E::File("hello-1.0/Makefile", MAKEFILE, 0o644),
            E::File("hello-1.0/hello.c", HELLO_C, 0o644),
            E::File("hello-1.0/LICENSE", MIT, 0o644),
        ],
    )
}

/// Serves every tarball of the test's dl/.
fn serve(t: &Test, delay: Duration) -> Server {
    let mut files = HashMap::new();
    for e in std::fs::read_dir(t.path("dl")).unwrap() {
        let e = e.unwrap();
        files.insert(e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap());
    }
    Server::start(files, delay)
}

/// A Debian archive in `debian/` holding `file` (a pool file name) with `bytes`; its
/// `COMPOSE_DEBIAN_MIRROR` value.
fn debian_pool(t: &Test, dir: &str, file: &str, bytes: &[u8]) -> String {
    let pool = t.path("debian/pool/main").join(dir);
    std::fs::create_dir_all(&pool).unwrap();
    std::fs::write(pool.join(file), bytes).unwrap();
    format!("file://{}", t.path("debian").display())
}

fn read(t: &Test, rel: &str) -> String {
    std::fs::read_to_string(t.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn new_pins_the_tarball_finds_its_debian_twin_and_the_recipe_builds_without_fetching_again() {
    let t = hello();
    let server = serve(&t, Duration::ZERO);
    let url = server.url("hello-1.0.tar.gz");
    let tarball = std::fs::read(t.path("dl/hello-1.0.tar.gz")).unwrap();
    let mirror = debian_pool(&t, "h/hello", "hello_1.0.orig.tar.gz", &tarball);
    let sha = sha256_file(&t.path("dl/hello-1.0.tar.gz"));

    let r = t.run_with(&["new", "hello", &url], &[("COMPOSE_DEBIAN_MIRROR", &mirror)]);
    r.success()
        .stderr_has(&format!("sha256 {sha}"))
        .stderr_has("found in the Debian archive as hello_1.0.orig.tar.gz (same bytes)")
        .stderr_has("build system: autotools (configure; also there: Makefile, configure.ac)")
        .stderr_has("license: MIT (LICENSE: MIT)")
        .stderr_has("next: compose build recipes/hello.toml");
    assert_eq!(r.stdout, "recipes/hello.toml\n", "stdout is the recipe's path alone");
    let recipe = read(&t, "recipes/hello.toml");
    for line in [
        "name = \"hello\"\n",
        "version = \"1.0\"\n",
        "license = \"MIT\"",
        &format!("homepage = \"{}/\"\n", server.base),
        &format!("url = \"{url}\"\n"),
        &format!("sha256 = \"{sha}\"\n"),
        "debian = \"hello_1.0.orig.tar.gz\"",
        "style = \"autotools\"\n",
        "host_tools = [\"make\", \"gcc\"]\n",
        "# [config]\n",
    ] {
        assert!(recipe.contains(line), "recipe lacks {line:?}:\n{recipe}");
    }
    assert_eq!(server.gets.load(Ordering::SeqCst), 1, "downloaded once");

    // The recipe builds as written, from the source cache: nothing is fetched again.
    let r = t.run_with(
        &["build", "recipes/hello.toml", "--toolchain", "stub", "-o", "out", "--message-format", "json"],
        &[],
    );
    r.success();
    assert_eq!(r.built(), ["hello"]);
    assert!(!r.messages().iter().any(|m| m["reason"] == "fetch-started"), "fetched again:\n{}", r.stdout);
    assert_eq!(server.gets.load(Ordering::SeqCst), 1);
    let listing = tar_listing(&t.path("out/hello.tar"));
    assert!(listing.iter().any(|e| e.0 == "usr/bin/hello" && e.1 == 'f'), "{listing:?}");
}

#[test]
fn new_does_not_name_a_debian_file_with_other_bytes() {
    let t = hello();
    let server = serve(&t, Duration::ZERO);
    // Debian's repack: the same name, other bytes.
    let mut repack = std::fs::read(t.path("dl/hello-1.0.tar.gz")).unwrap();
    repack.extend_from_slice(b"repacked");
    let mirror = debian_pool(&t, "h/hello", "hello_1.0.orig.tar.gz", &repack);
    let r = t.run_with(&["new", "hello", &server.url("hello-1.0.tar.gz")], &[("COMPOSE_DEBIAN_MIRROR", &mirror)]);
    r.success().stderr_has("not in the Debian archive with the same bytes (it has hello_1.0.orig.tar.gz");
    let recipe = read(&t, "recipes/hello.toml");
    assert!(!recipe.contains("debian ="), "{recipe}");
    // And with no pool file at all (the harness's mirror is an empty path).
    std::fs::remove_file(t.path("recipes/hello.toml")).unwrap();
    let r = t.run_with(&["new", "hello", &server.url("hello-1.0.tar.gz")], &[]);
    r.success().stderr_has("not in the Debian archive\n");
}

#[test]
fn new_pins_the_debian_copy_when_upstream_cannot_be_reached() {
    let t = hello();
    let server = serve(&t, Duration::ZERO);
    let tarball = std::fs::read(t.path("dl/hello-1.0.tar.gz")).unwrap();
    let mirror = debian_pool(&t, "libh/libhello", "libhello_1.0.orig.tar.gz", &tarball);
    let gone = server.url("gone/hello-1.0.tar.gz");
    let r = t.run_with(&["new", "hello", &gone], &[("COMPOSE_DEBIAN_MIRROR", &mirror)]);
    r.success()
        .stderr_has(&format!("warning: upstream could not be fetched: {gone}: HTTP 404 Not Found"))
        .stderr_has("found in the Debian archive as libhello_1.0.orig.tar.gz; its sha256 is pinned")
        .stderr_has("check it against upstream's published checksum");
    let recipe = read(&t, "recipes/hello.toml");
    assert!(recipe.contains(&format!("sha256 = \"{}\"", sha256_file(&t.path("dl/hello-1.0.tar.gz")))), "{recipe}");
    assert!(recipe.contains("debian = \"libhello_1.0.orig.tar.gz\"\n"), "{recipe}");
    assert!(
        recipe.contains("# TODO: this sha256 is that of the Debian archive's libhello_1.0.orig.tar.gz"),
        "{recipe}"
    );
}

#[test]
fn new_detects_each_build_system() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "conf",
            &["configure", "CMakeLists.txt", "meson.build", "Makefile"],
            "build system: autotools (configure; also there: meson.build, CMakeLists.txt, Makefile)",
        ),
        (
            "mes",
            &["meson.build", "CMakeLists.txt", "Makefile"],
            "build system: meson (meson.build; also there: CMakeLists.txt, Makefile)",
        ),
        ("cm", &["CMakeLists.txt", "Makefile"], "build system: cmake (CMakeLists.txt; also there: Makefile)"),
        ("mk", &["GNUmakefile", "configure.ac"], "build system: make (GNUmakefile; also there: configure.ac)"),
        (
            "ac",
            &["configure.ac", "autogen.sh"],
            "build system: autotools (configure.ac, no configure: autoreconf -fi first; also there: autogen.sh)",
        ),
        ("none", &["main.c"], "build system: none found: style `custom`"),
    ];
    let mut t = Test::new();
    for (name, files, _) in cases {
        let top = format!("{name}-3.2");
        let paths: Vec<String> = files.iter().map(|f| format!("{top}/{f}")).collect();
        let entries: Vec<E> = paths.iter().map(|p| E::File(p, "", 0o644)).collect();
        t = t.tarball(&format!("{name}-3.2.tar.gz"), &entries);
    }
    let server = serve(&t, Duration::ZERO);
    for (name, _, line) in cases {
        let r = t.run_with(&["new", name, &server.url(&format!("{name}-3.2.tar.gz"))], &[]);
        r.success().stderr_has(line).stderr_has("version: 3.2");
        let recipe = read(&t, &format!("recipes/{name}.toml"));
        let style = match *name {
            "conf" | "ac" => "autotools",
            "mes" => "meson",
            "cm" => "cmake",
            "mk" => "make",
            _ => "custom",
        };
        assert!(recipe.contains(&format!("style = \"{style}\"\n")), "{name}:\n{recipe}");
        assert!(recipe.contains("license = \"NOASSERTION\"  # TODO"), "{name}:\n{recipe}");
        if *name == "ac" {
            assert!(recipe.contains("configure = '''\nautoreconf -fi\n"), "{recipe}");
            assert!(recipe.contains("\"autoreconf:autoconf\""), "{recipe}");
        }
        if ["mes", "cm"].contains(name) {
            assert!(recipe.contains("configure_args = []"), "{recipe}");
        }
    }
    // --strict: no build system is an error, and nothing is written.
    let r = t.run_with(&["new", "strict", &server.url("none-3.2.tar.gz"), "--strict"], &[]);
    r.code(21).stderr_has("no build system found");
    assert!(!t.path("recipes/strict.toml").exists());
}

#[test]
fn new_never_overwrites_a_recipe() {
    let t = hello().file("recipes/hello.toml", "# mine\n");
    let server = serve(&t, Duration::ZERO);
    let r = t.run_with(&["new", "hello", &server.url("hello-1.0.tar.gz")], &[]);
    r.code(21)
        .stderr_has("error: `recipes/hello.toml` exists; compose new never replaces a recipe")
        .stderr_has("hint: edit `recipes/hello.toml`, or move it away first");
    assert_eq!(read(&t, "recipes/hello.toml"), "# mine\n");
    assert_eq!(server.gets.load(Ordering::SeqCst), 0, "a taken name costs no download");
    // Another directory is fine.
    t.run_with(&["new", "hello", &server.url("hello-1.0.tar.gz"), "--dir", "elsewhere"], &[])
        .success()
        .stdout_has("elsewhere/hello.toml");
}

/// Both runs pass the early "exists?" check while the server holds their downloads; only the link
/// that publishes the recipe decides, and it lets exactly one through.
#[test]
fn two_concurrent_new_of_one_name_one_wins_the_other_exits_21() {
    let t = hello();
    let server = serve(&t, Duration::from_millis(700));
    let url = server.url("hello-1.0.tar.gz");
    let a = t.spawn(&["new", "hello", &url]);
    let b = t.spawn(&["new", "hello", &url]);
    let runs = [crate::harness::Run::of(a), crate::harness::Run::of(b)];
    let codes: Vec<Option<i32>> = runs.iter().map(|r| r.output.status.code()).collect();
    let (won, lost): (Vec<_>, Vec<_>) = runs.iter().partition(|r| r.output.status.success());
    assert_eq!((won.len(), lost.len()), (1, 1), "exit codes {codes:?}");
    lost[0].code(21).stderr_has("`recipes/hello.toml` exists");
    assert_eq!(server.gets.load(Ordering::SeqCst), 2, "both downloaded: the race was real");
    let recipe = read(&t, "recipes/hello.toml");
    assert!(recipe.contains("style = \"autotools\""), "{recipe}");
    let left: Vec<_> = std::fs::read_dir(t.path("recipes")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["hello.toml"], "no temp file left behind");
}

#[test]
fn new_exit_codes_for_bad_input_and_unreachable_sources() {
    let t = hello();
    let server = serve(&t, Duration::ZERO);
    let url = server.url("hello-1.0.tar.gz");
    t.run_with(&["new", "../x", &url], &[]).code(2).stderr_has("`../x` is not a valid package name");
    t.run_with(&["new", "x", "ftp://example.org/x-1.tar.gz"], &[]).code(2).stderr_has("scheme must be");
    t.run_with(&["new", "x"], &[]).code(2);
    // The URL parser would drop the line break; the recipe's comment would not.
    t.run_with(&["new", "x", "https://example.org/x-1.tar.gz\n[build]"], &[])
        .code(2)
        .stderr_has("`https://example.org/x-1.tar.gz\\n[build]` is not a URL compose can fetch: it has a control");
    t.run_with(&["new", "x", &url, "--path", "recipes"], &[]).code(2);
    t.run_with(&["new", "x", &server.url("missing-1.0.tar.gz")], &[])
        .code(5)
        .stderr_has("HTTP 404 Not Found")
        .stderr_has("hint: check the URL");
    t.run_with(&["new", "x", &url, "--offline"], &[])
        .code(11)
        .stderr_has("skipped: offline")
        .stderr_has("--mirror DIR");
    // Offline, a directory mirror holding the file by name does.
    let r = t.run_with(&["new", "x", &url, "--offline", "--mirror", &t.path("dl").display().to_string()], &[]);
    r.success().stderr_has("build system: autotools");
    assert_eq!(server.gets.load(Ordering::SeqCst), 0);
    assert!(!t.path("recipes/../x.toml").exists() && !t.path("recipes/ftp.toml").exists());
}

#[test]
fn new_path_writes_a_local_source_relative_to_the_recipe() {
    let t = Test::new()
        .file("recipes/app/CMakeLists.txt", "project(app C)\n")
        .file("recipes/app/COPYING", MIT)
        .file("outside/Makefile", "all:\n");
    let r = t.run_with(&["new", "app", "--path", "recipes/app"], &[]);
    r.success()
        .stdout_has("recipes/app.toml")
        .stderr_has("source: the directory `app`")
        .stderr_has("build system: cmake (CMakeLists.txt)")
        .stderr_has("next: compose build recipes/app.toml");
    let recipe = read(&t, "recipes/app.toml");
    assert!(recipe.contains("\npath = \"app\"\n") && recipe.contains("style = \"cmake\"\n"), "{recipe}");
    assert!(!recipe.contains("sha256") && !recipe.contains("\nurl"), "{recipe}");
    assert!(recipe.contains("version = \"0.1.0\"  # TODO"), "{recipe}");
    assert!(recipe.contains("license = \"MIT\""), "{recipe}");
    // Outside the recipe directory's tree: refused, nothing written.
    t.run_with(&["new", "out", "--path", "outside"], &[])
        .code(2)
        .stderr_has("`outside` is not inside the recipe directory `recipes`")
        .stderr_has("hint: a local source must be inside the recipe's directory tree");
    t.run_with(&["new", "out", "--path", "recipes/app/../../outside"], &[]).code(2);
    t.run_with(&["new", "out", "--path", "nowhere"], &[]).code(2).stderr_has("cannot read the directory `nowhere`");
    assert!(!t.path("recipes/out.toml").exists());
    // Beside its sources, with --dir.
    t.run_with(&["new", "out", "--path", "outside/.", "--dir", "."], &[]).success();
    assert!(read(&t, "out.toml").contains("path = \"outside\""));
}

/// The real thing: busybox's release, from upstream where it resolves, else from the Debian archive of
/// this machine's apt sources; either way the same bytes, named as the pool's file.
#[test]
#[ignore = "tier: e2e"] // downloads 2.5 MB (twice where upstream answers)
fn e2e_new_busybox_pins_the_release_and_names_its_debian_twin() {
    let t = Test::new();
    let url = "https://busybox.net/downloads/busybox-1.37.0.tar.bz2";
    let mut cmd = t.command(&["new", "busybox", url], &[]);
    cmd.env_remove("COMPOSE_DEBIAN_MIRROR"); // the apt sources' archive, as for builds
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("found in the Debian archive as busybox_1.37.0.orig.tar.bz2"), "{stderr}");
    assert!(stderr.contains("build system: make (Makefile)") && stderr.contains("GPL-2.0-only"), "{stderr}");
    let recipe = read(&t, "recipes/busybox.toml");
    assert!(recipe.contains("sha256 = \"3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4\""));
    assert!(recipe.contains("debian = \"busybox_1.37.0.orig.tar.bz2\""), "{recipe}");
    assert!(recipe.contains("homepage = \"https://busybox.net/\""), "{recipe}");
}

/// What an attacker puts after a line break, hoping it lands in the recipe as TOML.
const INJECTED: &str = "[build]\nstyle = \"custom\"\ninstall = \"echo pwned\"\n[x]\n#";

/// The recipe written loads, its only `[build]` table is the generated one, and none of the injected
/// text is a key or a table of its own.
#[track_caller]
fn no_injection(t: &Test, rel: &str, style: &str) {
    let text = read(t, rel);
    let recipe = compose::recipe::load(&t.path(rel)).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(format!("{:?}", recipe.build.style).to_lowercase(), style, "{text}");
    assert!(!recipe.build.phases.iter().any(|p| p.script.contains("pwned")), "{text}");
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let tables: Vec<&str> = doc.keys().map(String::as_str).collect();
    assert_eq!(tables, ["build", "dependencies", "package", "source"], "{text}");
    assert_eq!(text.matches("\n[build]\n").count(), 1, "{text}");
    for line in text.lines() {
        assert!(!line.starts_with("install = \"echo pwned") && line != "[x]" && line != "#", "{line:?} in\n{text}");
    }
}

/// Regression: with no version in the file name (`main.tar.gz`) the version came from the tarball's
/// top directory as it was, line breaks and all, and was written raw into the `cpe` comment: the
/// lines after it were real TOML, a `custom` build running `echo pwned`.
#[test]
fn new_a_top_directory_with_line_breaks_injects_no_toml() {
    let top = format!("p-1.0\n{INJECTED}");
    let (configure, makefile) = (format!("{top}/configure"), format!("{top}/Makefile"));
    let t = Test::new().tarball(
        "main.tar.gz",
        &[E::Dir(&top), E::File(&configure, CONFIGURE, 0o755), E::File(&makefile, MAKEFILE, 0o644)],
    );
    let url = format!("file://{}", t.path("dl/main.tar.gz").display());
    let r = t.run_with(&["new", "p", &url], &[]);
    r.success().stderr_has("version: not in the file name: fill it in").stderr_has("build system: autotools");
    no_injection(&t, "recipes/p.toml", "autotools");
    let text = read(&t, "recipes/p.toml");
    assert!(text.contains("version = \"0\"  # TODO"), "the placeholder, not the top directory:\n{text}");
    assert!(!r.stderr.contains("pwned"), "{}", r.stderr);

    // An escape sequence in the top directory never reaches the terminal either.
    let top = "q-1.0\u{1b}]0;owned\u{7}";
    let configure = format!("{top}/configure");
    let t = t.tarball("master.tar.gz", &[E::Dir(top), E::File(&configure, CONFIGURE, 0o755)]);
    let url = format!("file://{}", t.path("dl/master.tar.gz").display());
    let r = t.run_with(&["new", "q", &url], &[]);
    r.success().stderr_has("version: not in the file name");
    assert!(!r.stderr.contains('\u{1b}') && !r.stderr.contains('\u{7}'), "{:?}", r.stderr);
    assert!(!read(&t, "recipes/q.toml").contains('\u{1b}'));
}

/// Regression: a `--path` directory named with line breaks went raw into the recipe's first comment
/// (`# Written by `compose new app --path ...``), so its lines after the first were real TOML. Such a
/// path is refused (exit 2), with the name shown escaped; reached through a symlink with a plain name
/// it is refused too, since the recipe would carry its real name.
#[test]
fn new_path_with_line_breaks_or_quotes_is_refused_and_injects_nothing() {
    let evil = format!("recipes/app\n{INJECTED}");
    let t = Test::new().file(&format!("{evil}/Makefile"), "all:\n").file("recipes/q\"uote/Makefile", "all:\n");
    let r = t.run_with(&["new", "app", "--path", &evil], &[]);
    r.code(2)
        .stderr_has("compose new does not write a path with a control character, a quote")
        .stderr_has("`recipes/app\\n[build]\\nstyle = \"custom\"\\ninstall = \"echo pwned\"\\n[x]\\n#`")
        .stderr_has("hint: rename the directory");
    assert!(!r.stderr.lines().any(|l| l.starts_with("[build]") || l.starts_with("install")), "{}", r.stderr);
    std::os::unix::fs::symlink(t.path(&evil), t.path("recipes/plain")).unwrap();
    t.run_with(&["new", "app", "--path", "recipes/plain"], &[]).code(2).stderr_has("`app\\n[build]\\n");
    t.run_with(&["new", "app", "--path", "recipes/q\"uote"], &[]).code(2).stderr_has("a quote");
    assert!(!t.path("recipes/app.toml").exists());

    // The comment is escaped even when the path is fine once resolved: `x/..` is no name of its own.
    let odd = format!("recipes/ok/sub\n{INJECTED}/..");
    let t = t.file("recipes/ok/Makefile", "all:\n").file(&format!("recipes/ok/sub\n{INJECTED}/.keep"), "");
    t.run_with(&["new", "ok", "--path", &odd], &[]).success().stderr_has("source: the directory `ok`");
    no_injection(&t, "recipes/ok.toml", "make");
    let text = read(&t, "recipes/ok.toml");
    assert!(text.starts_with("# Written by `compose new ok --path recipes/ok/sub\\n[build]\\nstyle"), "{text}");
}

/// A directory that cannot be read (here: a `--dir` that is a file, so the `--path` under it is no
/// directory) is exit 21 naming it, not the undocumented exit 1.
#[test]
fn new_an_unreadable_directory_is_exit_21_naming_it() {
    let t = Test::new().file("notadir", "");
    t.run_with(&["new", "app", "--dir", "notadir", "--path", "notadir/app"], &[])
        .code(21)
        .stderr_has("error: cannot read the directory `notadir/app`")
        .stderr_has("caused by: Not a directory")
        .stderr_has("hint: check that `notadir/app` is a directory you can read");
}
