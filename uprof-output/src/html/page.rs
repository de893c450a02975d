//! The page around the pictures: facts, banners, tables. Everything from a traced program
//! (thread names, the command) goes through [`esc`].
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use uprof_analysis::findings::{Figure, Finding, Severity};
use uprof_analysis::intervals::Metric;
use uprof_analysis::{
    Comparison, DurationSummary, EpollReport, FdGroupReport, FdReadiness, FdReport, LoopFigures,
    MaskCounts, Report, SOCKET_TIER, ThreadReport, human_duration, terminal_safe,
};

use super::svg::{self, Line, PALETTE};
use super::{Collected, distribution};

/// Threads drawn in the plots and strips, at most: the busiest of those the table lists.
const PLOTTED: usize = 8;

/// `s` made safe inside HTML text and attribute values; control characters are shown as
/// escapes, as on a terminal.
pub(super) fn esc(s: &str) -> String {
    let s = terminal_safe(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;padding:16px 24px;max-width:1400px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:3px}
h3{font-size:14px;margin:18px 0 4px}
.target{font-family:ui-monospace,monospace;color:#444;margin:0 0 10px;word-break:break-all}
dl.facts{display:grid;grid-template-columns:max-content 1fr max-content 1fr max-content 1fr;gap:2px 14px;margin:0}
dl.facts dt{color:#666}dl.facts dd{margin:0;font-weight:600}
.banner{padding:10px 14px;margin:12px 0;border-radius:4px;font-weight:600}
.banner.incomplete{background:#fdecea;border:2px solid #d93025;color:#a50e0e}
.banner.lost{background:#fef7e0;border:2px solid #f9ab00;color:#7a4a00}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;flex:1 1 200px;max-width:340px}
.card .big{font-size:22px;font-weight:700}.card .sub{color:#666;font-size:12px}
.note{color:#555;font-size:13px;margin:4px 0 8px}
.plots{display:flex;flex-wrap:wrap;gap:18px}.plots figure{margin:0}
figcaption{font-weight:600;margin-bottom:2px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:8px 0;font-size:13px}
.legend span::before{content:"";display:inline-block;width:14px;height:4px;margin:0 5px 3px 0;background:var(--c)}
svg .tick{font-size:11px;fill:#555}svg .axis{font-size:12px;fill:#333}
svg.strip .bg{fill:#f0f0f0}
.strips{display:grid;grid-template-columns:max-content max-content;gap:3px 10px;align-items:center}
.strips .label{font-family:ui-monospace,monospace;font-size:12px;text-align:right}
.scale{display:inline-block;width:160px;height:10px;vertical-align:middle;background:linear-gradient(90deg,hsl(55,90%,85%),hsl(27,90%,60%),hsl(0,90%,35%))}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:4px 0}
th,td{padding:3px 6px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{background:#f1f3f4;font-weight:600}td.l,th.l{text-align:left}
tr.more td{color:#666;font-style:italic;text-align:left}
ol.findings{list-style:none;padding:0;margin:6px 0}
li.finding{background:#fff;border:1px solid #ddd;border-left:6px solid var(--sev);border-radius:4px;padding:6px 12px;margin:6px 0}
li.finding.error,.marks .error{--sev:#d93025;fill:#d93025}li.finding.warn,.marks .warn{--sev:#f9ab00;fill:#f9ab00}li.finding.info,.marks .info{--sev:#1a73e8;fill:#1a73e8}
li.finding .sev{font-weight:700;text-transform:uppercase;color:var(--sev)}li.finding .kind{font-weight:700;font-family:ui-monospace,monospace}
li.finding .when,li.finding .tier{color:#666;font-size:12px}li.finding .fix{color:#1e5128}
ul.evidence{margin:2px 0;padding-left:18px;font-size:13px}
svg.marks .bg{fill:#f7f7f7}
footer{margin-top:30px;color:#666;font-size:12px}
"#;

/// The page's head and the start of its body.
fn open(s: &mut String, title: &str) {
    let _ = write!(
        s,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{}</title><style>{STYLE}</style></head><body>"#,
        esc(title)
    );
}

fn close(s: &mut String) {
    let _ = writeln!(
        s,
        "<footer><b>blocked</b>: time inside one wait call; <b>busy</b>: one tick, from a wait's \
         return to the thread's next wait (the loop's work); <b>ready→delivered</b>: from an \
         fd's readiness to the return of the wait that delivered it (how long a ready fd \
         waited for the loop); <b>utilization</b>: busy / (busy + blocked). Percentile plots: \
         the value below which that share of the samples lie, the maximum last. Written by \
         uprof {}.</footer></body></html>",
        env!("CARGO_PKG_VERSION")
    );
}

/// A figure: its text, with its raw value and its JSON path for readers that check it.
fn td(key: &str, raw: impl std::fmt::Display, text: &str) -> String {
    format!(r#"<td data-k="{key}" data-v="{raw}">{}</td>"#, esc(text))
}

fn td_count(key: &str, n: u64) -> String {
    td(key, n, &n.to_string())
}

/// A duration in ns, or a dash without samples (`count`).
fn td_ns(key: &str, ns: u64, count: u64) -> String {
    if count == 0 {
        return format!(r#"<td data-k="{key}" data-v="{ns}">-</td>"#);
    }
    td(key, ns, &human_duration(ns))
}

fn percentiles(s: &mut String, prefix: &str, d: &DurationSummary) {
    for (name, v) in [("p50", d.p50), ("p99", d.p99), ("max", d.max)] {
        s.push_str(&td_ns(&format!("{prefix}.{name}"), v, d.count));
    }
}

fn thread_label(t: &ThreadReport) -> String {
    format!("{} {}", t.comm.as_deref().unwrap_or("?"), t.tid)
}

/// A command as a shell would take it: an empty word or one with blanks or quotes quoted.
fn shell_words(command: &[String]) -> String {
    let word = |w: &String| {
        if !w.is_empty() && !w.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
            return w.clone();
        }
        format!("'{}'", w.replace('\'', "'\\''"))
    };
    command.iter().map(word).collect::<Vec<_>>().join(" ")
}

/// What the recording says of itself: the header's facts.
fn facts(s: &mut String, c: &Collected) {
    let r = &c.report;
    let target = match &r.command {
        Some(command) => shell_words(command),
        None => format!(
            "pid {}",
            r.pids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let _ = write!(
        s,
        r#"<p class="target">{}</p><dl class="facts">"#,
        esc(&target)
    );
    let start = c.source.start_ts as i128 + i128::from(c.source.boot_offset_ns);
    let started = u64::try_from(start)
        .map(|ns| {
            humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns))
                .to_string()
        })
        .unwrap_or_else(|_| "-".into());
    let fact = |s: &mut String, name: &str, key: Option<(&str, String)>, text: &str| {
        let _ = write!(s, "<dt>{name}</dt>");
        match key {
            Some((key, raw)) => {
                let _ = write!(
                    s,
                    r#"<dd data-k="{key}" data-v="{}">{}</dd>"#,
                    esc(&raw),
                    esc(text)
                );
            }
            None => {
                let _ = write!(s, "<dd>{}</dd>", esc(text));
            }
        }
    };
    fact(
        s,
        "duration",
        Some(("duration_ns", r.duration_ns.to_string())),
        &human_duration(r.duration_ns),
    );
    fact(s, "tier", Some(("tier", r.tier.clone())), &r.tier);
    fact(s, "kernel", None, &c.source.kernel_release);
    fact(s, "started", None, &started);
    fact(s, "processes", None, &r.pids.len().to_string());
    fact(
        s,
        "lost records",
        Some(("lost_events", r.lost_events.to_string())),
        &r.lost_events.to_string(),
    );
    fact(
        s,
        "recording",
        Some(("complete", r.complete.to_string())),
        if r.complete { "complete" } else { "INCOMPLETE" },
    );
    if let Some(h) = r.herds {
        fact(
            s,
            "thundering herds",
            None,
            &format!("{} (woke {} waiters)", h.events, h.waiters_woken),
        );
    }
    s.push_str("</dl>");
}

/// Banners: an incomplete recording, lost records.
fn banners(s: &mut String, r: &Report, name: Option<&str>) {
    let of = name.map(|n| format!("{}: ", esc(n))).unwrap_or_default();
    if let Some(incomplete) = &r.incomplete {
        let _ = write!(
            s,
            r#"<div class="banner incomplete" role="alert" data-k="incomplete.why">{of}This recording is incomplete: {}. Every figure below covers only the {} records read before that point.</div>"#,
            esc(&incomplete.why),
            incomplete.records_read
        );
    }
    if r.lost_events > 0 {
        let _ = write!(
            s,
            r#"<div class="banner lost" role="alert">{of}{} records were lost (the ring buffer overflowed): counts are short and busy times may include missed waits. Record again with a larger --buffer-mib.</div>"#,
            r.lost_events
        );
    }
}

/// The threads plotted: those the table lists that waited, most wait calls first.
fn plotted(r: &Report) -> Vec<&ThreadReport> {
    let mut threads: Vec<&ThreadReport> = r
        .busiest_threads()
        .into_iter()
        .map(|i| &r.threads[i])
        .filter(|t| t.waits.calls > 0)
        .collect();
    threads.sort_by_key(|t| (std::cmp::Reverse(t.waits.calls), t.pid, t.tid));
    threads.truncate(PLOTTED);
    threads
}

/// What a newcomer should look at first: the busiest loop thread's figures and the busiest fds.
fn cards(s: &mut String, c: &Collected, threads: &[&ThreadReport]) {
    let Some(t) = threads.first() else {
        return;
    };
    let w = &t.waits;
    s.push_str(r#"<div class="cards">"#);
    // `of`: the attributes saying whose figure it is (a thread's, a group of fds').
    // `big`: the figure and the words after it.
    let card = |s: &mut String,
                of: &str,
                key: &str,
                raw: String,
                big: (String, &str),
                sub: String| {
        let _ = write!(
            s,
            r#"<div class="card" {of}><div class="big"><span data-k="{key}" data-v="{raw}">{}</span> {}</div><div class="sub">{}</div></div>"#,
            esc(&big.0),
            big.1,
            esc(&sub)
        );
    };
    let thread = format!(r#"data-pid="{}" data-tid="{}""#, t.pid, t.tid);
    card(
        s,
        &thread,
        "waits.utilization",
        w.utilization.to_string(),
        (format!("{:.1}%", w.utilization * 100.0), "busy"),
        format!(
            "busiest loop thread {} ({} waits)",
            thread_label(t),
            w.calls
        ),
    );
    card(
        s,
        &thread,
        "waits.busy_ns.p99",
        w.busy_ns.p99.to_string(),
        (human_duration(w.busy_ns.p99), "p99 tick"),
        format!(
            "one iteration's work on {}; max {}",
            thread_label(t),
            human_duration(w.busy_ns.max)
        ),
    );
    if c.coverage.readiness
        && let Some(series) = c.thread(t.pid, t.tid)
    {
        let d = distribution(series, Metric::ReadyToDelivered).summary();
        if d.count > 0 {
            card(
                s,
                &thread,
                "ready_to_delivered_ns.p99",
                d.p99.to_string(),
                (human_duration(d.p99), "p99 ready→delivered"),
                format!(
                    "how long a ready fd waited for {}; max {}",
                    thread_label(t),
                    human_duration(d.max)
                ),
            );
        }
    }
    let top = c
        .report
        .epolls
        .iter()
        .flat_map(|e| e.by_kind.first().map(|g| (e, g)))
        .max_by_key(|(_, g)| g.delivered);
    if let Some((e, g)) = top {
        let state = if g.closed { "closed" } else { "open" };
        card(
            s,
            &format!(
                r#"data-epoll="{}:{}:{}" data-group="{}:{state}""#,
                e.pid, e.epfd, e.generation, g.kind
            ),
            "delivered",
            g.delivered.to_string(),
            (g.delivered.to_string(), "events"),
            format!(
                "most delivered: {} {} {} of epoll fd {} (pid {})",
                g.fds,
                state,
                kind_name(g.kind, g.fds),
                e.epfd,
                e.pid
            ),
        );
    }
    s.push_str("</div>");
}

fn kind_name(kind: &str, n: u64) -> String {
    if n == 1 {
        format!("{kind} fd")
    } else {
        format!("{kind} fds")
    }
}

/// The three percentile plots of `lines` (one `Vec` of lines per metric).
fn plots(s: &mut String, metrics: [(Metric, Vec<Line>); 3], readiness: bool) {
    s.push_str(r#"<div class="plots">"#);
    for (metric, lines) in metrics {
        let caption = match metric {
            Metric::Blocked => "blocked: time inside a wait",
            Metric::Busy => "busy: one tick's work",
            Metric::ReadyToDelivered => "ready→delivered: a ready fd's wait for the loop",
        };
        let _ = write!(s, "<figure><figcaption>{caption}</figcaption>");
        match svg::percentile_plot(metric, &lines) {
            Some(plot) => s.push_str(&plot),
            None => {
                let why = if metric == Metric::ReadyToDelivered && !readiness {
                    "not observed: this tier does not see readiness (see uprof doctor)"
                } else {
                    "no samples"
                };
                let _ = write!(
                    s,
                    r#"<p class="note" data-plot-missing="{}">{why}</p>"#,
                    metric.name()
                );
            }
        }
        s.push_str("</figure>");
    }
    s.push_str("</div>");
}

fn legend(s: &mut String, entries: &[(String, &str)]) {
    s.push_str(r#"<div class="legend">"#);
    for (label, color) in entries {
        let _ = write!(s, r#"<span style="--c:{color}">{}</span>"#, esc(label));
    }
    s.push_str("</div>");
}

/// The thread table, as the table report bounds it.
fn thread_table(s: &mut String, c: &Collected) {
    let r = &c.report;
    let shown = r.busiest_threads();
    let readiness = c.coverage.readiness;
    let _ = write!(
        s,
        r#"<h2 id="threads">Threads ({})</h2><table class="threads"><tr><th>pid</th><th>tid</th><th class="l">name</th><th>waits</th><th>with events</th><th>timeouts</th><th>polls</th><th>events</th><th>utilization</th><th>blocked p50</th><th>p99</th><th>max</th><th>busy p50</th><th>p99</th><th>max</th>"#,
        r.threads.len()
    );
    if readiness {
        s.push_str("<th>ready→deliv. p50</th><th>p99</th><th>max</th>");
    }
    s.push_str("</tr>");
    for &i in &shown {
        let t = &r.threads[i];
        let w = &t.waits;
        let _ = write!(
            s,
            r#"<tr data-pid="{}" data-tid="{}"><td>{}</td><td>{}</td><td class="l">{}</td>"#,
            t.pid,
            t.tid,
            t.pid,
            t.tid,
            esc(t.comm.as_deref().unwrap_or("?"))
        );
        for (key, n) in [
            ("waits.calls", w.calls),
            ("waits.ready", w.ready),
            ("waits.timeouts", w.timeouts),
            ("waits.polls", w.polls),
            ("waits.events", w.events),
        ] {
            s.push_str(&td_count(key, n));
        }
        s.push_str(&td(
            "waits.utilization",
            w.utilization,
            &format!("{:.1}%", w.utilization * 100.0),
        ));
        percentiles(s, "waits.blocked_ns", &w.blocked_ns);
        percentiles(s, "waits.busy_ns", &w.busy_ns);
        if readiness {
            match c.thread(t.pid, t.tid) {
                Some(series) => percentiles(
                    s,
                    "ready_to_delivered_ns",
                    &distribution(series, Metric::ReadyToDelivered).summary(),
                ),
                // No wait returned: no interval has the thread.
                None => s.push_str("<td>-</td><td>-</td><td>-</td>"),
            }
        }
        s.push_str("</tr>");
    }
    let hidden = r.threads.len() - shown.len();
    if hidden > 0 {
        let _ = write!(
            s,
            r#"<tr class="more"><td colspan="18">… {hidden} more threads (uprof report --all lists every thread)</td></tr>"#
        );
    }
    s.push_str("</table>");
}

fn mask_cells(s: &mut String, prefix: &str, m: &MaskCounts) {
    for (key, n) in [
        ("in", m.input),
        ("out", m.out),
        ("hup", m.hup),
        ("err", m.err),
    ] {
        s.push_str(&td_count(&format!("{prefix}masks.{key}"), n));
    }
}

fn readiness_cells(s: &mut String, prefix: &str, r: Option<&FdReadiness>, shown: bool) {
    if !shown {
        return;
    }
    match r {
        Some(r) => {
            s.push_str(&td(
                &format!("{prefix}readiness.ready"),
                r.ready,
                &format!("{}{}", r.ready, if r.approximate { "~" } else { "" }),
            ));
            percentiles(
                s,
                &format!("{prefix}readiness.ready_to_delivered_ns"),
                &r.ready_to_delivered_ns,
            );
        }
        None => s.push_str("<td>-</td><td>-</td><td>-</td><td>-</td>"),
    }
}

/// The busiest epoll instances: each with its fds added up by kind and its notable fds, under
/// `heading` (the page's section, or a recording's on a comparison's page).
fn fds(s: &mut String, r: &Report, readiness: bool, heading: &str) {
    let shown = r.busiest_epolls();
    s.push_str(heading);
    if r.epolls.is_empty() {
        s.push_str(r#"<p class="note">No epoll instance was used while recording.</p>"#);
        return;
    }
    let _ = write!(
        s,
        r#"<p class="note">Per epoll instance: every fd added up by kind (a server's thousands of short connections in one row), then the fds worth a row of their own (most delivered, slowest from ready to delivered, epoll_ctl errors). IN/OUT/HUP/ERR: events delivered with that flag.{}</p>"#,
        if r.tier == SOCKET_TIER {
            " ~: socket tier, readiness is a socket receiving data (approximate)."
        } else {
            ""
        }
    );
    let readiness_header = if readiness {
        "<th>ready</th><th>ready→deliv. p50</th><th>p99</th><th>max</th>"
    } else {
        ""
    };
    for &i in &shown {
        let e = &r.epolls[i];
        let owner = r
            .threads
            .iter()
            .filter(|t| t.pid == e.pid)
            .min_by_key(|t| (t.tid != t.pid, t.tid))
            .and_then(|t| t.comm.as_deref())
            .map(|c| format!(" ({})", esc(c)))
            .unwrap_or_default();
        let id = format!("{}:{}:{}", e.pid, e.epfd, e.generation);
        let _ = write!(
            s,
            r#"<h3>epoll fd {} of pid {}{owner}: {} waits, {} events delivered, {} fds</h3>"#,
            e.epfd,
            e.pid,
            e.waits,
            e.delivered,
            e.fds.len()
        );
        group_table(s, e, &id, readiness_header, readiness);
        fd_table(s, e, &id, readiness_header, readiness);
    }
    let hidden = r.epolls.len() - shown.len();
    if hidden > 0 {
        let _ = write!(
            s,
            r#"<p class="note">… {hidden} more epoll instances (uprof report --all lists every instance)</p>"#
        );
    }
}

fn group_table(s: &mut String, e: &EpollReport, id: &str, header: &str, readiness: bool) {
    if e.by_kind.is_empty() {
        return;
    }
    let _ = write!(
        s,
        r#"<table class="groups"><tr><th class="l">kind</th><th class="l">state</th><th>fds</th><th>delivered</th><th>IN</th><th>OUT</th><th>HUP</th><th>ERR</th>{header}<th>ctl add</th><th>del</th><th>errors</th></tr>"#
    );
    for g in &e.by_kind {
        group_row(s, g, id, readiness);
    }
    s.push_str("</table>");
}

fn group_row(s: &mut String, g: &FdGroupReport, id: &str, readiness: bool) {
    let state = if g.closed { "closed" } else { "open" };
    let _ = write!(
        s,
        r#"<tr data-epoll="{id}" data-group="{}:{state}"><td class="l">{}</td><td class="l">{state}</td>"#,
        g.kind, g.kind
    );
    s.push_str(&td_count("fds", g.fds));
    s.push_str(&td_count("delivered", g.delivered));
    mask_cells(s, "", &g.masks);
    readiness_cells(s, "", g.readiness.as_ref(), readiness);
    for (key, n) in [
        ("ctl.add", g.ctl.add),
        ("ctl.del", g.ctl.del),
        ("ctl.errors", g.ctl.errors),
    ] {
        s.push_str(&td_count(key, n));
    }
    s.push_str("</tr>");
}

fn fd_table(s: &mut String, e: &EpollReport, id: &str, header: &str, readiness: bool) {
    let shown = e.notable_fds();
    if shown.is_empty() {
        return;
    }
    let _ = write!(
        s,
        r#"<table class="fds"><tr><th>fd</th><th>gen</th><th class="l">kind</th><th class="l">state</th><th>delivered</th><th>IN</th><th>OUT</th><th>HUP</th><th>ERR</th>{header}<th>ctl add</th><th>del</th><th>errors</th></tr>"#
    );
    for &i in &shown {
        fd_row(s, &e.fds[i], id, readiness);
    }
    let hidden = e.fds.len() - shown.len();
    if hidden > 0 {
        let _ = write!(
            s,
            r#"<tr class="more"><td colspan="16">… {hidden} more fds, added up by kind above (uprof report --all lists each)</td></tr>"#
        );
    }
    s.push_str("</table>");
}

fn fd_row(s: &mut String, f: &FdReport, id: &str, readiness: bool) {
    let (fd, kind) = match f.data {
        Some(data) => ("?".to_owned(), format!("data={data:#x}")),
        None => (f.fd.to_string(), f.kind.to_owned()),
    };
    let _ = write!(
        s,
        r#"<tr data-epoll="{id}" data-fd="{}:{}:{}"><td>{fd}</td><td>{}</td><td class="l">{}</td><td class="l">{}</td>"#,
        f.fd,
        f.generation,
        f.data.map_or_else(|| "-".to_owned(), |d| d.to_string()),
        f.generation,
        esc(&kind),
        if f.closed { "closed" } else { "open" }
    );
    s.push_str(&td_count("delivered", f.delivered));
    mask_cells(s, "", &f.masks);
    readiness_cells(s, "", f.readiness.as_ref(), readiness);
    for (key, n) in [
        ("ctl.add", f.ctl.counts.add),
        ("ctl.del", f.ctl.counts.del),
        ("ctl.errors", f.ctl.counts.errors),
    ] {
        s.push_str(&td_count(key, n));
    }
    s.push_str("</tr>");
}

/// The lines of `threads` of one recording, for each metric.
fn lines<'a>(
    c: &'a Collected,
    threads: &[&ThreadReport],
    recording: Option<&'a str>,
    first_color: usize,
) -> Vec<(Metric, Line<'a>)> {
    let mut lines = Vec::new();
    for (k, t) in threads.iter().enumerate() {
        let Some(series) = c.thread(t.pid, t.tid) else {
            continue;
        };
        let label = match recording {
            Some(name) => format!("{name}: {}", thread_label(t)),
            None => thread_label(t),
        };
        for metric in Metric::ALL {
            lines.push((
                metric,
                Line {
                    label: label.clone(),
                    color: PALETTE[(first_color + k) % PALETTE.len()],
                    pid: t.pid,
                    tid: t.tid,
                    recording,
                    samples: distribution(series, metric),
                },
            ));
        }
    }
    lines
}

/// Sorts lines into the three plots.
fn by_metric(lines: Vec<(Metric, Line)>) -> [(Metric, Vec<Line>); 3] {
    let mut plots = Metric::ALL.map(|m| (m, Vec::new()));
    for (metric, line) in lines {
        if let Some((_, v)) = plots.iter_mut().find(|(m, _)| *m == metric) {
            v.push(line);
        }
    }
    plots
}

/// Strips of `threads` of one recording on a time axis `span_ns` long.
fn strips(
    s: &mut String,
    c: &Collected,
    threads: &[&ThreadReport],
    recording: Option<&str>,
    span_ns: u64,
) {
    for t in threads {
        let Some(series) = c.thread(t.pid, t.tid) else {
            continue;
        };
        let label = match recording {
            Some(name) => format!("{name}: {}", thread_label(t)),
            None => thread_label(t),
        };
        let _ = write!(s, r#"<span class="label">{}</span>"#, esc(&label));
        s.push_str(&svg::strip(
            &series.cells,
            c.series.cell_ns(),
            span_ns,
            t.pid,
            t.tid,
            &label,
        ));
    }
}

/// The findings of a recording, most severe first, as the table's FINDINGS section has them;
/// their figures carry their paths in the recording's `--format json` report.
fn findings(s: &mut String, c: &Collected) {
    let r = &c.report;
    let count = |sev: Severity| r.findings.iter().filter(|f| f.severity == sev).count();
    if r.findings.is_empty() {
        s.push_str(r#"<p class="note findings-none">No findings: none of the rules of docs/findings.md fired.</p>"#);
    } else {
        let _ = write!(
            s,
            r#"<p class="note">{} error, {} warn, {} info, most severe first (docs/findings.md explains each; the evidence in full in --format json). The marks beside the utilization strips are their times.</p><ol class="findings">"#,
            count(Severity::Error),
            count(Severity::Warn),
            count(Severity::Info)
        );
        for (i, f) in r.findings.iter().enumerate() {
            finding(s, f, &format!("findings.{i}"), c.source.start_ts);
        }
        s.push_str("</ol>");
    }
    for o in &r.findings_omitted {
        let _ = write!(
            s,
            r#"<p class="note">{}: {} more not kept (uprof keeps {} of a kind)</p>"#,
            o.kind.name(),
            o.count,
            uprof_analysis::findings::KEPT_PER_KIND
        );
    }
    for skipped in &r.findings_skipped {
        let _ = write!(
            s,
            r#"<p class="note" data-skipped="{}">not judged: {}: {}</p>"#,
            skipped.kind.name(),
            skipped.kind.name(),
            esc(skipped.reason)
        );
    }
}

/// One finding: `key` is its path in the JSON report; times are shown from `start_ts`.
fn finding(s: &mut String, f: &Finding, key: &str, start_ts: u64) {
    let (sev, kind) = (f.severity.name(), f.kind.name());
    let place = f.at.describe();
    let _ = write!(
        s,
        r#"<li class="finding {sev}"><div><span class="sev" data-k="{key}.severity" data-v="{sev}">{sev}</span> <span class="kind" data-k="{key}.kind" data-v="{kind}">{kind}</span>{}{} <span class="tier">[{} tier]</span></div>"#,
        if place.is_empty() { "" } else { ": " },
        esc(&place),
        esc(&f.tier)
    );
    let after = |ts: u64| format!("+{}", human_duration(ts.saturating_sub(start_ts)));
    let when = if f.when.first_ns == 0 {
        "when: not recorded".to_owned()
    } else if f.when.last_ns <= f.when.first_ns {
        format!("at {}", after(f.when.first_ns))
    } else {
        format!(
            "from {} to {} after the start",
            after(f.when.first_ns),
            after(f.when.last_ns)
        )
    };
    let _ = write!(
        s,
        r#"<div class="when" data-first-ns="{}" data-last-ns="{}">{}</div><div class="summary">{}.</div>"#,
        f.when.first_ns,
        f.when.last_ns,
        esc(&when),
        esc(&f.summary)
    );
    if !f.evidence.is_empty() {
        s.push_str(r#"<ul class="evidence">"#);
        for (j, figure) in f.evidence.iter().enumerate() {
            evidence(s, figure, &format!("{key}.evidence.{j}.value"));
        }
        s.push_str("</ul>");
    }
    let _ = write!(s, r#"<div class="fix">Fix: {}</div></li>"#, esc(f.advice));
}

fn evidence(s: &mut String, f: &Figure, key: &str) {
    let v = f.value;
    let (text, unit) = match f.unit {
        "ns" => (human_duration(v.max(0.0).round() as u64), ""),
        _ if v.fract() == 0.0 && v.abs() < 1e15 => (format!("{v:.0}"), f.unit),
        _ => (format!("{v:.3}"), f.unit),
    };
    let _ = write!(
        s,
        r#"<li>{}: <span data-k="{key}" data-v="{v}">{}</span> {}</li>"#,
        esc(f.name),
        esc(&text),
        esc(unit)
    );
}

/// The findings' marks beside the strips of a recording (`label`: whose they are).
fn finding_marks(s: &mut String, c: &Collected, label: &str, span_ns: u64) {
    if c.report.findings.iter().all(|f| f.when.marks().is_empty()) {
        return;
    }
    let _ = write!(s, r#"<span class="label">{}</span>"#, esc(label));
    s.push_str(&svg::finding_marks(
        &c.report.findings,
        c.source.start_ts,
        span_ns,
    ));
}

fn strips_note(s: &mut String, cell_ns: u64) {
    let _ = write!(
        s,
        r#"<p class="note">Each cell is {} of a thread's time, coloured by its utilization: <span class="scale"></span> idle to saturated; blank: no wait returned. Hover a cell for its figures.</p>"#,
        human_duration(cell_ns)
    );
}

/// The page of one recording.
pub(super) fn report(c: &Collected) -> String {
    let r = &c.report;
    let mut s = String::with_capacity(64 << 10);
    let title = match &r.command {
        Some(command) => format!("uprof: {}", shell_words(command)),
        None => "uprof report".to_owned(),
    };
    open(&mut s, &title);
    s.push_str("<h1>uprof report</h1>");
    facts(&mut s, c);
    banners(&mut s, r, None);
    let threads = plotted(r);
    cards(&mut s, c, &threads);
    let _ = write!(
        &mut s,
        r#"<h2 id="findings">Findings ({})</h2>"#,
        r.findings.len()
    );
    findings(&mut s, c);

    let _ = write!(
        &mut s,
        r#"<h2 id="latency">Latency percentiles</h2><p class="note">{}. Read a line left to right: the median, then rarer and rarer samples, the maximum last; a line that rises steeply at the right has rare long outliers. A high busy line means long ticks, which delay every fd of the loop; a high ready→delivered line means fds wait long for the loop.</p>"#,
        match threads.len() {
            1 => "The loop thread".to_owned(),
            n if n < r.threads.len() => format!("The {n} busiest loop threads (most wait calls)"),
            n => format!("The {n} loop threads"),
        }
    );
    let lines = lines(c, &threads, None, 0);
    let entries: Vec<(String, &str)> = lines
        .iter()
        .filter(|(m, _)| *m == Metric::Blocked)
        .map(|(_, l)| (l.label.clone(), l.color))
        .collect();
    legend(&mut s, &entries);
    plots(&mut s, by_metric(lines), c.coverage.readiness);

    s.push_str(r#"<h2 id="utilization">Utilization over time</h2>"#);
    strips_note(&mut s, c.series.cell_ns());
    s.push_str(r#"<div class="strips">"#);
    let span = r.duration_ns.max(1);
    strips(&mut s, c, &threads, None, span);
    finding_marks(&mut s, c, "findings", span);
    s.push_str(r#"<span></span>"#);
    s.push_str(&svg::time_axis(span));
    s.push_str("</div>");

    thread_table(&mut s, c);
    fds(
        &mut s,
        r,
        c.coverage.readiness,
        r#"<h2 id="fds">Top fds</h2>"#,
    );
    close(&mut s);
    s
}

/// The loop thread of a recording (as the comparison chose it), for its plots.
fn loop_thread<'a>(figures: &LoopFigures, r: &'a Report) -> Option<&'a ThreadReport> {
    let t = figures.loop_thread.as_ref()?;
    r.threads.iter().find(|x| x.pid == t.pid && x.tid == t.tid)
}

/// The page of recordings side by side.
pub(super) fn comparison(recordings: &[(&str, &Collected)], comparison: &Comparison) -> String {
    let mut s = String::with_capacity(64 << 10);
    let names: Vec<&str> = recordings.iter().map(|(n, _)| *n).collect();
    open(&mut s, &format!("uprof compare: {}", names.join(" vs ")));
    s.push_str("<h1>uprof compare</h1>");
    for (name, c) in recordings {
        banners(&mut s, &c.report, Some(name));
    }
    compare_table(&mut s, recordings, comparison);
    s.push_str(r#"<h2 id="findings">Findings of each recording</h2>"#);
    for (name, c) in recordings {
        let _ = write!(
            s,
            r#"<div class="findings-of" data-recording="{}"><h3>{}: {} findings</h3>"#,
            esc(name),
            esc(name),
            c.report.findings.len()
        );
        findings(&mut s, c);
        s.push_str("</div>");
    }

    s.push_str(r#"<h2 id="latency">Latency percentiles of each loop thread</h2><p class="note">One line per recording: its loop thread (the thread with the most wakeups), on the same axes.</p>"#);
    let mut all = Vec::new();
    let mut entries = Vec::new();
    for (k, ((name, c), figures)) in recordings.iter().zip(&comparison.recordings).enumerate() {
        let threads: Vec<&ThreadReport> = loop_thread(figures, &c.report).into_iter().collect();
        for (metric, line) in lines(c, &threads, Some(name), k) {
            if metric == Metric::Blocked {
                entries.push((line.label.clone(), line.color));
            }
            all.push((metric, line));
        }
    }
    legend(&mut s, &entries);
    let readiness = recordings.iter().any(|(_, c)| c.coverage.readiness);
    plots(&mut s, by_metric(all), readiness);

    s.push_str(r#"<h2 id="utilization">Utilization over time</h2>"#);
    let cell_ns = recordings
        .iter()
        .map(|(_, c)| c.series.cell_ns())
        .max()
        .unwrap_or(1);
    strips_note(&mut s, cell_ns);
    s.push_str(r#"<div class="strips">"#);
    let span = recordings
        .iter()
        .map(|(_, c)| c.report.duration_ns)
        .max()
        .unwrap_or(0)
        .max(1);
    for ((name, c), figures) in recordings.iter().zip(&comparison.recordings) {
        let threads: Vec<&ThreadReport> = loop_thread(figures, &c.report).into_iter().collect();
        strips(&mut s, c, &threads, Some(name), span);
        finding_marks(&mut s, c, &format!("{name}: findings"), span);
    }
    s.push_str(r#"<span></span>"#);
    s.push_str(&svg::time_axis(span));
    s.push_str("</div>");

    for (name, c) in recordings {
        let _ = write!(s, r#"<section data-recording="{}">"#, esc(name));
        let _ = write!(s, "<h2>{}</h2>", esc(name));
        facts(&mut s, c);
        fds(
            &mut s,
            &c.report,
            c.coverage.readiness,
            &format!("<h3>Top fds of {}</h3>", esc(name)),
        );
        s.push_str("</section>");
    }
    close(&mut s);
    s
}

/// The comparison's figures, one column per recording (as `uprof compare` prints them).
fn compare_table(s: &mut String, recordings: &[(&str, &Collected)], comparison: &Comparison) {
    s.push_str(r#"<table class="compare"><tr><th></th>"#);
    for (name, _) in recordings {
        let _ = write!(s, "<th>{}</th>", esc(name));
    }
    s.push_str("</tr>");
    type Cell = fn(&LoopFigures) -> (String, String);
    let rows: [(&str, &str, Cell); 12] = [
        ("duration", "duration_ns", |f| {
            (f.duration_ns.to_string(), human_duration(f.duration_ns))
        }),
        ("lost records", "lost_events", |f| {
            (f.lost_events.to_string(), f.lost_events.to_string())
        }),
        ("complete", "complete", |f| {
            (
                f.complete.to_string(),
                if f.complete { "yes" } else { "NO" }.into(),
            )
        }),
        ("threads waiting", "threads", |f| {
            (f.threads.to_string(), f.threads.to_string())
        }),
        ("wait calls / s", "wait_calls.per_second", |f| {
            let v = f.wait_calls.per_second;
            (v.to_string(), format!("{v:.1}"))
        }),
        ("wakeups / s", "wakeups.per_second", |f| {
            let v = f.wakeups.per_second;
            (v.to_string(), format!("{v:.1}"))
        }),
        ("epoll_ctl / s", "epoll_ctl.per_second", |f| {
            let v = f.epoll_ctl.per_second;
            (v.to_string(), format!("{v:.1}"))
        }),
        ("events / wakeup", "events_per_wakeup", |f| {
            let v = f.events_per_wakeup;
            (v.to_string(), format!("{v:.2}"))
        }),
        ("blocked p50", "blocked_ns.p50", |f| {
            (
                f.blocked_ns.p50.to_string(),
                human_duration(f.blocked_ns.p50),
            )
        }),
        ("blocked p99", "blocked_ns.p99", |f| {
            (
                f.blocked_ns.p99.to_string(),
                human_duration(f.blocked_ns.p99),
            )
        }),
        ("busy p99", "busy_ns.p99", |f| {
            (f.busy_ns.p99.to_string(), human_duration(f.busy_ns.p99))
        }),
        ("loop utilization", "utilization", |f| {
            (
                f.utilization.to_string(),
                format!("{:.1}%", f.utilization * 100.0),
            )
        }),
    ];
    for (label, key, cell) in rows {
        let _ = write!(s, r#"<tr><th class="l">{label}</th>"#);
        for (i, f) in comparison.recordings.iter().enumerate() {
            let (raw, text) = cell(f);
            let _ = write!(
                s,
                r#"<td data-k="recordings.{i}.{key}" data-v="{}">{}</td>"#,
                esc(&raw),
                esc(&text)
            );
        }
        s.push_str("</tr>");
    }
    s.push_str(r#"<tr><th class="l">loop thread</th>"#);
    for f in &comparison.recordings {
        let text = f.loop_thread.as_ref().map_or_else(
            || "-".to_owned(),
            |t| format!("{} {}", t.comm.as_deref().unwrap_or("?"), t.tid),
        );
        let _ = write!(s, "<td>{}</td>", esc(&text));
    }
    s.push_str("</tr></table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_control_characters_are_escaped() {
        assert_eq!(
            esc("<i>a&\"b'</i>"),
            "&lt;i&gt;a&amp;&quot;b&#39;&lt;/i&gt;"
        );
        assert_eq!(esc("a\u{1b}[2J"), "a\\u{1b}[2J");
    }

    #[test]
    fn commands_are_shown_as_a_shell_takes_them() {
        let words = |w: &[&str]| shell_words(&w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            words(&["redis-server", "--save", ""]),
            "redis-server --save ''"
        );
        assert_eq!(words(&["sh", "-c", "echo it's"]), "sh -c 'echo it'\\''s'");
    }
}
