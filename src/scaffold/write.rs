//! The recipe text, and writing it without ever replacing a file.
//!
//! The text is valid TOML that `recipe::load` accepts as written: every guess is a value that loads,
//! and what only a person can supply (a description, a CPE, how the image runs) is a comment or an
//! empty string with a TODO beside it.
//!
//! Much of what it says comes from outside: the tarball's top directory and file names, a directory's
//! name, the URL, the command line. None of it may become TOML of its own: every value goes through
//! [`quote`], and everything said in a comment through [`printable`], so no line break (or terminal
//! escape) ever gets in.

use std::io::{self, Write};
use std::path::Path;

use super::detect::BuildSystem;

/// Everything the recipe says, decided; `render` only lays it out.
#[derive(Debug, Clone)]
pub struct Draft {
    pub name: String,
    pub version: String,
    /// Why the version is what it is, when it is a placeholder.
    pub version_note: Option<String>,
    pub license: String,
    /// The comment beside `license`.
    pub license_note: String,
    pub homepage: String,
    pub source: DraftSource,
    pub build: BuildSystem,
    /// The file the build system was detected by (empty: none), and the other build files present.
    pub build_file: String,
    pub build_also: Vec<String>,
    /// The command that wrote the recipe, for its first comment.
    pub command: String,
}

