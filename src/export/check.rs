//! Checks an image's runtime configuration against its rootfs before anything is written: the user
//! must exist in /etc/passwd, and the program that runs (entrypoint, else cmd) must be an executable
//! file in the image, found the way the runtime finds it (absolute, or on the image's PATH).

use crate::recipe::ImageConfig;
use crate::rootfs::{Kind, RootfsTree};

use super::oci::DEFAULT_PATH;

/// A configuration the rootfs cannot satisfy; `field` is the recipe field to fix.
#[derive(Debug, Clone, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
    pub hint: String,
}

pub fn check_config(tree: &RootfsTree, c: &ImageConfig) -> Result<(), ConfigError> {
    if let Some(user) = &c.user {
        check_user(tree, user)?;
    }
    let (field, argv) = match (&c.entrypoint, &c.cmd) {
        (Some(e), _) if !e.is_empty() => ("config.entrypoint", e),
        (_, Some(cmd)) if !cmd.is_empty() => ("config.cmd", cmd),
        _ => return Ok(()),
    };
    let prog = &argv[0];
    let candidates: Vec<String> = if prog.contains('/') {
        let base = c.workdir.as_deref().unwrap_or("/");
        vec![if prog.starts_with('/') { prog.clone() } else { format!("{base}/{prog}") }]
    } else {
        let path = c.env.get("PATH").map(String::as_str).unwrap_or(DEFAULT_PATH);
        path.split(':').filter(|d| !d.is_empty()).map(|d| format!("{d}/{prog}")).collect()
    };
    for cand in &candidates {
        if let Some((_, e)) = tree.resolve(cand) {
            return match e.kind {
                Kind::File { .. } if e.mode & 0o111 != 0 => Ok(()),
                _ => Err(ConfigError {
                    field: field.into(),
                    message: format!("`{cand}` is in the image but is not an executable file"),
                    hint: "point it at a program the image's packages install".into(),
                }),
            };
        }
    }
    Err(ConfigError {
        field: field.into(),
        message: format!("`{prog}` is not in the image (looked for {})", candidates.join(", ")),
        hint: "add the package that installs it to the image, or fix the path".into(),
    })
}

fn check_user(tree: &RootfsTree, spec: &str) -> Result<(), ConfigError> {
    let (user, group) = spec.split_once(':').map_or((spec, None), |(u, g)| (u, Some(g)));
    let numeric = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let names = |file: &str| -> Vec<String> {
        let text = tree.read(file).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        text.lines().filter_map(|l| l.split(':').next()).map(String::from).collect()
    };
    if !numeric(user) && !names("etc/passwd").iter().any(|n| n == user) {
        return Err(ConfigError {
            field: "config.user".into(),
            message: format!("user `{user}` is not defined in the image's /etc/passwd"),
            hint: format!("add a [[user]] table with name = \"{user}\", or give a numeric uid"),
        });
    }
    if let Some(g) = group
        && !numeric(g)
        && !names("etc/group").iter().any(|n| n == g)
    {
        return Err(ConfigError {
            field: "config.user".into(),
            message: format!("group `{g}` is not defined in the image's /etc/group"),
            hint: format!("add a [[group]] table with name = \"{g}\", or give a numeric gid"),
        });
    }
    Ok(())
}
