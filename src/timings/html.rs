//! The timings report as one self-contained HTML page: an SVG Gantt chart of every package's phases
//! (the critical path outlined), an SVG chart of CPU use, and a table. No scripts, no external files.

use std::fmt::Write as _;

use super::Report;

fn color(phase: &str) -> &'static str {
    match phase {
        "fetch" => "#9ecae1",
        "unpack" => "#c6dbef",
        "sysroot" => "#dadaeb",
        "configure" => "#fdd0a2",
        "build" => "#fd8d3c",
        "install" => "#74c476",
        "commit" => "#bdbdbd",
        _ => "#cccccc",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub fn render_html(r: &Report) -> String {
    let (w, row, left) = (1000.0, 22.0, 140.0);
    let span = r.wall_seconds.max(0.001);
    let x = |t: f64| left + (w - left - 10.0) * t / span;
    let mut svg = String::new();
    let h = 30.0 + row * r.packages.len() as f64;
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    for k in 0..=10 {
        let t = span * k as f64 / 10.0;
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" y1="15" x2="{0:.1}" y2="{h}" stroke="#eee"/><text x="{0:.1}" y="12" text-anchor="middle">{t:.1}s</text>"##,
            x(t)
        );
    }
    for (i, p) in r.packages.iter().enumerate() {
        let y = 20.0 + row * i as f64;
        let weight = if p.critical { "bold" } else { "normal" };
        let label = if p.cached { format!("{} (cached)", p.name) } else { p.name.clone() };
        let _ = write!(svg, r#"<text x="4" y="{:.1}" font-weight="{weight}">{}</text>"#, y + 14.0, esc(&label));
        for s in &p.phases {
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {:.2}s</title></rect>"#,
                x(s.start),
                (x(s.end) - x(s.start)).max(1.0),
                row - 4.0,
                color(&s.name),
                esc(&p.name),
                esc(&s.name),
                s.end - s.start
            );
        }
        if p.critical {
            let _ = write!(
                svg,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#d62728" stroke-width="2"/>"##,
                x(p.start),
                y - 1.0,
                (x(p.end) - x(p.start)).max(1.0),
                row - 2.0
            );
        }
    }
    svg.push_str("</svg>");
    let ch = 120.0;
    let mut cpu = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{}" font-family="sans-serif" font-size="12">"#,
        ch + 20.0
    );
    let _ = write!(
        cpu,
        r##"<rect x="{left}" y="5" width="{:.1}" height="{ch}" fill="none" stroke="#ccc"/><text x="4" y="15">100%</text><text x="4" y="{:.1}">0%</text>"##,
        w - left - 10.0,
        ch + 5.0
    );
    let pts: Vec<String> = r.cpu.iter().map(|c| format!("{:.1},{:.1}", x(c.t), 5.0 + ch * (1.0 - c.busy))).collect();
    let _ = write!(
        cpu,
        r##"<polyline points="{}" fill="none" stroke="#1f77b4" stroke-width="1.5"/></svg>"##,
        pts.join(" ")
    );
    let legend: String = ["fetch", "unpack", "sysroot", "configure", "build", "install", "commit"]
        .iter()
        .map(|p| format!(r#"<span style="background:{};padding:2px 6px;margin-right:4px">{p}</span>"#, color(p)))
        .collect();
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>compose timings: {img}</title>
<style>body{{font-family:sans-serif;margin:20px}}td,th{{padding:2px 10px;text-align:right}}th{{text-align:left}}</style></head><body>
<h1>compose timings: {img}</h1>
<p>Wall time {wall:.1} s with {jobs} jobs on {cores} cores; CPUs {avg:.0}% busy on average.
Critical path ({cp:.1} s of building, outlined in red): {path}.</p>
<p>{legend}</p>
<h2>Packages over time</h2>{svg}
<h2>CPU utilisation</h2>{cpu}
<h2>Table</h2><table><tr><th>package</th><th>start</th><th>end</th><th>duration</th><th>cached</th></tr>{rows}</table>
</body></html>
"#,
        img = esc(&r.image),
        wall = r.wall_seconds,
        jobs = r.jobs,
        cores = r.cores,
        avg = r.cpu_busy_average * 100.0,
        cp = r.critical_path_seconds,
        path = esc(&r.critical_path.join(" → ")),
        rows = r
            .packages
            .iter()
            .map(|p| format!(
                "<tr><th>{}</th><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>",
                esc(&p.name),
                p.start,
                p.end,
                p.end - p.start,
                if p.cached { "yes" } else { "" }
            ))
            .collect::<String>(),
    )
}