#[derive(Debug, Clone)]
pub enum DraftSource {
    Url {
        url: String,
        sha256: String,
        /// The pool file with the same bytes.
        debian: Option<String>,
        /// The sha256 is the pool file's: upstream could not be reached.
        pinned_from_debian: bool,
    },
    /// A directory relative to the recipe's.
    Path(String),
}

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` with every control character (line breaks, escape sequences, DEL, C1) written as an escape
/// (`\n`, `\r`, `\t`, `\u{1b}`): safe in a TOML comment, which ends at a line break, and on a terminal.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The autotools style's own configure line, after `autoreconf -fi` (a `configure` key replaces
/// the style's, so the whole command is written out).
fn autoreconf_configure() -> String {
    format!(
        "autoreconf -fi\n# Like the autotools style: --host/--build only for a cross target.\n./configure --prefix=\"$PREFIX\" {} --disable-shared --enable-static\n",
        crate::recipe::CROSS_CONFIGURE
    )
}

pub fn render(d: &Draft) -> String {
    // The name is also written bare, in comments and in the `custom` skeleton's ''' string:
    // `scaffold` has checked it (letters, digits, `-_.+`).
    debug_assert!(crate::recipe::is_valid_name(&d.name), "{:?}", d.name);
    let mut t = String::new();
    let name = &d.name;
    t += &format!("# Written by `{}`.\n", printable(&d.command));
    t += "# Check each TODO, then build it: see docs/recipes.md for every key.\n";
    t += "[package]\n";
    t += &format!("name = {}\n", quote(name));
    match &d.version_note {
        Some(note) => t += &format!("version = {}  # TODO: {}\n", quote(&d.version), printable(note)),
        None => t += &format!("version = {}\n", quote(&d.version)),
    }
    t += &format!("license = {}  # {}\n", quote(&d.license), printable(&d.license_note));
    t += &format!("homepage = {}\n", quote(&d.homepage));
    t += "description = \"\"  # TODO: one line saying what it is (SBOMs and image labels carry it)\n";
    t += "# For vulnerability scanners: the vendor and product from NVD's CPE dictionary.\n";
    t += &format!("# cpe = {}\n", quote(&format!("cpe:2.3:a:VENDOR:{name}:{}:*:*:*:*:*:*:*", d.version)));
    t += "\n[[source]]\n";
    match &d.source {
        DraftSource::Url { url, sha256, debian, pinned_from_debian } => {
            t += &format!("url = {}\n", quote(url));
            if *pinned_from_debian {
                let file = printable(debian.as_deref().unwrap_or("the pool file"));
                t += &format!(
                    "# TODO: this sha256 is that of the Debian archive's {file}: the url above could not be\n\
                     # reached when this recipe was written. Check it against upstream's published checksum\n\
                     # (or signature) before trusting it.\n"
                );
            }
            t += &format!("sha256 = {}\n", quote(sha256));
            match debian {
                Some(file) if *pinned_from_debian => t += &format!("debian = {}\n", quote(file)),
                Some(file) => {
                    t += &format!("debian = {}  # the same bytes in the Debian archive's pool\n", quote(file))
                }
                None => {}
            }
        }
        DraftSource::Path(rel) => {
            t += "# A directory of the project, relative to this recipe's directory; `.composeignore` there\n";
            t += "# (gitignore-like lines) and `.git/` are left out.\n";
            t += &format!("path = {}\n", quote(rel));
        }
    }
    t += "\n[dependencies]\n";
    t += "build = []    # recipes (NAME.toml beside this one) needed to build it: libraries it links\n";
    t += "runtime = []  # recipes its image needs at run time\n";
    t += "\n[build]\n";
    let tools: Vec<String> = d.build.host_tools().iter().map(|s| quote(s)).collect();
    let also = match d.build_also.is_empty() {
        true => String::new(),
        false => format!(" (also there: {})", printable(&d.build_also.join(", "))),
    };
    let build_file = printable(&d.build_file);
    match &d.build {
        BuildSystem::Unknown => {
            t += "# No build system at the top of the source (no configure, meson.build, CMakeLists.txt or\n";
            t += "# Makefile): write the steps. $CC, $CFLAGS and $LDFLAGS drive the toolchain; install into\n";
            t += "# \"$DESTDIR$PREFIX\".\n";
        }
        BuildSystem::Autoreconf => {
            t += &format!("# Detected by {build_file}{also}: no generated configure, so autoreconf makes one.\n");
        }
        _ => t += &format!("# Detected by {build_file}{also}.\n"),
    }
    for nested in d.build_also.iter().filter(|f| f.contains('/')) {
        let (dir, file) = nested.rsplit_once('/').unwrap_or(("", nested));
        let style = if file == "meson.build" { "meson" } else { "cmake" };
        t += &format!(
            "# Or build with {}: style = {}, source_dir = {} (docs/recipes.md, styles).\n",
            printable(nested),
            quote(style),
            quote(dir)
        );
    }
    t += &format!("style = {}\n", quote(d.build.style()));
    t += "# To check that the programs installed are static executables for $TARGET, end `install` with\n";
    t += "# `static_for_target` as recipes/jq.toml does, and add \"file\" here.\n";
    t += &format!("host_tools = [{}]\n", tools.join(", "));
    match &d.build {
        BuildSystem::Configure => {
            t += "configure_args = []  # extra ./configure options, e.g. \"--disable-nls\"\n";
        }
        BuildSystem::Autoreconf => {
            t += &format!("configure = '''\n{}'''\n", autoreconf_configure());
        }
        BuildSystem::Meson | BuildSystem::Cmake => {
            t += "configure_args = []  # extra -D options\n";
        }
        BuildSystem::Make => {
            t += "# A plain Makefile often hard-codes the compiler and the prefix: pass the toolchain's, e.g.\n";
            t += "# make_args = ['CC=\"$CC\"', 'CFLAGS=\"$CFLAGS\"', 'LDFLAGS=\"$LDFLAGS\"', 'PREFIX=\"$PREFIX\"']\n";
            t += "make_args = []\n";
        }
        BuildSystem::Unknown => {
            t += "install = '''\n";
            t += "# TODO: build and install, for example:\n";
            t += &format!("#   $CC $CFLAGS -o {name} {name}.c $LDFLAGS\n");
            t += &format!("#   install -D -m 755 {name} \"$DESTDIR$PREFIX/bin/{name}\"\n");
            t += &format!("echo '{name}: write the install script of its recipe first' >&2\n");
            t += "exit 1\n";
            t += "'''\n";
        }
    }
    t += "\n# The image it starts from (docs/recipes.md, `[image] base`): `static-nonroot` gives CA certificates,\n";
    t += "# time zones and the nonroot user (65532) to a static program, and no shell.\n";
    t += "# [image]\n";
    t += "# base = \"static-nonroot\"\n";
    t += "\n# How the package's own image runs (docs/recipes.md, `[config]`): uncomment and adjust.\n";
    t += "# [config]\n";
    t += &format!("# entrypoint = [{}]\n", quote(&format!("/usr/bin/{name}")));
    t += "# cmd = []\n";
    t += "# user = \"65532\"\n";
    t
}

/// Writes `text` to `path`, which must not exist: a temp file in the same directory, synced, then
/// published under its name by a link that fails if the name is taken. Two writers at once cannot
/// both succeed, and nobody ever sees a half-written recipe. `Ok(false)`: the file exists.
pub fn write_new(path: &Path, text: &str) -> io::Result<bool> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new().prefix(".compose-new-").suffix(".tmp").tempfile_in(dir)?;
    temp.write_all(text.as_bytes())?;
    // Temp files are created 0600; a recipe is shared like any source file.
    use std::os::unix::fs::PermissionsExt;
    temp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    temp.as_file().sync_all()?;
    match temp.persist_noclobber(path) {
        Ok(_) => {}
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e.error),
    }
    std::fs::File::open(dir).and_then(|d| d.sync_all())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_toml() {
        for s in ["plain", "with \"quotes\" and \\", "tab\tnew\nline", "\u{7}bell", "ünïcödé"] {
            let doc = format!("v = {}\n", quote(s));
            let v: toml::Table = toml::from_str(&doc).unwrap();
            assert_eq!(v["v"].as_str(), Some(s));
        }
    }

    #[test]
    fn printable_escapes_every_control_character() {
        assert_eq!(printable("plain ünï \"q\" \\ `x`"), "plain ünï \"q\" \\ `x`");
        assert_eq!(printable("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(printable("\u{1b}[2J\u{7}\u{0}\u{7f}\u{9b}"), "\\u{1b}[2J\\u{7}\\u{0}\\u{7f}\\u{9b}");
        assert!(!printable("x\u{85}y\u{2028}").chars().any(char::is_control));
    }

    /// Regression: the version, the command line and the other strings from outside were written raw
    /// into comments, so a line break in them started a line of real TOML (`[build]` and its
    /// `install` script).
    #[test]
    fn nothing_from_outside_becomes_toml() {
        const EVIL: &str = "x\n[build]\nstyle = \"custom\"\ninstall = \"echo pwned\"\n[evil]\r\n#\u{1b}[2J'''\"\\";
        let draft = |source, build| Draft {
            name: "p".into(),
            version: EVIL.into(),
            version_note: Some(EVIL.into()),
            license: EVIL.into(),
            license_note: EVIL.into(),
            homepage: EVIL.into(),
            source,
            build,
            build_file: EVIL.into(),
            build_also: vec![EVIL.into(), EVIL.into()],
            command: format!("compose new p {EVIL}"),
        };
        let url = |pinned_from_debian| DraftSource::Url {
            url: EVIL.into(),
            sha256: EVIL.into(),
            debian: Some(EVIL.into()),
            pinned_from_debian,
        };
        let systems = [BuildSystem::Configure, BuildSystem::Autoreconf, BuildSystem::Make, BuildSystem::Unknown];
        let sources = [url(false), url(true), DraftSource::Path(EVIL.into())];
        for build in systems {
            for source in sources.clone() {
                let text = render(&draft(source, build.clone()));
                let doc: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
                let tables: Vec<&str> = doc.keys().map(String::as_str).collect();
                assert_eq!(tables, ["build", "dependencies", "package", "source"], "{text}");
                assert_eq!(doc["build"]["style"].as_str(), Some(build.style()), "{text}");
                assert_eq!(doc["package"]["version"].as_str(), Some(EVIL), "values round-trip");
                for line in text.lines() {
                    assert!(!line.starts_with("[evil]") && !line.starts_with("install = \"echo"), "{line}\n{text}");
                    assert!(!line.contains('\u{1b}') && !line.contains('\r'), "{line:?}");
                }
            }
        }
    }

    #[test]
    fn write_new_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.toml");
        assert!(write_new(&path, "one").unwrap());
        assert!(!write_new(&path, "two").unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["x.toml"], "no temp file left behind");
    }
}
