//! `uprof top`'s screen: a status line, the threads table, the fds table and a line of keys,
//! drawn from the last [`Snapshot`] with ratatui. Drawing is a function of its inputs (no
//! terminal here): the command line owns the terminal and the keys.
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};
use uprof_analysis::{DurationSummary, terminal_safe};

use super::{FdRow, Snapshot, ThreadRow};
use crate::intervals::{clock_time, p50, p99};

/// What the screen says about the session, besides the figures.
#[derive(Clone, Debug, Default)]
pub struct Status {
    /// `pid 1234 (redis-server)`, `pids 1,2`, ...
    pub target: String,
    /// The probe tier's name.
    pub tier: String,
    /// Records stored so far, and how many per second lately.
    pub records: u64,
    pub records_per_s: f64,
    /// Where the recording goes, if it is kept (`-o`).
    pub file: Option<String>,
}

/// Which table the keys act on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Focus {
    #[default]
    Threads,
    Fds,
}

/// The order of the threads table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThreadOrder {
    /// Busy time, then calls (as `--interval`).
    #[default]
    Busiest,
    Waits,
    Utilization,
    BlockedP99,
    BusyP99,
    ReadyToDeliveredP99,
}

/// The order of the fds table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FdOrder {
    #[default]
    Deliveries,
    ReadyToDeliveredP99,
}

/// What the person looking at the screen chose.
#[derive(Clone, Copy, Debug, Default)]
pub struct Choices {
    pub focus: Focus,
    pub thread_order: ThreadOrder,
    pub fd_order: FdOrder,
    /// Rows scrolled past at the top of each table.
    pub thread_scroll: usize,
    pub fd_scroll: usize,
}

/// A key's meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    SwitchTable,
    NextOrder,
    /// Scroll the focused table by this many rows (negative: up).
    Scroll(isize),
    Top,
}

impl Choices {
    pub fn apply(&mut self, action: Action) {
        let scroll = match self.focus {
            Focus::Threads => &mut self.thread_scroll,
            Focus::Fds => &mut self.fd_scroll,
        };
        match action {
            Action::SwitchTable => {
                self.focus = match self.focus {
                    Focus::Threads => Focus::Fds,
                    Focus::Fds => Focus::Threads,
                }
            }
            Action::Scroll(by) => *scroll = scroll.saturating_add_signed(by),
            Action::Top => *scroll = 0,
            Action::NextOrder => match self.focus {
                Focus::Threads => {
                    self.thread_order = match self.thread_order {
                        ThreadOrder::Busiest => ThreadOrder::Waits,
                        ThreadOrder::Waits => ThreadOrder::Utilization,
                        ThreadOrder::Utilization => ThreadOrder::BlockedP99,
                        ThreadOrder::BlockedP99 => ThreadOrder::BusyP99,
                        ThreadOrder::BusyP99 => ThreadOrder::ReadyToDeliveredP99,
                        ThreadOrder::ReadyToDeliveredP99 => ThreadOrder::Busiest,
                    }
                }
                Focus::Fds => {
                    self.fd_order = match self.fd_order {
                        FdOrder::Deliveries => FdOrder::ReadyToDeliveredP99,
                        FdOrder::ReadyToDeliveredP99 => FdOrder::Deliveries,
                    }
                }
            },
        }
    }
}

impl ThreadOrder {
    fn name(self) -> &'static str {
        match self {
            ThreadOrder::Busiest => "busy time",
            ThreadOrder::Waits => "waits/s",
            ThreadOrder::Utilization => "utilization",
            ThreadOrder::BlockedP99 => "blocked p99",
            ThreadOrder::BusyP99 => "busy p99",
            ThreadOrder::ReadyToDeliveredP99 => "ready→delivered p99",
        }
    }

    /// Rows in this order, largest first (the snapshot's order for ties).
    fn sort(self, rows: &mut [&ThreadRow]) {
        let key = |r: &ThreadRow| -> f64 {
            let f = &r.figures;
            match self {
                ThreadOrder::Busiest => 0.0,
                ThreadOrder::Waits => r.waits_per_s,
                ThreadOrder::Utilization => f.utilization,
                ThreadOrder::BlockedP99 => p99_ns(&f.blocked_ns),
                ThreadOrder::BusyP99 => p99_ns(&f.busy_ns),
                ThreadOrder::ReadyToDeliveredP99 => {
                    f.ready_to_delivered_ns.as_ref().map_or(-1.0, p99_ns)
                }
            }
        };
        rows.sort_by(|a, b| key(b).total_cmp(&key(a)));
    }
}

