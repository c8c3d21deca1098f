//! Sizes by package as a picture: a horizontal bar chart, one bar per group, largest first, as a
//! standalone SVG or an HTML page (the same SVG inline, plus a table). Self-contained: no scripts, no
//! fonts or styles from elsewhere, so it opens offline and can be attached to a review.

use std::fmt::Write;
use std::path::Path;

use super::AuditError;
use super::analyse::{Audit, Group};

/// Writes the chart to `out`: HTML for `.html`/`.htm`, SVG otherwise, via a temp file and a rename.
pub fn write(a: &Audit, out: &Path) -> Result<(), AuditError> {
    use std::os::unix::fs::PermissionsExt;
    let is_html = out.extension().is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
    let text = if is_html { html(a) } else { svg(a) };
    let io = |source| AuditError::WriteChart { path: out.to_path_buf(), source };
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(io)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(io)?;
    tmp.persist(out).map_err(|e| io(e.error))?;
    Ok(())
}

const WIDTH: u32 = 860;
const LABEL: u32 = 200;
const BAR_MAX: u32 = 460;
const ROW: u32 = 26;
const TOP: u32 = 56;
const COLORS: [&str; 8] = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// `1.4 MiB`, `812 B`.
pub fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", units[u]) }
}

fn title(a: &Audit) -> String {
    let name = a.image.reference.clone().unwrap_or_else(|| a.image.path.display().to_string());
    let by = if a.sizes.by == "package" { "package" } else { "top directory (no file manifest)" };
    format!("{name}: {} in {} files, by {by}", human(a.image.bytes), a.image.files)
}

/// The chart as an SVG document.
pub fn svg(a: &Audit) -> String {
    let groups = &a.sizes.groups;
    let height = TOP + ROW * groups.len() as u32 + 20;
    let total = a.image.bytes.max(1);
    let max = groups.iter().map(|g| g.bytes).max().unwrap_or(0).max(1);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, "<title>{}</title>", escape(&title(a)));
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(s, r#"<text x="12" y="28" font-size="16" font-weight="bold">{}</text>"#, escape(&title(a)));
    for (i, g) in groups.iter().enumerate() {
        let y = TOP + ROW * i as u32;
        // Every group gets a visible sliver, even with no bytes.
        let w = ((g.bytes as f64 / max as f64) * BAR_MAX as f64).round().max(1.0) as u32;
        let pct = g.bytes as f64 * 100.0 / total as f64;
        let color = if g.name == "(unowned)" { "#bab0ac" } else { COLORS[i % COLORS.len()] };
        let _ = writeln!(s, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, LABEL - 8, y + 15, escape(&g.name));
        let _ = writeln!(
            s,
            r#"<rect class="bar" data-name="{}" data-bytes="{}" x="{LABEL}" y="{}" width="{w}" height="{}" fill="{color}"><title>{}: {} bytes, {} files</title></rect>"#,
            escape(&g.name),
            g.bytes,
            y + 3,
            ROW - 6,
            escape(&g.name),
            g.bytes,
            g.files
        );
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" fill="#333333">{} ({pct:.1}%, {} files)</text>"##,
            LABEL + w + 6,
            y + 15,
            human(g.bytes),
            g.files
        );
    }
    s.push_str("</svg>\n");
    s
}

fn row(g: &Group, total: u64) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td></tr>",
        escape(&g.name),
        g.files,
        g.bytes,
        human(g.bytes),
        g.bytes as f64 * 100.0 / total.max(1) as f64
    )
}

/// The chart in an HTML page with the numbers as a table (XHTML-compatible markup).
pub fn html(a: &Audit) -> String {
    let rows: String = a.sizes.groups.iter().map(|g| row(g, a.image.bytes) + "\n").collect();
    let what = if a.sizes.by == "package" { "package" } else { "directory" };
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{padding:2px 10px;text-align:right}}td:first-child,th:first-child{{text-align:left}}tr:nth-child(even){{background:#f3f3f3}}</style>
</head><body>
<h1>{title}</h1>
{svg}<table><thead><tr><th>{what}</th><th>files</th><th>bytes</th><th>size</th><th>share</th></tr></thead><tbody>
{rows}</tbody></table>
</body></html>
"#,
        title = escape(&title(a)),
        svg = svg(a),
    )
}
