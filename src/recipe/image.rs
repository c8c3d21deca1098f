//! Image definitions: the runtime configuration a recipe gives its image (`[config]`, `[[user]]`,
//! `[[group]]`), and image recipes, which name packages instead of building one (`[image] packages`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{RecipeError, check_name, invalid, raw};

/// An image recipe: a set of packages (their runtime closure is resolved) and how to run the result.
#[derive(Debug, Clone)]
pub struct ImageRecipe {
    pub name: String,
    pub version: String,
    pub description: String,
    pub path: PathBuf,
    pub packages: Vec<String>,
    /// Whether the standard directories and /etc/passwd, /etc/group are laid down (false for `scratch`).
    pub skeleton: bool,
    /// Where the image's sources are published (the `org.opencontainers.image.source` annotation).
    pub source: Option<String>,
    /// The image recipe this one starts from (`[image] base`): its packages, accounts and config come
    /// first, and this recipe's add to them or override them.
    pub base: Option<String>,
    pub config: ImageConfig,
    /// sha256 of the recipe text.
    pub digest: String,
}

/// How a container of the image runs. Every field is optional; defaults are applied when exporting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageConfig {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    /// `name`, `uid`, `name:group` or `uid:gid`.
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Normalised to `PORT/PROTO`.
    pub exposed_ports: Vec<String>,
    pub stop_signal: Option<String>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
    pub gecos: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Accounts every image with a skeleton has.
pub const BUILTIN_USERS: &[(&str, u32)] = &[("root", 0), ("nobody", 65534)];
pub const BUILTIN_GROUPS: &[(&str, u32)] = &[("root", 0), ("nobody", 65534)];