impl FdOrder {
    fn name(self) -> &'static str {
        match self {
            FdOrder::Deliveries => "deliveries/s",
            FdOrder::ReadyToDeliveredP99 => "ready→delivered p99",
        }
    }

    fn sort(self, rows: &mut [&FdRow]) {
        if self == FdOrder::ReadyToDeliveredP99 {
            let key = |r: &FdRow| r.ready_to_delivered_ns.as_ref().map_or(-1.0, p99_ns);
            rows.sort_by(|a, b| key(b).total_cmp(&key(a)));
        }
    }
}

/// A p99 to sort by: -1 without samples, so those go last.
fn p99_ns(d: &DurationSummary) -> f64 {
    if d.count == 0 { -1.0 } else { d.p99 as f64 }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, status: &Status, snapshot: Option<&Snapshot>, choices: &Choices) {
    let [head, threads, fds, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Percentage(55),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(status_line(status, snapshot)), head);
    let Some(snapshot) = snapshot else {
        let waiting = "waiting for the first second of figures…";
        frame.render_widget(Paragraph::new(waiting).block(Block::bordered()), threads);
        frame.render_widget(Paragraph::new(keys_line(choices)), keys);
        return;
    };
    draw_threads(frame, threads, snapshot, choices);
    draw_fds(frame, fds, snapshot, choices);
    frame.render_widget(Paragraph::new(keys_line(choices)), keys);
}

fn status_line(status: &Status, snapshot: Option<&Snapshot>) -> Line<'static> {
    let mut parts = vec![
        format!("uprof top: {}", status.target),
        format!("{} tier", status.tier),
    ];
    if let Some(s) = snapshot {
        let end = s.start_ns.saturating_add(s.duration_ns);
        parts.push(format!(
            "{} (+{}s)",
            clock_time(s.end_ts, s.boot_offset_ns),
            end / 1_000_000_000
        ));
    }
    parts.push(format!(
        "{} records ({}/s)",
        count(status.records as f64),
        count(status.records_per_s)
    ));
    if let Some(s) = snapshot {
        parts.push(format!("lost {}", s.lost));
        if s.coverage.wakeups {
            parts.push(format!("herds {}", s.herds));
        }
    }
    if let Some(file) = &status.file {
        parts.push(format!("→ {file}"));
    }
    let lost = snapshot.is_some_and(|s| s.lost > 0);
    let style = if lost {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new().add_modifier(Modifier::BOLD)
    };
    Line::styled(parts.join("  "), style)
}

fn keys_line(choices: &Choices) -> Line<'static> {
    let order = match choices.focus {
        Focus::Threads => choices.thread_order.name(),
        Focus::Fds => choices.fd_order.name(),
    };
    Line::from(format!(
        "q quit  tab other table  ↑↓ PgUp PgDn Home scroll  s sort (now: {order})"
    ))
}

/// A count for a person: 1234 → 1.2k.
fn count(n: f64) -> String {
    match n {
        n if n >= 1e6 => format!("{:.2}M", n / 1e6),
        n if n >= 1e4 => format!("{:.1}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

/// A rate per second for a table cell.
fn rate(n: f64) -> String {
    if n >= 100.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.1}")
    }
}

fn title(name: &str, shown: usize, of: usize, focused: bool) -> Line<'static> {
    let text = if shown < of {
        format!(" {name} ({shown} of {of}) ")
    } else {
        format!(" {name} ({of}) ")
    };
    if focused {
        Line::styled(text, Style::new().add_modifier(Modifier::BOLD))
    } else {
        Line::from(text)
    }
}

