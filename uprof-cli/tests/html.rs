//! `uprof report --format html` and `uprof compare --format html`: the page, loaded by a real
//! browser (Debian's headless `chromium`, which scripts/setup.sh installs), logs nothing to its
//! console, has every plot with content, and every figure it prints is the one
//! `--format json` gives for the same recording (read back from the browser's DOM, the shown
//! text parsed on its own).
mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use scraper::{ElementRef, Html, Selector};
use serde_json::Value;
use support::synthetic::{SATURATED, busy_loop_records, server_records, write_recording};
use support::{chromium, report_json, run, uprof};
use uprof_common::Record;

/// A thread name with HTML in it: the page must show it, not obey it.
const HOSTILE: &str = "<i>loop&\"x</i>";

fn html_report(file: &Path, page: &Path, args: &[&str]) {
    let out = run(uprof()
        .arg("report")
        .arg(file)
        .args(["--format", "html", "-o"])
        .arg(page)
        .args(args));
    assert!(out.stdout.is_empty(), "the page goes to -o, not stdout");
}

/// `uprof report FILE --format json` with `args`.
fn json(file: &Path, args: &[&str]) -> Value {
    let out = run(uprof()
        .arg("report")
        .arg(file)
        .args(["--format", "json"])
        .args(args));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Loads the page in the browser: nothing on its console; returns its DOM.
fn load(browser: &Path, page: &Path) -> Html {
    let loaded = chromium::load(browser, page);
    assert_eq!(loaded.console, Vec::<String>::new(), "console messages");
    assert!(loaded.dom.contains("</html>"), "{}", loaded.dom);
    Html::parse_document(&loaded.dom)
}

fn select<'a>(dom: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    dom.select(&Selector::parse(css).unwrap()).collect()
}

fn within<'a>(el: ElementRef<'a>, css: &str) -> Vec<ElementRef<'a>> {
    el.select(&Selector::parse(css).unwrap()).collect()
}

fn attr<'a>(el: ElementRef<'a>, name: &str) -> &'a str {
    el.value()
        .attr(name)
        .unwrap_or_else(|| panic!("{} has no {name}", el.html()))
}

fn number(el: ElementRef, name: &str) -> u64 {
    attr(el, name)
        .parse()
        .unwrap_or_else(|e| panic!("{name} of {}: {e}", el.html()))
}

/// The value at a dotted path (`waits.blocked_ns.p99`, `recordings.0.threads`).
fn at<'a>(json: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(json, |v, key| match key.parse::<usize>() {
            Ok(i) if v.is_array() => &v[i],
            _ => &v[key],
        })
}

/// A shown figure read back: `12.3µs` → 12300 ns, `45.6%` → 0.456, `107~` → 107.
fn shown(text: &str) -> Option<f64> {
    let text = text.trim().trim_end_matches('~');
    for (unit, scale) in [
        ("ns", 1.0),
        ("µs", 1e3),
        ("ms", 1e6),
        ("s", 1e9),
        ("%", 0.01),
    ] {
        if let Some(n) = text.strip_suffix(unit) {
            return n.parse::<f64>().ok().map(|n| n * scale);
        }
    }
    text.parse().ok()
}

/// Each figure inside `el` (`data-k`: its path in `json`, `data-v`: its value) is the JSON's,
/// and its text says it (to the three digits shown); returns how many were checked.
fn assert_figures(el: ElementRef, json: &Value, what: &str) -> usize {
    let figures = within(el, "[data-k]");
    for f in &figures {
        let key = attr(*f, "data-k");
        let raw = attr(*f, "data-v");
        let expected = at(json, key);
        let text: String = f.text().collect();
        match expected {
            Value::Number(n) => {
                if let Some(n) = n.as_u64() {
                    assert_eq!(raw.parse::<u64>().ok(), Some(n), "{what}: {key}");
                } else {
                    // serde_json reads floats to within an ulp or so.
                    let (raw, n) = (raw.parse::<f64>().unwrap(), n.as_f64().unwrap());
                    assert!(
                        (raw - n).abs() <= n.abs() * 1e-12,
                        "{what}: {key}: {raw} vs {n}"
                    );
                }
                let value = n.as_f64().unwrap();
                if text.trim() == "-" {
                    assert_eq!(value, 0.0, "{what}: {key} shown as -");
                    continue;
                }
                let read = shown(&text).unwrap_or_else(|| panic!("{what}: {key}: {text:?}"));
                let scale = if text.trim().ends_with('%') {
                    100.0
                } else {
                    1.0
                };
                assert!(
                    (read - value).abs() * scale <= value.abs() * scale * 0.005 + 0.05,
                    "{what}: {key} is {value}, the page shows {text:?}"
                );
            }
            Value::Bool(b) => assert_eq!(raw, b.to_string(), "{what}: {key}"),
            Value::String(s) => assert_eq!(raw, s, "{what}: {key}"),
            other => panic!("{what}: {key} is {other} in the JSON"),
        }
    }
    figures.len()
}

