//! The vulnerability evidence a recipe carries, for `compose vulns`:
//! - the CVEs its patches fix: a `CVE: CVE-YYYY-NNNN …` line in a patch's header (before its first
//!   diff), as Buildroot and Yocto patches carry them, or a `[[vex]]` table with `status = "fixed"`
//!   naming one of `patches`. Only patches in `patches` count: the build's `patch` phase applies every
//!   one of them or fails, so a package that was built had them all applied.
//! - `not_affected` statements (`[[vex]]` with a justification from the OpenVEX list and a reason in
//!   words), optionally tied to settings of the configuration file the build used (`[build] config`,
//!   `when = ["CONFIG_X=n"]`): such a statement holds only when the captured configuration says so.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{RecipeError, invalid, raw::RawVex};

/// What a recipe says about vulnerabilities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Each patch that fixes something, in `patches` order.
    pub fixes: Vec<PatchFix>,
    pub statements: Vec<Statement>,
}

/// A patch in `patches` and the vulnerabilities it fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchFix {
    /// The patch as `patches` names it (relative to the recipe's directory).
    pub patch: String,
    /// Its index in `patches` (what the records match it by: two names may end alike).
    pub index: usize,
    pub ids: Vec<String>,
}

/// A `not_affected` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub id: String,
    pub justification: Justification,
    /// Why, in words.
    pub detail: String,
    /// Settings the build's configuration must have for the statement to hold; empty: it always holds.
    pub when: Vec<Condition>,
}

impl Statement {
    /// Whether the statement holds for a build that used `config` (`None`: no configuration captured).
    pub fn check(&self, config: Option<&BuildConfig>) -> Check {
        if self.when.is_empty() {
            return Check::Holds;
        }
        match config {
            None => Check::Unchecked,
            Some(c) => {
                let unmet: Vec<String> = c
                    .unmet(&self.when)
                    .iter()
                    .map(|u| match c.settings.get(&u.key) {
                        Some(actual) => format!("{u} (the build has {}={actual})", u.key),
                        None => format!(
                            "{u} (`{}` is not in {}: a typo, or an option the build does not offer)",
                            u.key, c.path
                        ),
                    })
                    .collect();
                if unmet.is_empty() { Check::Holds } else { Check::Unmet(unmet) }
            }
        }
    }
}

/// The outcome of checking a statement against a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Holds,
    /// The conditions the build's configuration does not meet, each with the value it has.
    Unmet(Vec<String>),
    /// The statement has conditions and no build configuration is known (a recipe not built).
    Unchecked,
}

/// A `not_affected` justification: one of OpenVEX's five, or one of CycloneDX 1.6's nine
/// (`analysis.justification`). Each document gets its own list's value: the one written when it is
/// that list's, else the closest (CISA's VEX mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Justification {
    ComponentNotPresent,
    VulnerableCodeNotPresent,
    VulnerableCodeNotInExecutePath,
    VulnerableCodeCannotBeControlledByAdversary,
    InlineMitigationsAlreadyExist,
    CodeNotPresent,
    CodeNotReachable,
    RequiresConfiguration,
    RequiresDependency,
    RequiresEnvironment,
    ProtectedByCompiler,
    ProtectedAtRuntime,
    ProtectedAtPerimeter,
    ProtectedByMitigatingControl,
}

/// OpenVEX's names, then CycloneDX's.
const JUSTIFICATIONS: [(&str, Justification); 14] = [
    ("component_not_present", Justification::ComponentNotPresent),
    ("vulnerable_code_not_present", Justification::VulnerableCodeNotPresent),
    ("vulnerable_code_not_in_execute_path", Justification::VulnerableCodeNotInExecutePath),
    ("vulnerable_code_cannot_be_controlled_by_adversary", Justification::VulnerableCodeCannotBeControlledByAdversary),
    ("inline_mitigations_already_exist", Justification::InlineMitigationsAlreadyExist),
    ("code_not_present", Justification::CodeNotPresent),
    ("code_not_reachable", Justification::CodeNotReachable),
    ("requires_configuration", Justification::RequiresConfiguration),
    ("requires_dependency", Justification::RequiresDependency),
    ("requires_environment", Justification::RequiresEnvironment),
    ("protected_by_compiler", Justification::ProtectedByCompiler),
    ("protected_at_runtime", Justification::ProtectedAtRuntime),
    ("protected_at_perimeter", Justification::ProtectedAtPerimeter),
    ("protected_by_mitigating_control", Justification::ProtectedByMitigatingControl),
];

