//! The metrics a synthetic event stream gives, read back from the OpenMetrics text.
use std::time::Duration;

use uprof_analysis::stream::Reconstructor;
use uprof_analysis::synth::Task;
use uprof_common::{EPOLL_CTL_ADD, EPOLLIN, FdKind, Record};
use uprof_metrics::{Config, Info, Metrics};

const S: u64 = 1_000_000_000;

/// Feeds `records` to a new [`Metrics`] and brings the stream to `until` (ns).
fn metrics_of(config: Config, records: &[Record], until: u64) -> Metrics {
    let metrics = Metrics::new(
        config,
        Info {
            tier: "syscall".into(),
            kernel: "6.1.0-test".into(),
            wakeups: true,
        },
    );
    let mut feed = metrics.feed();
    let mut stream = Reconstructor::new();
    for r in records {
        stream.push(r, &mut feed);
    }
    stream.advance(until, &mut feed);
    metrics
}

/// The value of the sample `series` (name and labels exactly as written), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

/// A loop thread "server"/"server": one socket added, a wait returning it, a wait timing out.
fn a_loop(t: Task, start: u64) -> Vec<Record> {
    let mut r = vec![
        t.task_info(start, "server"),
        t.epoll_create(start + 1, 3),
        t.epoll_ctl(start + 2, 3, EPOLL_CTL_ADD, 5, 5, 0),
        t.fd_info(start + 2, 5, FdKind::Socket),
        t.epoll_wait(start + 10_000, start + 30_000, 3, 1),
    ];
    r.extend(t.events(start + 30_000, &[(EPOLLIN, 5)]));
    // 2 ms of work, then a 1 s timeout.
    r.push(t.epoll_wait(start + 2_030_000, start + 1_002_030_000, 3, 0));
    r
}

