//! The page's pictures, inline SVG: percentile plots and utilization strips.
use std::fmt::Write as _;

use uprof_analysis::findings::Finding;
use uprof_analysis::intervals::{Distribution, Metric};
use uprof_analysis::{DurationSummary, human_duration};

use super::Cell;
use super::page::esc;

/// Colours of a plot's lines, in order.
pub(super) const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

/// One line of a percentile plot: a thread's distribution of the metric.
pub(super) struct Line<'a> {
    pub label: String,
    pub color: &'static str,
    pub pid: u32,
    pub tid: u32,
    /// The recording's name, on a comparison's page.
    pub recording: Option<&'a str>,
    pub samples: &'a Distribution,
}

const WIDTH: f64 = 400.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 26.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 42.0;
/// Points per decade of the percentile axis.
const STEPS: u32 = 24;
/// The percentile axis ends at 99.999% (the maximum of more samples is drawn there).
const MAX_NINES: f64 = 5.0;

/// The percentiles marked on each line, with their names in the summary.
const MARKS: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)];

/// Where percentile `q` of `count` samples sits on the axis: `log10(1 / (1 - q))`, the maximum
/// (the last sample) at `log10(count)`.
fn nines(q: f64) -> f64 {
    -(1.0 - q).log10()
}

/// A percentile plot of `metric`: latency on a log axis against the percentile on a
/// log(1 / (1 - q)) axis, one line per thread, marks at p50, p90, p99, p99.9 and the maximum.
/// `None` when no line has samples.
pub(super) fn percentile_plot(metric: Metric, lines: &[Line]) -> Option<String> {
    let lines: Vec<(&Line, DurationSummary)> = lines
        .iter()
        .map(|l| (l, l.samples.summary()))
        .filter(|(_, s)| s.count > 0)
        .collect();
    if lines.is_empty() {
        return None;
    }
    let curves: Vec<Vec<(f64, u64)>> = lines.iter().map(|(l, s)| curve(l.samples, s)).collect();
    let x_max = curves
        .iter()
        .flatten()
        .map(|&(x, _)| x)
        .fold(1.0f64, f64::max)
        .ceil();
    let smallest = curves.iter().flatten().map(|&(_, v)| v.max(1)).min();
    let largest = curves.iter().flatten().map(|&(_, v)| v.max(1)).max();
    let low = (smallest.unwrap_or(1) as f64).log10().floor();
    let high = (largest.unwrap_or(1) as f64).log10().ceil().max(low + 1.0);
    let x = |n: f64| LEFT + n / x_max * (WIDTH - LEFT - RIGHT);
    let y = |v: u64| {
        let v = (v.max(1) as f64).log10();
        TOP + (high - v) / (high - low) * (HEIGHT - TOP - BOTTOM)
    };

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="plot" data-plot="{name}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{name} time percentiles">"#,
        name = metric.name()
    );
    // Axes, grid and their labels.
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{w}" height="{h}" fill="#fff" stroke="#bbb"/>"##,
        w = WIDTH - LEFT - RIGHT,
        h = HEIGHT - TOP - BOTTOM
    );
    for decade in (low as i32)..=(high as i32) {
        let v = 10u64.saturating_pow(decade as u32);
        let py = y(v);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{py:.1}" y2="{py:.1}" stroke="#eee"/><text x="{tx}" y="{ty:.1}" class="tick" text-anchor="end">{label}</text>"##,
            x2 = WIDTH - RIGHT,
            tx = LEFT - 6.0,
            ty = py + 4.0,
            label = decade_label(decade as u32)
        );
    }
    for n in 0..=(x_max as u32) {
        let px = x(f64::from(n));
        let _ = write!(
            s,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{TOP}" y2="{y2}" stroke="#eee"/><text x="{px:.1}" y="{ty}" class="tick" text-anchor="middle">{label}</text>"##,
            y2 = HEIGHT - BOTTOM,
            ty = HEIGHT - BOTTOM + 16.0,
            label = percentile_label(n)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{cx}" y="{by}" class="axis" text-anchor="middle">percentile</text>"#,
        cx = (LEFT + WIDTH - RIGHT) / 2.0,
        by = HEIGHT - 6.0
    );
    for ((line, summary), points) in lines.iter().zip(&curves) {
        let _ = write!(
            s,
            r#"<g class="line" data-pid="{}" data-tid="{}"{} data-count="{}" data-p50="{}" data-p90="{}" data-p99="{}" data-p999="{}" data-max="{}"><title>{}</title>"#,
            line.pid,
            line.tid,
            line.recording
                .map(|r| format!(r#" data-recording="{}""#, esc(r)))
                .unwrap_or_default(),
            summary.count,
            summary.p50,
            summary.p90,
            summary.p99,
            summary.p999,
            summary.max,
            esc(&line.label)
        );
        let mut d = String::new();
        for (i, &(n, v)) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1} {:.1}",
                if i == 0 { "M" } else { "L" },
                x(n),
                y(v)
            );
        }
        let _ = write!(
            s,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="2"/>"#,
            line.color
        );
        let marks = MARKS
            .iter()
            .filter(|(_, q)| nines(*q) <= (summary.count as f64).log10())
            .map(|&(name, q)| (name, nines(q), value_of(summary, name)))
            .chain([("max", max_x(summary.count), summary.max)]);
        for (name, n, v) in marks {
            if n > x_max {
                continue;
            }
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"><title>{}: {} {}</title></circle>"#,
                x(n),
                y(v),
                line.color,
                esc(&line.label),
                name,
                human_duration(v)
            );
        }
        s.push_str("</g>");
    }
    s.push_str("</svg>");
    Some(s)
}

