//! What a source tree tells about itself: its build system, its version (from the tarball's file
//! name) and its licence (from a top-level LICENSE or COPYING). Only the top directory is looked at,
//! through a listing read once from the archive (or the local directory), never unpacked.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use crate::source::unpack::UnpackError;

/// The build system found at the top of a source tree, in the order of preference of [`detect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildSystem {
    /// A generated `configure` script: style `autotools` as it is.
    Configure,
    /// `meson.build`: style `meson`.
    Meson,
    /// `CMakeLists.txt`: style `cmake`.
    Cmake,
    /// A plain `Makefile` (or `makefile`, `GNUmakefile`): style `make`.
    Make,
    /// `configure.ac` (or `configure.in`, `autogen.sh`) without `configure`: style `autotools`, after
    /// `autoreconf -fi`.
    Autoreconf,
    /// Nothing known: style `custom`, with an install skeleton to fill in.
    Unknown,
}

impl BuildSystem {
    /// The recipe's `build.style`.
    pub fn style(&self) -> &'static str {
        match self {
            BuildSystem::Configure | BuildSystem::Autoreconf => "autotools",
            BuildSystem::Meson => "meson",
            BuildSystem::Cmake => "cmake",
            BuildSystem::Make => "make",
            BuildSystem::Unknown => "custom",
        }
    }

    /// The host commands its phases run (`build.host_tools`): `make` (or meson's `ninja`) and `gcc`,
    /// which `$CC` drives and which cmake's and meson's checks run too.
    pub fn host_tools(&self) -> &'static [&'static str] {
        match self {
            BuildSystem::Configure | BuildSystem::Make => &["make", "gcc"],
            BuildSystem::Autoreconf => &[
                "make",
                "gcc",
                "autoreconf:autoconf",
                "autoconf",
                "aclocal:automake",
                "automake",
                "libtoolize:libtool",
                "m4",
            ],
            BuildSystem::Meson => &["meson", "ninja:ninja-build", "gcc"],
            BuildSystem::Cmake => &["cmake", "make", "gcc"],
            BuildSystem::Unknown => &["gcc"],
        }
    }
}

/// The files that name a build system, most preferred first, with the system each one means. A
/// generated `configure` is what the release was made to be built with; meson and cmake projects often
/// keep a convenience Makefile (zstd, lz4) that is not the real build; a `configure.ac` without its
/// `configure` needs autotools on the host, so a Makefile beside it is taken first.
const MARKERS: &[(&str, BuildSystem)] = &[
    ("configure", BuildSystem::Configure),
    ("meson.build", BuildSystem::Meson),
    ("CMakeLists.txt", BuildSystem::Cmake),
    ("GNUmakefile", BuildSystem::Make),
    ("Makefile", BuildSystem::Make),
    ("makefile", BuildSystem::Make),
    ("configure.ac", BuildSystem::Autoreconf),
    ("configure.in", BuildSystem::Autoreconf),
    ("autogen.sh", BuildSystem::Autoreconf),
];

/// The detected build system, the file that gave it away, and the other build files present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub system: BuildSystem,
    /// The file it was detected by; empty for [`BuildSystem::Unknown`].
    pub file: String,
    /// Other marker files at the top, in order of preference (`Makefile` beside `CMakeLists.txt`).
    pub also: Vec<String>,
}

/// The build system of a tree whose top-level names are `top`: the first of [`MARKERS`] present.
pub fn detect(top: &BTreeSet<String>) -> Detected {
    let mut found = MARKERS.iter().filter(|(f, _)| top.contains(*f));
    match found.next() {
        Some((file, system)) => Detected {
            system: system.clone(),
            file: file.to_string(),
            also: found.map(|(f, _)| f.to_string()).collect(),
        },
        None => Detected { system: BuildSystem::Unknown, file: String::new(), also: Vec::new() },
    }
}

/// Archive suffixes, longest first, and the compression each means (`None`: plain tar).
const SUFFIXES: &[(&str, Option<&str>)] = &[
    (".tar.gz", Some("gz")),
    (".tar.xz", Some("xz")),
    (".tar.bz2", Some("bz2")),
    (".tar.zst", Some("zst")),
    (".tgz", Some("gz")),
    (".txz", Some("xz")),
    (".tbz2", Some("bz2")),
    (".tbz", Some("bz2")),
    (".tzst", Some("zst")),
    (".tar", None),
];

