//! Charts as SVG drawn on the server (no script, nothing but attributes, so the CSP holds),
//! always shown beside a table of the same numbers. Values become pixels here and only
//! here: floats position bars, they never carry money.

use std::fmt::Write as _;

/// Escapes text for SVG/HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One series of a bar chart.
pub struct Series<'a> {
    /// Its name, in the legend.
    pub name: &'a str,
    /// Its colour.
    pub colour: &'a str,
    /// One value per label.
    pub values: Vec<f64>,
}

const W: f64 = 720.0;
const H: f64 = 220.0;
const LEFT: f64 = 60.0;
const BOTTOM: f64 = 40.0;

/// Grouped vertical bars, one group per label.
pub fn bars(title: &str, labels: &[String], series: &[Series<'_>]) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0f64, f64::max);
    let scale = if max > 0.0 {
        (H - BOTTOM - 20.0) / max
    } else {
        0.0
    };
    let group = (W - LEFT - 10.0) / labels.len().max(1) as f64;
    let bar = (group * 0.8 / series.len().max(1) as f64).max(1.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" aria-label="{t}" class="chart"><title>{t}</title>"#,
        t = escape(title)
    );
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{y}" x2="{W}" y2="{y}" stroke="#555"/><text x="4" y="24" font-size="11">{max:.2}</text><text x="4" y="{y}" font-size="11">0</text>"##,
        y = H - BOTTOM
    );
    for (i, label) in labels.iter().enumerate() {
        let x0 = LEFT + i as f64 * group;
        for (k, se) in series.iter().enumerate() {
            let v = se.values.get(i).copied().unwrap_or(0.0);
            let h = v * scale;
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}: {v}</title></rect>"#,
                x0 + k as f64 * bar,
                H - BOTTOM - h,
                bar,
                h,
                se.colour,
                escape(label),
                escape(se.name)
            );
        }
        // Every label when few, else every seventh.
        if labels.len() <= 12 || i % 7 == 0 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
                x0,
                H - BOTTOM + 14.0,
                escape(label)
            );
        }
    }
    for (k, se) in series.iter().enumerate() {
        let x = LEFT + k as f64 * 160.0;
        let _ = write!(
            s,
            r#"<rect x="{x}" y="{y}" width="10" height="10" fill="{}"/><text x="{}" y="{}" font-size="11">{}</text>"#,
            se.colour,
            x + 14.0,
            H - 6.0,
            escape(se.name),
            y = H - 15.0
        );
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars, one per label (e.g. discrepancies by outcome).
pub fn hbars(title: &str, rows: &[(String, f64)]) -> String {
    let max = rows.iter().map(|r| r.1.abs()).fold(0.0f64, f64::max);
    let h = 24.0 * rows.len().max(1) as f64 + 10.0;
    let label_w = 200.0;
    let scale = if max > 0.0 {
        (W - label_w - 80.0) / max
    } else {
        0.0
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" role="img" aria-label="{t}" class="chart"><title>{t}</title>"#,
        t = escape(title)
    );
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = 5.0 + i as f64 * 24.0;
        let colour = if *v < 0.0 { "#b5473a" } else { "#3a6fb5" };
        let _ = write!(
            s,
            r#"<text x="4" y="{:.1}" font-size="11">{}</text><rect x="{label_w}" y="{y:.1}" width="{:.1}" height="18" fill="{colour}"><title>{}: {v}</title></rect><text x="{:.1}" y="{:.1}" font-size="11">{v}</text>"#,
            y + 13.0,
            escape(label),
            v.abs() * scale,
            escape(label),
            label_w + v.abs() * scale + 4.0,
            y + 13.0
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_draw_every_value_and_escape_labels() {
        let svg = bars(
            "traffic",
            &["a<b".into(), "c".into()],
            &[Series {
                name: "records",
                colour: "#000",
                values: vec![1.0, 2.0],
            }],
        );
        assert_eq!(svg.matches("<rect").count(), 3, "two bars and a legend key");
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"));
        let h = hbars(
            "outcomes",
            &[("missing".into(), 3.0), ("units".into(), -1.0)],
        );
        assert_eq!(h.matches("<rect").count(), 2);
    }
}