fn draw_threads(frame: &mut Frame, area: Rect, snapshot: &Snapshot, choices: &Choices) {
    let coverage = snapshot.coverage;
    let mut header = vec![
        "PID", "TID", "COMM", "WAITS/s", "EV/s", "UTIL", "BLK p99", "BUSY p99",
    ];
    let mut widths = vec![
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(16),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(8),
    ];
    if coverage.readiness {
        header.push("R→D p99");
        widths.push(Constraint::Length(8));
    }
    if coverage.wakeups {
        header.extend(["WAKE/s", "HERDS"]);
        widths.extend([Constraint::Length(8), Constraint::Length(6)]);
    }
    let mut rows: Vec<&ThreadRow> = snapshot.threads.iter().collect();
    choices.thread_order.sort(&mut rows);
    let visible = usize::from(area.height.saturating_sub(3));
    let scroll = choices.thread_scroll.min(rows.len().saturating_sub(1));
    let body: Vec<Row> = rows
        .iter()
        .skip(scroll)
        .take(visible)
        .map(|r| {
            let f = &r.figures;
            let comm = f
                .comm
                .as_deref()
                .map_or_else(|| "?".to_owned(), |c| terminal_safe(c).into_owned());
            let timed = f.blocked_ns.count > 0 || f.busy_ns.count > 0;
            let util = if timed {
                format!("{:.1}%", f.utilization * 100.0)
            } else {
                "-".to_owned()
            };
            let mut cells = vec![
                Cell::from(f.pid.to_string()),
                Cell::from(f.tid.to_string()),
                Cell::from(comm),
                Cell::from(rate(r.waits_per_s)),
                Cell::from(rate(r.events_per_s)),
                Cell::from(util),
                Cell::from(p99(&f.blocked_ns)),
                Cell::from(p99(&f.busy_ns)),
            ];
            if let Some(rd) = &f.ready_to_delivered_ns {
                cells.push(Cell::from(p99(rd)));
            }
            if coverage.wakeups {
                cells.push(Cell::from(r.wakeups_per_s.map(rate).unwrap_or_default()));
                cells.push(Cell::from(r.herds.unwrap_or(0).to_string()));
            }
            Row::new(cells)
        })
        .collect();
    let titled = title(
        "threads",
        body.len(),
        rows.len(),
        choices.focus == Focus::Threads,
    );
    frame.render_widget(table(header, widths, body, titled), area);
}

/// A bordered table with a bold header row.
fn table<'a>(
    header: Vec<&'a str>,
    widths: Vec<Constraint>,
    body: Vec<Row<'a>>,
    title: Line<'a>,
) -> Table<'a> {
    Table::new(body, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
        .block(Block::bordered().title(title))
}

fn draw_fds(frame: &mut Frame, area: Rect, snapshot: &Snapshot, choices: &Choices) {
    let readiness = snapshot.coverage.readiness;
    let mut header = vec!["PID", "EPFD", "FD", "KIND", "DELIV/s"];
    let mut widths = vec![
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(8),
    ];
    if readiness {
        header.extend(["R→D p50", "R→D p99"]);
        widths.extend([Constraint::Length(8), Constraint::Length(8)]);
    }
    let mut rows: Vec<&FdRow> = snapshot.fds.iter().collect();
    choices.fd_order.sort(&mut rows);
    let visible = usize::from(area.height.saturating_sub(3));
    let scroll = choices.fd_scroll.min(rows.len().saturating_sub(1));
    let body: Vec<Row> = rows
        .iter()
        .skip(scroll)
        .take(visible)
        .map(|r| {
            let mut cells = vec![
                Cell::from(r.pid.to_string()),
                Cell::from(r.epfd.to_string()),
                Cell::from(r.fd.map_or_else(|| "?".to_owned(), |fd| fd.to_string())),
                Cell::from(r.kind.name()),
                Cell::from(rate(r.deliveries_per_s)),
            ];
            if let Some(rd) = &r.ready_to_delivered_ns {
                cells.extend([Cell::from(p50(rd)), Cell::from(p99(rd))]);
            }
            Row::new(cells)
        })
        .collect();
    let titled = title("fds", body.len(), rows.len(), choices.focus == Focus::Fds);
    frame.render_widget(table(header, widths, body, titled), area);
}
