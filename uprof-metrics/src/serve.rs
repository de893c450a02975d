//! The `/metrics` endpoint: a minimal HTTP/1.1 server on tokio (one request per connection,
//! then close), which is all a Prometheus scrape needs.
use std::{io, net::SocketAddr, time::Duration};

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

/// A client that has not sent its request by then is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Listens on `addr`, with one sentence on failure (a port in use, an address not ours).
pub async fn bind(addr: &str) -> Result<TcpListener> {
    let addr: SocketAddr = addr.parse().with_context(|| {
        format!("{addr:?} is not an address to listen on (e.g. 127.0.0.1:9464)")
    })?;
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
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of fds or a connection reset before accept: the next one may work.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _ = timeout(READ_TIMEOUT, answer(stream, &metrics)).await;
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