/// How many of `JUSTIFICATIONS` are OpenVEX's.
const OPENVEX: usize = 5;

impl Justification {
    pub fn parse(s: &str) -> Option<Justification> {
        JUSTIFICATIONS.iter().find(|(n, _)| *n == s).map(|(_, j)| *j)
    }

    /// The name as the recipe wrote it.
    pub fn as_str(self) -> &'static str {
        JUSTIFICATIONS.iter().find(|(_, j)| *j == self).map(|(n, _)| *n).expect("every variant is listed")
    }

    fn is_openvex(self) -> bool {
        JUSTIFICATIONS[..OPENVEX].iter().any(|(_, j)| *j == self)
    }

    /// OpenVEX's name: itself, or the closest to a CycloneDX justification.
    pub fn openvex(self) -> &'static str {
        use Justification::*;
        match self {
            _ if self.is_openvex() => self.as_str(),
            CodeNotPresent => "vulnerable_code_not_present",
            CodeNotReachable | RequiresConfiguration => "vulnerable_code_not_in_execute_path",
            RequiresDependency => "component_not_present",
            RequiresEnvironment => "vulnerable_code_cannot_be_controlled_by_adversary",
            _ => "inline_mitigations_already_exist",
        }
    }

    /// CycloneDX 1.6's `analysis.justification`: itself, or the closest to an OpenVEX one; an OpenVEX
    /// justification on a statement tied to build options is `requires_configuration`.
    pub fn cyclonedx(self, conditional: bool) -> &'static str {
        use Justification::*;
        match self {
            _ if !self.is_openvex() => self.as_str(),
            _ if conditional => "requires_configuration",
            ComponentNotPresent | VulnerableCodeNotPresent => "code_not_present",
            VulnerableCodeNotInExecutePath => "code_not_reachable",
            VulnerableCodeCannotBeControlledByAdversary => "requires_environment",
            _ => "protected_by_mitigating_control",
        }
    }
}

/// `KEY=VALUE` or `KEY!=VALUE` against the build's configuration. kconfig's `# KEY is not set` reads as
/// `KEY=n`; values compare without surrounding double quotes. A KEY the file does not mention makes the
/// condition false, whichever the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub key: String,
    pub equal: bool,
    pub value: String,
}

impl Condition {
    fn parse(s: &str) -> Option<Condition> {
        // The first `=` ends the key (a value may hold `!=`); a `!` right before it makes it `!=`.
        let (key, value) = s.split_once('=')?;
        let (key, equal) = match key.strip_suffix('!') {
            Some(k) => (k, false),
            None => (key, true),
        };
        let key = key.trim();
        let ok = key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        ok.then(|| Condition { key: key.to_string(), equal, value: unquote(value.trim()).to_string() })
    }

    /// Whether `config` satisfies it. A key the file does not mention satisfies nothing: a typo in a
    /// statement must not make it hold.
    pub fn holds(&self, config: &BuildConfig) -> bool {
        config.settings.get(&self.key).is_some_and(|actual| (*actual == self.value) == self.equal)
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{}", self.key, if self.equal { "=" } else { "!=" }, self.value)
    }
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
}

/// The configuration file a build used (`[build] config`), as captured after its install phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildConfig {
    /// The file, relative to the build's source directory.
    pub path: String,
    pub sha256: String,
    /// `KEY=VALUE` lines (values unquoted) and kconfig's `# KEY is not set` (as `n`).
    pub settings: BTreeMap<String, String>,
}

