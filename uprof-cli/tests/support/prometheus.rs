//! A real Prometheus server (Debian's `prometheus`) scraping a uprof endpoint every second,
//! and its HTTP API: the independent reader of `uprof agent`'s metrics.
use std::{
    fs,
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant, SystemTime},
};

use serde_json::Value;

use super::real::{Reaped, spawn, wait_for};

pub struct Prometheus {
    /// `127.0.0.1:PORT` of its API.
    pub api: String,
    _server: Reaped,
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Prometheus {
    /// Starts Prometheus with its data in `dir`, scraping `target` (`HOST:PORT`) every second
    /// as job `uprof`; returns once its API answers.
    pub fn start(dir: &Path, target: &str) -> Prometheus {
        let config = dir.join("prometheus.yml");
        fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  \
                 - job_name: uprof\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let api = format!("127.0.0.1:{}", free_port());
        let server = spawn(
            Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address={api}"))
                .arg("--log.level=warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "install Debian's prometheus package (scripts/setup.sh does)",
        );
        let prometheus = Prometheus {
            api,
            _server: server,
        };
        wait_for("Prometheus to be ready", || {
            get(&prometheus.api, "/-/ready").is_some_and(|(status, _)| status == 200)
        });
        prometheus
    }

    /// The instant vector `query` evaluates to now: each series' labels and value.
    pub fn query(&self, query: &str) -> Vec<(Value, f64)> {
        let (status, body) = get(&self.api, &format!("/api/v1/query?query={}", encode(query)))
            .unwrap_or_else(|| panic!("Prometheus did not answer {query}"));
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status, 200, "{query}: {answer}");
        assert_eq!(answer["status"], "success", "{query}: {answer}");
        answer["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let value = r["value"][1].as_str().unwrap().parse().unwrap();
                (r["metric"].clone(), value)
            })
            .collect()
    }

    /// The single value `query` gives (0 when it gives no series, as `sum` of nothing).
    pub fn value(&self, query: &str) -> f64 {
        match self.query(query).as_slice() {
            [] => 0.0,
            [(_, v)] => *v,
            many => panic!("{query} gave {} series: {many:?}", many.len()),
        }
    }

    /// Waits until Prometheus holds a scrape of the `uprof` job made `after` this instant
    /// (plus the agent's reconstruction lag): its figures include everything before.
    pub fn wait_for_scrape_after(&self, after: SystemTime) {
        let after =
            after.duration_since(SystemTime::UNIX_EPOCH).unwrap() + Duration::from_millis(500);
        let start = Instant::now();
        loop {
            let scraped = self
                .query(r#"timestamp(up{job="uprof"})"#)
                .first()
                .map(|(_, ts)| *ts);
            if scraped.is_some_and(|ts| ts > after.as_secs_f64()) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no scrape after {after:?}: last {scraped:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `GET path` on `addr`: status and body, or `None` if nothing answers.
pub fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Percent-encodes a query parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