/// Where the maximum of `count` samples sits on the percentile axis.
fn max_x(count: u64) -> f64 {
    (count.max(1) as f64).log10().min(MAX_NINES)
}

fn value_of(s: &DurationSummary, name: &str) -> u64 {
    match name {
        "p50" => s.p50,
        "p90" => s.p90,
        "p99" => s.p99,
        "p999" => s.p999,
        _ => s.max,
    }
}

/// The points of a line: the value at each step of the percentile axis, up to the maximum.
fn curve(samples: &Distribution, summary: &DurationSummary) -> Vec<(f64, u64)> {
    let end = max_x(summary.count);
    let steps: Vec<f64> = (0..)
        .map(|k| f64::from(k) / f64::from(STEPS))
        .take_while(|&n| n < end)
        .collect();
    let qs: Vec<f64> = steps.iter().map(|&n| 1.0 - 10f64.powf(-n)).collect();
    let mut points: Vec<(f64, u64)> = steps.into_iter().zip(samples.quantiles(&qs)).collect();
    points.push((end, summary.max));
    points
}

/// `10^decade` ns, short: `1ns`, `100µs`, `10s`.
fn decade_label(decade: u32) -> String {
    let units = [(9, "s"), (6, "ms"), (3, "µs"), (0, "ns")];
    let (power, unit) = units
        .iter()
        .find(|(power, _)| decade >= *power)
        .copied()
        .unwrap_or((0, "ns"));
    format!("{}{unit}", 10u64.pow(decade - power))
}

/// The percentile at `n` nines: `0%`, `90%`, `99%`, `99.9%`...
fn percentile_label(n: u32) -> String {
    match n {
        0 => "0%".into(),
        1 => "90%".into(),
        _ => format!("99.{}%", "9".repeat(n as usize - 2)).replace("99.%", "99%"),
    }
}

/// Strip width, px.
pub(super) const STRIP_WIDTH: f64 = 760.0;
const STRIP_HEIGHT: f64 = 18.0;

/// A utilization strip: one rectangle per cell in which the thread's waits returned,
/// coloured by its utilization; `span_ns` is the length of the time axis, which starts with
/// cell 0.
pub(super) fn strip(
    cells: &[Cell],
    cell_ns: u64,
    span_ns: u64,
    pid: u32,
    tid: u32,
    label: &str,
) -> String {
    let mut s = String::new();
    let scale = STRIP_WIDTH / span_ns.max(1) as f64;
    let _ = write!(
        s,
        r#"<svg class="strip" data-pid="{pid}" data-tid="{tid}" data-cell-ns="{cell_ns}" viewBox="0 0 {STRIP_WIDTH} {STRIP_HEIGHT}" width="{STRIP_WIDTH}" height="{STRIP_HEIGHT}" role="img" aria-label="utilization of {label} over time"><rect class="bg" width="{STRIP_WIDTH}" height="{STRIP_HEIGHT}"/>"#,
        label = esc(label)
    );
    for (i, cell) in cells.iter().enumerate() {
        if cell.calls == 0 && cell.busy_ns == 0 && cell.blocked_ns == 0 {
            continue;
        }
        // A wait cut short by the recording's end returns at its very end: its cell starts
        // there, and is drawn at the edge.
        let start = i as u64 * cell_ns;
        let all = cell.busy_ns.saturating_add(cell.blocked_ns);
        let utilization = if all == 0 {
            0.0
        } else {
            cell.busy_ns as f64 / all as f64
        };
        let width = (cell_ns.min(span_ns.saturating_sub(start)) as f64 * scale).max(1.0);
        let _ = write!(
            s,
            r#"<rect x="{:.2}" width="{width:.2}" height="{STRIP_HEIGHT}" fill="{}" data-start-ns="{start}" data-calls="{}" data-busy-ns="{}" data-blocked-ns="{}"><title>{} +{}: {:.1}% busy, {} waits</title></rect>"#,
            (start as f64 * scale).min(STRIP_WIDTH - width),
            heat(utilization),
            cell.calls,
            cell.busy_ns,
            cell.blocked_ns,
            esc(label),
            human_duration(start),
            utilization * 100.0,
            cell.calls,
        );
    }
    s.push_str("</svg>");
    s
}