impl BuildConfig {
    pub fn parse(path: &str, bytes: &[u8]) -> BuildConfig {
        let mut settings = BTreeMap::new();
        for line in String::from_utf8_lossy(bytes).lines() {
            let line = line.trim();
            if let Some(key) = line.strip_prefix("# ").and_then(|l| l.strip_suffix(" is not set")) {
                settings.insert(key.trim().to_string(), "n".to_string());
            } else if !line.starts_with('#')
                && let Some(c) = Condition::parse(line).filter(|c| c.equal)
            {
                settings.insert(c.key, c.value);
            }
        }
        BuildConfig { path: path.to_string(), sha256: crate::digest::Sha256::hex_of(bytes), settings }
    }

    /// The conditions of `when` that this configuration does not meet.
    pub fn unmet<'c>(&self, when: &'c [Condition]) -> Vec<&'c Condition> {
        when.iter().filter(|c| !c.holds(self)).collect()
    }
}

/// A vulnerability id: `CVE-YYYY-NNNN` or an OSV id (`GHSA-…`, `OSV-2024-1`): letters, digits and
/// `-_.:`, with a `-`.
pub fn is_valid_id(id: &str) -> bool {
    if let Some(rest) = id.strip_prefix("CVE-") {
        let mut parts = rest.splitn(2, '-');
        let year = parts.next().unwrap_or("");
        let number = parts.next().unwrap_or("");
        return year.len() == 4 && number.len() >= 4 && (year.to_string() + number).bytes().all(|b| b.is_ascii_digit());
    }
    id.contains('-')
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The CVE ids a patch's header declares on `CVE:` lines (several per line, separated by spaces or
/// commas). The header ends at the first line of a diff.
pub fn patch_header_ids(text: &str) -> Result<Vec<String>, (usize, String)> {
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if ["diff ", "--- ", "+++ ", "Index: ", "@@ "].iter().any(|p| line.starts_with(p)) {
            break;
        }
        let Some(rest) = line.strip_prefix("CVE:") else { continue };
        for id in rest.split(|c: char| c.is_whitespace() || c == ',').filter(|s| !s.is_empty()) {
            if !id.starts_with("CVE-") || !is_valid_id(id) {
                return Err((n + 1, format!("`{id}` is not a CVE id (CVE-YYYY-NNNN)")));
            }
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_string());
            }
        }
    }
    Ok(ids)
}

/// Checks `[[vex]]` and reads the `CVE:` lines of `patches` (as the recipe names them, and their files).
pub(super) fn resolve(
    path: &Path,
    raw: Vec<RawVex>,
    patches: &[(String, std::path::PathBuf)],
    config: Option<&str>,
) -> Result<Evidence, RecipeError> {
    let mut fixes: Vec<PatchFix> = Vec::new();
    for (i, (name, file)) in patches.iter().enumerate() {
        let bytes = std::fs::read(file).map_err(|source| RecipeError::MissingFile {
            path: path.to_path_buf(),
            field: format!("patches[{i}]"),
            file: file.clone(),
            source,
        })?;
        let ids = patch_header_ids(&String::from_utf8_lossy(&bytes)).map_err(|(line, why)| {
            let hint = "write `CVE: CVE-YYYY-NNNN` in the patch's header (before the diff), one or more ids per line";
            invalid(path, &format!("patches[{i}]"), format!("{name}:{line}: {why}"), hint)
        })?;
        if !ids.is_empty() {
            fixes.push(PatchFix { patch: name.clone(), index: i, ids });
        }
    }
    let mut statements = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (i, v) in raw.into_iter().enumerate() {
        let field = |k: &str| format!("vex[{i}].{k}");
        if !is_valid_id(&v.id) {
            let hint = "write a CVE id (`CVE-2024-12345`) or an OSV id (`GHSA-xxxx-xxxx-xxxx`)";
            return Err(invalid(path, &field("id"), format!("`{}` is not a vulnerability id", v.id), hint));
        }
        if seen.contains(&v.id) {
            return Err(invalid(
                path,
                &field("id"),
                format!("`{}` has a second [[vex]] table", v.id),
                "keep one per id",
            ));
        }
        seen.push(v.id.clone());
        match v.status.as_str() {
            "fixed" => fixes_by_recipe(path, i, v, patches, &mut fixes)?,
            "not_affected" => statements.push(not_affected(path, i, v, config)?),
            other => {
                let hint =
                    "`fixed` (with `patch`, one of `patches`) or `not_affected` (with `justification` and `detail`)";
                return Err(invalid(path, &field("status"), format!("`{other}` is not a status"), hint));
            }
        }
    }
    Ok(Evidence { fixes, statements })
}

