//! The `/metrics` endpoint: a minimal HTTP/1.1 server on tokio (one request per connection,
//! then close), which is all a Prometheus scrape needs.
use std::{
    io,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, Result};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    time::timeout,
};

use crate::Metrics;

/// Where the endpoint listens unless told otherwise (9464: the port OpenTelemetry's
/// Prometheus exporters use).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// A request head longer than this is refused.
const MAX_HEAD: usize = 8 * 1024;

/// A client that has not been answered by then is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections answered at once; more are closed unanswered, so that a flood of idle clients
/// costs bounded memory (a scraper retries at its next interval).
const MAX_CONNECTIONS: usize = 32;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Listens on `addr` (`HOST:PORT`, the host a name or an address), with one sentence on
/// failure (a port in use, an address not ours, a name that does not resolve).
pub async fn bind(addr: &str) -> Result<TcpListener> {
    let example = "e.g. 127.0.0.1:9464 or localhost:9464";
    let addr: SocketAddr = tokio::net::lookup_host(addr)
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .with_context(|| format!("{addr:?} is not an address to listen on ({example})"))?;
    TcpListener::bind(addr).await.map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => {
            anyhow::anyhow!("cannot listen on {addr}: the port is in use by another program")
        }
        _ => anyhow::Error::new(e).context(format!("cannot listen on {addr}")),
    })
}

/// Answers requests on `listener` until the task is dropped: `GET /metrics` gets the
/// OpenMetrics text of `metrics`, anything else a short error.
pub async fn serve(listener: TcpListener, metrics: Metrics) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of fds or a connection reset before accept: the next one may work.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if open.fetch_add(1, Ordering::Relaxed) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::Relaxed);
            drop(stream);
            continue;
        }
        let (metrics, open) = (metrics.clone(), open.clone());
        tokio::spawn(async move {
            let _ = timeout(READ_TIMEOUT, answer(stream, &metrics)).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn answer(mut stream: TcpStream, metrics: &Metrics) -> io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"",
            )
            .await;
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    match (method, path) {
        (b"GET", b"/metrics") => {
            let body = metrics.encode();
            respond(&mut stream, "200 OK", OPENMETRICS, body.as_bytes()).await
        }
        (b"GET", b"/") => {
            let body = b"uprof: the metrics are at /metrics\n";
            respond(&mut stream, "200 OK", "text/plain; charset=utf-8", body).await
        }
        (b"GET", _) => respond(&mut stream, "404 Not Found", "text/plain", b"not found\n").await,
        _ => {
            respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                b"GET only\n",
            )
            .await
        }
    }
}

async fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &[u8]) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Info};

    /// The answer to `GET path`; empty if the connection was closed (or reset) unanswered.
    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut answer = String::new();
        if stream.write_all(request.as_bytes()).await.is_ok() {
            let _ = stream.read_to_string(&mut answer).await;
        }
        answer
    }

    #[tokio::test]
    async fn metrics_are_answered_and_idle_clients_past_the_cap_are_turned_away() {
        let listener = bind("localhost:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = Metrics::new(Config::default(), Info::default());
        tokio::spawn(serve(listener, metrics));
        let answer = get(addr, "/metrics").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(
            answer.contains(OPENMETRICS) && answer.ends_with("# EOF\n"),
            "{answer}"
        );
        assert!(get(addr, "/other").await.starts_with("HTTP/1.1 404"));

        // Clients that connect and say nothing hold every slot...
        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        // ...so the next one is closed unanswered, and answered again once they are gone.
        assert_eq!(get(addr, "/metrics").await, "");
        drop(idle);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(get(addr, "/metrics").await.starts_with("HTTP/1.1 200 OK"));
    }

    #[tokio::test]
    async fn an_address_that_is_not_one_is_one_sentence() {
        let err = bind("9464").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"9464\" is not an address to listen on (e.g. 127.0.0.1:9464 or localhost:9464)"
        );
    }
}