#[test]
fn a_loops_waits_work_and_events_are_counted_under_its_names() {
    let text = metrics_of(Config::default(), &a_loop(Task::new(100, 100), S), 5 * S).encode();
    let l = r#"process="server",thread="server""#;
    let wait = |outcome: &str, what: &str| {
        sample(
            &text,
            &format!(
                "uprof_wait_duration_seconds_{what}{{{l},syscall=\"epoll_wait\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert_eq!(wait("ready", "count"), Some(1.0), "{text}");
    assert_eq!(wait("ready", "sum"), Some(20e-6));
    assert_eq!(wait("timeout", "count"), Some(1.0));
    assert_eq!(wait("timeout", "sum"), Some(1.0));
    let bucket = |le: &str| {
        sample(
            &text,
            &format!(
                "uprof_wait_duration_seconds_bucket{{le=\"{le}\",{l},syscall=\"epoll_wait\",outcome=\"timeout\"}}"
            ),
        )
    };
    assert_eq!(bucket("0.268435456"), Some(0.0));
    assert_eq!(bucket("1.073741824"), Some(1.0));
    assert_eq!(bucket("+Inf"), Some(1.0));
    assert_eq!(
        sample(&text, &format!("uprof_busy_duration_seconds_count{{{l}}}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("uprof_busy_duration_seconds_sum{{{l}}}")),
        Some(0.002)
    );
    assert_eq!(
        sample(
            &text,
            &format!("uprof_loop_time_seconds_total{{{l},state=\"idle\"}}")
        ),
        Some(1.00002)
    );
    assert_eq!(
        sample(
            &text,
            &format!("uprof_loop_time_seconds_total{{{l},state=\"active\"}}")
        ),
        Some(0.002)
    );
    assert_eq!(
        sample(
            &text,
            &format!("uprof_events_delivered_total{{{l},fd_kind=\"socket\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("uprof_epoll_ctl_calls_total{{{l},op=\"add\",errno=\"0\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(sample(&text, "uprof_lost_records_total"), Some(0.0));
    assert_eq!(sample(&text, "uprof_label_sets"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            r#"uprof_tracing_info{version="0.1.0",tier="syscall",kernel="6.1.0-test",wakeups="true"}"#
        ),
        Some(1.0)
    );
    assert!(text.ends_with("# EOF\n"));
    assert!(!text.contains("_overflow"), "{text}");
}

#[test]
fn past_the_cap_new_threads_go_to_the_overflow_series_and_are_counted() {
    let mut records = a_loop(Task::new(100, 100), S);
    let mut other = a_loop(Task::new(200, 200), S + 5);
    other[0] = Task::new(200, 200).task_info(S + 5, "other");
    records.extend(other);
    records.sort_by_key(|r| r.header().ts);
    let config = Config {
        max_label_sets: 1,
        ..Config::default()
    };
    let text = metrics_of(config, &records, 5 * S).encode();
    assert_eq!(sample(&text, "uprof_label_sets"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "uprof_label_sets_dropped_total"), Some(1.0));
    let count = |l: &str| {
        sample(
            &text,
            &format!(
                "uprof_wait_duration_seconds_count{{{l},syscall=\"epoll_wait\",outcome=\"ready\"}}"
            ),
        )
    };
    assert_eq!(count(r#"process="server",thread="server""#), Some(1.0));
    assert_eq!(
        count(r#"process="_overflow",thread="_overflow""#),
        Some(1.0)
    );
    assert_eq!(count(r#"process="other",thread="other""#), None);
}

#[test]
fn a_label_set_whose_threads_exited_is_dropped_after_the_staleness_period() {
    let t = Task::new(100, 100);
    let mut records = a_loop(t, S);
    records.push(t.exit(3 * S, "server"));
    let config = Config {
        stale_after: Duration::from_secs(10),
        ..Config::default()
    };
    let before = metrics_of(config, &records, 12 * S);
    assert_eq!(before.label_sets(), 1, "kept until 10 s after the exit");
    let after = metrics_of(config, &records, 14 * S);
    assert_eq!(after.label_sets(), 0);
    assert!(!after.encode().contains("process=\"server\""));
}

#[test]
fn with_ids_a_reused_tid_starts_from_zero() {
    let first = Task::new(100, 100);
    let mut records = a_loop(first, S);
    records.push(first.exit(3 * S, "server"));
    // An unrelated process gets the same pid and the same name.
    records.extend(a_loop(first, 4 * S));
    let config = Config {
        ids: true,
        ..Config::default()
    };
    let text = metrics_of(config, &records, 7 * S).encode();
    let l = r#"process="server",thread="server",pid="100",tid="100""#;
    assert_eq!(
        sample(
            &text,
            &format!(
                "uprof_wait_duration_seconds_count{{{l},syscall=\"epoll_wait\",outcome=\"ready\"}}"
            )
        ),
        Some(1.0),
        "{text}"
    );
    // Without ids, the two processes are one label set by name: their figures add up.
    let text = metrics_of(Config::default(), &records, 7 * S).encode();
    assert_eq!(
        sample(
            &text,
            r#"uprof_wait_duration_seconds_count{process="server",thread="server",syscall="epoll_wait",outcome="ready"}"#
        ),
        Some(2.0)
    );
}

/// The metric families `/metrics` declares (from its `# TYPE` lines).
fn families(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

/// docs/metrics.md describes every family and nothing else; the Grafana dashboard uses only
/// families that exist.
#[test]
fn the_docs_and_the_dashboard_name_the_families_there_are() {
    let text = metrics_of(Config::default(), &a_loop(Task::new(100, 100), S), 5 * S).encode();
    let families = families(&text);
    assert!(families.len() >= 13, "{families:?}");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let doc = std::fs::read_to_string(format!("{root}/docs/metrics.md")).unwrap();
    let table: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `uprof_"))
        .map(|l| l.split('`').next().unwrap())
        .collect();
    let mut documented: Vec<String> = table.iter().map(|n| format!("uprof_{n}")).collect();
    // The doc names counters with their `_total` suffix and infos with `_info`, as scraped.
    for name in &mut documented {
        for suffix in ["_total", "_info"] {
            if let Some(family) = name.strip_suffix(suffix) {
                *name = family.to_owned();
            }
        }
    }
    let mut declared = families.clone();
    declared.sort();
    documented.sort();
    assert_eq!(documented, declared);
    let dashboard =
        std::fs::read_to_string(format!("{root}/docs/grafana/uprof-dashboard.json")).unwrap();
    for used in dashboard.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if let Some(rest) = used.strip_prefix("uprof_") {
            let known = families.iter().any(|f| {
                used == f
                    || rest.is_empty()
                    || ["_total", "_bucket", "_count", "_sum", "_info"]
                        .iter()
                        .any(|s| used.strip_suffix(s) == Some(f.as_str()))
            });
            assert!(
                known,
                "the dashboard uses {used}, which /metrics does not have"
            );
        }
    }
}
