//! The FINDINGS section: most severe first, one short paragraph each. A server with many
//! threads can have the same finding on dozens of them: past a few of a kind, the rest are
//! added up in one line (`--all` lists them).
use std::io::{self, Write};

use crate::findings::{Finding, Kind, Place, Severity};
use crate::report::Report;

use super::terminal_safe;

/// Findings of one kind and severity shown in full, by default.
const PER_KIND: usize = 3;

pub(super) fn write(report: &Report, out: &mut impl Write, all: bool) -> io::Result<()> {
    let findings = &report.findings;
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    if findings.is_empty() {
        writeln!(out, "FINDINGS: none")?;
    } else {
        writeln!(
            out,
            "FINDINGS: {} error, {} warn, {} info (docs/findings.md; the evidence in --format json)",
            count(Severity::Error),
            count(Severity::Warn),
            count(Severity::Info)
        )?;
    }
    let mut shown: Vec<(Kind, Severity, usize)> = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        let same = findings[..i]
            .iter()
            .filter(|g| g.kind == f.kind && g.severity == f.severity)
            .count();
        if all || same < PER_KIND {
            paragraph(f, out)?;
        } else if let Some(entry) = shown
            .iter_mut()
            .find(|(k, s, _)| (*k, *s) == (f.kind, f.severity))
        {
            entry.2 += 1;
        } else {
            shown.push((f.kind, f.severity, 1));
        }
    }
    for o in &report.findings_omitted {
        writeln!(
            out,
            "       {}: {} more not kept (uprof keeps {} of a kind)",
            o.kind.name(),
            o.count,
            crate::findings::KEPT_PER_KIND
        )?;
    }
    for (kind, severity, more) in shown {
        writeln!(
            out,
            "{:<5}  {}: {more} more like these (--all lists them)",
            severity.name(),
            kind.name()
        )?;
    }
    for s in &report.findings_skipped {
        writeln!(out, "not judged: {}: {}", s.kind.name(), s.reason)?;
    }
    Ok(())
}

fn paragraph(f: &Finding, out: &mut impl Write) -> io::Result<()> {
    let place = f.at.describe();
    writeln!(
        out,
        "{:<5}  {}{}{} [{} tier]",
        f.severity.name(),
        f.kind.name(),
        if place.is_empty() { "" } else { ": " },
        place,
        f.tier
    )?;
    writeln!(out, "       {}.", terminal_safe(&f.summary))?;
    writeln!(out, "       Fix: {}", f.advice)
}

impl Place {
    /// `pid 10 tid 11 (nginx) epoll fd 3 fd 5`, as much as is known; safe on a terminal.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(pid) = self.pid {
            parts.push(format!("pid {pid}"));
        }
        if let Some(tid) = self.tid {
            parts.push(format!("tid {tid}"));
        }
        if let Some(comm) = &self.comm {
            parts.push(format!("({})", terminal_safe(comm)));
        }
        if let Some(epfd) = self.epfd {
            parts.push(format!("epoll fd {epfd}"));
        }
        if let Some(fd) = self.fd {
            parts.push(format!("fd {fd}"));
        }
        if self.threads.len() > 1 {
            parts.push(format!("{} threads", self.threads.len()));
        }
        parts.join(" ")
    }
}