/// What a tarball's file name says: `zstd-1.5.5.tar.gz` is project `zstd`, version `1.5.5`, gzip.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileName {
    /// The name part (`zstd`), when the file name has one (`v1.2.tar.gz` does not).
    pub project: Option<String>,
    pub version: Option<String>,
    /// `gz`, `xz`, `bz2` or `zst`; `None` for a plain tar or an unknown suffix.
    pub compression: Option<&'static str>,
}

/// The longest version taken from a file or directory name.
pub const VERSION_MAX: usize = 64;

/// A version `compose new` writes as found: `[A-Za-z0-9][A-Za-z0-9.+~_-]*`, at most [`VERSION_MAX`]
/// characters. A tarball's top directory is whatever its author named it (newlines, quotes, escape
/// sequences): anything else gets the placeholder with its TODO.
pub fn valid_version(v: &str) -> bool {
    v.len() <= VERSION_MAX
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b".+~_-".contains(&b))
}

/// Splits `NAME-VERSION.tar.*`. `package` (the recipe's name) is tried first as the name part, so
/// `foo-bar-2.0` of package `foo-bar` splits there; otherwise the version starts at the first `-` or
/// `_` followed by a digit (or by `v` and a digit: `lz4-v1.9.4`). A bare `v1.2.3.tar.gz` (GitHub's tag
/// archives) or `1.2.3.tar.gz` is a version alone. A version is only ever one that [`valid_version`]
/// accepts.
pub fn parse_file_name(file: &str, package: &str) -> FileName {
    let lower = file.to_ascii_lowercase();
    let (stem, compression) = SUFFIXES
        .iter()
        .find(|(suffix, _)| lower.ends_with(suffix))
        .map(|(suffix, c)| (&file[..file.len() - suffix.len()], *c))
        .unwrap_or((file, None));
    let version_like = |s: &str| {
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        (s.starts_with(|c: char| c.is_ascii_digit()) && valid_version(s)).then(|| s.to_string())
    };
    let mut out = FileName { compression, ..FileName::default() };
    if let Some(rest) = stem.strip_prefix(package).and_then(|r| r.strip_prefix(['-', '_']))
        && let Some(v) = version_like(rest)
    {
        (out.project, out.version) = (Some(package.to_string()), Some(v));
        return out;
    }
    if let Some(v) = version_like(stem) {
        out.version = Some(v);
        return out;
    }
    let split = stem.char_indices().find(|&(i, c)| (c == '-' || c == '_') && version_like(&stem[i + 1..]).is_some());
    match split {
        Some((i, _)) => (out.project, out.version) = (Some(stem[..i].to_string()), version_like(&stem[i + 1..])),
        None => out.project = Some(stem.to_string()).filter(|s| !s.is_empty()),
    }
    out
}

/// Names of licence files looked for at the top (compared case-insensitively).
const LICENSE_FILES: &[&str] =
    &["license", "license.txt", "license.md", "licence", "licence.txt", "copying", "copying.txt", "copying.md"];

/// At most this much of a licence file is read: the texts recognised are shorter.
const LICENSE_READ_LIMIT: u64 = 64 << 10;

/// The top directory of a source tree, as read from a tarball or a local directory.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Names at the top (after the tarball's single top-level directory, if it has one).
    pub top: BTreeSet<String>,
    /// The single top-level directory of a tarball (`zstd-1.5.5`), if there is one.
    pub top_dir: Option<String>,
    /// Licence files at the top: (file name, text), sorted by name.
    pub licenses: Vec<(String, String)>,
    /// Build files of [`NESTED`] present below the top (`build/meson/meson.build`), sorted.
    pub nested: Vec<String>,
}

/// Build files some projects keep below the top, beside a top-level Makefile that stays their main
/// build (zstd, lz4): named in the recipe as alternatives (`source_dir`), never chosen over the top.
pub const NESTED: &[&str] =
    &["build/cmake/CMakeLists.txt", "build/meson/meson.build", "contrib/cmake/CMakeLists.txt", "cmake/CMakeLists.txt"];