/// The findings' row beside the strips: a mark at each of a finding's times (its evidence's,
/// see [`When::marks`](uprof_analysis::findings::When::marks)), `start_ts` at the left edge,
/// coloured by severity.
pub(super) fn finding_marks(findings: &[Finding], start_ts: u64, span_ns: u64) -> String {
    let mut s = String::new();
    let scale = STRIP_WIDTH / span_ns.max(1) as f64;
    let _ = write!(
        s,
        r#"<svg class="marks" viewBox="0 0 {STRIP_WIDTH} {STRIP_HEIGHT}" width="{STRIP_WIDTH}" height="{STRIP_HEIGHT}" role="img" aria-label="findings over time"><rect class="bg" width="{STRIP_WIDTH}" height="{STRIP_HEIGHT}"/>"#
    );
    for f in findings {
        // The evidence's time ranges, faint, under the marks.
        for r in &f.when.ranges {
            let x = r.start_ns.saturating_sub(start_ts) as f64 * scale;
            let width = (r.end_ns.saturating_sub(r.start_ns) as f64 * scale).max(1.0);
            let _ = write!(
                s,
                r#"<rect class="range {}" x="{:.2}" y="6" width="{width:.2}" height="6" opacity="0.35"/>"#,
                f.severity.name(),
                x.min(STRIP_WIDTH - width)
            );
        }
        for ts in f.when.marks() {
            let at = ts.saturating_sub(start_ts);
            let x = (at as f64 * scale).clamp(4.0, STRIP_WIDTH - 4.0);
            let _ = write!(
                s,
                r#"<path class="mark {sev}" d="M{x:.2} 2l4 14h-8z" data-kind="{kind}" data-severity="{sev}" data-ts-ns="{ts}"><title>{sev} {kind} at +{}</title></path>"#,
                human_duration(at),
                sev = f.severity.name(),
                kind = f.kind.name(),
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// The time axis under the strips: `span_ns` long.
pub(super) fn time_axis(span_ns: u64) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="axis" viewBox="-30 0 {w} 18" width="{w}" height="18">"#,
        w = STRIP_WIDTH + 60.0
    );
    let ticks = 8;
    for k in 0..=ticks {
        let ns = span_ns / ticks * k;
        let x = STRIP_WIDTH * k as f64 / ticks as f64;
        let label = if ns == 0 {
            "0".to_owned()
        } else {
            human_duration(ns)
        };
        let _ = write!(
            s,
            r#"<text x="{x:.1}" y="13" class="tick" text-anchor="middle">{label}</text>"#
        );
    }
    s.push_str("</svg>");
    s
}

/// The colour of a utilization (0 to 1): pale yellow when idle to dark red when saturated.
pub(super) fn heat(utilization: f64) -> String {
    let u = utilization.clamp(0.0, 1.0);
    format!("hsl({:.0},90%,{:.0}%)", 55.0 - 55.0 * u, 85.0 - 50.0 * u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_labels() {
        assert_eq!(decade_label(0), "1ns");
        assert_eq!(decade_label(5), "100µs");
        assert_eq!(decade_label(9), "1s");
        assert_eq!(decade_label(10), "10s");
        assert_eq!(percentile_label(0), "0%");
        assert_eq!(percentile_label(1), "90%");
        assert_eq!(percentile_label(2), "99%");
        assert_eq!(percentile_label(4), "99.99%");
    }
}
