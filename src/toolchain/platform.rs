//! OCI platforms (`linux/amd64`, `linux/arm64/v8`, `linux/riscv64`): what `--platform` names, what a
//! toolchain target builds for, and what an image index lists for each manifest.

use std::fmt;

/// One OCI platform: `os`, `architecture` (GOARCH names) and, where the image spec wants one, `variant`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `OS/ARCH[/VARIANT]`. `arm64` alone means `arm64/v8`, as docker and podman read it.
    pub fn parse(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let ok = |p: &&str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(ok) {
            return Err(format!("`{s}` is not OS/ARCH or OS/ARCH/VARIANT (e.g. `linux/arm64`)"));
        }
        let architecture = normal_arch(parts[1]).to_string();
        let variant = parts.get(2).map(|v| v.to_string()).or_else(|| default_variant(&architecture));
        Ok(Platform { os: parts[0].to_string(), architecture, variant })
    }

    /// The platform of a target triple (`aarch64-linux-musl` -> `linux/arm64/v8`).
    pub fn of_triple(triple: &str) -> Platform {
        let arch = triple.split('-').next().unwrap_or(triple);
        let architecture = match arch {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "i386" | "i486" | "i586" | "i686" => "386",
            "armv7" | "arm" => "arm",
            other => other,
        }
        .to_string();
        Platform { os: "linux".into(), variant: default_variant(&architecture), architecture }
    }

    /// The machine compose runs on.
    pub fn host() -> Platform {
        Platform::of_triple(&format!("{}-linux", std::env::consts::ARCH))
    }

    /// A platform as an image index states it (`"platform": {"os", "architecture", "variant"}`): the
    /// architecture in OCI terms, the variant as given. No default variant: a missing one is a wildcard
    /// for `matches`.
    pub fn stated(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: normal_arch(architecture).to_string(),
            variant: variant.filter(|v| !v.is_empty()).map(str::to_string),
        }
    }

    /// Whether `self` and `other` name the same machine: the same os and architecture, and the same
    /// variant unless either says none (so `linux/arm64` matches both `linux/arm64/v8` and an index's
    /// plain `arm64`).
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && match (&self.variant, &other.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// The architecture alone, for file names and labels (`arm64`).
    pub fn arch(&self) -> &str {
        &self.architecture
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

fn normal_arch(a: &str) -> &str {
    match a {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The OCI image index spec's variant for arm64 is `v8`; other architectures compose targets have none.
fn default_variant(arch: &str) -> Option<String> {
    (arch == "arm64").then(|| "v8".to_string())
}

/// Parses a comma-separated `--platform` list, dropping repeats and keeping the order given.
pub fn parse_list(s: &str) -> Result<Vec<Platform>, String> {
    let mut out: Vec<Platform> = Vec::new();
    for p in s.split(',').filter(|p| !p.trim().is_empty()) {
        let p = Platform::parse(p)?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err("no platform given (e.g. `linux/amd64,linux/arm64`)".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_with_oci_names_and_arm64s_variant() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert_eq!(p, Platform::parse("linux/aarch64/v8").unwrap());
        assert_eq!(Platform::parse("linux/x86_64").unwrap().to_string(), "linux/amd64");
        assert_eq!(Platform::parse("linux/riscv64").unwrap().variant, None);
        for bad in ["linux", "linux/", "a/b/c/d", "linux/arm 64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn triples_map_to_platforms() {
        assert_eq!(Platform::of_triple("x86_64-linux-musl").to_string(), "linux/amd64");
        assert_eq!(Platform::of_triple("aarch64-linux-musl").to_string(), "linux/arm64/v8");
        assert_eq!(Platform::of_triple("riscv64-linux-musl").to_string(), "linux/riscv64");
    }

    #[test]
    fn a_missing_variant_matches_any_and_stated_platforms_keep_theirs() {
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert!(arm64.matches(&Platform::stated("linux", "arm64", Some("v8"))));
        assert!(arm64.matches(&Platform::stated("linux", "aarch64", None)), "an index's plain arm64");
        assert!(!arm64.matches(&Platform::stated("linux", "arm64", Some("v9"))));
        assert!(!arm64.matches(&Platform::stated("linux", "amd64", None)));
        assert!(!arm64.matches(&Platform::stated("freebsd", "arm64", Some("v8"))));
        let amd64 = Platform::parse("linux/amd64").unwrap();
        assert!(amd64.matches(&Platform::stated("linux", "amd64", Some("v3"))), "the host says no variant");
        assert_eq!(Platform::stated("linux", "arm", Some("")).to_string(), "linux/arm");
        assert_eq!(Platform::stated("linux", "x86_64", None), amd64);
    }

    #[test]
    fn lists_keep_order_and_drop_repeats() {
        let l = parse_list("linux/arm64, linux/amd64,linux/arm64/v8").unwrap();
        assert_eq!(l.iter().map(|p| p.to_string()).collect::<Vec<_>>(), ["linux/arm64/v8", "linux/amd64"]);
        assert!(parse_list(" , ").is_err());
    }
}
