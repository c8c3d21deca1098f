//! Why a package rebuilds, as typed values: `compose explain`, `build -v` and `--dry-run -v` print them
//! (through `Display`, one line each), and code that needs to tell one reason from another can match on
//! them instead of parsing text. Digests are kept whole; only their rendering is shortened.

use std::fmt;

/// One reason a package is about to be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebuildReason {
    /// The store holds no artifact of this package under any key.
    NeverBuilt,
    /// Artifacts of the package exist, and their inputs are the same, but none is stored under this key
    /// (its artifact was removed, or it was built by another compose with the same inputs recorded).
    NoArtifactUnderKey,
    /// The recipe's digest (its text, patches and files).
    Recipe {
        old: String,
        new: String,
    },
    /// The sources' sha256s, joined with `,`.
    Sources {
        old: String,
        new: String,
    },
    /// A local source's tree digest (`path` as the recipe wrote it), with the paths that changed when
    /// the old packed tree was still in the source cache: the first few, and how many in all.
    LocalTree {
        path: String,
        old: String,
        new: String,
        changes: Option<(Vec<String>, usize)>,
    },
    /// The toolchain file's digest.
    Toolchain {
        old: String,
        new: String,
    },
    Target {
        old: String,
        new: String,
    },
    ComposeVersion {
        old: String,
        new: String,
    },
    Sandbox {
        old: bool,
        new: bool,
    },
    SourceDateEpoch {
        old: u64,
        new: u64,
    },
    /// A host program that writes artifacts (`cc`, `cc1`, `as`, `ld`...): its version and sha256.
    HostTool {
        tool: String,
        old: String,
        new: String,
    },
    NewDependency {
        name: String,
    },
    /// The installed-tree digest of a dependency.
    DependencyOutput {
        name: String,
        old: String,
        new: String,
    },
    DependencyRemoved {
        name: String,
    },
}

/// Digests print as their first 16 characters: enough to tell them apart on one line.
fn short(s: &str) -> &str {
    s.char_indices().nth(16).map(|(i, _)| &s[..i]).unwrap_or(s)
}

impl fmt::Display for RebuildReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RebuildReason::*;
        match self {
            NeverBuilt => write!(f, "never built (no artifact in the store)"),
            NoArtifactUnderKey => write!(f, "no artifact under this key"),
            Recipe { old, new } => {
                write!(f, "recipe (text, patches or files) changed: {} -> {}", short(old), short(new))
            }
            Sources { old, new } => write!(f, "sources changed: {} -> {}", short(old), short(new)),
            LocalTree { path, old, new, changes } => {
                write!(f, "local source `{path}` changed: ")?;
                match changes {
                    Some((first, total)) if !first.is_empty() => {
                        write!(f, "{}", first.join(", "))?;
                        if *total > first.len() {
                            write!(f, " and {} more", total - first.len())?;
                        }
                        write!(f, " (tree {} -> {})", short(old), short(new))
                    }
                    _ => write!(
                        f,
                        "tree {} -> {} (the old tree is no longer in the source cache)",
                        short(old),
                        short(new)
                    ),
                }
            }
            Toolchain { old, new } => write!(f, "toolchain file changed: {} -> {}", short(old), short(new)),
            Target { old, new } => write!(f, "target changed: {old} -> {new}"),
            ComposeVersion { old, new } => write!(f, "compose version changed: {old} -> {new}"),
            Sandbox { old, new } => write!(f, "sandbox changed: {old} -> {new}"),
            SourceDateEpoch { old, new } => write!(f, "SOURCE_DATE_EPOCH changed: {old} -> {new}"),
            HostTool { tool, old, new } => write!(f, "host compiler `{tool}` changed: {old} -> {new}"),
            NewDependency { name } => write!(f, "new dependency `{name}`"),
            DependencyOutput { name, old, new } => {
                write!(f, "dependency `{name}` output changed: {} -> {}", short(old), short(new))
            }
            DependencyRemoved { name } => write!(f, "dependency `{name}` removed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_lines_compose_has_always_printed() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let d = |old: &str, new: &str| RebuildReason::DependencyOutput {
            name: "zlib".into(),
            old: old.into(),
            new: new.into(),
        };
        assert_eq!(RebuildReason::NeverBuilt.to_string(), "never built (no artifact in the store)");
        assert_eq!(RebuildReason::NoArtifactUnderKey.to_string(), "no artifact under this key");
        assert_eq!(
            RebuildReason::Recipe { old: a.clone(), new: b.clone() }.to_string(),
            format!("recipe (text, patches or files) changed: {} -> {}", &a[..16], &b[..16])
        );
        assert_eq!(d(&a, "short").to_string(), format!("dependency `zlib` output changed: {} -> short", &a[..16]));
        assert_eq!(RebuildReason::SourceDateEpoch { old: 1, new: 2 }.to_string(), "SOURCE_DATE_EPOCH changed: 1 -> 2");
        assert_eq!(RebuildReason::Sandbox { old: true, new: false }.to_string(), "sandbox changed: true -> false");
        let tree = |changes| RebuildReason::LocalTree { path: "src".into(), old: a.clone(), new: b.clone(), changes };
        assert_eq!(
            tree(Some((vec!["`a.c` modified".into(), "`b.h` added".into()], 9))).to_string(),
            format!(
                "local source `src` changed: `a.c` modified, `b.h` added and 7 more (tree {} -> {})",
                &a[..16],
                &b[..16]
            )
        );
        assert_eq!(
            tree(None).to_string(),
            format!(
                "local source `src` changed: tree {} -> {} (the old tree is no longer in the source cache)",
                &a[..16],
                &b[..16]
            )
        );
    }
}
