//! `--deny`: classes of findings an image must not have, and the violations of an audit against them.

use std::str::FromStr;

use serde::Serialize;

use super::analyse::Audit;
use super::elf::Linking;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// A dynamically linked executable or a shared library.
    Dynamic,
    Setuid,
    Setgid,
    /// A world-writable path, except sticky directories such as /tmp.
    WorldWritable,
    Shell,
    Network,
    /// A path no package owns, or no manifest at all.
    Unowned,
}

pub const ALL: [Class; 7] =
    [Class::Dynamic, Class::Setuid, Class::Setgid, Class::WorldWritable, Class::Shell, Class::Network, Class::Unowned];

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Dynamic => "dynamic",
            Class::Setuid => "setuid",
            Class::Setgid => "setgid",
            Class::WorldWritable => "world-writable",
            Class::Shell => "shell",
            Class::Network => "network",
            Class::Unowned => "unowned",
        }
    }
}

impl FromStr for Class {
    type Err = String;
    fn from_str(s: &str) -> Result<Class, String> {
        ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            let valid: Vec<&str> = ALL.iter().map(|c| c.as_str()).collect();
            format!("unknown class `{s}` (valid: {})", valid.join(", "))
        })
    }
}

/// `dynamic,shell` to the classes; an empty item is skipped, an unknown one is an error.
pub fn parse_list(list: &str) -> Result<Vec<Class>, String> {
    let mut v: Vec<Class> =
        list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Class::from_str).collect::<Result<_, _>>()?;
    v.sort();
    v.dedup();
    Ok(v)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub class: Class,
    pub path: String,
    pub why: String,
}

/// Every finding of `audit` in a denied class, in the order of `deny`, then by path.
pub fn check(audit: &Audit, deny: &[Class]) -> Vec<Violation> {
    let mut out = Vec::new();
    for &class in deny {
        let mut push = |path: &str, why: String| out.push(Violation { class, path: path.to_string(), why });
        match class {
            Class::Dynamic => {
                for e in &audit.elf {
                    match e.linking {
                        Some(Linking::Dynamic) => {
                            let interp = e.interpreter.as_ref().map_or("?", |i| i.name.as_str());
                            let needs: Vec<&str> = e.needed.iter().map(|d| d.name.as_str()).collect();
                            push(
                                &e.path,
                                format!("dynamically linked (interpreter {interp}; needs {})", needs.join(", ")),
                            )
                        }
                        Some(Linking::SharedLibrary) => push(&e.path, "a shared library".into()),
                        _ => {}
                    }
                }
            }
            Class::Setuid => audit.setuid.iter().for_each(|s| push(&s.path, format!("setuid (mode {})", s.mode))),
            Class::Setgid => audit.setgid.iter().for_each(|s| push(&s.path, format!("setgid (mode {})", s.mode))),
            Class::WorldWritable => {
                for w in audit.world_writable.iter().filter(|w| !w.sticky) {
                    push(&w.path, format!("world-writable {} (mode {})", w.kind, w.mode));
                }
            }
            Class::Shell => {
                audit.shells.iter().for_each(|p| push(&p.path, format!("a shell (runs {})", p.resolves_to)))
            }
            Class::Network => {
                audit.network.iter().for_each(|p| push(&p.path, format!("a network tool (runs {})", p.resolves_to)))
            }
            Class::Unowned => match &audit.unowned {
                Some(paths) => paths.iter().for_each(|p| push(p, "owned by no package".into())),
                None => push(
                    &audit.image.path.display().to_string(),
                    "no file manifest: ownership unknown (give one with --manifest)".into(),
                ),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_unknown_names_list_the_valid_ones() {
        assert_eq!(parse_list("shell,dynamic,shell").unwrap(), [Class::Dynamic, Class::Shell]);
        assert_eq!(parse_list(" world-writable , ").unwrap(), [Class::WorldWritable]);
        let e = parse_list("shell,suid").unwrap_err();
        assert_eq!(e, "unknown class `suid` (valid: dynamic, setuid, setgid, world-writable, shell, network, unowned)");
    }
}