fn thread_of<'a>(json: &'a Value, el: ElementRef) -> &'a Value {
    let (pid, tid) = (number(el, "data-pid"), number(el, "data-tid"));
    json["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["pid"] == pid && t["tid"] == tid)
        .unwrap_or_else(|| panic!("no thread {pid}/{tid} in the JSON"))
}

/// The thread rows and cards, the fd rows and the facts say what the JSON report says (and,
/// per thread, the one interval of `whole` its ready→delivered figures).
fn assert_page_matches(dom: &Html, report: &Value, whole: &Value) {
    let whole_threads = &whole["intervals"][0];
    let mut checked = 0;
    for el in select(dom, "dl.facts") {
        checked += assert_figures(el, report, "facts");
    }
    let rows = select(dom, "table.threads tr[data-pid], .card[data-pid]");
    assert!(!rows.is_empty());
    for row in rows {
        // ready→delivered per thread is an interval figure: the JSON of one interval as long
        // as the recording has it.
        let thread = thread_of(report, row);
        let mut merged = thread.clone();
        merged["ready_to_delivered_ns"] =
            thread_of(whole_threads, row)["ready_to_delivered_ns"].clone();
        checked += assert_figures(row, &merged, "thread");
    }
    for row in select(dom, "[data-epoll]") {
        let id: Vec<&str> = attr(row, "data-epoll").split(':').collect();
        let epoll = report["epolls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                [&e["pid"], &e["epfd"], &e["generation"]]
                    .iter()
                    .map(|v| v.to_string())
                    .eq(id.iter().map(|s| s.to_string()))
            })
            .unwrap_or_else(|| panic!("no epoll {id:?}"));
        let entry = if let Some(group) = row.value().attr("data-group") {
            let (kind, state) = group.split_once(':').unwrap();
            epoll["by_kind"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["kind"] == kind && g["closed"] == (state == "closed"))
                .unwrap_or_else(|| panic!("no group {group}"))
        } else {
            let id: Vec<&str> = attr(row, "data-fd").split(':').collect();
            epoll["fds"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| {
                    f["fd"].as_i64() == id[0].parse().ok()
                        && f["generation"].as_u64() == id[1].parse().ok()
                        && f["data"].as_u64().map_or("-".to_owned(), |d| d.to_string()) == id[2]
                })
                .unwrap_or_else(|| panic!("no fd {id:?}"))
        };
        checked += assert_figures(row, entry, "fd");
    }
    assert!(checked > 20, "only {checked} figures");
}

/// Each percentile plot has a line per plotted thread whose path has points and whose marks
/// are the JSON's percentiles (blocked, busy: the report's; ready→delivered: the one
/// interval's); returns the plots present.
fn assert_plots(dom: &Html, report: &Value, whole: &Value) -> BTreeSet<String> {
    let mut plots = BTreeSet::new();
    for plot in select(dom, "svg.plot") {
        let metric = attr(plot, "data-plot");
        plots.insert(metric.to_owned());
        let lines = within(plot, "g.line");
        assert!(!lines.is_empty(), "{metric}: no line");
        for line in lines {
            let path = within(line, "path");
            let d = attr(path[0], "d");
            // A point per step of the percentile axis (one for a single sample).
            let points = 1 + d.matches('L').count() as u64;
            let count = number(line, "data-count");
            assert!(d.starts_with('M'), "{metric}: {d}");
            assert!(points >= count.min(10), "{metric}: {count} samples, {d}");
            assert!(!within(line, "circle").is_empty(), "{metric}: marks");
            let summary = match metric {
                "blocked" => &thread_of(report, line)["waits"]["blocked_ns"],
                "busy" => &thread_of(report, line)["waits"]["busy_ns"],
                _ => &thread_of(&whole["intervals"][0], line)["ready_to_delivered_ns"],
            };
            for key in ["count", "p50", "p90", "p99", "p999", "max"] {
                assert_eq!(
                    number(line, &format!("data-{key}")),
                    summary[key].as_u64().unwrap(),
                    "{metric} {key} of {}",
                    line.html()
                );
            }
        }
    }
    plots
}