fn is_license_file(name: &str) -> bool {
    LICENSE_FILES.contains(&name.to_ascii_lowercase().as_str())
}

/// Lists a tarball (any compression `source::unpack` reads) in one pass: the names of the first two
/// levels, and the text of licence files on them; which level is the top is decided at the end.
pub fn list_archive(archive: &Path) -> Result<Listing, UnpackError> {
    let read_err = |source| UnpackError::Read { archive: archive.to_path_buf(), source };
    let mut tar = tar::Archive::new(crate::source::unpack::open(archive)?);
    let (mut first, mut second): (BTreeSet<String>, BTreeSet<(String, String)>) = Default::default();
    let mut licenses: Vec<(Vec<String>, String)> = Vec::new();
    // (path from the archive's root, path below its first component) of nested build files.
    let mut nested: Vec<(String, String)> = Vec::new();
    for entry in tar.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() || kind.is_gnu_longname() {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8_lossy(&raw);
        let parts: Vec<String> = path.split('/').filter(|p| !p.is_empty() && *p != ".").map(str::to_string).collect();
        match parts.as_slice() {
            [] => continue,
            [a] => {
                first.insert(a.clone());
            }
            [a, b, ..] => {
                first.insert(a.clone());
                second.insert((a.clone(), b.clone()));
            }
        }
        if kind.is_file() && parts.len() >= 3 {
            let (whole, below) = (parts.join("/"), parts[1..].join("/"));
            if NESTED.contains(&whole.as_str()) || NESTED.contains(&below.as_str()) {
                nested.push((whole, below));
            }
        }
        if parts.len() <= 2 && kind.is_file() && is_license_file(parts.last().expect("not empty")) {
            let mut text = String::new();
            let _ = (&mut entry).take(LICENSE_READ_LIMIT).read_to_string(&mut text);
            licenses.push((parts, text));
        }
    }
    // One top-level directory holding everything (`zstd-1.5.5/`) is not part of the tree, as when
    // unpacking with the default `strip_components`.
    let top_dir = match (first.len(), first.iter().next()) {
        (1, Some(only)) if second.iter().any(|(a, _)| a == only) => Some(only.clone()),
        _ => None,
    };
    let depth = if top_dir.is_some() { 2 } else { 1 };
    let top = match &top_dir {
        Some(_) => second.into_iter().map(|(_, b)| b).collect(),
        None => first,
    };
    let mut licenses: Vec<(String, String)> =
        licenses.into_iter().filter(|(p, _)| p.len() == depth).map(|(p, t)| (p[depth - 1].clone(), t)).collect();
    licenses.sort();
    let mut nested: Vec<String> = nested
        .into_iter()
        .map(|(whole, below)| if top_dir.is_some() { below } else { whole })
        .filter(|p| NESTED.contains(&p.as_str()))
        .collect();
    nested.sort();
    nested.dedup();
    Ok(Listing { top, top_dir, licenses, nested })
}

/// Lists a local directory's top: its names and licence files (`.git` and other dot files are
/// listed too but mark no build system).
pub fn list_dir(dir: &Path) -> std::io::Result<Listing> {
    let mut listing = Listing::default();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_license_file(&name) && entry.file_type()?.is_file() {
            let mut text = String::new();
            let _ = std::fs::File::open(entry.path())?.take(LICENSE_READ_LIMIT).read_to_string(&mut text);
            listing.licenses.push((name.clone(), text));
        }
        listing.top.insert(name);
    }
    listing.licenses.sort();
    listing.nested = NESTED.iter().filter(|p| dir.join(p).is_file()).map(|p| p.to_string()).collect();
    listing.nested.sort();
    Ok(listing)
}