pub(super) fn resolve_image(
    path: &Path,
    text: &str,
    image: raw::RawImage,
    config: raw::RawConfig,
    users: Vec<raw::RawUser>,
    groups: Vec<raw::RawGroup>,
) -> Result<ImageRecipe, RecipeError> {
    if image.include.is_some() || image.exclude.is_some() || image.strip.is_some() {
        return Err(invalid(
            path,
            "image.include",
            "include, exclude and strip belong in a package recipe's [image]",
            "an image recipe lists `packages`; put file rules in those packages' recipes",
        ));
    }
    let Some(packages) = image.packages else {
        return Err(invalid(
            path,
            "image.packages",
            "a recipe needs either [package] (to build one) or [image] with `packages` (to compose an image)",
            "add `packages = [\"busybox\"]` under [image], or `packages = []` for an empty image",
        ));
    };
    let name = image.name.unwrap_or_default();
    check_name(path, "image.name", &name)?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if stem != name {
        return Err(invalid(
            path,
            "image.name",
            format!("`{name}` does not match the file name `{stem}.toml`"),
            format!("rename the file to `{name}.toml`"),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, p) in packages.iter().enumerate() {
        check_name(path, &format!("image.packages[{i}]"), p)?;
        if !seen.insert(p) {
            return Err(invalid(path, &format!("image.packages[{i}]"), format!("`{p}` is listed twice"), ""));
        }
    }
    let skeleton = image.skeleton.unwrap_or(true);
    let base = check_base(path, image.base)?;
    let config = resolve_config(path, config, users, groups, base.is_some())?;
    if !skeleton && (!config.users.is_empty() || !config.groups.is_empty()) {
        return Err(invalid(
            path,
            "user",
            "an image without a skeleton has no /etc/passwd to add users to",
            "remove `skeleton = false`, or the [[user]] and [[group]] tables",
        ));
    }
    let digest = crate::digest::Sha256::hex_of(format!("image\0{text}").as_bytes());
    Ok(ImageRecipe {
        name,
        version: image.version.unwrap_or_else(|| "latest".into()),
        description: image.description.unwrap_or_default(),
        path: path.to_path_buf(),
        packages,
        skeleton,
        source: image.source,
        base,
        config,
        digest,
    })
}

/// `image.base`: the name of an image recipe (looked up like a package: beside this recipe, then in
/// the toolchain's recipes directory), not this recipe's own name.
pub(super) fn check_base(path: &Path, base: Option<String>) -> Result<Option<String>, RecipeError> {
    let Some(b) = base else { return Ok(None) };
    check_name(path, "image.base", &b)?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if b == stem {
        return Err(invalid(
            path,
            "image.base",
            format!("`{b}` is this recipe itself"),
            "name another image recipe, e.g. `static`",
        ));
    }
    Ok(Some(b))
}

pub(super) fn resolve_config(
    path: &Path,
    c: raw::RawConfig,
    users: Vec<raw::RawUser>,
    groups: Vec<raw::RawGroup>,
    has_base: bool,
) -> Result<ImageConfig, RecipeError> {
    for (field, argv) in [("config.entrypoint", &c.entrypoint), ("config.cmd", &c.cmd)] {
        if let Some(argv) = argv
            && argv.first().is_some_and(|a| a.trim().is_empty())
        {
            return Err(invalid(path, field, "the program (first element) is empty", "e.g. `[\"/bin/sh\"]`"));
        }
    }
    for k in c.env.keys() {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return Err(invalid(path, &format!("config.env.{k}"), "not a valid variable name", ""));
        }
    }
    if let Some(w) = &c.workdir
        && !w.starts_with('/')
    {
        return Err(invalid(path, "config.workdir", format!("`{w}` must be absolute"), ""));
    }
    if let Some(u) = &c.user
        && (u.is_empty() || u.split(':').count() > 2 || u.split(':').any(str::is_empty))
    {
        return Err(invalid(path, "config.user", format!("`{u}` is not `user`, `user:group`, `uid` or `uid:gid`"), ""));
    }
    let mut exposed_ports = Vec::new();
    for (i, p) in c.exposed_ports.iter().enumerate() {
        let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        if port.parse::<u16>().map_or(true, |n| n == 0) || !["tcp", "udp", "sctp"].contains(&proto) {
            return Err(invalid(
                path,
                &format!("config.exposed_ports[{i}]"),
                format!("`{p}` is not PORT or PORT/tcp|udp|sctp"),
                "e.g. `\"22/tcp\"`",
            ));
        }
        exposed_ports.push(format!("{port}/{proto}"));
    }
    exposed_ports.sort();
    exposed_ports.dedup();
    if let Some(s) = &c.stop_signal {
        let ok = s.parse::<u8>().is_ok_and(|n| (1..=64).contains(&n))
            || (s.starts_with("SIG")
                && s.len() > 3
                && s[3..].bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        if !ok {
            return Err(invalid(
                path,
                "config.stop_signal",
                format!("`{s}` is not a signal"),
                "e.g. `SIGTERM` or `15`",
            ));
        }
    }
    let groups = resolve_groups(path, groups)?;
    let users = resolve_users(path, users)?;
    // With a base, members may be the base's users: checked once the accounts are merged.
    for g in groups.iter().filter(|_| !has_base) {
        for (i, m) in g.members.iter().enumerate() {
            if !users.iter().any(|u| &u.name == m) && !BUILTIN_USERS.iter().any(|(n, _)| n == m) {
                return Err(invalid(
                    path,
                    &format!("group.{}.members[{i}]", g.name),
                    format!("user `{m}` is not defined"),
                    "add a [[user]] with that name",
                ));
            }
        }
    }
    Ok(ImageConfig {
        entrypoint: c.entrypoint,
        cmd: c.cmd,
        env: c.env,
        user: c.user,
        workdir: c.workdir,
        labels: c.labels,
        annotations: c.annotations,
        exposed_ports,
        stop_signal: c.stop_signal,
        users,
        groups,
    })
}

fn account_name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 32
        && n.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn resolve_users(path: &Path, users: Vec<raw::RawUser>) -> Result<Vec<User>, RecipeError> {
    let mut out: Vec<User> = Vec::new();
    for (i, u) in users.into_iter().enumerate() {
        let field = |f: &str| format!("user[{i}].{f}");
        if !account_name_ok(&u.name) {
            return Err(invalid(
                path,
                &field("name"),
                format!("`{}` is not a valid user name", u.name),
                "use [a-z_][a-z0-9_-]*",
            ));
        }
        let taken = BUILTIN_USERS.iter().any(|(n, id)| *n == u.name || *id == u.uid)
            || out.iter().any(|o| o.name == u.name || o.uid == u.uid);
        if taken {
            return Err(invalid(
                path,
                &field("name"),
                format!("user `{}` or uid {} is defined twice", u.name, u.uid),
                "",
            ));
        }
        let home = u.home.unwrap_or_else(|| format!("/home/{}", u.name));
        for (f, v) in [("home", home.as_str()), ("shell", u.shell.as_deref().unwrap_or("/"))] {
            if !v.starts_with('/') || v.contains(':') || v.contains('\n') {
                return Err(invalid(path, &field(f), format!("`{v}` must be an absolute path without `:`"), ""));
            }
        }
        let gecos = u.gecos.unwrap_or_default();
        if gecos.contains(':') || gecos.contains('\n') {
            return Err(invalid(path, &field("gecos"), "must not contain `:` or a newline", ""));
        }
        out.push(User {
            gid: u.gid.unwrap_or(u.uid),
            name: u.name,
            uid: u.uid,
            home,
            shell: u.shell.unwrap_or_else(|| "/sbin/nologin".into()),
            gecos,
        });
    }
    Ok(out)
}

fn resolve_groups(path: &Path, groups: Vec<raw::RawGroup>) -> Result<Vec<Group>, RecipeError> {
    let mut out: Vec<Group> = Vec::new();
    for (i, g) in groups.into_iter().enumerate() {
        if !account_name_ok(&g.name) {
            return Err(invalid(
                path,
                &format!("group[{i}].name"),
                format!("`{}` is not a valid group name", g.name),
                "",
            ));
        }
        let taken = BUILTIN_GROUPS.iter().any(|(n, id)| *n == g.name || *id == g.gid)
            || out.iter().any(|o| o.name == g.name || o.gid == g.gid);
        if taken {
            return Err(invalid(
                path,
                &format!("group[{i}].name"),
                format!("group `{}` or gid {} is defined twice", g.name, g.gid),
                "",
            ));
        }
        out.push(Group { name: g.name, gid: g.gid, members: g.members });
    }
    Ok(out)
}