fn fixes_by_recipe(
    path: &Path,
    i: usize,
    v: RawVex,
    patches: &[(String, std::path::PathBuf)],
    fixes: &mut Vec<PatchFix>,
) -> Result<(), RecipeError> {
    let field = |k: &str| format!("vex[{i}].{k}");
    for (set, key) in [(v.justification.is_some(), "justification"), (!v.when.is_empty(), "when")] {
        if set {
            let hint = "a fix by an applied patch holds in every build: drop the key, or use `not_affected`";
            return Err(invalid(path, &field(key), "does not go with `status = \"fixed\"`", hint));
        }
    }
    let Some(patch) = v.patch else {
        let hint = "name the patch that fixes it: `patch = \"NAME.patch\"`, one of the recipe's `patches` (only an applied patch counts)";
        return Err(invalid(path, &field("patch"), "missing: a fix needs the patch that makes it", hint));
    };
    let Some(index) = patches.iter().position(|(n, _)| *n == patch) else {
        let hint = "only patches the build applies count: list it in `patches` (a file in `files` is not applied)";
        return Err(invalid(path, &field("patch"), format!("`{patch}` is not one of `patches`"), hint));
    };
    match fixes.iter_mut().find(|f| f.index == index) {
        Some(f) if !f.ids.contains(&v.id) => f.ids.push(v.id),
        Some(_) => {}
        None => {
            fixes.push(PatchFix { patch: patch.clone(), index, ids: vec![v.id] });
            fixes.sort_by_key(|f| f.index);
        }
    }
    Ok(())
}

