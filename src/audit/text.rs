//! The audit report people read (`compose audit` without `--json`): the image and its manifest, sizes
//! by package, then one section per class of finding, each with its count ("none" when empty).

use super::{Audit, ElfFile, Program, Special, chart};

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

/// The image line and the manifest line.
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
    vec![image, manifest]
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