/// Every strip cell is the JSON interval row of its thread at its start (same busy and
/// blocked totals, same calls), and every row with time has its cell.
fn assert_strips_match(dom: &Html, intervals: &Value) {
    let width = intervals["interval_ns"].as_u64().unwrap();
    let mut cells = 0;
    let mut rows = 0;
    for strip in select(dom, "svg.strip") {
        assert_eq!(number(strip, "data-cell-ns"), width);
        let (pid, tid) = (number(strip, "data-pid"), number(strip, "data-tid"));
        for interval in intervals["intervals"].as_array().unwrap() {
            let Some(row) = interval["threads"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["pid"] == pid && t["tid"] == tid)
            else {
                continue;
            };
            rows += 1;
            let start = interval["start_ns"].as_u64().unwrap();
            let cell = within(strip, &format!("rect[data-start-ns=\"{start}\"]"));
            assert_eq!(cell.len(), 1, "cell of {tid} at {start}");
            let cell = cell[0];
            assert_eq!(number(cell, "data-calls"), row["calls"].as_u64().unwrap());
            assert_eq!(
                number(cell, "data-busy-ns"),
                row["busy_ns"]["total"].as_u64().unwrap()
            );
            assert_eq!(
                number(cell, "data-blocked-ns"),
                row["blocked_ns"]["total"].as_u64().unwrap()
            );
        }
        cells += within(strip, "rect[data-start-ns]").len();
    }
    assert_eq!(cells, rows, "cells without a JSON row");
    assert!(rows > 0);
}

/// The findings listed in `el` are the JSON report's, in its order (most severe first), each
/// figure of theirs the JSON's; the marks beside the strips (`marks`) are at their evidence
/// times. Returns how many findings there were.
fn assert_findings(el: ElementRef, marks: &[ElementRef], report: &Value) -> usize {
    let expected = report["findings"].as_array().unwrap();
    let listed = within(el, "li.finding");
    let names = |items: &mut dyn Iterator<Item = (String, String)>| items.collect::<Vec<_>>();
    assert_eq!(
        names(&mut listed.iter().map(|f| {
            let text = |css: &str| within(*f, css)[0].text().collect::<String>();
            (text(".kind"), text(".sev"))
        })),
        names(&mut expected.iter().map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
            )
        })),
    );
    if !expected.is_empty() {
        // kind, severity and each figure of the evidence.
        let figures = assert_figures(within(el, "ol.findings")[0], report, "findings");
        let evidence: usize = expected
            .iter()
            .map(|f| f["evidence"].as_array().unwrap().len())
            .sum();
        assert_eq!(figures, 2 * expected.len() + evidence);
    }
    let mut times: Vec<(String, String, u64)> = marks
        .iter()
        .map(|m| {
            let at = |name: &str| attr(*m, name).to_owned();
            (
                at("data-kind"),
                at("data-severity"),
                number(*m, "data-ts-ns"),
            )
        })
        .collect();
    times.sort();
    assert_eq!(
        times,
        support::finding_marks(report),
        "marks vs the findings' evidence times"
    );
    expected.len()
}

fn write(dir: &Path, name: &str, records: &[Record]) -> PathBuf {
    let file = dir.join(name);
    write_recording(&file, records);
    file
}