/// The SPDX id a licence text most likely is, from a few signature phrases; `None` when it is none
/// of the few recognised. A guess for a human to check, never a legal finding.
pub fn license_of(text: &str) -> Option<&'static str> {
    let t: String = text.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase();
    // The GNU licences name each other in their bodies (the GPL's last paragraph mentions the Lesser
    // GPL), so the title decides: the one that comes first, with its version right after it.
    let gnu = [
        ("gnu affero general public license", "version 3", "AGPL-3.0-only"),
        ("gnu lesser general public license", "version 3", "LGPL-3.0-only"),
        ("gnu lesser general public license", "version 2.1", "LGPL-2.1-only"),
        ("gnu library general public license", "version 2", "LGPL-2.0-only"),
        ("gnu general public license", "version 3", "GPL-3.0-only"),
        ("gnu general public license", "version 2", "GPL-2.0-only"),
    ];
    let titled = gnu.iter().filter_map(|(title, version, id)| {
        let at = t.find(title)?;
        let after: String = t[at + title.len()..].chars().take(40).collect();
        after.contains(version).then_some((at, *id))
    });
    if let Some((_, id)) = titled.min_by_key(|(at, _)| *at) {
        return Some(id);
    }
    let head: String = t.chars().take(400).collect();
    if head.contains("apache license") && head.contains("version 2.0") {
        return Some("Apache-2.0");
    }
    if head.contains("mozilla public license") && head.contains("version 2.0") {
        return Some("MPL-2.0");
    }
    if t.contains("permission is hereby granted, free of charge, to any person obtaining a copy") {
        return Some("MIT");
    }
    if t.contains("permission to use, copy, modify, and/or distribute this software for any purpose") {
        return Some("ISC");
    }
    if t.contains("this software is provided 'as-is', without any express or implied warranty")
        && t.contains("permission is granted to anyone to use this software for any purpose")
    {
        return Some("Zlib");
    }
    if t.contains("redistribution and use in source and binary forms") {
        let third = t.contains("neither the name") || t.contains("may not be used to endorse or promote");
        return Some(if third { "BSD-3-Clause" } else { "BSD-2-Clause" });
    }
    None
}

/// The licence guess for a tree: each licence file's id, in file name order, duplicates dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseGuess {
    /// (file name, SPDX id or `None` when not recognised).
    pub files: Vec<(String, Option<&'static str>)>,
}

impl LicenseGuess {
    pub fn of(listing: &Listing) -> LicenseGuess {
        LicenseGuess { files: listing.licenses.iter().map(|(name, text)| (name.clone(), license_of(text))).collect() }
    }

