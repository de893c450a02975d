//! The per-epoll-instance fd tables.
use std::io::{self, Write};

use super::{busiest, percentiles, table, terminal_safe, write_table};
use crate::report::{EpollReport, FdGroupReport, FdReadiness, FdReport, Report, SOCKET_TIER};
use crate::summary::{CtlCounts, MaskCounts};

/// Instances shown by default: the busiest (by waits, deliveries and `epoll_ctl` calls).
const EPOLL_ROWS: usize = 10;
/// Fds shown one per row by default, per instance: past this, the busiest fds, then every fd
/// added up by kind.
const FD_ROWS: usize = 20;
/// Of those, chosen by deliveries (among fds with at least 1/[`NOTABLE_SHARE`] of the
/// instance's deliveries: one of a server's thousands of connections is not worth a row for
/// its deliveries); the rest by ready→delivered p99 and by `epoll_ctl` errors.
const BY_DELIVERIES: usize = 12;
const NOTABLE_SHARE: u64 = 100;
const BY_LATENCY: usize = 4;
const BY_CTL_ERRORS: usize = 4;
/// Unmapped entries (events whose `data` matched no interest entry) shown at most.
const UNMAPPED_ROWS: usize = 4;

pub(super) fn write(report: &Report, out: &mut impl Write, all: bool) -> io::Result<()> {
    let epolls = &report.epolls;
    writeln!(out, "EPOLL INSTANCES ({})", epolls.len())?;
    if report.idle_epolls > 0 {
        writeln!(
            out,
            "  (and {} idle instances, created or inherited but never used while recording)",
            report.idle_epolls
        )?;
    }
    if epolls.is_empty() {
        return writeln!(out, "  none used");
    }
    let shown: Vec<usize> = if all {
        (0..epolls.len()).collect()
    } else {
        report.busiest_epolls()
    };
    for &i in &shown {
        write_epoll(report, &epolls[i], out, all)?;
    }
    let hidden = epolls.len() - shown.len();
    if hidden > 0 {
        writeln!(
            out,
            "\n… {hidden} more epoll instances (--all lists every instance)"
        )?;
    }
    if let Some(h) = report.herds {
        writeln!(
            out,
            "\nthundering herds: {} readiness events woke {} waiters",
            h.events, h.waiters_woken
        )?;
    }
    if report.tier == SOCKET_TIER {
        writeln!(
            out,
            "~ socket tier: readiness is a socket receiving data (sk_data_ready), approximate"
        )?;
    }
    Ok(())
}

fn write_epoll(
    report: &Report,
    e: &EpollReport,
    out: &mut impl Write,
    all: bool,
) -> io::Result<()> {
    let comm = report
        .threads
        .iter()
        .filter(|t| t.pid == e.pid)
        .min_by_key(|t| (t.tid != t.pid, t.tid))
        .and_then(|t| t.comm.as_deref())
        .map(|c| format!(" ({})", terminal_safe(c)))
        .unwrap_or_default();
    writeln!(
        out,
        "\nepoll pid {} epfd {}{comm}: {} waits, {} events delivered, {} fds; \
         ctl add {} mod {} del {} errors {}",
        e.pid,
        e.epfd,
        e.waits,
        e.delivered,
        e.fds.len(),
        e.ctl.add,
        e.ctl.modify,
        e.ctl.del,
        e.ctl.errors
    )?;
    if e.fds.is_empty() {
        return writeln!(out, "  no fds seen");
    }
    let shown = if all {
        (0..e.fds.len()).collect()
    } else {
        e.notable_fds()
    };
    let readiness = e.fds.iter().any(|f| f.readiness.is_some());
    let closed = shown.iter().any(|&i| e.fds[i].closed);
    let mut header = vec!["FD", "GEN", "KIND"];
    if closed {
        header.push("CLOSED");
    }
    header.extend(FIGURES);
    if readiness {
        header.extend(READINESS);
    }
    header.push("CTL ERRORS");
    let rows = shown.iter().map(|&i| fd_row(&e.fds[i], closed, readiness));
    write_table(out, table(&header, rows, &[2, header.len() - 1]))?;
    let hidden = e.fds.len() - shown.len();
    if hidden > 0 {
        writeln!(
            out,
            "  … {hidden} more fds; every fd added up by kind (--all lists each):"
        )?;
        write_groups(&e.by_kind, readiness, out)?;
    }
    Ok(())
}

impl Report {
    /// The epoll instances the tables show by default, by index in `epolls`, in order: the
    /// busiest (by waits, deliveries and `epoll_ctl` calls).
    pub fn busiest_epolls(&self) -> Vec<usize> {
        let mut shown = busiest(&self.epolls, EPOLL_ROWS, |e| {
            e.waits + e.delivered + e.ctl.add
        });
        shown.sort_unstable();
        shown
    }
}

