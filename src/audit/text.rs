//! The audit report people read (`compose audit` without `--json`): the image, its platform and the
//! machines its ELF files are for, and its manifest; sizes by package, then one section per class of
//! finding, each with its count ("none" when empty).

use super::{Audit, ElfFile, Program, Special, chart, elf};
use crate::toolchain::Platform;

/// The whole report, newline-terminated.
pub fn text(a: &Audit) -> String {
    let mut out = header(a);
    out.push(String::new());
    out.extend(sizes(a));
    section(&mut out, "ELF files", a.elf.iter().map(elf_line).collect());
    section(&mut out, "setuid", special(&a.setuid));
    section(&mut out, "setgid", special(&a.setgid));
    let writable = a.world_writable.iter().map(|w| {
        let sticky = if w.sticky { "  (sticky: only owners delete)" } else { "" };
        format!("  {}  {} {}{sticky}", w.path, w.kind, w.mode)
    });
    section(&mut out, "world-writable", writable.collect());
    section(&mut out, "shells", programs(&a.shells));
    section(&mut out, "network tools", programs(&a.network));
    match &a.unowned {
        Some(u) => section(&mut out, "owned by no package", u.iter().map(|p| format!("  {p}")).collect()),
        None => {
            out.push(String::new());
            out.push("owned by no package: unknown (no file manifest)".into());
        }
    }
    if a.manifest.is_some() {
        let mismatched = a.mismatched.iter().map(|m| format!("  {}: {}", m.path, m.why)).collect();
        section(&mut out, "differ from the manifest", mismatched);
        section(&mut out, "in the manifest, not in the image", a.missing.iter().map(|p| format!("  {p}")).collect());
    }
    out.join("\n") + "\n"
}

/// The image line, the platform and machine lines (with a warning when the ELF files are for several
/// machines, or for one the platform does not run), and the manifest line.
fn header(a: &Audit) -> Vec<String> {
    let i = &a.image;
    let name = i.reference.as_ref().map(|r| format!(", {r}")).unwrap_or_default();
    let image = format!(
        "image: {} ({}{name}, {} layer(s)): {} entries, {} files, {}",
        i.path.display(),
        i.kind.as_str(),
        i.layers,
        i.entries,
        i.files,
        chart::human(i.bytes)
    );
    let manifest = match &a.manifest {
        Some(m) => {
            let tar = match m.tar_sha256_matches {
                Some(true) => " (its tar_sha256 is this tar's)",
                Some(false) => " (WARNING: its tar_sha256 is not this tar's: it describes another build)",
                None => "",
            };
            format!("manifest: {}{tar}", m.path.display())
        }
        None => "manifest: none: ownership unknown (give one with --manifest)".into(),
    };
    let mut out = vec![image];
    out.extend(machines(a));
    out.push(manifest);
    out
}

fn machines(a: &Audit) -> Vec<String> {
    let mut out = Vec::new();
    let platform = a.image.platform.as_deref();
    if let Some(p) = platform {
        let listed = &a.image.platforms;
        let of = if listed.len() > 1 { format!(" (the image has {})", listed.join(", ")) } else { String::new() };
        out.push(format!("platform: {p}{of}"));
    }
    let mut counts: Vec<(&str, usize)> = a.machines.iter().map(|(m, n)| (m.as_str(), *n)).collect();
    counts.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
    let files = |n: usize| if n == 1 { "1 ELF file".to_string() } else { format!("{n} ELF files") };
    let list: Vec<String> = counts.iter().map(|(m, n)| format!("{m} ({})", files(*n))).collect();
    out.push(match list.is_empty() {
        true => "machine: none (no ELF files)".into(),
        false => format!("machine: {}", list.join(", ")),
    });
    if counts.len() > 1 {
        let n = counts.len();
        out.push(format!("WARNING: ELF files for {n} machines: a host runs only one of them natively"));
    }
    let want = platform.and_then(|p| Platform::parse(p).ok()).and_then(|p| elf::machine_of_arch(p.arch()));
    if let (Some(p), Some(want)) = (platform, want) {
        let foreign: Vec<&(&str, usize)> = counts.iter().filter(|(m, _)| *m != want).collect();
        if !foreign.is_empty() {
            let n: usize = foreign.iter().map(|(_, n)| n).sum();
            let names: Vec<&str> = foreign.iter().map(|(m, _)| *m).collect();
            out.push(format!(
                "WARNING: the image is for {p} ({want}), but {} {} for {}",
                files(n),
                if n == 1 { "is" } else { "are" },
                names.join(", ")
            ));
        }
    }
    out
}

/// The size table: one row per package (or directory, without a manifest).
fn sizes(a: &Audit) -> Vec<String> {
    let by = if a.sizes.by == "package" { "package" } else { "directory" };
    let w = a.sizes.groups.iter().map(|g| g.name.len()).max().unwrap_or(0).max(by.len());
    let mut out = vec![format!("{by:<w$}  {:>7}  {:>10}  {:>10}  {:>6}", "files", "bytes", "size", "share")];
    for g in &a.sizes.groups {
        let share = g.bytes as f64 * 100.0 / a.image.bytes.max(1) as f64;
        let size = chart::human(g.bytes);
        out.push(format!("{:<w$}  {:>7}  {:>10}  {size:>10}  {share:>5.1}%", g.name, g.files, g.bytes));
    }
    out
}

/// A blank line, `TITLE: COUNT` (or `none`), and the lines.
fn section(out: &mut Vec<String>, title: &str, lines: Vec<String>) {
    out.push(String::new());
    out.push(format!("{title}: {}", if lines.is_empty() { "none".into() } else { lines.len().to_string() }));
    out.extend(lines);
}

fn special(v: &[Special]) -> Vec<String> {
    let owner = |s: &Special| s.owner.as_ref().map(|o| format!("  ({o})")).unwrap_or_default();
    v.iter().map(|s| format!("  {}  {}{}", s.path, s.mode, owner(s))).collect()
}

fn programs(v: &[Program]) -> Vec<String> {
    let line = |p: &Program| {
        if p.path == p.resolves_to { format!("  {}", p.path) } else { format!("  {} -> {}", p.path, p.resolves_to) }
    };
    v.iter().map(line).collect()
}

fn elf_line(e: &ElfFile) -> String {
    let Some(linking) = e.linking else {
        return format!("  {}  unreadable ELF: {}", e.path, e.error.as_deref().unwrap_or("?"));
    };
    let mut s = format!(
        "  {}  {}-bit {} {}  {}",
        e.path,
        e.class.unwrap_or(0),
        if e.endian == Some("big") { "MSB" } else { "LSB" },
        e.machine.as_deref().unwrap_or("?"),
        linking.as_str()
    );
    let found = |f: &Option<String>| f.as_ref().map_or("MISSING".to_string(), |p| format!("at {p}"));
    if let Some(i) = &e.interpreter {
        s += &format!("  interpreter {} ({})", i.name, found(&i.found));
    }
    if !e.needed.is_empty() {
        let needs: Vec<String> = e.needed.iter().map(|d| format!("{} ({})", d.name, found(&d.found))).collect();
        s += &format!("  needs {}", needs.join(", "));
    }
    s
}