    /// The SPDX ids recognised, each once.
    pub fn ids(&self) -> Vec<&'static str> {
        let mut ids: Vec<&'static str> = Vec::new();
        for id in self.files.iter().filter_map(|(_, id)| *id) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// The recipe's `license`: the one id found, several joined with `OR` (the usual meaning of two
    /// licence files, as zstd's BSD and GPL; the recipe's comment asks to check), else `NOASSERTION`.
    pub fn expression(&self) -> String {
        match self.ids().as_slice() {
            [] => "NOASSERTION".to_string(),
            ids => ids.join(" OR "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn detection_prefers_configure_then_meson_cmake_makefile_configure_ac() {
        let all = ["configure", "meson.build", "CMakeLists.txt", "Makefile", "configure.ac", "autogen.sh", "README"];
        let expected = [
            BuildSystem::Configure,
            BuildSystem::Meson,
            BuildSystem::Cmake,
            BuildSystem::Make,
            BuildSystem::Autoreconf,
            BuildSystem::Autoreconf,
            BuildSystem::Unknown,
        ];
        for (i, want) in expected.iter().enumerate() {
            let d = detect(&names(&all[i..]));
            assert_eq!(&d.system, want, "with {:?}", &all[i..]);
        }
        let d = detect(&names(&["Makefile", "CMakeLists.txt", "configure.ac"]));
        assert_eq!((d.system, d.file.as_str()), (BuildSystem::Cmake, "CMakeLists.txt"));
        assert_eq!(d.also, ["Makefile", "configure.ac"]);
        assert_eq!(detect(&names(&["GNUmakefile"])).system, BuildSystem::Make);
        assert_eq!(detect(&names(&["makefile"])).file, "makefile");
        assert_eq!(detect(&names(&["autogen.sh"])).system.style(), "autotools");
        // Names deeper down or differently spelt mark nothing.
        assert_eq!(detect(&names(&["src", "cmakelists.txt", "Makefile.in"])).system, BuildSystem::Unknown);
    }

    #[test]
    fn versions_from_file_names() {
        let p = |f: &str, pkg: &str| {
            let n = parse_file_name(f, pkg);
            (n.project, n.version, n.compression)
        };
        let s = |x: &str| Some(x.to_string());
        assert_eq!(p("zstd-1.5.5.tar.gz", "zstd"), (s("zstd"), s("1.5.5"), Some("gz")));
        assert_eq!(p("zstd-1.5.5.tar.zst", "other"), (s("zstd"), s("1.5.5"), Some("zst")));
        assert_eq!(p("foo-bar-2.0-rc1.tar.xz", "x"), (s("foo-bar"), s("2.0-rc1"), Some("xz")));
        assert_eq!(p("sqlite-autoconf-3450000.tar.gz", "sqlite"), (s("sqlite-autoconf"), s("3450000"), Some("gz")));
        assert_eq!(p("lz4-v1.9.4.tgz", "lz4"), (s("lz4"), s("1.9.4"), Some("gz")));
        assert_eq!(p("v1.2.3.tar.gz", "x"), (None, s("1.2.3"), Some("gz")));
        assert_eq!(p("1.2.3.tar.bz2", "x"), (None, s("1.2.3"), Some("bz2")));
        assert_eq!(p("tzdata2024b.tar.gz", "tzdata"), (s("tzdata2024b"), None, Some("gz")));
        assert_eq!(p("hello_1.0.tar", "hello"), (s("hello"), s("1.0"), None));
        assert_eq!(p("Foo-1.0.TAR.GZ", "foo"), (s("Foo"), s("1.0"), Some("gz")));
        assert_eq!(p("snapshot.zip", "x"), (s("snapshot.zip"), None, None));
        assert_eq!(p("foo-1.0~rc1+dfsg_2.tar.gz", "foo"), (s("foo"), s("1.0~rc1+dfsg_2"), Some("gz")));
    }

    /// Regression: a tarball's top directory `p-1.0\n[build]\n...` gave a version with newlines,
    /// written raw into the recipe's `cpe` comment, where the lines after it were real TOML.
    #[test]
    fn versions_with_anything_but_version_characters_are_refused() {
        for ok in ["1", "1.0", "2.0-rc1", "1.0~beta+git_2", "3450000", "a1"] {
            assert!(valid_version(ok), "{ok}");
        }
        let long = "1".repeat(VERSION_MAX + 1);
        for bad in ["", ".1", "-1", "1.0\n[build]", "1.0\"", "1 0", "1.0\u{1b}[2J", "1.0\r", "1/2", "1.0ü", &long] {
            assert!(!valid_version(bad), "{bad:?}");
        }
        let version = |f: &str| parse_file_name(f, "p").version;
        assert_eq!(version("p-1.0\n[build]\nstyle = \"custom\"\n#.tar"), None);
        assert_eq!(version("p-1.0\u{1b}]0;title\u{7}.tar.gz"), None);
        assert_eq!(version(&format!("p-{long}.tar.gz")), None);
        assert_eq!(version("p-1.0 (copy).tar.gz"), None);
    }

    const MIT: &str = "MIT License\n\nCopyright (c) 2024 Someone\n\nPermission is hereby granted, free of charge, to any\nperson obtaining a copy of this software...";
    const BSD3: &str = "Copyright (c) 2016-present, Facebook, Inc.\n\nRedistribution and use in source and binary forms, with or without modification, are permitted...\n * Neither the name Facebook nor the names of its contributors may be used to endorse...";
    const GPL2: &str = "                    GNU GENERAL PUBLIC LICENSE\n                       Version 2, June 1991\n\n Copyright (C) 1989, 1991 Free Software Foundation";
    const GPL3: &str = "                    GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007\n ... use the GNU Lesser General Public License instead of this License.";
    const LGPL21: &str = "                  GNU LESSER GENERAL PUBLIC LICENSE\n                       Version 2.1, February 1999\n ... the GNU General Public License ...";
    const APACHE: &str = "\n                                 Apache License\n                           Version 2.0, January 2004\n                        http://www.apache.org/licenses/";
    const ZLIB: &str = "This software is provided 'as-is', without any express or implied\nwarranty. ...\nPermission is granted to anyone to use this software for any purpose,";
    const ISC: &str = "Copyright (c) 2004 X\n\nPermission to use, copy, modify, and/or distribute this software for any\npurpose with or without fee is hereby granted";

    #[test]
    fn licenses_by_signature() {
        assert_eq!(license_of(MIT), Some("MIT"));
        assert_eq!(license_of(BSD3), Some("BSD-3-Clause"));
        assert_eq!(license_of(&BSD3.replace("Neither the name", "The name")), Some("BSD-2-Clause"));
        assert_eq!(license_of(GPL2), Some("GPL-2.0-only"));
        assert_eq!(license_of(GPL3), Some("GPL-3.0-only"), "the GPL's mention of the LGPL is not its title");
        assert_eq!(license_of(LGPL21), Some("LGPL-2.1-only"));
        assert_eq!(license_of(APACHE), Some("Apache-2.0"));
        assert_eq!(license_of(ZLIB), Some("Zlib"));
        assert_eq!(license_of(ISC), Some("ISC"));
        assert_eq!(license_of("All rights reserved. Do what you want."), None);
        assert_eq!(license_of(""), None);
    }

    #[test]
    fn license_expression_from_several_files() {
        let listing = |files: &[(&str, &str)]| Listing {
            licenses: files.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect(),
            ..Listing::default()
        };
        let zstd = LicenseGuess::of(&listing(&[("COPYING", GPL2), ("LICENSE", BSD3)]));
        assert_eq!(zstd.expression(), "GPL-2.0-only OR BSD-3-Clause");
        assert_eq!(LicenseGuess::of(&listing(&[("COPYING", MIT), ("LICENSE", MIT)])).expression(), "MIT");
        assert_eq!(LicenseGuess::of(&listing(&[("LICENSE", "custom")])).expression(), "NOASSERTION");
        assert_eq!(LicenseGuess::of(&listing(&[])).expression(), "NOASSERTION");
    }

    #[test]
    fn listing_strips_the_single_top_directory_and_reads_license_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, entries: &[(&str, &str)]| {
            let path = dir.path().join(name);
            let mut b = tar::Builder::new(Vec::new());
            for (p, body) in entries {
                let mut h = tar::Header::new_gnu();
                h.set_size(body.len() as u64);
                h.set_mode(0o644);
                b.append_data(&mut h, p, body.as_bytes()).unwrap();
            }
            let tar = b.into_inner().unwrap();
            std::fs::write(&path, zstd::encode_all(tar.as_slice(), 3).unwrap()).unwrap();
            path
        };
        let one = write(
            "a.tar.zst",
            &[("./zstd-1.5.5/CMakeLists.txt", ""), ("zstd-1.5.5/LICENSE", MIT), ("zstd-1.5.5/lib/COPYING", GPL2)],
        );
        let l = list_archive(&one).unwrap();
        assert_eq!(l.top_dir.as_deref(), Some("zstd-1.5.5"));
        assert_eq!(l.top, names(&["CMakeLists.txt", "LICENSE", "lib"]));
        assert_eq!(l.licenses.len(), 1, "lib/COPYING is not at the top");
        assert_eq!(LicenseGuess::of(&l).expression(), "MIT");
        let flat = write("b.tar.zst", &[("configure", "#!/bin/sh"), ("COPYING", GPL3), ("src/x.c", "")]);
        let l = list_archive(&flat).unwrap();
        assert_eq!((&l.top_dir, &l.top), (&None, &names(&["COPYING", "configure", "src"])));
        assert_eq!(LicenseGuess::of(&l).expression(), "GPL-3.0-only");
        // A lone file is not a top directory.
        let single = write("c.tar.zst", &[("Makefile", "all:")]);
        assert_eq!(list_archive(&single).unwrap().top, names(&["Makefile"]));
        // Nested build files, under a top directory or not; a deeper copy is not one.
        let nested = write(
            "d.tar.zst",
            &[
                ("lz4-1.9.4/Makefile", "all:"),
                ("lz4-1.9.4/build/cmake/CMakeLists.txt", ""),
                ("lz4-1.9.4/build/meson/meson.build", ""),
                ("lz4-1.9.4/x/build/meson/meson.build", ""),
            ],
        );
        assert_eq!(list_archive(&nested).unwrap().nested, ["build/cmake/CMakeLists.txt", "build/meson/meson.build"]);
        let flat = write("e.tar.zst", &[("Makefile", "all:"), ("build/meson/meson.build", "")]);
        assert_eq!(list_archive(&flat).unwrap().nested, ["build/meson/meson.build"]);
    }
}
