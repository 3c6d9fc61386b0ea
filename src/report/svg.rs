//! The equity-curve chart: a self-contained SVG a person can open in any browser.

use std::fmt::Write as _;

use rust_decimal::prelude::ToPrimitive;

use crate::model::{Money, Timestamp};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// An SVG line chart of equity over time (x = sample index, so nights and weekends take no room).
/// `caption`, when given, is printed under the title (e.g. "option prices are synthetic: …").
pub fn equity_svg(points: &[(Timestamp, Money)], title: &str, caption: Option<&str>) -> String {
    let (w, h) = (900.0_f64, 360.0_f64);
    let (l, r, b) = (80.0, 20.0, 50.0);
    let t = if caption.is_some() { 56.0 } else { 40.0 };
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{l}" y="24" font-size="15" font-weight="bold">{}</text>
"##,
        esc(title)
    );
    if let Some(c) = caption {
        let _ = writeln!(s, r##"<text x="{l}" y="42" font-style="italic" fill="#9a3412">{}</text>"##, esc(c));
    }
    let vals: Vec<f64> = points.iter().map(|p| p.1.to_f64().unwrap_or(0.0)).collect();
    if vals.len() < 2 {
        let _ = write!(s, r#"<text x="{l}" y="{}">not enough equity samples to draw</text></svg>"#, h / 2.0);
        return s;
    }
    let (mut lo, mut hi) = vals.iter().fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    if (hi - lo).abs() < 1e-9 {
        lo -= 1.0;
        hi += 1.0;
    }
    let pw = w - l - r;
    let ph = h - t - b;
    let x = |i: usize| l + pw * i as f64 / (vals.len() - 1) as f64;
    let y = |v: f64| t + ph * (1.0 - (v - lo) / (hi - lo));
    // Axes and grid.
    for k in 0..=4 {
        let v = lo + (hi - lo) * f64::from(k) / 4.0;
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{l}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v:.2}</text>"##,
            w - r,
            l - 6.0,
            yy + 4.0
        );
    }
    // Day separators with date labels.
    let mut last_day = None;
    for (i, (ts, _)) in points.iter().enumerate() {
        let day = ts.to_new_york().date_naive();
        if last_day != Some(day) {
            last_day = Some(day);
            let xx = x(i);
            let _ = writeln!(
                s,
                r##"<line x1="{xx:.1}" y1="{t}" x2="{xx:.1}" y2="{:.1}" stroke="#f0f0f0"/><text x="{xx:.1}" y="{:.1}">{}</text>"##,
                h - b,
                h - b + 18.0,
                day.format("%m-%d")
            );
        }
    }
    s.push_str(r##"<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points=""##);
    for (i, v) in vals.iter().enumerate() {
        let _ = write!(s, "{:.1},{:.1} ", x(i), y(*v));
    }
    s.push_str("\"/>\n");
    let _ = writeln!(
        s,
        r##"<line x1="{l}" y1="{t}" x2="{l}" y2="{:.1}" stroke="#333"/><line x1="{l}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>"##,
        h - b,
        h - b,
        w - r,
        h - b
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">equity (New York trading days)</text>"#,
        l + pw / 2.0,
        h - 10.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn the_caption_is_under_the_title_escaped() {
        let pts = [(Timestamp(0), dec!(100)), (Timestamp(60_000_000_000), dec!(101))];
        let svg = equity_svg(&pts, "a & b", Some("option prices are synthetic: <model>"));
        assert!(svg.contains(">a &amp; b</text>"), "{svg}");
        assert!(svg.contains(
            r##"font-style="italic" fill="#9a3412">option prices are synthetic: &lt;model&gt;</text>"##
        ));
        assert!(!equity_svg(&pts, "t", None).contains("italic"));
        // Too few samples to draw: the caption is still there.
        assert!(equity_svg(&pts[..1], "t", Some("synthetic")).contains(">synthetic</text>"));
    }
}