fn not_affected(path: &Path, i: usize, v: RawVex, config: Option<&str>) -> Result<Statement, RecipeError> {
    let field = |k: &str| format!("vex[{i}].{k}");
    if v.patch.is_some() {
        let hint = "a patch that fixes it makes it `fixed`: use `status = \"fixed\"`";
        return Err(invalid(path, &field("patch"), "does not go with `status = \"not_affected\"`", hint));
    }
    let names = |list: &[(&str, Justification)]| list.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    let hint = format!(
        "OpenVEX's {}; or CycloneDX's {}",
        names(&JUSTIFICATIONS[..OPENVEX]),
        names(&JUSTIFICATIONS[OPENVEX..])
    );
    let justification = match v.justification.as_deref().map(|j| (j, Justification::parse(j))) {
        Some((_, Some(j))) => j,
        Some((j, None)) => {
            return Err(invalid(path, &field("justification"), format!("`{j}` is not a justification"), hint));
        }
        None => return Err(invalid(path, &field("justification"), "missing", hint)),
    };
    let detail = v.detail.unwrap_or_default();
    if detail.trim().is_empty() {
        let hint = "say in words why the vulnerability does not apply to this build";
        return Err(invalid(path, &field("detail"), "missing: a statement needs its reason", hint));
    }
    let mut when = Vec::new();
    for (k, c) in v.when.iter().enumerate() {
        let parsed = Condition::parse(c).ok_or_else(|| {
            let hint = "write `KEY=VALUE` or `KEY!=VALUE`, e.g. `CONFIG_FEATURE_HTTPD_CGI=n` (`=n` also holds when KEY is unset)";
            invalid(path, &format!("vex[{i}].when[{k}]"), format!("`{c}` is not a setting"), hint)
        })?;
        when.push(parsed);
    }
    if !when.is_empty() && config.is_none() {
        let hint = "name the configuration file the build writes, e.g. `[build] config = \".config\"`, so compose can check it";
        return Err(invalid(path, &field("when"), "needs `[build] config`", hint));
    }
    Ok(Statement { id: v.id, justification, detail: detail.trim().to_string(), when })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_headers_declare_cves_until_the_diff() {
        let text = "From: a\nSubject: fix\nCVE: CVE-2024-1234 CVE-2024-56789,CVE-2024-1234\n\n--- a/x\n+++ b/x\nCVE: CVE-2099-0001\n";
        assert_eq!(patch_header_ids(text).unwrap(), ["CVE-2024-1234", "CVE-2024-56789"]);
        assert!(patch_header_ids("Subject: x\ndiff --git a/x b/x\nCVE: CVE-2024-1111\n").unwrap().is_empty());
        assert_eq!(patch_header_ids("CVE: CVE-24-1\n").unwrap_err().0, 1);
        assert!(patch_header_ids("CVE: GHSA-aaaa-bbbb-cccc\n").is_err());
    }

    #[test]
    fn conditions_read_kconfig_and_plain_settings() {
        let c = BuildConfig::parse(
            ".config",
            b"CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"x y\"\n# comment=1\nN=3\nX=\"a!=b\"\n",
        );
        assert_eq!(c.settings["X"], "a!=b", "a value may hold `!=`");
        let holds = |s: &str| Condition::parse(s).unwrap().holds(&c);
        assert!(holds("CONFIG_A=y") && !holds("CONFIG_A=n") && holds("CONFIG_A!=n"));
        assert!(holds("CONFIG_B=n") && !holds("CONFIG_MISSING=n") && !holds("CONFIG_MISSING!=y"));
        assert!(holds("CONFIG_S=\"x y\"") && holds("CONFIG_S=x y") && holds("N=3") && !holds("comment=1"));
        assert_eq!(c.unmet(&[Condition::parse("CONFIG_A=n").unwrap()]).len(), 1);
        assert!(Condition::parse("1X=y").is_none() && Condition::parse("novalue").is_none());
    }

    #[test]
    fn ids_are_cve_or_osv_shaped() {
        for ok in ["CVE-2024-1234", "CVE-2024-123456", "GHSA-abcd-efgh-ijkl", "OSV-2024-1", "RUSTSEC-2024-0001"] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in ["CVE-24-1234", "CVE-2024-12", "cve", "", "-x", "CVE-2024-12a4", "a b-c"] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn justifications_round_trip_and_map_to_cyclonedx() {
        for (name, j) in JUSTIFICATIONS {
            assert_eq!(Justification::parse(name), Some(j));
            assert_eq!(j.as_str(), name);
        }
        assert_eq!(Justification::VulnerableCodeNotPresent.cyclonedx(true), "requires_configuration");
        assert_eq!(Justification::VulnerableCodeNotInExecutePath.cyclonedx(false), "code_not_reachable");
        // Each list's own values pass through; the other list's are mapped into it.
        for (name, j) in JUSTIFICATIONS {
            let (ov, cdx) = (j.openvex(), j.cyclonedx(false));
            assert!(JUSTIFICATIONS[..OPENVEX].iter().any(|(n, _)| *n == ov), "{name} -> {ov}");
            assert!(JUSTIFICATIONS[OPENVEX..].iter().any(|(n, _)| *n == cdx), "{name} -> {cdx}");
        }
        assert_eq!(Justification::ProtectedAtRuntime.cyclonedx(true), "protected_at_runtime");
        assert_eq!(Justification::ProtectedAtRuntime.openvex(), "inline_mitigations_already_exist");
        assert_eq!(Justification::RequiresDependency.openvex(), "component_not_present");
    }
}