#[test]
fn synthetic_page_in_chromium_says_what_the_json_says() {
    let Some(browser) = chromium::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut found, mut marked) = (0, 0);
    for (file, interval) in [
        (write(dir.path(), "server.uprof", &server_records()), "1ms"),
        (
            write(dir.path(), "busy.uprof", &busy_loop_records(HOSTILE)),
            "100ms",
        ),
    ] {
        let page = dir.path().join("page.html");
        html_report(
            &file,
            &page,
            &[&["--interval", interval][..], &SATURATED].concat(),
        );
        let dom = load(&browser, &page);
        let report = report_json(&file);
        let whole = json(&file, &["--interval", "1000s"]);
        assert_eq!(whole["intervals"].as_array().unwrap().len(), 1);
        let plots = assert_plots(&dom, &report, &whole);
        let all: BTreeSet<String> = ["blocked", "busy", "ready_to_delivered"]
            .map(str::to_owned)
            .into();
        let expected = if file.ends_with("server.uprof") {
            all
        } else {
            // No readiness in that recording: no ready→delivered line, and the page says so.
            assert_eq!(
                select(&dom, "[data-plot-missing=\"ready_to_delivered\"]").len(),
                1
            );
            all.into_iter()
                .filter(|p| p != "ready_to_delivered")
                .collect()
        };
        assert_eq!(plots, expected);
        // A strip per thread that waited.
        let waited = report["threads"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["waits"]["calls"].as_u64() > Some(0))
            .count();
        assert_eq!(select(&dom, "svg.strip").len(), waited);
        assert_page_matches(&dom, &report, &whole);
        assert_strips_match(&dom, &json(&file, &["--interval", interval]));
        let marks = select(&dom, "svg.marks .mark");
        marked += marks.len();
        found += assert_findings(dom.root_element(), &marks, &json(&file, &SATURATED));
        // 3 records were lost: a banner says so; the recording is complete: no banner says
        // otherwise.
        assert_eq!(select(&dom, ".banner.lost").len(), 1);
        assert!(select(&dom, ".banner.incomplete").is_empty());
    }
    // Lost records in each, and the busy loop saturated over several intervals.
    assert!(
        found >= 3 && marked >= 2,
        "{found} findings, {marked} marks"
    );
}

#[test]
fn names_from_the_traced_program_are_shown_not_obeyed() {
    let Some(browser) = chromium::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "busy.uprof", &busy_loop_records(HOSTILE));
    let page = dir.path().join("page.html");
    html_report(&file, &page, &SATURATED);
    let dom = load(&browser, &page);
    assert!(select(&dom, "i").is_empty(), "the name became markup");
    let names: Vec<String> = select(&dom, "table.threads td.l")
        .iter()
        .map(|td| td.text().collect())
        .collect();
    assert!(names.iter().any(|n| n == HOSTILE), "{names:?}");
    // The findings about that thread name it too, as text.
    let places: Vec<String> = select(&dom, "li.finding > div:first-child")
        .iter()
        .map(|d| d.text().collect())
        .collect();
    assert!(
        places.iter().any(|p| p.contains(&format!("({HOSTILE})"))),
        "{places:?}"
    );
}

#[test]
fn a_damaged_recording_has_a_banner_and_the_figures_read_before_the_damage() {
    let Some(browser) = chromium::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "cut.uprof", &server_records());
    let bytes = fs::read(&file).unwrap();
    fs::write(&file, &bytes[..bytes.len() - 40]).unwrap();
    let page = dir.path().join("cut.html");
    let out = run(uprof()
        .arg("report")
        .arg(&file)
        .args(["--format", "html", "-o"])
        .arg(&page));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("damaged"), "{stderr}");
    let dom = load(&browser, &page);
    let banner = select(&dom, ".banner.incomplete");
    assert_eq!(banner.len(), 1);
    let report = report_json(&file);
    assert_eq!(report["complete"], false);
    let text: String = banner[0].text().collect();
    let why = report["incomplete"]["why"].as_str().unwrap();
    assert!(text.contains(why), "{text:?} vs {why:?}");
    let whole = json(&file, &["--interval", "1000s"]);
    assert_page_matches(&dom, &report, &whole);
}

