//! The run's charts: self-contained SVGs a person can open in any browser.
//!
//! - `equity.svg` ([`equity_svg`]): equity in dollars (`$50,000`) on the left axis and in
//!   percent of the starting equity on the right; the visible range is never narrower than ±1 %
//!   of the starting equity, so a quiet week looks quiet; entry marks (▲ long, ▼ short) and exit
//!   marks (○) of every deal on the curve; halts as dashed red lines with their reason; below, the
//!   drawdown panel (percent below the running peak, filled).
//! - `price.svg` ([`price_svg`]): the candles of the traded instrument (an option agent's
//!   underlying), the strategy's indicator lines and the deals at their prices (an option
//!   agent's deals, whose prices are premiums, on the time axis only), halts as on the equity
//!   chart.
//!
//! Both use x = sample (candle) index, so nights and weekends take no room. Date labels are New
//! York dates at day (month, year for long runs) boundaries, at least [`MIN_LABEL_GAP`] px apart;
//! the first label carries the year, and every label does when the run spans years. A price
//! chart of more candles than half its width in pixels draws each run of K candles as one.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate};
use rust_decimal::prelude::ToPrimitive;

use super::Report;
use super::chart::ChartCandle;
use crate::model::{Side, Timestamp};

/// The least distance between two date labels, in px.
pub const MIN_LABEL_GAP: f64 = 80.0;

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 72.0;
const LONG: &str = "#2b8a3e";
const SHORT: &str = "#d9480f";
const HALT: &str = "#e03131";
const LINE_COLOURS: [&str; 3] = ["#1f6feb", "#8250df", "#8250df"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn f(v: rust_decimal::Decimal) -> f64 {
    v.to_f64().unwrap_or(0.0)
}

/// A "nice" tick step (1, 2, 2.5 or 5 × 10ⁿ) splitting `range` into about `ticks` parts.
fn nice_step(range: f64, ticks: f64) -> f64 {
    let raw = (range / ticks).max(1e-12);
    let mag = 10f64.powf(raw.log10().floor());
    let m = raw / mag;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 2.5 {
        2.5
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// Decimals needed to print multiples of `step` exactly.
fn decimals(step: f64) -> usize {
    let mut d = 0;
    while d < 6 && ((step * 10f64.powi(d as i32)).round() - step * 10f64.powi(d as i32)).abs() > 1e-6 {
        d += 1;
    }
    d
}

/// The multiples of `step` in `[lo, hi]`.
fn ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// `$50,000`, `$1,234.50`, `-$12`.
pub fn dollars(v: f64, dp: usize) -> String {
    let text = format!("{:.dp$}", v.abs());
    let (int, frac) = text.split_once('.').map_or((text.as_str(), ""), |(i, f)| (i, f));
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if v < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') { "-" } else { "" };
    if frac.is_empty() { format!("{sign}${grouped}") } else { format!("{sign}${grouped}.{frac}") }
}

/// `+0.5%`, `-1.25%`, `0%`.
fn percent(v: f64, dp: usize) -> String {
    let text = format!("{v:+.dp$}");
    if text.trim_start_matches(['+', '-']).chars().all(|c| c == '0' || c == '.') {
        format!("{:.dp$}%", 0.0)
    } else {
        format!("{text}%")
    }
}

fn ny_date(ts: Timestamp) -> NaiveDate {
    ts.to_new_york().date_naive()
}

/// A date's day, month or year, to find where a label goes.
type DateKey = fn(&NaiveDate) -> (i32, u32, u32);

/// Date labels for points `0..times.len()` drawn at `x(i)`: at day boundaries, or month or year
/// boundaries when there are too many days for the width; greedily kept at least
/// [`MIN_LABEL_GAP`] apart. The first label names the year, and every label does when the
/// dates span more than one year.
fn date_labels(times: &[Timestamp], x: &dyn Fn(usize) -> f64, left: f64, right: f64) -> Vec<(f64, String)> {
    let dates: Vec<NaiveDate> = times.iter().map(|t| ny_date(*t)).collect();
    let (Some(first), Some(last)) = (dates.first(), dates.last()) else { return Vec::new() };
    let years = first.year() != last.year();
    let room = ((right - left) / MIN_LABEL_GAP).max(1.0);
    let keys: [DateKey; 3] =
        [|d| (d.year(), d.month(), d.day()), |d| (d.year(), d.month(), 0), |d| (d.year(), 0, 0)];
    let mut level = 2;
    let mut starts = Vec::new();
    for (l, key) in keys.iter().enumerate() {
        starts = (0..dates.len()).filter(|&i| i == 0 || key(&dates[i]) != key(&dates[i - 1])).collect();
        level = l;
        if (starts.len() as f64) <= 4.0 * room {
            break;
        }
    }
    // About 7 px a character at 12 px: neighbours keep 16 px of white between them.
    let width = |t: &str| 7.0 * t.chars().count() as f64;
    let mut out: Vec<(f64, String)> = Vec::new();
    for i in starts {
        let xx = x(i);
        let d = dates[i];
        let with_year = years || out.is_empty();
        let text = match (level, with_year) {
            (0, true) => d.format("%b %-d, %Y").to_string(),
            (0, false) => d.format("%b %-d").to_string(),
            (1, true) => d.format("%b %Y").to_string(),
            (1, false) => d.format("%b").to_string(),
            _ => d.format("%Y").to_string(),
        };
        let crowded = out
            .last()
            .is_some_and(|(px, prev)| xx - px < MIN_LABEL_GAP.max((width(prev) + width(&text)) / 2.0 + 16.0));
        if crowded || xx > right + 20.0 {
            continue;
        }
        out.push((xx, text));
    }
    out
}

/// The header every chart starts with: size, styles, background, title and caption.
fn open_svg(s: &mut String, height: f64, title: &str, subtitle: &str, caption: Option<&str>) {
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">
<style>
.grid {{ stroke: #e9ecef; }}
.axis {{ stroke: #495057; }}
.ylabel, .pct {{ fill: #343a40; }}
.xlabel {{ fill: #343a40; text-anchor: middle; }}
.candle.up {{ stroke: {LONG}; }} .body.up {{ fill: {LONG}; }}
.candle.down {{ stroke: #c92a2a; }} .body.down {{ fill: #c92a2a; }}
.trade.long {{ stroke: {LONG}; }} .trade.short {{ stroke: {SHORT}; }}
.trade.entry.long {{ fill: {LONG}; }} .trade.entry.short {{ fill: {SHORT}; }}
.trade.exit {{ fill: #ffffff; stroke-width: 2; }}
.halt {{ stroke: {HALT}; stroke-dasharray: 5 4; stroke-width: 1.2; }}
.haltlabel {{ fill: {HALT}; font-size: 11px; }}
</style>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{}</text>
<text x="{LEFT}" y="40" fill="#495057">{}</text>
"##,
        esc(title),
        esc(subtitle)
    );
    if let Some(c) = caption {
        let _ =
            writeln!(s, r##"<text x="{LEFT}" y="57" font-style="italic" fill="#9a3412">{}</text>"##, esc(c));
    }
}

/// The legend at the top right: a mark and its meaning per item.
fn legend(s: &mut String, y: f64, items: &[(&str, &str)]) {
    let mut x = WIDTH - RIGHT;
    for (mark, text) in items.iter().rev() {
        x -= 7.0 * text.chars().count() as f64 + 26.0;
        let _ = writeln!(
            s,
            r##"<g transform="translate({x:.1},{y:.1})">{mark}<text x="14" y="4">{}</text></g>"##,
            esc(text)
        );
    }
}

fn triangle(x: f64, y: f64, up: bool, class: &str) -> String {
    let (tip, base) = if up { (y - 7.0, y + 4.0) } else { (y + 7.0, y - 4.0) };
    format!(
        r#"<polygon class="{class}" points="{:.1},{tip:.1} {:.1},{base:.1} {:.1},{base:.1}"/>"#,
        x,
        x - 5.5,
        x + 5.5
    )
}

/// The view a deal took: its side, but a bought put is a short view (as the strategy sees it:
/// a call is long, a put is short).
fn view(d: &super::Deal) -> Side {
    if occ_right(&d.symbol) == Some(b'P') { d.side.opposite() } else { d.side }
}

/// `C` or `P` of an OCC option symbol (padded or compact); `None` for any other name.
fn occ_right(symbol: &str) -> Option<u8> {
    let name = super::instrument_text(symbol);
    let (_, occ) = name.rsplit_once(' ')?;
    let b = occ.as_bytes();
    let digits = b.len() == 15 && b[..6].iter().chain(&b[7..]).all(u8::is_ascii_digit);
    digits.then_some(b[6]).filter(|c| matches!(c, b'C' | b'P'))
}

/// The entry and exit marks of one deal at `(x, y)` each.
fn trade_marks(s: &mut String, side: Side, entry: (f64, f64), exit: (f64, f64), title: &str) {
    let word = match side {
        Side::Buy => "long",
        Side::Sell => "short",
    };
    let _ = writeln!(
        s,
        r#"<g><title>{}</title>{}<circle class="trade exit {word}" cx="{:.1}" cy="{:.1}" r="4"/></g>"#,
        esc(title),
        triangle(entry.0, entry.1, side == Side::Buy, &format!("trade entry {word}")),
        exit.0,
        exit.1
    );
}

/// Dashed red lines at the halts, from `top` to `bottom`, the reason's code as a label (the
/// whole reason as a tooltip), labels at least [`MIN_LABEL_GAP`] apart.
fn halt_marks(s: &mut String, halts: &[(f64, &str)], top: f64, bottom: f64) {
    let mut last_label = f64::MIN;
    for &(x, reason) in halts {
        let code = reason.split(':').next().unwrap_or(reason).trim();
        let _ = write!(
            s,
            r#"<g><title>halted: {}</title><line class="halt" x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}"/>"#,
            esc(reason)
        );
        if x - last_label >= MIN_LABEL_GAP {
            let _ = write!(
                s,
                r#"<text class="haltlabel" x="{:.1}" y="{:.1}">halt: {}</text>"#,
                x + 3.0,
                top + 11.0,
                esc(code)
            );
            last_label = x;
        }
        s.push_str("</g>\n");
    }
}

fn legend_marks(options_axis: bool) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        (r#"<polygon class="trade entry long key" points="5,-6 0,4 10,4"/>"#, "long entry"),
        (r#"<polygon class="trade entry short key" points="5,6 0,-4 10,-4"/>"#, "short entry"),
        (r#"<circle class="trade exit long key" cx="5" cy="0" r="4"/>"#, "exit"),
        (r#"<line class="halt key" x1="5" y1="-7" x2="5" y2="7"/>"#, "halt"),
    ];
    if options_axis {
        v[0].1 = "call/long entry";
        v[1].1 = "put/short entry";
    }
    v
}

/// Points `(x, v)` thinned to about two per pixel column (each column's lowest and highest,
/// in time order), so a long run draws as a polyline of bounded size.
fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let Some(&(x0, _)) = points.first() else { return Vec::new() };
    let mut out = Vec::with_capacity(points.len().min(4000));
    let mut i = 0;
    while i < points.len() {
        let col = (points[i].0 - x0).floor();
        let mut j = i;
        let (mut lo, mut hi) = (i, i);
        while j < points.len() && (points[j].0 - x0).floor() == col {
            if points[j].1 < points[lo].1 {
                lo = j;
            }
            if points[j].1 > points[hi].1 {
                hi = j;
            }
            j += 1;
        }
        let mut keep = [i, lo, hi, j - 1];
        keep.sort_unstable();
        let mut prev = usize::MAX;
        for k in keep {
            if k != prev {
                out.push(points[k]);
                prev = k;
            }
        }
        i = j;
    }
    out
}

/// The equity chart of a report (see the module docs). `title` names the run.
pub fn equity_svg(report: &Report, title: &str) -> String {
    let height = 600.0;
    let caption = report.summary.note.as_deref();
    let top = if caption.is_some() { 92.0 } else { 76.0 };
    let (main_bottom, dd_top, dd_bottom) = (400.0, 426.0, 532.0);
    let (left, right) = (LEFT, WIDTH - RIGHT);
    let pw = right - left;
    let start = f(report.summary.starting_equity);
    let end = f(report.summary.ending_equity);
    let subtitle = format!(
        "equity {} → {} ({}), {} deal(s), max drawdown {}",
        dollars(start, 2),
        dollars(end, 2),
        percent(if start > 0.0 { (end / start - 1.0) * 100.0 } else { 0.0 }, 2),
        report.deals.len(),
        percent(-f(report.summary.max_drawdown_pct), 2)
    );
    let mut s = String::new();
    open_svg(&mut s, height, title, &subtitle, caption);
    let pts = &report.equity;
    if pts.len() < 2 {
        let _ = write!(
            s,
            r#"<text x="{LEFT}" y="{}">not enough equity samples to draw</text></svg>"#,
            height / 2.0
        );
        return s;
    }
    let options = report.deals.iter().any(|d| occ_right(&d.symbol).is_some());
    legend(&mut s, top - 12.0, &legend_marks(options));
    let vals: Vec<f64> = pts.iter().map(|p| f(p.1)).collect();
    // The visible range: every value, and at least ±1 % of the starting equity.
    let base = if start > 0.0 { start } else { vals.iter().copied().fold(f64::MIN, f64::max).max(1.0) };
    let lo_v = vals.iter().copied().fold(base * 0.99, f64::min);
    let hi_v = vals.iter().copied().fold(base * 1.01, f64::max);
    let step = nice_step(hi_v - lo_v, 5.0);
    let (lo, hi) = ((lo_v / step).floor() * step, (hi_v / step).ceil() * step);
    let y = |v: f64| top + (main_bottom - top) * (1.0 - (v - lo) / (hi - lo));
    let n = vals.len();
    let x = |i: usize| left + pw * i as f64 / (n - 1) as f64;
    let pct_of = |v: f64| (v / base - 1.0) * 100.0;
    let _ = writeln!(
        s,
        r#"<g class="equity-panel" data-lo-pct="{:.4}" data-hi-pct="{:.4}" data-lo="{lo:.2}" data-hi="{hi:.2}">"#,
        pct_of(lo),
        pct_of(hi)
    );
    // Dollar grid and labels (left).
    dollar_grid(&mut s, (lo, hi, step), decimals(step), &y, (left, right));
    // Percent scale (right), relative to the starting equity.
    let (plo, phi) = (pct_of(lo), pct_of(hi));
    let pstep = nice_step(phi - plo, 5.0);
    let pdp = decimals(pstep);
    for p in ticks(plo, phi, pstep) {
        let yy = y(base * (1.0 + p / 100.0));
        let _ = writeln!(
            s,
            r#"<line class="axis" x1="{right}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}"/><text class="pct" x="{:.1}" y="{:.1}">{}</text>"#,
            right + 4.0,
            right + 7.0,
            yy + 4.0,
            percent(p, pdp)
        );
    }
    // The starting equity, for reference.
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{0:.1}" x2="{right}" y2="{0:.1}" stroke="#adb5bd" stroke-dasharray="2 3"/>"##,
        y(base)
    );
    // Date grid and labels (under the drawdown panel).
    let times: Vec<Timestamp> = pts.iter().map(|p| p.0).collect();
    let labels = date_labels(&times, &x, left, right);
    for (xx, text) in &labels {
        let _ = writeln!(
            s,
            r#"<line class="grid" x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{dd_bottom}"/><text class="xlabel" x="{xx:.1}" y="{:.1}">{}</text>"#,
            dd_bottom + 20.0,
            esc(text)
        );
    }
    // The curve.
    let line: Vec<(f64, f64)> = (0..n).map(|i| (x(i), vals[i])).collect();
    s.push_str(r##"<polyline class="equity" fill="none" stroke="#1f6feb" stroke-width="1.6" points=""##);
    for (xx, v) in thin(&line) {
        let _ = write!(s, "{xx:.1},{:.1} ", y(v));
    }
    s.push_str("\"/>\n");
    // Halts and deals.
    let at = |t: Timestamp| times.partition_point(|s| *s < t).min(n - 1);
    let halts: Vec<(f64, &str)> = report.halts.iter().map(|h| (x(at(h.ts)), h.reason.as_str())).collect();
    halt_marks(&mut s, &halts, top, dd_bottom);
    for d in &report.deals {
        let (i, j) = (at(d.entry_time), at(d.exit_time));
        let title = deal_title(d);
        trade_marks(&mut s, view(d), (x(i), y(vals[i])), (x(j), y(vals[j])), &title);
    }
    s.push_str("</g>\n");
    // Axes of the main panel.
    let _ = writeln!(
        s,
        r#"<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{main_bottom}"/><line class="axis" x1="{right}" y1="{top}" x2="{right}" y2="{main_bottom}"/><line class="axis" x1="{left}" y1="{main_bottom}" x2="{right}" y2="{main_bottom}"/>"#
    );
    drawdown_panel(&mut s, &vals, start, &x, (left, right, dd_top, dd_bottom));
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#495057">equity in dollars (left) and percent of the starting equity (right); New York dates, trading time only</text>"##,
        left + pw / 2.0,
        height - 14.0
    );
    s.push_str("</svg>\n");
    s
}

fn deal_title(d: &super::Deal) -> String {
    format!(
        "{} {} {}: {} @ {} → {} @ {}, net {}",
        super::instrument_text(&d.symbol),
        match d.side {
            Side::Buy => "long",
            Side::Sell => "short",
        },
        d.entry_qty.normalize(),
        super::iso(d.entry_time),
        super::price(d.entry_price),
        super::iso(d.exit_time),
        super::price(d.exit_price),
        dollars(f(d.net_pnl()), 2)
    )
}

/// Percent below the running peak (the peak starts at the starting equity), filled.
fn drawdown_panel(
    s: &mut String,
    vals: &[f64],
    start: f64,
    x: &dyn Fn(usize) -> f64,
    frame: (f64, f64, f64, f64),
) {
    let (left, right, top, bottom) = frame;
    let mut peak = if start > 0.0 { start } else { f64::MIN };
    let dd: Vec<f64> = vals
        .iter()
        .map(|&v| {
            peak = peak.max(v);
            if peak > 0.0 { ((v - peak) / peak * 100.0).min(0.0) } else { 0.0 }
        })
        .collect();
    let worst = dd.iter().copied().fold(-1.0, f64::min);
    let step = nice_step(-worst, 2.0);
    let lo = (worst / step).floor() * step;
    let y = |p: f64| top + (bottom - top) * (p / lo);
    let _ = writeln!(s, r#"<g class="drawdown-panel" data-lo-pct="{lo:.4}">"#);
    let dp = decimals(step);
    for p in ticks(lo, 0.0, step) {
        let yy = y(p);
        let _ = writeln!(
            s,
            r#"<line class="grid" x1="{left}" y1="{yy:.1}" x2="{right}" y2="{yy:.1}"/><text class="ylabel" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 6.0,
            yy + 4.0,
            percent(p, dp)
        );
    }
    let line: Vec<(f64, f64)> = dd.iter().enumerate().map(|(i, p)| (x(i), *p)).collect();
    let _ = write!(
        s,
        r##"<polygon class="drawdown" fill="#f03e3e" fill-opacity="0.35" stroke="#c92a2a" stroke-width="1" points="{left:.1},{top:.1} "##
    );
    for (xx, p) in thin(&line) {
        let _ = write!(s, "{xx:.1},{:.1} ", y(p));
    }
    let _ = writeln!(s, r#"{:.1},{top:.1}"/>"#, x(vals.len().saturating_sub(1)));
    let _ = writeln!(
        s,
        r##"<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/><line class="axis" x1="{left}" y1="{top}" x2="{right}" y2="{top}"/><line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/><text x="{:.1}" y="{:.1}" fill="#495057">drawdown (below the running peak)</text>"##,
        left + 4.0,
        top - 7.0
    );
    s.push_str("</g>\n");
}

/// The price chart of a report (see the module docs). `title` names the run.
pub fn price_svg(report: &Report, title: &str) -> String {
    let height = 540.0;
    let caption = report.summary.note.as_deref();
    let top = if caption.is_some() { 92.0 } else { 76.0 };
    let bottom = 470.0;
    let (left, right) = (LEFT, WIDTH - RIGHT);
    let pw = right - left;
    let chart = &report.chart;
    // More candles than half the width in pixels: every `group` drawn as one.
    let group = chart.candles.len().div_ceil((pw / 2.0) as usize).max(1);
    let candles: Vec<ChartCandle> = chart
        .candles
        .chunks(group)
        .map(|c| {
            let mut first = c[0].clone();
            for later in &c[1..] {
                first.merge(later);
            }
            first
        })
        .collect();
    let per = chart.merged.max(1) * group;
    let underlying = super::instrument_text(&report.underlying);
    let subtitle = if per > 1 {
        format!("{underlying}: {} candles (each of {per} time candles, to fit)", candles.len())
    } else {
        format!("{underlying}: {} candles", candles.len())
    };
    let mut s = String::new();
    open_svg(&mut s, height, &format!("{title} — price"), &subtitle, caption);
    let n = candles.len();
    if n == 0 {
        let _ = write!(s, r#"<text x="{LEFT}" y="{}">no candles recorded</text></svg>"#, height / 2.0);
        return s;
    }
    // Deals of another instrument than the candles' (option contracts) go on the time axis.
    let on_axis = |d: &&super::Deal| d.symbol != report.underlying;
    let axis_only = report.deals.iter().any(|d| on_axis(&d));
    legend(&mut s, top - 12.0, &legend_marks(axis_only));
    let mut lo = f64::MAX;
    let mut hi = f64::MIN;
    for c in &candles {
        lo = lo.min(f(c.low));
        hi = hi.max(f(c.high));
        for v in c.lines.iter().flatten() {
            lo = lo.min(f(*v));
            hi = hi.max(f(*v));
        }
    }
    for d in report.deals.iter().filter(|d| !on_axis(d)) {
        for p in [d.entry_price, d.exit_price] {
            lo = lo.min(f(p));
            hi = hi.max(f(p));
        }
    }
    if hi - lo < hi.abs() * 1e-6 + 1e-9 {
        (lo, hi) = (lo - lo.abs() * 0.005 - 0.01, hi + hi.abs() * 0.005 + 0.01);
    }
    let step = nice_step(hi - lo, 6.0);
    let (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
    let y = |v: f64| top + (bottom - top) * (1.0 - (v - lo) / (hi - lo));
    let slot = pw / n as f64;
    let x = |i: usize| left + slot * (i as f64 + 0.5);
    let dp = decimals(step).max(2);
    let _ = writeln!(s, r#"<g class="price-panel" data-lo="{lo}" data-hi="{hi}">"#);
    dollar_grid(&mut s, (lo, hi, step), dp, &y, (left, right));
    let times: Vec<Timestamp> = candles.iter().map(|c| c.start).collect();
    for (xx, text) in date_labels(&times, &x, left, right) {
        let _ = writeln!(
            s,
            r#"<line class="grid" x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{bottom}"/><text class="xlabel" x="{xx:.1}" y="{:.1}">{}</text>"#,
            bottom + 18.0,
            esc(&text)
        );
    }
    // Candles: a wick, and a body when there is room for one.
    let body = (slot * 0.7).min(14.0);
    for (i, c) in candles.iter().enumerate() {
        let dir = if c.close >= c.open { "up" } else { "down" };
        let xx = x(i);
        let _ =
            write!(s, r#"<path class="candle {dir}" d="M{xx:.1} {:.1}V{:.1}"/>"#, y(f(c.high)), y(f(c.low)));
        if body >= 1.5 {
            let (yo, yc) = (y(f(c.open)), y(f(c.close)));
            let _ = write!(
                s,
                r#"<rect class="body {dir}" x="{:.1}" y="{:.1}" width="{body:.1}" height="{:.1}"/>"#,
                xx - body / 2.0,
                yo.min(yc),
                (yo - yc).abs().max(0.8)
            );
        }
        s.push('\n');
    }
    // The strategy's indicator lines: one polyline per stretch with values.
    for (k, name) in chart.names.iter().enumerate() {
        let colour = LINE_COLOURS[k.min(LINE_COLOURS.len() - 1)];
        let dash = if k == 0 { "" } else { r#" stroke-dasharray="5 3""# };
        let mut run: Vec<(f64, f64)> = Vec::new();
        let flush = |s: &mut String, run: &mut Vec<(f64, f64)>| {
            if run.len() >= 2 {
                let _ = write!(
                    s,
                    r#"<polyline class="indicator" data-name="{}" fill="none" stroke="{colour}" stroke-width="1.4"{dash} points=""#,
                    esc(name)
                );
                for (xx, v) in run.iter() {
                    let _ = write!(s, "{xx:.1},{:.1} ", y(*v));
                }
                s.push_str("\"/>\n");
            }
            run.clear();
        };
        for (i, c) in candles.iter().enumerate() {
            match c.lines.get(k).copied().flatten() {
                Some(v) => run.push((x(i), f(v))),
                None => flush(&mut s, &mut run),
            }
        }
        flush(&mut s, &mut run);
    }
    // Halts and deals.
    let at = |t: Timestamp| candles.partition_point(|c| c.end <= t).min(n - 1);
    let halts: Vec<(f64, &str)> = report.halts.iter().map(|h| (x(at(h.ts)), h.reason.as_str())).collect();
    halt_marks(&mut s, &halts, top, bottom);
    for d in &report.deals {
        let (xe, xx) = (x(at(d.entry_time)), x(at(d.exit_time)));
        let (ye, yx) = if on_axis(&d) {
            (bottom - 9.0, bottom - 9.0)
        } else {
            (y(f(d.entry_price)), y(f(d.exit_price)))
        };
        trade_marks(&mut s, view(d), (xe, ye), (xx, yx), &deal_title(d));
    }
    s.push_str("</g>\n");
    let _ = writeln!(
        s,
        r#"<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/><line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>"#
    );
    // Legend of the indicator lines, under the chart.
    let mut lx = left;
    let ly = bottom + 44.0;
    for (k, name) in chart.names.iter().enumerate() {
        let colour = LINE_COLOURS[k.min(LINE_COLOURS.len() - 1)];
        let dash = if k == 0 { "" } else { r#" stroke-dasharray="5 3""# };
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"{dash}/><text x="{:.1}" y="{ly:.1}">{}</text>"#,
            ly - 4.0,
            lx + 22.0,
            ly - 4.0,
            lx + 27.0,
            esc(name)
        );
        lx += 40.0 + 7.0 * name.chars().count() as f64;
    }
    if axis_only {
        let _ = writeln!(
            s,
            r##"<text x="{lx:.1}" y="{ly:.1}" fill="#495057">option deals are marked on the time axis (their prices are premiums, not {})</text>"##,
            esc(&underlying)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Horizontal grid lines at every `step` from `lo` to `hi`, labelled in dollars on the left.
fn dollar_grid(
    s: &mut String,
    (lo, hi, step): (f64, f64, f64),
    dp: usize,
    y: &impl Fn(f64) -> f64,
    (left, right): (f64, f64),
) {
    for v in ticks(lo, hi, step) {
        let yy = y(v);
        let _ = writeln!(
            s,
            r#"<line class="grid" x1="{left}" y1="{yy:.1}" x2="{right}" y2="{yy:.1}"/><text class="ylabel" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 6.0,
            yy + 4.0,
            dollars(v, dp)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::Recorder;
    use super::*;
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    const MIN: i64 = 60_000_000_000;

    fn report(points: &[(i64, rust_decimal::Decimal)], note: Option<&str>) -> Report {
        let mut r = Recorder::new("ma-cross-breakout", "SPY", Decimal::ONE);
        if let Some(n) = note {
            r.set_note(n.to_owned());
        }
        for (t, v) in points {
            r.sample(Timestamp(*t), *v);
        }
        let end = points.last().map_or(dec!(50000), |p| p.1);
        r.finish(dec!(50000), end, dec!(0))
    }

    fn attr(svg: &str, name: &str) -> f64 {
        let at = svg.find(&format!(r#"{name}=""#)).expect(name) + name.len() + 2;
        svg[at..].split('"').next().and_then(|v| v.parse().ok()).expect("number")
    }

    #[test]
    fn the_caption_is_under_the_title_escaped() {
        let pts = [(0, dec!(100)), (MIN, dec!(101))];
        let svg = equity_svg(&report(&pts, Some("option prices are synthetic: <model>")), "a & b");
        assert!(svg.contains(">a &amp; b</text>"), "{svg}");
        assert!(svg.contains(
            r##"font-style="italic" fill="#9a3412">option prices are synthetic: &lt;model&gt;</text>"##
        ));
        assert!(!equity_svg(&report(&pts, None), "t").contains("italic"));
        // Too few samples to draw: the caption is still there.
        assert!(equity_svg(&report(&pts[..1], Some("synthetic")), "t").contains(">synthetic</text>"));
    }

    #[test]
    fn money_and_percent_labels_read_like_a_trader_writes_them() {
        assert_eq!(dollars(50_000.0, 0), "$50,000");
        assert_eq!(dollars(1_234_567.5, 2), "$1,234,567.50");
        assert_eq!(dollars(999.0, 0), "$999");
        assert_eq!(dollars(-12.0, 0), "-$12");
        assert_eq!(
            (percent(0.5, 1), percent(-1.25, 2), percent(-0.0, 1)),
            ("+0.5%".into(), "-1.25%".into(), "0.0%".into())
        );
    }

    #[test]
    fn a_quiet_week_is_not_zoomed_into_a_crash() {
        // -0.3 % over a week of 5-minute samples.
        let day = 24 * 60 * MIN;
        let pts: Vec<(i64, Decimal)> = (0..5 * 78)
            .map(|i| {
                (
                    (i / 78) * day + (i % 78) * 5 * MIN + 1_381_152_600 * 1_000_000_000,
                    dec!(50000) - Decimal::from(i * 150 / 390),
                )
            })
            .collect();
        let svg = equity_svg(&report(&pts, None), "t");
        assert!(attr(&svg, "data-lo-pct") <= -1.0 && attr(&svg, "data-hi-pct") >= 1.0, "{svg}");
        assert!(svg.contains(">$50,000</text>") && svg.contains(">+1.0%</text>"), "{svg}");
        // A 20 % fall shows all of it.
        let crash = [(0, dec!(50000)), (MIN, dec!(40000))];
        let svg = equity_svg(&report(&crash, None), "t");
        assert!(attr(&svg, "data-lo-pct") <= -20.0, "{svg}");
        assert!(attr(&svg, "data-lo-pct") > -25.0, "{svg}");
    }

    #[test]
    fn date_labels_are_apart_and_name_the_year_when_it_changes() {
        let day = 24 * 60 * MIN;
        let jan_2017 = 1_483_300_000 * 1_000_000_000;
        let times: Vec<Timestamp> = (0..800).map(|d| Timestamp(jan_2017 + d * day)).collect();
        let x = |i: usize| 90.0 + 838.0 * i as f64 / 799.0;
        let labels = date_labels(&times, &x, 90.0, 928.0);
        assert!(labels.windows(2).all(|w| w[1].0 - w[0].0 >= MIN_LABEL_GAP), "{labels:?}");
        assert!(labels.iter().all(|(_, t)| t.contains("201")), "{labels:?}");
        // Five days in one year: day labels, the year on the first only.
        let week: Vec<Timestamp> =
            (0..5).map(|d| Timestamp(1_381_152_600 * 1_000_000_000 + d * day)).collect();
        let x = |i: usize| 90.0 + 838.0 * i as f64 / 4.0;
        let labels = date_labels(&week, &x, 90.0, 928.0);
        let texts: Vec<&str> = labels.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, ["Oct 7, 2013", "Oct 8", "Oct 9", "Oct 10", "Oct 11"]);
    }
}
