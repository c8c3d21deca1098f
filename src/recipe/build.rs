//! A recipe's `[build]` table, checked and expanded: the style's phases (`style.rs`), the overriding
//! scripts, `source_dir`, the prefix and the host tools.

use std::path::Path;

use super::{BuildSpec, BuildStyle, HostTool, Phase, RecipeError, invalid, is_relative_inside, raw, style};

pub(super) fn resolve_build(path: &Path, b: Option<raw::RawBuild>) -> Result<BuildSpec, RecipeError> {
    let Some(b) = b else {
        return Err(invalid(
            path,
            "build",
            "missing [build] table",
            "add `[build]` with `style = \"make\"`, `\"autotools\"`, `\"cmake\"`, `\"meson\"` or `\"custom\"`",
        ));
    };
    let Some(style) = style::parse(&b.style) else {
        return Err(invalid(
            path,
            "build.style",
            format!("unknown style `{}`", b.style),
            "use `make`, `autotools`, `cmake`, `meson` or `custom`",
        ));
    };
    let prefix = b.prefix.unwrap_or_else(|| "/usr".to_string());
    if !prefix.starts_with('/') {
        return Err(invalid(path, "build.prefix", format!("`{prefix}` must be absolute"), ""));
    }
    let source_dir = b.source_dir.as_deref().unwrap_or("").trim_start_matches("./").trim_end_matches('/');
    let source_dir = if source_dir == "." { "" } else { source_dir };
    if !source_dir.is_empty() && !matches!(style, BuildStyle::Cmake | BuildStyle::Meson) {
        let hint = "run the build system from that directory in the `configure`/`build`/`install` scripts";
        return Err(invalid(path, "build.source_dir", "only styles `cmake` and `meson` take `source_dir`", hint));
    }
    // It is written into the phase scripts: only characters that need no quoting there.
    let plain = source_dir.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._+-".contains(&b));
    if !is_relative_inside(source_dir) || !plain {
        return Err(invalid(
            path,
            "build.source_dir",
            format!("`{source_dir}` must be a relative path without `..`, of letters, digits and `/._+-`"),
            "name the directory under $SRC that holds CMakeLists.txt or meson.build, e.g. `build/cmake`",
        ));
    }
    let config = match b.config.as_deref() {
        Some(c)
            if c.is_empty()
                || !is_relative_inside(c)
                || c.ends_with('/')
                || !matches!(Path::new(c).components().next_back(), Some(std::path::Component::Normal(_))) =>
        {
            let hint = "name the file relative to $SRC (the unpacked sources), e.g. `.config`";
            return Err(invalid(
                path,
                "build.config",
                format!("`{c}` must be a relative file path without `..`"),
                hint,
            ));
        }
        c => c.map(|c| c.trim_start_matches("./").to_string()),
    };
    if style == BuildStyle::Custom {
        if !(b.configure_args.is_empty() && b.make_args.is_empty() && b.install_args.is_empty()) {
            return Err(invalid(
                path,
                "build.configure_args",
                "style `custom` takes scripts, not arguments",
                "write the command into the `configure`, `build` or `install` script",
            ));
        }
        if b.install.is_none() {
            return Err(invalid(
                path,
                "build.install",
                "style `custom` needs an `install` script",
                "install the package's files into \"$DESTDIR\"",
            ));
        }
    }
    let style::Scripts { mut configure, mut build, mut install } = style::expand(
        style,
        &style::StyleArgs {
            configure_args: &b.configure_args,
            make_args: &b.make_args,
            install_args: &b.install_args,
            source_dir,
        },
    );
    if b.configure.is_some() {
        configure = b.configure;
    }
    if b.build.is_some() {
        build = b.build;
    }
    if b.install.is_some() {
        install = b.install;
    }
    let mut host_tools: Vec<HostTool> = Vec::new();
    for (i, t) in b.host_tools.iter().enumerate() {
        let (command, debian) = match t.split_once(':') {
            Some((c, d)) => (c, Some(d.to_string())),
            None => (t.as_str(), None),
        };
        let ok = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_.+".contains(&c));
        if !ok(command) || !debian.as_deref().is_none_or(ok) {
            return Err(invalid(
                path,
                &format!("build.host_tools[{i}]"),
                format!("`{t}` is not COMMAND or COMMAND:DEBIAN-PACKAGE"),
                "e.g. `\"autoreconf\"` or `\"tclsh:tcl\"`",
            ));
        }
        host_tools.push(HostTool { command: command.to_string(), debian });
    }
    for t in style::host_tools(style) {
        let (command, debian) = t.split_once(':').map_or((*t, None), |(c, d)| (c, Some(d.to_string())));
        if !host_tools.iter().any(|h| h.command == command) {
            host_tools.push(HostTool { command: command.to_string(), debian });
        }
    }
    let phases = [("configure", configure), ("build", build), ("install", install)]
        .into_iter()
        .filter_map(|(name, s)| s.map(|script| Phase { name, script }))
        .collect();
    Ok(BuildSpec { style, prefix, phases, host_tools, config })
}