#[test]
fn compare_page_plots_each_loop_on_the_same_axes() {
    let Some(browser) = chromium::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "server.uprof", &server_records());
    let b = write(dir.path(), "busy.uprof", &busy_loop_records(HOSTILE));
    let page = dir.path().join("compare.html");
    let compare = |format: &str, out: Option<&Path>| {
        let mut cmd = uprof();
        cmd.arg("compare")
            .arg(&a)
            .arg(&b)
            .args(["--name", "srv,busy", "--format", format]);
        if let Some(out) = out {
            cmd.arg("-o").arg(out);
        }
        run(&mut cmd).stdout
    };
    assert!(compare("html", Some(&page)).is_empty());
    let json: Value = serde_json::from_slice(&compare("json", None)).unwrap();
    let dom = load(&browser, &page);
    let table = select(&dom, "table.compare");
    assert_eq!(table.len(), 1);
    assert!(assert_figures(table[0], &json, "compare") >= 24);
    // Each plot has one line per recording: its loop thread.
    for plot in select(&dom, "svg.plot") {
        let metric = attr(plot, "data-plot");
        let lines: Vec<(&str, u64)> = within(plot, "g.line")
            .iter()
            .map(|l| (attr(*l, "data-recording"), number(*l, "data-tid")))
            .collect();
        let expected: Vec<(&str, u64)> = json["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| metric != "ready_to_delivered" || r["name"] == "srv")
            .map(|r| {
                (
                    r["name"].as_str().unwrap(),
                    r["loop_thread"]["tid"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(lines, expected, "{metric}");
        // Blocked and busy percentiles of each loop thread, as compare's JSON has them.
        if metric != "ready_to_delivered" {
            for (line, r) in within(plot, "g.line")
                .iter()
                .zip(json["recordings"].as_array().unwrap())
            {
                let key = if metric == "blocked" {
                    "blocked_ns"
                } else {
                    "busy_ns"
                };
                for p in ["count", "p50", "p99"] {
                    assert_eq!(
                        number(*line, &format!("data-{p}")),
                        r[key][p].as_u64().unwrap()
                    );
                }
            }
        }
    }
    assert_eq!(select(&dom, "svg.plot").len(), 3);
    assert_eq!(select(&dom, "svg.strip").len(), 2, "one strip per loop");
    assert_eq!(select(&dom, "section[data-recording]").len(), 2);
    // Each recording's findings, as its own report has them, and their marks by its strip.
    let marks = select(&dom, "svg.marks");
    let mut found = 0;
    for (name, file) in [("srv", &a), ("busy", &b)] {
        let of = select(&dom, &format!("div.findings-of[data-recording=\"{name}\"]"));
        assert_eq!(of.len(), 1, "{name}");
        let report = report_json(file);
        let label = format!("{name}: findings");
        let strip = select(&dom, ".strips > *")
            .windows(2)
            .find(|w| w[0].text().collect::<String>() == label)
            .map(|w| w[1]);
        let marks_of = strip.map(|m| within(m, ".mark")).unwrap_or_default();
        assert!(strip.is_none_or(|m| marks.contains(&m)));
        found += assert_findings(of[0], &marks_of, &report);
    }
    assert!(found > 1);
}

#[test]
fn a_page_refuses_a_terminal_and_an_unwritable_output_fails_first() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "server.uprof", &server_records());
    let (_master, terminal) = support::pty::open();
    for args in [
        vec!["report", file.to_str().unwrap(), "--format", "html"],
        vec![
            "compare",
            file.to_str().unwrap(),
            file.to_str().unwrap(),
            "--format",
            "html",
        ],
    ] {
        let out = uprof()
            .args(&args)
            .stdout(Stdio::from(terminal.try_clone().unwrap()))
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim_end(),
            "uprof: error: --format html is a web page: write it to a file with -o FILE (or \
             redirect stdout)"
        );
    }
    let target = dir.path().join("missing/dir/out.html");
    for args in [
        vec!["report", file.to_str().unwrap()],
        vec!["compare", file.to_str().unwrap(), file.to_str().unwrap()],
    ] {
        let out = uprof()
            .args(&args)
            .args(["--format", "html", "-o"])
            .arg(&target)
            .output()
            .unwrap();
        support::assert_cannot_write(&out);
    }
    // A bad input is found before the output is created.
    let page = dir.path().join("out.html");
    let out = uprof()
        .args(["compare"])
        .arg(&file)
        .arg(dir.path().join("missing.uprof"))
        .args(["--format", "html", "-o"])
        .arg(&page)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!page.exists());
}

/// The demo program, traced for real: its page, in the browser, says what its JSON says.
#[test]
fn demo_page_in_chromium_says_what_the_json_says() {
    if !support::may_load_ebpf() {
        return;
    }
    let Some(browser) = chromium::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.uprof");
    support::record_demo(&file);
    let page = dir.path().join("demo.html");
    html_report(&file, &page, &["--interval", "200ms"]);
    let dom = load(&browser, &page);
    let report = report_json(&file);
    let whole = json(&file, &["--interval", "1000s"]);
    let plots = assert_plots(&dom, &report, &whole);
    assert!(
        plots.contains("blocked") && plots.contains("busy"),
        "{plots:?}"
    );
    if report["tier"] != "syscall" {
        assert!(plots.contains("ready_to_delivered"), "{plots:?}");
    }
    assert_page_matches(&dom, &report, &whole);
    assert_strips_match(&dom, &json(&file, &["--interval", "200ms"]));
    let names: BTreeSet<String> = select(&dom, "table.threads td.l")
        .iter()
        .map(|td| td.text().collect())
        .collect();
    assert_eq!(
        names,
        ["uprof-demo", "demo-worker"].map(str::to_owned).into()
    );
}