impl EpollReport {
    /// The fds its table lists one per row by default, by index in `fds`, in order: all of
    /// them when they are few, else the busiest (the rest is in [`EpollReport::by_kind`]).
    pub fn notable_fds(&self) -> Vec<usize> {
        if self.fds.len() <= FD_ROWS {
            (0..self.fds.len()).collect()
        } else {
            busiest_fds(&self.fds, self.delivered)
        }
    }
}

/// The fds most worth a row of their own, in table order: unmapped entries, then the most
/// delivered, the slowest from ready to delivered, and those with the most `epoll_ctl` errors.
fn busiest_fds(fds: &[FdReport], delivered: u64) -> Vec<usize> {
    let unmapped: Vec<usize> = (0..fds.len()).filter(|&i| fds[i].data.is_some()).collect();
    let unmapped = busiest(&unmapped, UNMAPPED_ROWS, |&i| fds[i].delivered)
        .into_iter()
        .map(|j| unmapped[j]);
    let p99 = |f: &FdReport| {
        f.readiness
            .as_ref()
            .map_or(0, |r| r.ready_to_delivered_ns.p99)
    };
    let errors = |f: &FdReport| f.ctl.counts.errors;
    let mut chosen: Vec<usize> = unmapped
        .chain(
            busiest(fds, BY_DELIVERIES, |f| f.delivered)
                .into_iter()
                .filter(|&i| fds[i].delivered > 0 && fds[i].delivered * NOTABLE_SHARE >= delivered),
        )
        .chain(
            busiest(fds, BY_LATENCY, p99)
                .into_iter()
                .filter(|&i| p99(&fds[i]) > 0),
        )
        .chain(
            busiest(fds, BY_CTL_ERRORS, errors)
                .into_iter()
                .filter(|&i| errors(&fds[i]) > 0),
        )
        .collect();
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

const FIGURES: [&str; 9] = [
    "DELIVERED",
    "IN",
    "OUT",
    "ERR",
    "HUP",
    "RDHUP",
    "ADD",
    "MOD",
    "DEL",
];
const READINESS: [&str; 7] = [
    "READY",
    "R→D p50",
    "R→D p99",
    "R→D max",
    "COALESCED",
    "UNDELIV",
    "WOKE",
];

fn figures(delivered: u64, m: &MaskCounts, c: &CtlCounts) -> [String; 9] {
    [
        delivered, m.input, m.out, m.err, m.hup, m.rdhup, c.add, c.modify, c.del,
    ]
    .map(|n| n.to_string())
}

/// The readiness columns, or dashes.
fn readiness_cells(r: Option<&FdReadiness>) -> Vec<String> {
    let Some(r) = r else {
        return vec!["-".to_owned(); READINESS.len()];
    };
    let approximate = if r.approximate { "~" } else { "" };
    let mut cells = vec![format!("{}{approximate}", r.ready)];
    cells.extend(percentiles(&r.ready_to_delivered_ns));
    cells.extend([r.coalesced, r.undelivered, r.woke].map(|n| n.to_string()));
    cells
}

fn fd_row(f: &FdReport, closed: bool, readiness: bool) -> Vec<String> {
    let mut row = match f.data {
        Some(data) => vec!["?".to_owned(), "-".to_owned(), format!("data={data:#x}")],
        None => vec![
            f.fd.to_string(),
            f.generation.to_string(),
            f.kind.to_owned(),
        ],
    };
    if closed {
        row.push(if f.closed { "yes" } else { "-" }.to_owned());
    }
    row.extend(figures(f.delivered, &f.masks, &f.ctl.counts));
    if readiness {
        row.extend(readiness_cells(f.readiness.as_ref()));
    }
    let errors: Vec<String> = f
        .ctl
        .errors_by_errno
        .iter()
        .map(|(name, n)| format!("{name}:{n}"))
        .collect();
    row.push(if errors.is_empty() {
        "-".to_owned()
    } else {
        errors.join(" ")
    });
    row
}

fn write_groups(groups: &[FdGroupReport], readiness: bool, out: &mut impl Write) -> io::Result<()> {
    let mut header = vec!["FDS", "KIND", "STATE"];
    header.extend(FIGURES);
    if readiness {
        header.extend(READINESS);
    }
    header.push("CTL ERRORS");
    let rows = groups.iter().map(|g| {
        let mut row = vec![
            g.fds.to_string(),
            g.kind.to_owned(),
            if g.closed { "closed" } else { "open" }.to_owned(),
        ];
        row.extend(figures(g.delivered, &g.masks, &g.ctl));
        if readiness {
            row.extend(readiness_cells(g.readiness.as_ref()));
        }
        row.push(g.ctl.errors.to_string());
        row
    });
    write_table(out, table(&header, rows, &[1, 2]))
}
